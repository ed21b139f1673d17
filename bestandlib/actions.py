"""Retention playbook and next-best actions: the right measure, by the right person, in time.

The playbook in ``config["actions"]`` maps every combination of quadrant (four-field matrix), relationship
phase and churn-risk level to a standardized measure (or a list of measures, best first). A notebook uses it
like this::

    playbook = actions.load_playbook(s.config, s.lang)          # validated, one row per combination
    acts = actions.assign_actions(frame, s.config, s.lang)       # next-best action per customer
    s.save_table(actions.actions_table(acts), "actions")
    actions.write_action_lists(acts, s.output_dir / "actions", s.lang)
    ratio = actions.kept_vs_new_ratio(s.panel, s.quarter, acts["margin_at_risk"].sum(), s.config)

``frame`` has one row per customer: ``customer_id, account_manager, quadrant_key, phase,
churn_probability, margin_at_risk`` and optionally ``name, business_unit, habituation_flag,
reason_1..reason_3, routine_units`` (attention already taken by routine contacts, see
:func:`contact_load`). ``margin_at_risk`` = churn probability x expected contribution margin of the next
12 months (``bestandlib.churn``).

Two limits keep the plan honest. The *contact budget* caps the attention units a customer receives per
quarter, routine contacts included: retention must not steal the customer's attention. The *capacity*
caps the attention units an account manager can organise per quarter. Customers are served in order of
margin at risk; when the playbook's first measure does not fit, the next lighter one in the rule's list
is taken. What fits no budget is marked ``over_budget``; what fits the customer but not the manager is
marked ``overflow``. No customer is ever dropped from the table.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from bestandlib import i18n
from bestandlib.config import ensure_config
from bestandlib.errors import BestandError, ConfigError
from bestandlib import concepts
from bestandlib.concepts import quarter_index
from bestandlib.periods import parse_quarter

__all__ = ["QUADRANTS", "PHASES", "RISK_LEVELS", "ACTIONS_COLUMNS", "actions_settings", "measure_table",
           "load_playbook", "risk_level", "contact_load", "assign_actions", "actions_table",
           "action_summary", "manager_lists", "write_action_lists", "kept_vs_new_ratio",
           "kept_vs_new_sentence", "log_status", "treated_vs_untreated", "NOT_RANDOMISED",
           "simple_phases", "recency_risk",
           "plot_manager_load", "plot_margin_by_action"]

QUADRANTS = ("top", "premium", "development", "small", "unassessed")
PHASES = ("new", "growing", "established", "habituating", "declining", "lost", "reactivated")
RISK_LEVELS = ("low", "medium", "high")

#: Columns of ``tables/actions.csv`` (the first six are the contract named in the issue).
ACTIONS_COLUMNS = ["customer_id", "account_manager", "action", "priority", "margin_at_risk", "reason",
                   "status", "cost", "owner_role", "action_label", "preferred_action", "attention_units",
                   "cadence", "name", "business_unit", "quadrant_key", "phase", "risk_level",
                   "churn_probability", "routine_units", "contact_budget", "manager_rank", "rule"]

ROLES = {
    "account_manager": {"de": "Außendienst", "en": "Account manager"},
    "key_account_manager": {"de": "Key-Account-Manager", "en": "Key account manager"},
    "sales_director": {"de": "Vertriebsleitung", "en": "Sales director"},
    "inside_sales": {"de": "Innendienst", "en": "Inside sales"},
    "customer_service": {"de": "Kundenservice", "en": "Customer service"},
    "application_specialist": {"de": "Applikationsspezialist", "en": "Application specialist"},
    "product_management": {"de": "Produktmanagement", "en": "Product management"},
    "marketing": {"de": "Marketing", "en": "Marketing"},
}
# Occurrences per quarter: the budget and the cost are per quarter.
CADENCES = {"once": 1.0, "monthly": 3.0, "quarterly": 1.0, "half_yearly": 0.5, "yearly": 0.25}
_MEASURE_FIELDS = {"de", "en", "owner_role", "cadence", "cost", "attention_units"}
_SETTINGS = {"risk_levels", "unknown_risk", "contact_budget", "channel_units", "capacity", "measures",
             "playbook", "new_cohort_quarters", "first_year_quarters"}

STATUS = {
    "planned": {"de": "geplant", "en": "planned"},
    "overflow": {"de": "Kapazität überschritten", "en": "over capacity"},
    "over_budget": {"de": "Kontaktbudget ausgeschöpft", "en": "contact budget used up"},
}
PHASE_LABELS = {
    "new": {"de": "neu", "en": "new"}, "growing": {"de": "wachsend", "en": "growing"},
    "established": {"de": "etabliert", "en": "established"},
    "habituating": {"de": "Gewöhnung", "en": "habituating"},
    "declining": {"de": "rückläufig", "en": "declining"}, "lost": {"de": "verloren", "en": "lost"},
    "reactivated": {"de": "reaktiviert", "en": "reactivated"},
}
RISK_LABELS = {"low": {"de": "niedrig", "en": "low"}, "medium": {"de": "mittel", "en": "medium"},
               "high": {"de": "hoch", "en": "high"}}
_NO_MANAGER = {"de": "(ohne Außendienst)", "en": "(no account manager)"}
_COLS = {
    "de": {"priority": "Priorität", "manager_rank": "Rang", "customer_id": "Kundennr.", "name": "Kunde",
           "business_unit": "SGE", "action_label": "Maßnahme", "owner": "Verantwortlich",
           "cadence": "Rhythmus", "margin_at_risk": "DB im Risiko (EUR)", "risk_level": "Risiko",
           "phase": "Phase", "reason": "Begründung", "status_label": "Status", "cost": "Kosten (EUR)"},
    "en": {"priority": "Priority", "manager_rank": "Rank", "customer_id": "Customer no.", "name": "Customer",
           "business_unit": "Business unit", "action_label": "Measure", "owner": "Owner",
           "cadence": "Cadence", "margin_at_risk": "Margin at risk (EUR)", "risk_level": "Risk",
           "phase": "Phase", "reason": "Reason", "status_label": "Status", "cost": "Cost (EUR)"},
}
NOT_RANDOMISED = {
    "de": "Achtung: kein randomisierter Vergleich. Behandelte Kunden wurden ausgewählt (z. B. wegen hohen "
          "Risikos); Unterschiede können an der Auswahl liegen, nicht an der Maßnahme. Die Vergleichsgruppe "
          "ist nur nach Quartal, Aktualität der letzten Bestellung und Deckungsbeitrag angeglichen.",
    "en": "Caution: not a randomised comparison. Treated customers were selected (e.g. for high risk); "
          "differences may come from the selection, not the measure. The comparison group is matched only "
          "by quarter, recency of the last order and contribution margin.",
}


# --------------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------------
def _number(value, key: str, minimum: float = 0.0) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number, not {value!r}") from None
    if not np.isfinite(x) or x < minimum:
        raise ConfigError(f"{key} must be a number >= {minimum:g}, not {value!r}")
    return x


def _check_measures(measures) -> dict:
    if not isinstance(measures, dict) or not measures:
        raise ConfigError("actions.measures must be a non-empty mapping of measure name -> settings")
    out = {}
    for name, spec in measures.items():
        key = f"actions.measures.{name}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{key} must be a mapping with {', '.join(sorted(_MEASURE_FIELDS))}")
        unknown = set(spec) - _MEASURE_FIELDS
        if unknown:
            raise ConfigError(f"unknown config key '{key}.{sorted(unknown)[0]}'. Known keys here: "
                              f"{', '.join(sorted(_MEASURE_FIELDS))}")
        missing = _MEASURE_FIELDS - set(spec)
        if missing:
            raise ConfigError(f"{key} lacks {', '.join(sorted(missing))}")
        if spec["owner_role"] not in ROLES:
            raise ConfigError(f"{key}.owner_role: unknown role {spec['owner_role']!r}; use one of "
                              f"{', '.join(ROLES)}")
        if spec["cadence"] not in CADENCES:
            raise ConfigError(f"{key}.cadence: unknown cadence {spec['cadence']!r}; use one of "
                              f"{', '.join(CADENCES)}")
        out[str(name)] = {**spec, "cost": _number(spec["cost"], f"{key}.cost"),
                          "attention_units": _number(spec["attention_units"], f"{key}.attention_units")}
    return out


def _parse_rule(rule) -> tuple[str, str, str]:
    parts = [p.strip() for p in str(rule).split("/")]
    if len(parts) != 3:
        raise ConfigError(f"actions.playbook: rule {rule!r} must read 'quadrant/phase/risk' (use * for all)")
    for part, allowed, what in zip(parts, (QUADRANTS, PHASES, RISK_LEVELS), ("quadrant", "phase", "risk level")):
        if part != "*" and part not in allowed:
            raise ConfigError(f"actions.playbook: unknown {what} {part!r} in rule {rule!r}; use one of "
                              f"{', '.join(allowed)} or *")
    return tuple(parts)


def _specificity(parts) -> tuple:
    # Most fields given wins; on a tie quadrant before phase before risk (documented in bestand.yml).
    given = tuple(p != "*" for p in parts)
    return (sum(given), *given)


def actions_settings(config=None) -> dict:
    """The validated ``actions`` section: risk cut-offs, budgets, measures and the parsed rules.

    Raises
    ------
    ConfigError
        Unknown keys, unknown measures, roles, cadences, quadrants, phases or risk levels, and every
        combination of quadrant, phase and risk level that no rule covers (named in the message).
    """
    cfg = ensure_config(config)
    section = cfg.get("actions")
    if not isinstance(section, dict):
        raise ConfigError("the config has no 'actions' section")
    unknown = set(section) - _SETTINGS
    if unknown:
        raise ConfigError(f"unknown config key 'actions.{sorted(unknown)[0]}'. Known keys here: "
                          f"{', '.join(sorted(_SETTINGS))}")
    levels = section.get("risk_levels") or {}
    if set(levels) != {"medium", "high"}:
        raise ConfigError("actions.risk_levels needs exactly the keys medium and high")
    med, high = _number(levels["medium"], "actions.risk_levels.medium"), _number(levels["high"],
                                                                                  "actions.risk_levels.high")
    if not 0 <= med <= high <= 1:
        raise ConfigError("actions.risk_levels: need 0 <= medium <= high <= 1")
    if section.get("unknown_risk") not in RISK_LEVELS:
        raise ConfigError(f"actions.unknown_risk must be one of {', '.join(RISK_LEVELS)}")
    budget = section.get("contact_budget")
    if isinstance(budget, dict):
        bad = set(budget) - set(QUADRANTS) - {"default"}
        if bad:
            raise ConfigError(f"actions.contact_budget: unknown quadrant {sorted(bad)[0]!r}; use "
                              f"{', '.join(QUADRANTS)} or default")
        if "default" not in budget and set(budget) != set(QUADRANTS):
            raise ConfigError("actions.contact_budget: give a default or every quadrant")
        budget = {k: _number(v, f"actions.contact_budget.{k}") for k, v in budget.items()}
    else:
        budget = {"default": _number(budget, "actions.contact_budget")}
    capacity = section.get("capacity")
    if isinstance(capacity, dict):
        capacity = {str(k): _number(v, f"actions.capacity.{k}") for k, v in capacity.items()}
    else:
        capacity = {"default": _number(capacity, "actions.capacity")}
    channel_units = {str(k): _number(v, f"actions.channel_units.{k}")
                     for k, v in (section.get("channel_units") or {}).items()}
    measures = _check_measures(section.get("measures"))

    playbook = section.get("playbook")
    if not isinstance(playbook, dict) or not playbook:
        raise ConfigError("actions.playbook must be a non-empty mapping 'quadrant/phase/risk' -> measure")
    rules = {}
    for rule, value in playbook.items():
        parts = _parse_rule(rule)
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"actions.playbook.{rule}: give a measure name or a list of them")
        for n in names:
            if n not in measures:
                raise ConfigError(f"actions.playbook.{rule}: unknown measure {n!r}; define it under "
                                  f"actions.measures (known: {', '.join(measures)})")
        if parts in rules:
            raise ConfigError(f"actions.playbook: rule {rule!r} is given twice")
        rules[parts] = {"rule": str(rule), "measures": tuple(names)}
    return {"risk_levels": {"medium": med, "high": high}, "unknown_risk": section["unknown_risk"],
            "contact_budget": budget, "capacity": capacity, "channel_units": channel_units,
            "measures": measures, "rules": rules,
            "new_cohort_quarters": int(_number(section["new_cohort_quarters"], "actions.new_cohort_quarters", 1)),
            "first_year_quarters": int(_number(section["first_year_quarters"], "actions.first_year_quarters", 1))}


def _match(rules: dict, quadrant: str, phase: str, risk: str):
    best = None
    for parts, spec in rules.items():
        if all(p in ("*", v) for p, v in zip(parts, (quadrant, phase, risk))):
            if best is None or _specificity(parts) > _specificity(best[0]):
                best = (parts, spec)
    return None if best is None else best[1]


def _label(spec: dict, lang: str) -> str:
    return str(spec.get(lang) or spec.get("de"))


def measure_table(config=None, lang: str = "de") -> pd.DataFrame:
    """The catalogue of measures: ``action, action_label, owner_role, owner, cadence, cost,
    attention_units, cost_per_quarter, attention_per_quarter``."""
    st = actions_settings(config)
    rows = []
    for name, m in st["measures"].items():
        k = CADENCES[m["cadence"]]
        rows.append({"action": name, "action_label": _label(m, lang), "owner_role": m["owner_role"],
                     "owner": ROLES[m["owner_role"]][lang], "cadence": m["cadence"], "cost": m["cost"],
                     "attention_units": m["attention_units"], "cost_per_quarter": m["cost"] * k,
                     "attention_per_quarter": m["attention_units"] * k})
    return pd.DataFrame(rows)


def load_playbook(config=None, lang: str = "de") -> pd.DataFrame:
    """The validated playbook, expanded to every combination of quadrant, phase and risk level.

    Returns
    -------
    DataFrame
        105 rows ``quadrant_key, phase, risk_level, rule, measures`` (tuple, best first), ``action``
        (the first measure), ``action_label, owner_role, owner, cadence, cost_per_quarter,
        attention_per_quarter``.

    Raises
    ------
    ConfigError
        When a combination has no rule (the message lists the first uncovered ones), or any other
        problem found by :func:`actions_settings`.
    """
    st = actions_settings(config)
    catalogue = measure_table(config, lang).set_index("action")
    rows, gaps = [], []
    for q in QUADRANTS:
        for p in PHASES:
            for r in RISK_LEVELS:
                spec = _match(st["rules"], q, p, r)
                if spec is None:
                    gaps.append(f"{q}/{p}/{r}")
                    continue
                first = catalogue.loc[spec["measures"][0]]
                rows.append({"quadrant_key": q, "phase": p, "risk_level": r, "rule": spec["rule"],
                             "measures": spec["measures"], "action": spec["measures"][0],
                             "action_label": first["action_label"], "owner_role": first["owner_role"],
                             "owner": first["owner"], "cadence": first["cadence"],
                             "cost_per_quarter": first["cost_per_quarter"],
                             "attention_per_quarter": first["attention_per_quarter"]})
    if gaps:
        shown = ", ".join(gaps[:5]) + (f" and {len(gaps) - 5} more" if len(gaps) > 5 else "")
        raise ConfigError(f"actions.playbook has no measure for {shown} (quadrant/phase/risk). Add a rule, "
                          "e.g. a catch-all '*/*/*'.")
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# next-best actions
# --------------------------------------------------------------------------------------------------
def risk_level(probability: pd.Series, config=None) -> pd.Series:
    """``low / medium / high`` from the churn probability; missing -> ``actions.unknown_risk``."""
    st = actions_settings(config)
    p = pd.to_numeric(probability, errors="coerce").astype("float64")
    lv = st["risk_levels"]
    out = np.where(p >= lv["high"], "high", np.where(p >= lv["medium"], "medium", "low"))
    return pd.Series(np.where(p.isna(), st["unknown_risk"], out), index=probability.index, dtype="str")


def contact_load(contacts: pd.DataFrame | None, quarter, config=None) -> pd.DataFrame:
    """Attention units of each customer's routine contacts in ``quarter``: ``customer_id, routine_units``.

    The routine contacts of the report quarter are expected to continue in the next one, so they use
    up part of the customer's contact budget. Channels without a weight in ``actions.channel_units``
    count 1.
    """
    st = actions_settings(config)
    if contacts is None or contacts.empty:
        return pd.DataFrame({"customer_id": pd.Series(dtype="str"), "routine_units": pd.Series(dtype="float64")})
    q = parse_quarter(quarter)
    c = contacts[contacts["contact_date"].dt.to_period("Q-DEC") == q]
    units = c["channel"].map(st["channel_units"]).fillna(1.0).astype("float64")
    out = units.groupby(c["customer_id"].astype(str)).sum().rename("routine_units").reset_index()
    return out


def _check_frame(frame: pd.DataFrame) -> None:
    need = ["customer_id", "account_manager", "quadrant_key", "phase", "churn_probability", "margin_at_risk"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise BestandError(f"assign_actions: the customer frame lacks {', '.join(missing)}")
    if frame["customer_id"].duplicated().any():
        raise BestandError("assign_actions: customer_id must be unique (one row per customer)")
    for col, allowed in (("quadrant_key", QUADRANTS), ("phase", PHASES)):
        bad = sorted(set(frame[col].dropna().astype(str)) - set(allowed))
        if bad or frame[col].isna().any():
            shown = bad[0] if bad else "a missing value"
            raise BestandError(f"assign_actions: {col} has {shown!r}; expected one of {', '.join(allowed)}")


def _reasons(frame: pd.DataFrame, risk: pd.Series, lang: str) -> pd.Series:
    cols = [c for c in ("reason_1", "reason_2", "reason_3") if c in frame.columns]
    hab = frame["habituation_flag"].fillna(False).astype(bool) if "habituation_flag" in frame.columns \
        else pd.Series(False, index=frame.index)
    hab_text = "Gewöhnungsrisiko" if lang == "de" else "Habituation risk"
    out = []
    for i in frame.index:
        parts = [hab_text] if hab.loc[i] else []
        parts += [str(frame.at[i, c]) for c in cols
                  if pd.notna(frame.at[i, c]) and str(frame.at[i, c]).strip()]
        if not parts:  # no model reasons (e.g. fallback risk): say where the rule came from
            ph = PHASE_LABELS[frame.at[i, "phase"]][lang]
            rk = RISK_LABELS[risk.loc[i]][lang]
            parts = [f"Phase {ph}, Risiko {rk}" if lang == "de" else f"phase {ph}, risk {rk}"]
        out.append("; ".join(parts))
    return pd.Series(out, index=frame.index, dtype="str")


def assign_actions(frame: pd.DataFrame, config=None, lang: str = "de") -> pd.DataFrame:
    """The next-best action per customer, prioritised by margin at risk, within budget and capacity.

    Customers are taken in order of ``margin_at_risk`` (highest first; missing last, then by churn
    probability). For each, the rule's measures are tried best first: the first one whose attention
    per quarter fits the customer's remaining contact budget (budget - ``routine_units``) and the
    manager's remaining capacity is ``planned``. If measures fit the customer but none the manager,
    the best of them is kept with status ``overflow`` (it uses no capacity, so a later customer may
    still get a lighter measure). If none fits the customer, the lightest measure is kept with status
    ``over_budget``. Automated measures (0 attention units) always fit.

    Parameters
    ----------
    frame : DataFrame
        One row per customer, see the module docstring.
    config : dict, str or None
        Full configuration; uses ``config["actions"]``.
    lang : {"de", "en"}
        Language of labels and reasons.

    Returns
    -------
    DataFrame
        One row per customer of ``frame``, sorted by ``priority``: the :data:`ACTIONS_COLUMNS` plus
        ``owner, status_label, habituation_flag``. ``cost`` and ``attention_units`` are per quarter.

    Raises
    ------
    ConfigError
        Invalid playbook, or a capacity given for a manager who has no customer in ``frame``.
    """
    st = actions_settings(config)
    playbook = load_playbook(config, lang)
    _check_frame(frame)
    f = frame.copy().reset_index(drop=True)
    f["customer_id"] = f["customer_id"].astype(str)
    for col in ("name", "business_unit"):
        if col not in f.columns:
            f[col] = None
    f["account_manager"] = f["account_manager"].where(f["account_manager"].notna(), _NO_MANAGER[lang])
    managers = set(f["account_manager"].astype(str))
    unknown = sorted(set(st["capacity"]) - {"default"} - managers)
    if unknown:
        raise ConfigError(f"actions.capacity names {unknown[0]!r}, who has no customer here; known managers: "
                          f"{', '.join(sorted(managers))}")
    cap = {m: st["capacity"].get(m, st["capacity"].get("default", 0.0)) for m in managers}
    cap[_NO_MANAGER[lang]] = 0.0  # nobody to carry out a personal measure: everything personal overflows

    f["risk_level"] = risk_level(f["churn_probability"], config)
    f["margin_at_risk"] = pd.to_numeric(f["margin_at_risk"], errors="coerce").astype("float64")
    budget = st["contact_budget"]
    f["contact_budget"] = f["quadrant_key"].map(lambda q: budget.get(q, budget.get("default"))).astype("float64")
    f["routine_units"] = (pd.to_numeric(f["routine_units"], errors="coerce").fillna(0.0).astype("float64")
                          if "routine_units" in f.columns else 0.0)
    f["reason"] = _reasons(f, f["risk_level"], lang)
    f = f.merge(playbook[["quadrant_key", "phase", "risk_level", "rule", "measures"]],
                on=["quadrant_key", "phase", "risk_level"], how="left", validate="many_to_one")
    f = f.sort_values(["margin_at_risk", "churn_probability", "customer_id"], ascending=[False, False, True],
                      na_position="last", ignore_index=True)
    f["priority"] = np.arange(1, len(f) + 1)

    units = {n: m["attention_units"] * CADENCES[m["cadence"]] for n, m in st["measures"].items()}
    used = dict.fromkeys(cap, 0.0)
    chosen, status = [], []
    eps = 1e-9  # attention units are decimals (0.5): compare with a tolerance
    for mgr, alts, room in zip(f["account_manager"], f["measures"], f["contact_budget"] - f["routine_units"]):
        fits = [m for m in alts if units[m] == 0 or units[m] <= room + eps]
        if not fits:
            chosen.append(min(alts, key=lambda m: units[m]))
            status.append("over_budget")
            continue
        doable = [m for m in fits if units[m] == 0 or used[mgr] + units[m] <= cap[mgr] + eps]
        if doable:
            chosen.append(doable[0])
            used[mgr] += units[doable[0]]
            status.append("planned")
        else:
            chosen.append(fits[0])
            status.append("overflow")
    f["action"] = chosen
    f["status"] = status
    f["preferred_action"] = f["measures"].map(lambda t: t[0])
    catalogue = measure_table(config, lang).set_index("action")
    for col, src in (("action_label", "action_label"), ("owner_role", "owner_role"), ("owner", "owner"),
                     ("cadence", "cadence"), ("cost", "cost_per_quarter"),
                     ("attention_units", "attention_per_quarter")):
        f[col] = f["action"].map(catalogue[src])
    f["status_label"] = f["status"].map(lambda x: STATUS[x][lang])
    f["manager_rank"] = f.groupby("account_manager").cumcount() + 1
    if "habituation_flag" not in f.columns:
        f["habituation_flag"] = False
    return f[ACTIONS_COLUMNS + ["owner", "status_label", "habituation_flag"]]


def actions_table(actions: pd.DataFrame) -> pd.DataFrame:
    """``tables/actions.csv``: the :data:`ACTIONS_COLUMNS` of :func:`assign_actions`, by priority."""
    return actions[ACTIONS_COLUMNS].sort_values("priority", ignore_index=True)


def action_summary(actions: pd.DataFrame, by: str = "action", config=None, lang: str = "de") -> pd.DataFrame:
    """The action plan in one table per ``action`` or per ``account_manager``.

    Returns
    -------
    DataFrame
        ``by`` (plus ``action_label`` when by action), ``customers, planned, overflow, over_budget,
        attention_units`` (planned), ``cost`` (planned, EUR per quarter), ``margin_at_risk`` (all rows);
        by manager also ``capacity`` and ``utilisation`` (planned units / capacity).
    """
    if by not in ("action", "account_manager"):
        raise BestandError("action_summary: by must be 'action' or 'account_manager'")
    a = actions.assign(**{s: actions["status"].eq(s) for s in STATUS})
    planned = a["planned"]
    keys = [by, "action_label"] if by == "action" else [by]
    g = a.assign(units_planned=a["attention_units"].where(planned, 0.0),
                 cost_planned=a["cost"].where(planned, 0.0)).groupby(keys, dropna=False).agg(
        customers=("customer_id", "size"), planned=("planned", "sum"), overflow=("overflow", "sum"),
        over_budget=("over_budget", "sum"), attention_units=("units_planned", "sum"),
        cost=("cost_planned", "sum"), margin_at_risk=("margin_at_risk", "sum")).reset_index()
    if by == "account_manager":
        st = actions_settings(config)
        default = st["capacity"].get("default", 0.0)
        g["capacity"] = g["account_manager"].map(
            lambda m: 0.0 if m in _NO_MANAGER.values() else st["capacity"].get(m, default)).astype("float64")
        g["utilisation"] = g["attention_units"] / g["capacity"].replace(0.0, np.nan)
    return g.sort_values("margin_at_risk", ascending=False, ignore_index=True)


# --------------------------------------------------------------------------------------------------
# per-manager lists
# --------------------------------------------------------------------------------------------------
def manager_lists(actions: pd.DataFrame, lang: str = "de") -> dict[str, pd.DataFrame]:
    """One readable action list per account manager (columns in ``lang``), by the manager's rank."""
    cols = list(_COLS[lang])
    names = {k: i18n.with_currency(v, lang) for k, v in _COLS[lang].items()}
    out = {}
    for mgr, part in actions.sort_values("priority").groupby("account_manager", sort=True):
        view = part[cols].copy()
        view["phase"] = view["phase"].map(lambda p: PHASE_LABELS[p][lang])
        view["risk_level"] = view["risk_level"].map(lambda r: RISK_LABELS[r][lang])
        view["margin_at_risk"] = view["margin_at_risk"].round(0)
        out[str(mgr)] = view.rename(columns=names).reset_index(drop=True)
    return out


def _slug(name: str) -> str:
    s = (name.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("Ä", "Ae")
         .replace("Ö", "Oe").replace("Ü", "Ue").replace("ß", "ss"))
    return re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower() or "unassigned"


def write_action_lists(actions: pd.DataFrame, out_dir, lang: str = "de") -> pd.DataFrame:
    """Write ``<out_dir>/<manager>.csv`` and ``.xlsx`` per account manager.

    CSV files are UTF-8 with BOM and ``;`` as separator so that Excel in a German locale opens them
    directly (the machine-readable table is ``tables/actions.csv``). Returns ``account_manager, rows,
    csv, xlsx`` (file names relative to ``out_dir``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows, seen = [], {}
    for mgr, table in manager_lists(actions, lang).items():
        slug = _slug(mgr)
        seen[slug] = seen.get(slug, 0) + 1
        if seen[slug] > 1:  # two managers with the same slug must not overwrite each other
            slug = f"{slug}_{seen[slug]}"
        csv, xlsx = f"{slug}.csv", f"{slug}.xlsx"
        table.to_csv(out / csv, index=False, sep=";", decimal="," if lang == "de" else ".",
                     encoding="utf-8-sig")
        with pd.ExcelWriter(out / xlsx, engine="openpyxl") as xw:
            sheet = ("Maßnahmen" if lang == "de" else "Actions")
            table.to_excel(xw, sheet_name=sheet, index=False)
            ws = xw.sheets[sheet]
            for i, col in enumerate(table.columns, start=1):  # readable widths, capped for the reasons
                width = max([len(str(col))] + [len(str(v)) for v in table[col].head(200)])
                ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = min(width + 2, 60)
            ws.freeze_panes = "A2"
        rows.append({"account_manager": mgr, "rows": len(table), "csv": csv, "xlsx": xlsx})
    return pd.DataFrame(rows, columns=["account_manager", "rows", "csv", "xlsx"])


# --------------------------------------------------------------------------------------------------
# 1 kept = N new
# --------------------------------------------------------------------------------------------------
_qi = concepts.quarter_index  # the one quarter index (kept under this name for old callers)


def kept_vs_new_ratio(panel: pd.DataFrame, quarter, margin_at_risk: float | None = None,
                      config=None) -> dict:
    """"1 kept = N new": a thin wrapper of :func:`bestandlib.concepts.kept_vs_new`, the one definition.

    A *kept* customer bought in the last 12 months and in the 12 months before; its value is the
    contribution margin of the last 12 months. A *new* customer was acquired in the data in the last
    ``actions.new_cohort_quarters`` quarters with a complete first year; its value is the margin of
    its first ``actions.first_year_quarters`` quarters. N = mean kept margin / mean first-year margin
    (the loyalty claim ``kept_vs_new`` tests the same N with a bootstrap interval).

    Returns
    -------
    dict
        ``quarter, kept_customers, kept_margin, new_customers, new_first_year_margin, cohort_from,
        cohort_to, ratio, margin_at_risk, new_customers_needed`` (margin at risk / first-year margin;
        NaN without ``margin_at_risk``). ``ratio`` is NaN when the new customers' margin is not positive.
    """
    actions_settings(config)  # checks the section
    return concepts.kept_vs_new(panel, quarter, margin_at_risk, config)


def kept_vs_new_sentence(result: dict, lang: str = "de") -> str:
    """The finding of :func:`kept_vs_new_ratio` as one or two sentences for the management page."""
    from bestandlib import i18n

    n = i18n.fmt_number(result["ratio"], lang, 1)
    kept, new = i18n.fmt_eur(result["kept_margin"], lang), i18n.fmt_eur(result["new_first_year_margin"], lang)
    a, b = result["cohort_from"], result["cohort_to"]
    if not np.isfinite(result["ratio"]):
        return ("Zu wenige Neukunden mit vollständigem erstem Jahr, um gehaltene und neue Kunden zu vergleichen."
                if lang == "de" else "Too few new customers with a complete first year to compare kept and new customers.")
    if lang == "de":
        text = (f"1 gehaltener Kunde = {n} neue: Ein Bestandskunde brachte in den letzten 12 Monaten im Schnitt "
                f"{kept} Deckungsbeitrag, ein Neukunde (Erstkauf {a}–{b}) im ersten Jahr {new}.")
    else:
        text = (f"1 kept customer = {n} new ones: an existing customer earned an average contribution margin "
                f"of {kept} over the last 12 months, a new customer (first order {a}–{b}) {new} in its first year.")
    if np.isfinite(result.get("margin_at_risk", np.nan)) and np.isfinite(result["new_customers_needed"]):
        mar = i18n.fmt_eur(result["margin_at_risk"], lang)
        need = i18n.fmt_number(result["new_customers_needed"], lang)
        text += (f" Der Deckungsbeitrag im Risiko von {mar} entspricht {need} Neukunden." if lang == "de"
                 else f" The margin at risk of {mar} equals {need} new customers.")
    return text


# --------------------------------------------------------------------------------------------------
# actions log: done or not, and treated vs comparable untreated
# --------------------------------------------------------------------------------------------------
def _check_log(log: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("customer_id", "action", "done_on") if c not in log.columns]
    if missing:
        raise BestandError(f"actions_log lacks {', '.join(missing)} (needs customer_id, action, done_on)")
    out = log[["customer_id", "action", "done_on"]].copy()
    out["customer_id"] = out["customer_id"].astype(str)
    out["done_on"] = pd.to_datetime(out["done_on"], errors="coerce").dt.normalize()
    return out.dropna(subset=["done_on"])


def log_status(actions: pd.DataFrame, log: pd.DataFrame, start=None, end=None) -> pd.DataFrame:
    """Which planned actions were done: ``actions`` plus ``done`` (bool) and ``done_on`` (first date).

    A planned action counts as done when the log has the same customer and action with ``done_on``
    between ``start`` and ``end`` (inclusive, both optional; e.g. the quarter after the plan).
    """
    lg = _check_log(log)
    if start is not None:
        lg = lg[lg["done_on"] >= pd.Timestamp(start)]
    if end is not None:
        lg = lg[lg["done_on"] <= pd.Timestamp(end)]
    first = lg.groupby(["customer_id", "action"], as_index=False)["done_on"].min()
    out = actions.drop(columns=[c for c in ("done", "done_on") if c in actions.columns]).merge(
        first, on=["customer_id", "action"], how="left")
    out["done"] = out["done_on"].notna()
    return out


def treated_vs_untreated(log: pd.DataFrame, panel: pd.DataFrame, horizon: int = 2) -> pd.DataFrame:
    """Churn after a measure vs comparable untreated customers (NOT a randomised comparison).

    A customer treated in quarter t (``done_on`` in t, active in the 4 quarters up to t) churned when
    it placed no order in quarters t+1..t+horizon. Comparable untreated customers are the other active
    customers of the same quarter, not treated within ``horizon`` quarters either side. Their churn
    rate is standardised to the treated customers' mix of strata (quarter x recency of the last order
    x margin tercile), so a difference is not just a difference in those three. Only treatments whose
    outcome window lies inside the panel are counted. See :data:`NOT_RANDOMISED` for the caveat.

    Returns
    -------
    DataFrame
        Per ``action`` (and ``"*"`` for all): ``treated, treated_churned, treated_churn_rate,
        comparison_customers, comparison_churn_rate, difference`` (treated - comparison).
    """
    lg = _check_log(log)
    p = panel[["customer_id", "quarter", "orders", "margin", "days_since_last_order"]].copy()
    p["qi"] = _qi(p["quarter"])
    p = p.sort_values(["customer_id", "qi"], ignore_index=True)
    g = p.groupby("customer_id", sort=False)
    p["orders_4q"] = g["orders"].transform(lambda s: s.rolling(4, min_periods=1).sum())
    p["margin_4q"] = g["margin"].transform(lambda s: s.rolling(4, min_periods=1).sum())
    p["future_orders"] = sum(g["orders"].shift(-k) for k in range(1, horizon + 1))  # NaN past the data
    base = p[(p["orders_4q"] > 0) & p["future_orders"].notna()].copy()
    base["churned"] = base["future_orders"] == 0
    base["recency"] = pd.cut(base["days_since_last_order"], [-np.inf, 90, 180, np.inf], labels=False)
    base["margin_band"] = base.groupby("qi")["margin_4q"].transform(
        lambda s: pd.qcut(s.rank(method="first"), 3, labels=False) if len(s) >= 3 else 0)
    lg["qi"] = concepts.date_quarter_index(lg["done_on"]).astype("int64")
    treated_any = lg[["customer_id", "qi"]].drop_duplicates()

    # untreated: no treatment within +-horizon quarters of the row's quarter
    near = base[["customer_id", "qi"]].merge(treated_any, on="customer_id", suffixes=("", "_t"))
    near = near[(near["qi_t"] - near["qi"]).abs() <= horizon][["customer_id", "qi"]].drop_duplicates()
    key = base.set_index(["customer_id", "qi"]).index
    untreated = base[~key.isin(pd.MultiIndex.from_frame(near))]
    strata = ["qi", "recency", "margin_band"]
    ref = untreated.groupby(strata)["churned"].agg(["mean", "size"])

    rows = []
    groups = [("*", lg)] + list(lg.groupby("action"))
    for action, part in groups:
        t = base.merge(part[["customer_id", "qi"]].drop_duplicates(), on=["customer_id", "qi"])
        t = t.join(ref, on=strata)
        matched = t[t["size"].notna()]
        rows.append({"action": action, "treated": len(t), "treated_churned": int(t["churned"].sum()),
                     "treated_churn_rate": float(t["churned"].mean()) if len(t) else np.nan,
                     "comparison_customers": int(len(untreated)),
                     "comparison_churn_rate": float(matched["mean"].mean()) if len(matched) else np.nan})
    out = pd.DataFrame(rows)
    out["difference"] = out["treated_churn_rate"] - out["comparison_churn_rate"]
    return out


# --------------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------------
def _ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def plot_manager_load(actions: pd.DataFrame, config=None, ax=None, lang: str = "de"):
    """Attention units per account manager: planned and overflow (stacked) against the capacity."""
    ax = _ax(ax)
    s = action_summary(actions, "account_manager", config, lang)
    over = actions[actions["status"] == "overflow"].groupby("account_manager")["attention_units"].sum()
    s["overflow_units"] = s["account_manager"].map(over).fillna(0.0)
    s = s.sort_values("attention_units", ascending=True, ignore_index=True)
    y = np.arange(len(s))
    de = lang == "de"
    ax.barh(y, s["attention_units"], color="#2b6f97", label="geplant" if de else "planned")
    ax.barh(y, s["overflow_units"], left=s["attention_units"], color="#d9822b",
            label="über Kapazität" if de else "over capacity")
    ax.scatter(s["capacity"], y, marker="|", s=250, color="black", zorder=3,
               label="Kapazität" if de else "capacity")
    ax.set_yticks(y, s["account_manager"])
    ax.set_xlabel("Aufmerksamkeitseinheiten je Quartal" if de else "Attention units per quarter")
    ax.set_title("Maßnahmen je Außendienst vs. Kapazität" if de else "Actions per account manager vs capacity")
    ax.legend(loc="lower right", frameon=False)
    return ax


def plot_margin_by_action(actions: pd.DataFrame, ax=None, lang: str = "de"):
    """Margin at risk covered by each measure, split by status."""
    ax = _ax(ax)
    piv = actions.pivot_table(index="action_label", columns="status", values="margin_at_risk", aggfunc="sum",
                              fill_value=0.0).reindex(columns=list(STATUS), fill_value=0.0)
    piv = piv.loc[piv.sum(axis=1).sort_values().index]
    left = np.zeros(len(piv))
    colors = {"planned": "#2b6f97", "overflow": "#d9822b", "over_budget": "#999999"}
    for st in STATUS:
        ax.barh(piv.index, piv[st], left=left, color=colors[st], label=STATUS[st][lang])
        left += piv[st].to_numpy()
    ax.set_xlabel(i18n.with_currency("Deckungsbeitrag im Risiko (EUR)" if lang == "de" else "Margin at risk (EUR)", lang))
    ax.set_title("Deckungsbeitrag im Risiko je Maßnahme" if lang == "de" else "Margin at risk by measure")
    ax.legend(loc="lower right", frameon=False)
    return ax


# --------------------------------------------------------------------------------------------------
# simple stand-ins when the phase or churn model cannot be used
# --------------------------------------------------------------------------------------------------
def simple_phases(panel: pd.DataFrame, quarter) -> pd.DataFrame:
    """A tenure- and trend-based phase when :mod:`bestandlib.phases` is not available.

    lost and new as everywhere (:mod:`bestandlib.concepts`, default config): lost = no order in the
    last ``phases.lost_quarters`` quarters; new = first order less than ``phases.new_quarters``
    quarters ago; declining / growing = revenue of the last 4 quarters at least 25 % below / above the
    4 before; else established. Returns ``customer_id, phase``.
    """
    q = parse_quarter(quarter)
    now = quarter_index(q)
    p = panel[["customer_id", "quarter", "revenue", "orders", "tenure_quarters"]].copy()
    p["qi"] = _qi(p["quarter"])
    last = p[p["qi"].between(now - 3, now)].groupby("customer_id").agg(
        revenue=("revenue", "sum"), orders=("orders", "sum"), tenure=("tenure_quarters", "max"))
    prev = p[p["qi"].between(now - 7, now - 4)].groupby("customer_id")["revenue"].sum()
    change = (last["revenue"] - prev) / prev.where(prev > 0)
    change = change.reindex(last.index)
    state = concepts.status_at(panel, q).set_index("customer_id").reindex(last.index.astype(str))
    lost, new = state["lost"].fillna(False).to_numpy(bool), state["new"].fillna(False).to_numpy(bool)
    phase = np.select([lost, new, change <= -0.25, change >= 0.25],
                      ["lost", "new", "declining", "growing"], default="established")
    return pd.DataFrame({"customer_id": last.index.astype(str), "phase": phase})


def recency_risk(panel: pd.DataFrame, quarter) -> pd.DataFrame:
    """A recency-based risk score in 0..1 when the churn model is not available (not a probability).

    overdue = days since the last purchase at the quarter end / the customer's own mean gap between
    purchase days (the population median of those means for customers with fewer than three purchase
    days); score = clip((overdue - 1) / 3, 0, 1): 0 while within the usual rhythm, 1 at four times the
    usual gap. From the panel's purchase-day columns (``order_days``, ``gap_days_sum``,
    ``last_order_date``), so no order line is read. Returns ``customer_id, churn_probability, overdue``.
    """
    q = parse_quarter(quarter)
    end = q.end_time.normalize()
    p = panel.loc[quarter_index(panel["quarter"]) <= quarter_index(q),
                  ["customer_id", "quarter", "order_days", "gap_days_sum", "last_order_date"]]
    p = p.assign(customer_id=p["customer_id"].astype(str))
    g = p.groupby("customer_id", sort=True)
    days, gap_total = g["order_days"].sum(), g["gap_days_sum"].sum()
    last = g["last_order_date"].max()
    bought = days > 0
    days, gap_total, last = days[bought], gap_total[bought], last[bought]
    mean_gap = (gap_total / (days - 1)).where(days >= 2)
    overall = float(mean_gap.median()) if mean_gap.notna().any() else 90.0
    mean_gap = mean_gap.where(days >= 3, overall).clip(lower=7)
    overdue = (end - last).dt.days / mean_gap
    score = ((overdue - 1) / 3).clip(0, 1)
    return pd.DataFrame({"customer_id": last.index.astype(str), "churn_probability": score.to_numpy(),
                         "overdue": overdue.to_numpy()})
