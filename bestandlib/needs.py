"""What each analysis section needs from the data, declared in one place.

A company's first export is rarely the demo world: customers and orders only, a bare customer master,
three years of history, no potential assessments yet. Every section of every analysis page declares
here what it cannot do without:

* ``tables``: optional tables of the data contract that must have rows (``potentials``, ...);
* ``columns``: ``"table.column"`` that must hold values (``orders.contribution_margin``);
* ``min_quarters``: quarters of order history up to the report quarter (first order quarter to the
  report quarter, both counted);
* ``min_customers``: active customers (an order in the last four quarters) at the report quarter.

Minimums come from the configuration (``bestand.yml``, section ``needs`` or the analysis' own
settings), never from numbers in code. The pipeline checks every declaration before the notebooks run
(:func:`readiness`); a notebook asks :meth:`bestandlib.session.Session.section` before each section,
which shows the reason in words where a need is unmet, and the rest of the page still runs. The entry
page's "Datenlage / Data coverage" block and ``bestand validate`` print the same table.

Computations return reasons as data (:class:`Reason`); :func:`reason_text` words them in the page's
language.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from bestandlib import i18n, periods, schemas


def _cfg(*path) -> Callable[[dict], int]:
    """A minimum read from the configuration at ``path``."""
    def read(config: dict) -> int:
        value = config
        for key in path:
            value = value[key]
        return int(value)
    read.path = ".".join(path)
    return read


def _churn_quarters(config: dict) -> int:
    """Quarters a tested churn model needs (the rule of :func:`bestandlib.churn.backtest_splits`): the
    scored quarter's own outcome window must have ended, its model's training rows must have ended
    their outcome window before it, and the training rows must span ``min_train_quarters`` quarters
    of customers old enough for the population (``min_tenure_quarters``)."""
    from bestandlib.churn import _horizon, churn_settings

    st = churn_settings(config)
    train = max(int(st["backtest"]["min_train_quarters"]), int(st["population"]["min_tenure_quarters"]) + 1)
    return train + 2 * _horizon(st["target"])


def _loyal_quarters(config: dict) -> int:
    """Quarters of history before any customer can count as loyal (tenure 0 in the first quarter)."""
    return int(config["loyalty"]["compare"]["loyal_min_quarters"]) + 1


@dataclass(frozen=True)
class Need:
    """What one section needs (see the module docstring)."""

    tables: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    min_quarters: int | Callable[[dict], int] = 0
    min_customers: int | Callable[[dict], int] = 0


#: Every section with a need, keyed ``<page>.<section>``; the page is the notebook's short name.
SECTIONS: dict[str, Need] = {
    # 01 customer history
    "history.margin": Need(columns=("orders.contribution_margin",)),
    "history.cohorts": Need(min_quarters=_cfg("needs", "cohort_quarters")),
    # 02 customer value
    "value.matrix": Need(tables=("potentials",), min_customers=_cfg("needs", "min_customers")),
    "value.migration": Need(tables=("potentials",), min_quarters=_cfg("needs", "migration_quarters")),
    "value.score": Need(min_customers=_cfg("needs", "min_customers")),
    # 03 revenue vs potential
    "potential.tests": Need(tables=("potentials",), min_customers=_cfg("stats", "min_n")),
    "potential.over_time": Need(tables=("potentials",), min_quarters=_cfg("needs", "trend_quarters")),
    # 04 relationship phases
    "phases.habituation": Need(tables=("contacts",),
                               min_quarters=_cfg("phases", "habituating_min_tenure")),
    # 05 churn risk
    "churn.model": Need(min_quarters=_churn_quarters, min_customers=_cfg("needs", "churn_customers")),
    "churn.btyd": Need(min_customers=_cfg("needs", "btyd_customers")),
    # 06 retention actions
    "actions.log": Need(tables=("actions_log",)),
    # 07 voice of the customer and loyalty economics
    "voice.surveys": Need(tables=("surveys",)),
    "loyalty.claims": Need(min_quarters=_loyal_quarters),
    "loyalty.kept_vs_new": Need(columns=("orders.contribution_margin",),
                                min_quarters=_cfg("needs", "kept_vs_new_quarters")),
}


@dataclass(frozen=True)
class Reason:
    """One unmet need: ``kind`` is ``table``, ``column``, ``quarters`` or ``customers``."""

    kind: str
    table: str | None = None
    column: str | None = None
    need: int | None = None
    have: int | None = None


@dataclass(frozen=True)
class Facts:
    """What the data offer at a report quarter (the inputs of :func:`check`)."""

    tables: frozenset = field(default_factory=frozenset)   # optional tables with rows
    columns: frozenset = field(default_factory=frozenset)  # "table.column" holding values
    quarters: int = 0
    customers: int = 0


def facts(tables, panel: pd.DataFrame, quarter) -> Facts:
    """The :class:`Facts` of validated ``tables`` (cut at the quarter's end) and their ``panel``."""
    q = periods.parse_quarter(quarter)
    present, columns = set(), set()
    for table in schemas.TABLE_NAMES:
        if not tables.has(table):
            continue
        frame = getattr(tables, table)
        if isinstance(frame, pd.DataFrame):  # rows up to the quarter's end (tables is cut)
            if len(frame) == 0:
                continue
            given = [c for c in frame.columns if frame[c].notna().any()]
        else:  # order lines the engine holds: the columns it accepted
            given = tables.sources[table].get("columns") or list(schemas.CONTRACT[table]["columns"])
        present.add(table)
        columns |= {f"{table}.{c}" for c in given}
    n_quarters = active = 0
    if len(panel):
        from bestandlib.panel import customer_summary  # the one definition of "active"

        first = periods.parse_quarter(str(panel["quarter"].min()))
        n_quarters = int((q - first).n) + 1
        active = int(customer_summary(panel, q)["active"].sum())
    return Facts(frozenset(present), frozenset(columns), n_quarters, active)


def measurable(facts: Facts, any_of_tables=(), columns=()) -> bool:
    """Whether the data hold what a measure is computed from: at least one of ``any_of_tables``
    (none given: no table needed) and every ``"table.column"`` of ``columns``. Modules use it to leave
    out a measure that would otherwise show the same zero for every customer."""
    if any_of_tables and not any(t in facts.tables for t in any_of_tables):
        return False
    return all(c in facts.columns for c in columns)


def _value(minimum, config) -> int:
    return int(minimum(config)) if callable(minimum) else int(minimum)


def check(section: str, facts: Facts, config: dict) -> list[Reason]:
    """The unmet needs of ``section`` (empty: the section can run)."""
    if section not in SECTIONS:
        raise KeyError(f"unknown section {section!r}; declared: {', '.join(SECTIONS)}")
    need = SECTIONS[section]
    reasons = [Reason("table", table=t) for t in need.tables if t not in facts.tables]
    for tc in need.columns:
        table, column = tc.split(".")
        if table in facts.tables and tc not in facts.columns:
            reasons.append(Reason("column", table=table, column=column))
    quarters = _value(need.min_quarters, config)
    if facts.quarters < quarters:
        reasons.append(Reason("quarters", need=quarters, have=facts.quarters))
    customers = _value(need.min_customers, config)
    if facts.customers < customers:
        reasons.append(Reason("customers", need=customers, have=facts.customers))
    return reasons


def reason_text(reason: Reason, lang: str = "de") -> str:
    """One unmet need in words: "braucht potentials.csv" / "needs at least 8 quarters ..."."""
    t = i18n.t(f"needs_{reason.kind}", lang)
    return t.format(table=reason.table, column=reason.column, need=reason.need, have=reason.have)


def note(reasons: list[Reason], lang: str = "de") -> str:
    """The note a skipped section shows: "Nicht verfügbar: braucht potentials.csv; ..."."""
    return i18n.t("not_available", lang) + ": " + "; ".join(reason_text(r, lang) for r in reasons) + "."


def section_title(section: str, lang: str = "de") -> str:
    return i18n.t(f"section_{section.replace('.', '_')}", lang)


def readiness(facts: Facts, config: dict) -> pd.DataFrame:
    """One row per declared section: ``page, section, available, reasons`` (a list of :class:`Reason`)."""
    rows = []
    for section in SECTIONS:
        reasons = check(section, facts, config)
        rows.append({"page": section.split(".")[0], "section": section, "available": not reasons,
                     "reasons": reasons})
    return pd.DataFrame(rows)


def coverage(tables, facts: Facts) -> pd.DataFrame:
    """Per table of the contract: ``table, required, present, rows, unlocks`` (the sections that
    need it, for the optional tables that are missing)."""
    rows = []
    for table, spec in schemas.CONTRACT.items():
        present = table in facts.tables or (spec["required"] and table in tables.sources)
        unlocks = [s for s, need in SECTIONS.items()
                   if table in need.tables or any(c.startswith(table + ".") for c in need.columns)]
        info = tables.sources.get(table) or {}
        rows.append({"table": table, "required": bool(spec["required"]), "present": bool(present),
                     "rows": int(info.get("rows_used", info.get("rows", 0)) or 0),
                     "unlocks": [] if present else unlocks})
    missing_cols = [c for s in SECTIONS.values() for c in s.columns
                    if c.split(".")[0] in facts.tables and c not in facts.columns]
    for tc in dict.fromkeys(missing_cols):
        table, column = tc.split(".")
        rows.append({"table": tc, "required": False, "present": False, "rows": 0,
                     "unlocks": [s for s, need in SECTIONS.items() if tc in need.columns]})
    return pd.DataFrame(rows)


def coverage_view(tables, facts: Facts, config: dict, lang: str = "de") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two tables people read: data coverage (what is there, what is missing and what it would
    unlock) and the sections not available with their reasons, labelled in ``lang``."""
    cov = coverage(tables, facts)
    yes, no = i18n.t("yes", lang), i18n.t("no", lang)
    data = pd.DataFrame({
        i18n.t("table", lang): cov["table"],
        i18n.t("present", lang): cov["present"].map({True: yes, False: no}),
        i18n.t("rows", lang): [i18n.fmt_number(r, lang) if p else "–" for r, p in zip(cov["rows"], cov["present"])],
        i18n.t("would_unlock", lang): [", ".join(section_title(s, lang) for s in u) for u in cov["unlocks"]],
    })
    ready = readiness(facts, config)
    skipped = ready[~ready["available"]]
    sections = pd.DataFrame({
        i18n.t("section", lang): [section_title(s, lang) for s in skipped["section"]],
        i18n.t("reason", lang): ["; ".join(reason_text(r, lang) for r in rs) for rs in skipped["reasons"]],
    })
    return data, sections
