"""One definition per concept: active, lost, new, reactivated, tenure, quarter index, "1 kept = N new".

Every module that counts customers (:mod:`~bestandlib.history`, :mod:`~bestandlib.valuation`,
:mod:`~bestandlib.phases`, :mod:`~bestandlib.actions`, :mod:`~bestandlib.voice`,
:mod:`~bestandlib.loyalty`) takes these definitions from here, so the pages of a report count the
same customers. The windows come from ``bestand.yml`` (section ``phases``); ``L`` below is
``phases.lost_quarters`` (4).

quarter index
    ``year * 4 + quarter - 1`` (2025Q4 -> 8103): consecutive integers for window arithmetic
    (:func:`quarter_index`, :func:`date_quarter_index`).
tenure
    quarters since the customer's first order quarter (0 in that quarter). The first order is the
    first sale line (a credit note is no order), taken from ``first_order_date`` when the panel has
    it, else from the customer's first panel quarter (the panel starts there).
active (state)
    at least one order (``orders > 0``; a credit note alone is no order) in the last ``L`` quarters,
    the quarter itself included. With the default ``L = 4`` this is "an order in the last 12
    months", :func:`bestandlib.panel.customer_summary` ``active``. ``L`` is the active window
    because active and lost are the two sides of one line: **every customer who ever ordered is
    either active or lost**.
lost (state)
    no order in the last ``L`` quarters (and a customer for at least ``L`` quarters). The phase
    "lost" of :mod:`bestandlib.phases` is this state.
lost in the quarter (flow)
    the quarter in which a customer becomes lost: the last order lies exactly ``L`` quarters back.
    :func:`bestandlib.history.kpi_summary` "lost customers" and the flows chart count this flow, so
    ``active(q) = active(q-1) + acquired(q) + returned(q) - became_lost(q)`` holds exactly, and the
    lost state at ``q`` is the sum of the flows of all quarters up to ``q`` minus the returns.
acquired (flow)
    the customer's first order falls into the quarter (history's "new customers").
new (state)
    tenure below ``phases.new_quarters`` (the onboarding phase).
returned (flow)
    an order after at least ``L`` quarters without one (history's "reactivated customers").
reactivated (state)
    fewer than ``phases.reactivated_quarters`` quarters since the return, and not lost again.
kept vs new ("1 kept = N new")
    see :func:`kept_vs_new`; the single definition behind the retention page
    (:func:`bestandlib.actions.kept_vs_new_ratio`) and the loyalty claim ``kept_vs_new``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bestandlib.periods import parse_quarter

__all__ = ["concept_settings", "quarter_index", "quarter_from_index", "date_quarter_index",
           "customer_states", "status_at", "active_customers", "kept_and_new_margins", "kept_vs_new"]


def concept_settings(config=None) -> dict:
    """The windows of the definitions, from ``bestand.yml``: ``lost_quarters`` (= the active window),
    ``new_quarters``, ``reactivated_quarters`` (section ``phases``), ``new_cohort_quarters`` and
    ``first_year_quarters`` (section ``actions``, "1 kept = N new")."""
    from bestandlib.config import ensure_config

    cfg = ensure_config(config)
    ph, ac = cfg["phases"], cfg["actions"]
    return {"lost_quarters": int(ph["lost_quarters"]), "new_quarters": int(ph["new_quarters"]),
            "reactivated_quarters": int(ph["reactivated_quarters"]),
            "new_cohort_quarters": int(ac["new_cohort_quarters"]),
            "first_year_quarters": int(ac["first_year_quarters"])}


def quarter_index(quarter):
    """Integer quarter index ``year * 4 + quarter - 1``.

    A Series of quarter labels ("2025Q4") gives an int64 Series (vectorised); one label, Period or
    date gives an int.
    """
    if isinstance(quarter, pd.Series):
        q = quarter.astype("str")
        return q.str.slice(0, 4).astype("int64") * 4 + q.str.slice(5, 6).astype("int64") - 1
    q = parse_quarter(quarter)
    return int(q.year * 4 + q.quarter - 1)


def quarter_from_index(qi: int) -> str:
    """The label of a quarter index (8103 -> "2025Q4")."""
    qi = int(qi)
    return f"{qi // 4}Q{qi % 4 + 1}"


def date_quarter_index(dates: pd.Series) -> pd.Series:
    """Quarter index of dates as float (NaN for NaT)."""
    return (dates.dt.year * 4 + dates.dt.quarter - 1).astype("float64")


def _first_qi(p: pd.DataFrame) -> pd.Series:
    """Quarter index of each row's customer's first order (see "tenure"): from the panel's
    ``tenure_quarters`` when there, else from ``first_order_date``, else the first row."""
    if "tenure_quarters" in p.columns:
        return (p["qi"] - p["tenure_quarters"]).astype("float64").groupby(p["customer_id"], sort=False).transform("min")
    from_rows = p["qi"].groupby(p["customer_id"], sort=False).transform("min").astype("float64")
    if "first_order_date" in p.columns:
        from_date = date_quarter_index(pd.to_datetime(p["first_order_date"]))
        from_date = from_date.groupby(p["customer_id"], sort=False).transform("min")
        return from_date.fillna(from_rows)
    return from_rows


def customer_states(panel: pd.DataFrame, config=None) -> pd.DataFrame:
    """Every definition of the module docstring for every customer-quarter of a dense panel.

    Parameters
    ----------
    panel : DataFrame
        Customer-quarter rows with ``customer_id, quarter, orders`` (optionally ``first_order_date``),
        one row per quarter from the customer's first quarter on (:func:`bestandlib.panel.build_panel`).
    config : dict, optional
        Full configuration (``phases`` windows); None = the defaults.

    Returns
    -------
    DataFrame
        Same index as ``panel``: ``qi`` (quarter index), ``tenure_quarters``, ``orders_window``
        (orders in the last ``L`` quarters), ``has_ordered`` (an order up to the quarter: a
        customer; rows before a first order, e.g. of a credit note alone, are no customer yet and
        neither active nor lost), ``ordered`` (an order in the quarter), ``active``,
        ``lost``, ``became_lost``, ``acquired``, ``new``, ``returned``, ``reactivated``.
    """
    s = concept_settings(config)
    L = s["lost_quarters"]
    p = pd.DataFrame({"customer_id": panel["customer_id"].to_numpy(), "qi": quarter_index(panel["quarter"]).to_numpy(),
                      "orders": panel["orders"].to_numpy()}, index=panel.index)
    for col in ("first_order_date", "tenure_quarters"):
        if col in panel.columns:
            p[col] = panel[col]
    order = p.sort_values(["customer_id", "qi"], kind="stable").index
    p = p.loc[order]
    cid = p["customer_id"]
    tenure = (p["qi"] - _first_qi(p)).astype("int64")
    ordered = p["orders"] > 0
    window = ordered.astype("int64").groupby(cid, sort=False).rolling(L, min_periods=1).sum().reset_index(
        level=0, drop=True)
    lost = (window == 0) & (tenure >= L - 1)
    active = window > 0
    prev_window = window.groupby(cid, sort=False).shift(1)
    prev_lost = lost.groupby(cid, sort=False).shift(1, fill_value=False).astype(bool)
    returned = ordered & (prev_window == 0)
    last_return = p["qi"].where(returned).groupby(cid, sort=False).ffill()
    out = pd.DataFrame({
        "qi": p["qi"], "tenure_quarters": tenure, "orders_window": window.astype("int64"),
        "has_ordered": ordered.astype("int64").groupby(cid, sort=False).cumsum() > 0,
        "ordered": ordered, "active": active, "lost": lost, "became_lost": lost & ~prev_lost,
        "acquired": tenure == 0, "new": tenure < s["new_quarters"], "returned": returned,
        "reactivated": ((p["qi"] - last_return) < s["reactivated_quarters"]) & ~lost,
    }, index=p.index)
    return out.reindex(panel.index)


def status_at(panel: pd.DataFrame, quarter, config=None) -> pd.DataFrame:
    """Each customer's state at ``quarter`` (customers with a row up to it).

    Works on sparse panels too: only ``customer_id, quarter, orders`` (and ``first_order_date`` if
    there) of the rows up to ``quarter`` are used.

    Returns
    -------
    DataFrame
        ``customer_id, tenure_quarters, quarters_since_order`` (0 = ordered in the quarter; NaN =
        never ordered), ``active, lost, new``, sorted by ``customer_id``.
    """
    s = concept_settings(config)
    L = s["lost_quarters"]
    qi = quarter_index(quarter)
    cols = [c for c in ("customer_id", "quarter", "orders", "first_order_date", "tenure_quarters")
            if c in panel.columns]
    p = panel[cols].copy()
    p["qi"] = quarter_index(p["quarter"])
    p = p[p["qi"] <= qi]
    p["customer_id"] = p["customer_id"].astype(str)
    first = _first_qi(p).groupby(p["customer_id"]).min()
    last = p["qi"].where(p["orders"] > 0).groupby(p["customer_id"]).max()
    out = pd.DataFrame({"tenure_quarters": (qi - first).astype("int64")})
    out["quarters_since_order"] = (qi - last).reindex(out.index)
    out["active"] = out["quarters_since_order"] < L
    out["lost"] = ~out["active"] & (out["tenure_quarters"] >= L - 1)
    out["new"] = out["tenure_quarters"] < s["new_quarters"]
    out.index.name = "customer_id"
    return out.reset_index().sort_values("customer_id", ignore_index=True)


def active_customers(panel: pd.DataFrame, quarter, config=None) -> pd.Index:
    """Ids (str) of the customers active at ``quarter`` (an order in the last ``L`` quarters)."""
    st = status_at(panel, quarter, config)
    return pd.Index(st.loc[st["active"], "customer_id"], name="customer_id")


# --------------------------------------------------------------------------------------------------
# 1 kept = N new
# --------------------------------------------------------------------------------------------------
def kept_and_new_margins(panel: pd.DataFrame, quarter, config=None) -> pd.DataFrame:
    """The two samples of "1 kept = N new" at ``quarter``, one row per customer.

    * **kept**: ordered in the last 12 months (quarters ``q-3..q``) and in the 12 months before
      (``q-7..q-4``); its value is the contribution margin of the last 12 months.
    * **new**: acquired in the data (first order quarter ``f`` after the first quarter of the panel,
      so not a customer from before the data) in the last ``actions.new_cohort_quarters`` quarters
      with a complete first year (``f + first_year_quarters - 1 <= q``); its value is the margin of
      its first ``actions.first_year_quarters`` quarters, whether or not it kept ordering.

    Returns
    -------
    DataFrame
        ``customer_id, kind`` ("kept" or "new"), ``margin, revenue, first_quarter``; kept rows
        first, each part sorted by customer.
    """
    s = concept_settings(config)
    qi_now = quarter_index(quarter)
    k = s["first_year_quarters"]
    cols = [c for c in ("customer_id", "quarter", "margin", "revenue", "orders", "first_order_date",
                        "tenure_quarters") if c in panel.columns]
    p = panel[cols].copy()
    p["customer_id"] = p["customer_id"].astype(str)
    if "revenue" not in p:
        p["revenue"] = np.nan
    p["qi"] = quarter_index(p["quarter"])
    p = p[p["qi"] <= qi_now]
    last = p[p["qi"].between(qi_now - 3, qi_now)].groupby("customer_id").agg(
        margin=("margin", "sum"), revenue=("revenue", "sum"), orders=("orders", "sum"))
    prev = p[p["qi"].between(qi_now - 7, qi_now - 4)].groupby("customer_id")["orders"].sum()
    kept = last[(last["orders"] > 0) & last.index.isin(prev[prev > 0].index)]
    kept = kept.reset_index().assign(kind="kept", first_quarter=None)
    p["first_qi"] = _first_qi(p)
    data_start = p["qi"].min()
    lo, hi = qi_now - k + 1 - s["new_cohort_quarters"] + 1, qi_now - k + 1
    rows = p[(p["first_qi"] > data_start) & p["first_qi"].between(lo, hi)
             & (p["qi"] - p["first_qi"]).between(0, k - 1)]
    new = rows.groupby("customer_id").agg(margin=("margin", "sum"), revenue=("revenue", "sum"),
                                          first_qi=("first_qi", "min")).reset_index()
    new["first_quarter"] = [quarter_from_index(v) for v in new["first_qi"]]
    new["kind"] = "new"
    out = pd.concat([kept[["customer_id", "kind", "margin", "revenue", "first_quarter"]],
                     new[["customer_id", "kind", "margin", "revenue", "first_quarter"]]], ignore_index=True)
    out.attrs["cohort_from"], out.attrs["cohort_to"] = quarter_from_index(lo), quarter_from_index(hi)
    return out


def kept_vs_new(panel: pd.DataFrame, quarter, margin_at_risk: float | None = None, config=None) -> dict:
    """"1 kept = N new": what a kept customer is worth in new customers, from the user's own data.

    N = mean margin of the kept customers / mean first-year margin of the new customers (the samples
    of :func:`kept_and_new_margins`). It compares one year with one year: a kept customer's later
    years and the cost of winning a new one both make the true ratio larger. This is the one
    definition: the retention page (:func:`bestandlib.actions.kept_vs_new_ratio`) and the loyalty
    claim ``kept_vs_new`` (:func:`bestandlib.loyalty.claims`, which adds a bootstrap interval) both
    use it.

    Returns
    -------
    dict
        ``quarter, kept_customers, kept_margin, new_customers, new_first_year_margin, cohort_from,
        cohort_to, ratio, margin_at_risk, new_customers_needed`` (margin at risk / first-year margin;
        NaN without ``margin_at_risk``). ``ratio`` is NaN when the new customers' margin is not positive.
    """
    m = kept_and_new_margins(panel, quarter, config)
    kept, new = m.loc[m["kind"] == "kept", "margin"], m.loc[m["kind"] == "new", "margin"]
    kept_margin = float(kept.mean()) if len(kept) else np.nan
    new_margin = float(new.mean()) if len(new) else np.nan
    ratio = kept_margin / new_margin if new_margin > 0 else np.nan
    mar = float(margin_at_risk) if margin_at_risk is not None else np.nan
    return {"quarter": str(parse_quarter(quarter)), "kept_customers": int(len(kept)), "kept_margin": kept_margin,
            "new_customers": int(len(new)), "new_first_year_margin": new_margin,
            "cohort_from": m.attrs["cohort_from"], "cohort_to": m.attrs["cohort_to"], "ratio": ratio,
            "margin_at_risk": mar, "new_customers_needed": mar / new_margin if new_margin > 0 else np.nan}
