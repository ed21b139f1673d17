"""Retention playbook and next-best actions: the right measure, by the right person, in time.

The playbook in ``config["actions"]`` maps every combination of quadrant (four-field matrix), relationship
phase and churn-risk level to a standardized measure (or a list of measures, best first). A notebook uses it
like this::

    playbook = actions.load_playbook(s.config, s.lang)          # validated, one row per combination
    frame, source = actions.plan_inputs(s, value, phase)         # model / btyd / recency
    acts = actions.assign_actions(frame, s.config, s.lang)       # next-best action per customer
    s.save_table(actions.actions_table(acts, s.has_margin), "actions")
    actions.write_action_lists(acts, s.output_dir / "actions", s.lang, s.has_margin)

``frame`` has one row per customer: ``customer_id, account_manager, quadrant_key, phase,
churn_probability, margin_at_risk`` and optionally ``name, business_unit, risk_score, risk_source,
value_12m, habituation_flag, reason_1..reason_3, routine_units`` (attention already taken by routine
contacts, see :func:`contact_load`). ``margin_at_risk`` = churn probability x expected contribution
margin of the next 12 months (``bestandlib.churn``; revenue without margins). Customers no model scores
have a recency ``risk_score`` instead (:func:`recency_risk`, not a probability): no margin at risk, they
are ranked by the score after those with one (:func:`plan_frame`).

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
from bestandlib import concepts, phases
from bestandlib.concepts import quarter_index
from bestandlib.periods import parse_quarter

__all__ = ["QUADRANTS", "PHASES", "RISK_LEVELS", "ACTIONS_COLUMNS", "actions_settings", "measure_table",
           "load_playbook", "risk_level", "contact_load", "assign_actions", "actions_table",
           "action_summary", "manager_lists", "write_action_lists", "kept_vs_new_ratio",
           "kept_vs_new_sentence", "kept_vs_new_frame", "log_status", "treated_vs_untreated",
           "simple_phases", "recency_risk", "STATUS", "RISK_SOURCES", "risk_scores", "plan_frame",
           "plan_inputs", "risk_source_counts", "playbook_matrix", "for_display", "plan_notes", "label_actions",
           "plot_manager_load", "plot_margin_by_action"]

QUADRANTS = ("top", "premium", "development", "small", "unassessed")
PHASES = ("new", "growing", "established", "habituating", "declining", "lost", "reactivated")
RISK_LEVELS = ("low", "medium", "high")

#: Columns of ``tables/actions.csv`` (the first six are the contract named in the issue).
#: ``churn_probability`` is a model's probability (empty where only the recency score is known);
#: ``risk_score`` is that recency score (0..1, not a probability; empty where a model scored);
#: ``margin_at_risk`` = probability x margin of 12 months, empty for recency-scored customers.
ACTIONS_COLUMNS = ["customer_id", "account_manager", "action", "priority", "margin_at_risk", "reason",
                   "status", "cost", "owner_role", "action_label", "preferred_action", "attention_units",
                   "cadence", "name", "business_unit", "quadrant_key", "phase", "risk_level",
                   "churn_probability", "risk_score", "risk_source", "routine_units", "contact_budget",
                   "manager_rank", "rule"]

#: Roles that own a measure (catalogue ``role_<key>``).
ROLES = ("account_manager", "key_account_manager", "sales_director", "inside_sales", "customer_service",
         "application_specialist", "product_management", "marketing")
# Occurrences per quarter: the budget and the cost are per quarter.
CADENCES = {"once": 1.0, "monthly": 3.0, "quarterly": 1.0, "half_yearly": 0.5, "yearly": 0.25}
_MEASURE_FIELDS = {"de", "en", "owner_role", "cadence", "cost", "attention_units"}
_SETTINGS = {"risk_levels", "unknown_risk", "contact_budget", "channel_units", "capacity", "measures",
             "playbook", "new_cohort_quarters", "first_year_quarters", "holdout_share", "holdout_seed",
             "min_effect_n"}

#: Status of a planned action (catalogue ``status_<key>``), in the order of the summaries.
STATUS = ("planned", "overflow", "over_budget", "holdout")
#: Where the risk of the plan comes from (catalogue ``risk_source_<key>``): a tested churn model
#: (onboarding model for new customers), the purchase model, or a recency score (no probability).
RISK_SOURCES = ("model", "onboarding", "btyd", "recency")
# Columns of the per-manager action lists (headers from the catalogue, key columns translated).
_LIST_COLUMNS = ["priority", "manager_rank", "customer_id", "name", "business_unit", "action_label", "owner_role",
                 "cadence", "margin_at_risk", "risk_level", "phase", "reason", "status", "cost"]
_LIST_VALUES = {"owner_role": "role", "cadence": "cadence", "risk_level": "risk_level", "phase": "phase",
                "status": "status"}


def _no_manager(lang: str) -> str:
    return i18n.t("no_account_manager", lang)


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
    """The catalogue of measures: ``action, action_label, owner_role, cadence, cost,
    attention_units, cost_per_quarter, attention_per_quarter`` (``action_label``: the measure's
    configured name in ``lang``; ``owner_role`` and ``cadence`` are keys, translated on display)."""
    st = actions_settings(config)
    rows = []
    for name, m in st["measures"].items():
        k = CADENCES[m["cadence"]]
        rows.append({"action": name, "action_label": _label(m, lang), "owner_role": m["owner_role"],
                     "cadence": m["cadence"], "cost": m["cost"],
                     "attention_units": m["attention_units"], "cost_per_quarter": m["cost"] * k,
                     "attention_per_quarter": m["attention_units"] * k})
    return pd.DataFrame(rows)


def load_playbook(config=None, lang: str = "de") -> pd.DataFrame:
    """The validated playbook, expanded to every combination of quadrant, phase and risk level.

    Returns
    -------
    DataFrame
        105 rows ``quadrant_key, phase, risk_level, rule, measures`` (tuple, best first), ``action``
        (the first measure), ``action_label, owner_role, cadence, cost_per_quarter,
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
                             "cadence": first["cadence"],
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


# --------------------------------------------------------------------------------------------------
# the planning frame: who is at risk, by which source
# --------------------------------------------------------------------------------------------------
_RISK_COLUMNS = ["customer_id", "churn_probability", "habituation_flag", "reason_1", "reason_2", "reason_3",
                 "segment_model"]
# segment_model of churn.churn_table -> risk source of the plan
_PER_MODEL = {"established": "model", "onboarding": "onboarding", "purchase_model": "btyd", "recency": "recency"}


def risk_scores(panel: pd.DataFrame, tables, quarter, config=None, *, model_ok: bool, btyd_ok: bool,
                features: pd.DataFrame | None = None, has_margin: bool = True,
                lang: str = "de", current=None) -> tuple[pd.DataFrame | None, str]:
    """The churn risk of the plan and its source key: ``"model"``, ``"btyd"`` or ``"recency"``.

    Chosen by explicit conditions, best first:

    - ``model``: the tested churn model can run (``model_ok``, e.g. ``s.available("churn.model")``)
      and the data hold churners to learn from (:func:`bestandlib.churn.fit_current` raises
      :class:`~bestandlib.churn.NothingToLearn` otherwise): :func:`bestandlib.churn.churn_table`
      (onboarding model for new customers, purchase model for the lapsed: ``segment_model``);
    - ``btyd``: else the purchase model can run (``btyd_ok``) and finds a drop-out in the data
      (:func:`bestandlib.churn.purchase_model_table`): 1 - P(alive) per customer;
    - ``recency``: else no risk frame (``None``); :func:`plan_frame` gives every customer the recency
      score of :func:`recency_risk`, which is not a probability.

    Returns ``(risk, source)``; ``risk`` has ``customer_id, churn_probability`` and, from the churn
    model, ``habituation_flag, reason_1..reason_3, segment_model``. ``current``: the fits of
    :func:`bestandlib.churn.current_risk_data` when already made (page 05's, from the result cache).
    """
    from bestandlib import churn

    if model_ok and current is not None:
        if current.table is not None:
            risk = churn.word_risk(current, lang).table
            return risk[[c for c in _RISK_COLUMNS if c in risk.columns]], "model"
    elif model_ok:
        mf = churn.model_frame(panel, tables, config, features=features)
        try:
            model = churn.fit_current(mf, quarter, config=config)
        except churn.NothingToLearn:  # nobody has left yet: no model to score with
            model = None
        if model is not None:
            onboarding = churn.fit_onboarding(mf, quarter, config=config)
            risk = churn.churn_table(mf, model, tables.customers, quarter, config=config, lang=lang,
                                     onboarding=onboarding)
            return risk[[c for c in _RISK_COLUMNS if c in risk.columns]], "model"
    if btyd_ok:
        try:
            _, purchase = churn.purchase_model_table(panel, tables.customers, quarter, config=config,
                                                     margin=has_margin)
        except churn.NothingToLearn:  # no drop-out in the data: the recency score
            purchase = None
        if purchase is not None:
            return purchase[["customer_id", "churn_probability"]], "btyd"
    return None, "recency"


def plan_frame(value: pd.DataFrame, phase: pd.DataFrame, risk: pd.DataFrame | None, source: str,
               recency: pd.DataFrame, routine: pd.DataFrame | None = None,
               has_margin: bool = True) -> pd.DataFrame:
    """One row per customer of ``value`` for :func:`assign_actions`.

    Parameters
    ----------
    value : DataFrame
        ``customer_id, name, business_unit, account_manager, quadrant_key, margin_12m, revenue_12m``
        (:func:`bestandlib.valuation.customer_value_table`).
    phase : DataFrame
        ``customer_id, phase``; customers without a phase count as ``established``.
    risk, source : from :func:`risk_scores`.
    recency : DataFrame
        ``customer_id, risk_score`` (:func:`recency_risk`), for the customers no model scores.
    routine : DataFrame, optional
        ``customer_id, routine_units`` (:func:`contact_load`).
    has_margin : bool
        Without contribution margins the money at stake is revenue.

    Returns
    -------
    DataFrame
        ``customer_id, name, business_unit, account_manager, quadrant_key, value_12m`` (margin of 12
        months, revenue without margins), ``phase, churn_probability, risk_score, risk_source,
        margin_at_risk`` (+ the model's ``habituation_flag, reason_1..3`` and ``routine_units``).
        ``risk_source`` per customer (:data:`RISK_SOURCES`). A model's probability stays in
        ``churn_probability``; customers scored by recency only have it empty and their score in
        ``risk_score`` instead, and no ``margin_at_risk``: a recency score is not a probability, so it
        puts no amount of money at risk; it only ranks.
    """
    if source not in ("model", "btyd", "recency"):
        raise BestandError(f"plan_frame: unknown risk source {source!r}; use model, btyd or recency")
    f = value[["customer_id", "name", "business_unit", "account_manager", "quadrant_key"]].copy()
    f["customer_id"] = f["customer_id"].astype(str)
    f["value_12m"] = pd.to_numeric(value["margin_12m" if has_margin else "revenue_12m"], errors="coerce").to_numpy()
    ph = phase[["customer_id", "phase"]].assign(customer_id=phase["customer_id"].astype(str))
    f = f.merge(ph, on="customer_id", how="left")
    f["phase"] = f["phase"].fillna("established")
    if risk is None:
        risk = pd.DataFrame({"customer_id": pd.Series(dtype="str"), "churn_probability": pd.Series(dtype="float64")})
    f = f.merge(risk.assign(customer_id=risk["customer_id"].astype(str)), on="customer_id", how="left")
    f["churn_probability"] = pd.to_numeric(f["churn_probability"], errors="coerce").astype("float64")
    per_customer = (f.pop("segment_model").map(_PER_MODEL) if "segment_model" in f
                    else pd.Series(source, index=f.index, dtype="object"))
    # the churn table's own recency rows hold a score, not a probability: move it to risk_score
    own = per_customer.eq("recency")
    f["risk_score"] = f["churn_probability"].where(own)
    f["churn_probability"] = f["churn_probability"].mask(own)
    scored = f["churn_probability"].notna()
    f["risk_source"] = per_customer.where(scored, "recency")
    score = recency.assign(customer_id=recency["customer_id"].astype(str)).set_index("customer_id")["risk_score"]
    f["risk_score"] = f["risk_score"].fillna(f["customer_id"].map(score)).where(~scored)
    f["margin_at_risk"] = f["churn_probability"] * f["value_12m"].clip(lower=0)
    if routine is not None:
        f = f.merge(routine.assign(customer_id=routine["customer_id"].astype(str)), on="customer_id", how="left")
    return f


def plan_inputs(s, value: pd.DataFrame, phase: pd.DataFrame,
                features: pd.DataFrame | None = None) -> tuple[pd.DataFrame, str]:
    """The planning frame of a session (``s``: :class:`bestandlib.session.Session` or alike) and the
    risk source key (``model``, ``btyd`` or ``recency``): :func:`risk_scores` as
    ``s.available("churn.model")`` and ``s.available("churn.btyd")`` allow, then :func:`plan_frame`
    with the recency score and the routine contacts of the quarter."""
    from bestandlib import churn

    # the fits of page 05, read back from the result cache (computed here when 05 has not run yet)
    model_ok = s.available("churn.model")
    current = churn.session_risk_data(s) if model_ok else None
    risk, source = risk_scores(s.panel, s.tables, s.quarter, s.config, model_ok=model_ok,
                               btyd_ok=s.available("churn.btyd"), features=features, has_margin=s.has_margin,
                               lang=s.lang, current=current)
    routine = contact_load(getattr(s.tables, "contacts", None), s.quarter, s.config)
    frame = plan_frame(value, phase, risk, source, recency_risk(s.panel, s.quarter), routine, s.has_margin)
    return frame, source


def risk_source_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Customers per risk source: ``risk_source, customers`` (sources without customers left out)."""
    n = frame["risk_source"].value_counts()
    keys = [k for k in RISK_SOURCES if k in n.index]
    return pd.DataFrame({"risk_source": keys, "customers": [int(n[k]) for k in keys]})


def plan_notes(frame: pd.DataFrame, source: str, lang: str = "de", model_reasons: str = "",
               btyd_reasons: str = "") -> list[tuple[str, dict]]:
    """What the plan's risk rests on, as catalogue keys with fields (``[(key, fields), ...]``).

    Nothing when the tested churn model scored every customer. ``btyd``: the purchase model, and why
    not the churn model. ``recency``: the recency score, why no model, and that it is no probability
    and puts no amount at risk. With a model, the customers it left to the recency score are counted.
    ``model_reasons``/``btyd_reasons``: why those sections cannot run (``Session.reasons``), if so.
    """
    notes = []
    if source == "btyd":
        notes.append(("actions_note_btyd", {"reasons": model_reasons or i18n.t("actions_no_churn_yet", lang)}))
    elif source == "recency":
        why = "; ".join(x for x in (model_reasons, btyd_reasons) if x) or i18n.t("btyd_nothing_to_learn", lang)
        notes.append(("actions_note_recency", {"reasons": why.rstrip(".")}))
    n = int(frame["risk_source"].eq("recency").sum())
    if source != "recency" and n:
        notes.append(("actions_recency_customers", {"count": n}))
    return notes


def label_actions(df: pd.DataFrame, measures: pd.DataFrame, lang: str = "de") -> pd.DataFrame:
    """``df`` with ``action_label`` (the configured name of each ``action`` of :func:`measure_table`;
    ``"*"`` = all measures; a measure the playbook does not know keeps its key) as first column."""
    names = measures.set_index("action")["action_label"]
    label = df["action"].map(names).fillna(df["action"].astype(str))
    label = label.where(df["action"] != "*", i18n.t("actions_all_measures", lang))
    return df.drop(columns=[c for c in ("action_label",) if c in df]).assign(action_label=label)[
        ["action_label"] + [c for c in df.columns if c != "action_label"]]


def playbook_matrix(playbook: pd.DataFrame) -> pd.DataFrame:
    """The playbook as a matrix: ``quadrant_key, phase`` and the measure (``action_label``) per risk
    level in columns ``action_risk_low, action_risk_medium, action_risk_high``."""
    m = playbook.pivot(index=["quadrant_key", "phase"], columns="risk_level", values="action_label")
    m = m[list(RISK_LEVELS)].rename(columns=lambda r: f"action_risk_{r}")
    m.columns.name = None
    return m.reset_index()


def for_display(df: pd.DataFrame, has_margin: bool = True, columns: list[str] | None = None) -> pd.DataFrame:
    """A plan table as shown on the page: ``columns`` (those present), without the measure key
    ``action`` (user-defined: the configured ``action_label`` is shown), without risk columns that
    are empty (a recency score puts no money at risk), and ``margin_at_risk`` named
    ``revenue_at_risk`` when the data have no contribution margins."""
    out = df if has_margin else df.rename(columns={"margin_at_risk": "revenue_at_risk"})
    alias = {} if has_margin else {"margin_at_risk": "revenue_at_risk"}
    wanted = [alias.get(c, c) for c in (columns or list(out.columns))]
    out = out[[c for c in wanted if c in out.columns and c != "action"]]
    empty = [c for c in ("margin_at_risk", "revenue_at_risk", "churn_probability", "risk_score")
             if c in out and out[c].isna().all()]
    return out.drop(columns=empty)


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
    hab_text = i18n.t("actions_reason_habituation", lang)
    # column-wise: the habituation note, then each reason that holds text (a few rules' texts, not
    # one catalogue look-up per customer)
    texts = [pd.Series(np.where(hab.to_numpy(), hab_text, ""), index=frame.index)]
    for c in cols:
        v = frame[c]
        s = v.astype(str)
        texts.append(s.where(v.notna() & s.str.strip().ne(""), ""))
    joined = pd.Series(["; ".join(p for p in row if p) for row in zip(*(x.to_numpy() for x in texts))],
                       index=frame.index, dtype="object")
    empty = joined.eq("")
    if empty.any():  # no model reasons (e.g. fallback risk): say where the rule came from
        pairs = pd.Series(list(zip(frame.loc[empty, "phase"], risk.loc[empty])), index=frame.index[empty])
        rule = {pr: i18n.t("actions_reason_rule", lang, phase=phases.phase_label(pr[0], lang),
                           risk=i18n.t(f"risk_level_{pr[1]}", lang)) for pr in set(pairs)}
        joined[empty] = pairs.map(rule)
    return joined.astype("str")


def assign_actions(frame: pd.DataFrame, config=None, lang: str = "de") -> pd.DataFrame:
    """The next-best action per customer, prioritised by margin at risk, within budget and capacity.

    Customers are taken in order of ``margin_at_risk`` (highest first; missing last, then by churn
    probability, then by ``risk_score`` and ``value_12m`` when given: customers scored by recency
    only have no money at risk and come after those with one). The risk level comes from
    ``churn_probability``, else from ``risk_score`` with the same cut-offs. For each, the rule's measures are tried best first: the first one whose attention
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
        ``habituation_flag``. ``cost`` and ``attention_units`` are per quarter. ``status``,
        ``owner_role``, ``cadence``, ``phase``, ``risk_level`` are keys (translated on display).

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
    f["account_manager"] = f["account_manager"].where(f["account_manager"].notna(), _no_manager(lang))
    managers = set(f["account_manager"].astype(str))
    unknown = sorted(set(st["capacity"]) - {"default"} - managers)
    if unknown:
        raise ConfigError(f"actions.capacity names {unknown[0]!r}, who has no customer here; known managers: "
                          f"{', '.join(sorted(managers))}")
    cap = {m: st["capacity"].get(m, st["capacity"].get("default", 0.0)) for m in managers}
    cap[_no_manager(lang)] = 0.0  # nobody to carry out a personal measure: everything personal overflows

    for col in ("risk_score", "risk_source"):
        if col not in f.columns:
            f[col] = np.nan if col == "risk_score" else None
    f["risk_score"] = pd.to_numeric(f["risk_score"], errors="coerce").astype("float64")
    # the level from the probability; for recency-scored customers from the score on the same 0..1 scale
    f["risk_level"] = risk_level(pd.to_numeric(f["churn_probability"], errors="coerce").fillna(f["risk_score"]),
                                 config)
    f["margin_at_risk"] = pd.to_numeric(f["margin_at_risk"], errors="coerce").astype("float64")
    budget = st["contact_budget"]
    f["contact_budget"] = f["quadrant_key"].map(lambda q: budget.get(q, budget.get("default"))).astype("float64")
    f["routine_units"] = (pd.to_numeric(f["routine_units"], errors="coerce").fillna(0.0).astype("float64")
                          if "routine_units" in f.columns else 0.0)
    f["reason"] = _reasons(f, f["risk_level"], lang)
    f = f.merge(playbook[["quadrant_key", "phase", "risk_level", "rule", "measures"]],
                on=["quadrant_key", "phase", "risk_level"], how="left", validate="many_to_one")
    # money at risk first; recency-scored customers (no money at risk) after them, by score, then margin
    order = ["margin_at_risk", "churn_probability", "risk_score"] + (["value_12m"] if "value_12m" in f else [])
    f = f.sort_values(order + ["customer_id"], ascending=[False] * len(order) + [True],
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
    for col, src in (("action_label", "action_label"), ("owner_role", "owner_role"),
                     ("cadence", "cadence"), ("cost", "cost_per_quarter"),
                     ("attention_units", "attention_per_quarter")):
        f[col] = f["action"].map(catalogue[src])
    f["manager_rank"] = f.groupby("account_manager").cumcount() + 1
    if "habituation_flag" not in f.columns:
        f["habituation_flag"] = False
    return f[ACTIONS_COLUMNS + ["habituation_flag"]]


def actions_table(actions: pd.DataFrame, has_margin: bool = True) -> pd.DataFrame:
    """``tables/actions.csv``: the :data:`ACTIONS_COLUMNS` of :func:`assign_actions`, by priority
    (``margin_at_risk`` named ``revenue_at_risk`` when the data have no contribution margins)."""
    out = actions[ACTIONS_COLUMNS].sort_values("priority", ignore_index=True)
    return out if has_margin else out.rename(columns={"margin_at_risk": "revenue_at_risk"})


def action_summary(actions: pd.DataFrame, by: str = "action", config=None, lang: str = "de") -> pd.DataFrame:
    """The action plan in one table per ``action`` or per ``account_manager``.

    Returns
    -------
    DataFrame
        ``by`` (plus ``action_label`` when by action), ``customers, planned, overflow, over_budget,
        attention_units`` (planned), ``cost`` (planned, EUR per quarter), ``margin_at_risk`` (all rows;
        empty when no customer of the row has money at risk, e.g. recency scores only);
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
        cost=("cost_planned", "sum"),
        margin_at_risk=("margin_at_risk", lambda x: x.sum(min_count=1))).reset_index()
    if by == "account_manager":
        st = actions_settings(config)
        default = st["capacity"].get("default", 0.0)
        g["capacity"] = g["account_manager"].map(
            lambda m: 0.0 if m in {_no_manager(lg) for lg in i18n.LANGS} else st["capacity"].get(m, default)
        ).astype("float64")
        g["utilisation"] = g["attention_units"] / g["capacity"].replace(0.0, np.nan)
    return g.sort_values(["margin_at_risk", "customers"], ascending=False, na_position="last", ignore_index=True)


# --------------------------------------------------------------------------------------------------
# per-manager lists
# --------------------------------------------------------------------------------------------------
def _list_header(col: str, lang: str, has_margin: bool) -> str:
    if col == "margin_at_risk" and not has_margin:
        col = "revenue_at_risk"
    text = i18n.t(col, lang)
    return i18n.t("actions_list_money", lang, header=text) if col in ("margin_at_risk", "revenue_at_risk", "cost") \
        else text


def _value_label(prefix: str, value, lang: str) -> str:
    if prefix == "phase":
        return phases.phase_label(value, lang)
    return i18n.t(f"{prefix}_{value}", lang)


def manager_lists(actions: pd.DataFrame, lang: str = "de", has_margin: bool = True) -> dict[str, pd.DataFrame]:
    """One readable action list per account manager (headers and key values in ``lang``), by rank.

    The money column is the margin at risk, or the revenue at risk when the data have no contribution
    margins (``has_margin=False``); empty for customers scored by recency only (no money at risk).
    """
    names = {c: _list_header(c, lang, has_margin) for c in _LIST_COLUMNS}
    out = {}
    for mgr, part in actions.sort_values("priority").groupby("account_manager", sort=True):
        view = part[_LIST_COLUMNS].copy()
        for col, prefix in _LIST_VALUES.items():
            view[col] = view[col].map(lambda v, p=prefix: _value_label(p, v, lang))
        view["margin_at_risk"] = view["margin_at_risk"].round(0)
        out[str(mgr)] = view.rename(columns=names).reset_index(drop=True)
    return out


def _slug(name: str) -> str:
    s = (name.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("Ä", "Ae")
         .replace("Ö", "Oe").replace("Ü", "Ue").replace("ß", "ss"))
    return re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower() or "unassigned"


def write_action_lists(actions: pd.DataFrame, out_dir, lang: str = "de", has_margin: bool = True) -> pd.DataFrame:
    """Write ``<out_dir>/<manager>.csv`` and ``.xlsx`` per account manager.

    CSV files are UTF-8 with BOM and ``;`` as separator so that Excel in a German locale opens them
    directly (the machine-readable table is ``tables/actions.csv``). Returns ``account_manager, rows,
    csv, xlsx`` (file names relative to ``out_dir``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows, seen = [], {}
    for mgr, table in manager_lists(actions, lang, has_margin).items():
        slug = _slug(mgr)
        seen[slug] = seen.get(slug, 0) + 1
        if seen[slug] > 1:  # two managers with the same slug must not overwrite each other
            slug = f"{slug}_{seen[slug]}"
        csv, xlsx = f"{slug}.csv", f"{slug}.xlsx"
        table.to_csv(out / csv, index=False, sep=";", decimal="," if lang == "de" else ".",
                     encoding="utf-8-sig")
        with pd.ExcelWriter(out / xlsx, engine="openpyxl") as xw:
            sheet = i18n.t("actions_sheet", lang)
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
    if not np.isfinite(result["ratio"]):
        return i18n.t("kept_vs_new_too_few", lang)
    text = i18n.t("kept_vs_new_sentence", lang, n=i18n.fmt_number(result["ratio"], lang, 1),
                  kept=i18n.fmt_eur(result["kept_margin"], lang),
                  new=i18n.fmt_eur(result["new_first_year_margin"], lang),
                  start=result["cohort_from"], end=result["cohort_to"])
    if np.isfinite(result.get("margin_at_risk", np.nan)) and np.isfinite(result["new_customers_needed"]):
        text += " " + i18n.t("kept_vs_new_at_risk", lang, amount=i18n.fmt_eur(result["margin_at_risk"], lang),
                             need=i18n.fmt_number(result["new_customers_needed"], lang))
    return text


def kept_vs_new_frame(result: dict) -> pd.DataFrame:
    """:func:`kept_vs_new_ratio` as a one-row table to show (``margin_at_risk`` left out when unknown)."""
    cols = ["kept_customers", "kept_margin", "new_customers", "new_first_year_margin", "cohort_from", "cohort_to",
            "ratio", "margin_at_risk", "new_customers_needed"]
    names = {"new_customers": "new_in_cohort", "ratio": "kept_vs_new_ratio"}
    row = {names.get(c, c): result[c] for c in cols}
    if not np.isfinite(row["margin_at_risk"]):
        row = {c: v for c, v in row.items() if c not in ("margin_at_risk", "new_customers_needed")}
    return pd.DataFrame([row])


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
    ax.barh(y, s["attention_units"], color="#2b6f97", label=i18n.t("status_planned", lang))
    ax.barh(y, s["overflow_units"], left=s["attention_units"], color="#d9822b",
            label=i18n.t("status_overflow", lang))
    ax.scatter(s["capacity"], y, marker="|", s=250, color="black", zorder=3, label=i18n.t("capacity", lang))
    ax.set_yticks(y, s["account_manager"])
    ax.set_xlabel(i18n.t("actions_plot_units", lang))
    ax.set_title(i18n.t("actions_plot_load_title", lang))
    ax.legend(loc="lower right", frameon=False)
    return ax


def plot_margin_by_action(actions: pd.DataFrame, ax=None, lang: str = "de", has_margin: bool = True):
    """Margin (revenue, ``has_margin=False``) at risk covered by each measure, split by status."""
    ax = _ax(ax)
    piv = actions.pivot_table(index="action_label", columns="status", values="margin_at_risk", aggfunc="sum",
                              fill_value=0.0).reindex(columns=list(STATUS), fill_value=0.0)
    piv = piv.loc[piv.sum(axis=1).sort_values().index]
    left = np.zeros(len(piv))
    colors = {"planned": "#2b6f97", "overflow": "#d9822b", "over_budget": "#999999", "holdout": "#c7d7e4"}
    for st in STATUS:
        ax.barh(piv.index, piv[st], left=left, color=colors[st], label=i18n.t(f"status_{st}", lang))
        left += piv[st].to_numpy()
    money = "margin" if has_margin else "revenue"
    ax.set_xlabel(i18n.t(f"actions_plot_{money}_axis", lang))
    ax.set_title(i18n.t(f"actions_plot_{money}_title", lang))
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
    ``last_order_date``), so no order line is read. Returns ``customer_id, risk_score, overdue``.
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
    return pd.DataFrame({"customer_id": last.index.astype(str), "risk_score": score.to_numpy(),
                         "overdue": overdue.to_numpy()})
