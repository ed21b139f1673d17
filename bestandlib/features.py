"""Habituation signals: one row per customer and quarter, each measured against the customer's own past.

Habituation is slow and quiet: the customer still orders, but fewer visits happen, no new product
group is tried, complaints pile up and take longer, the share of wallet slips. None of this is visible
in a revenue total, and none of it is "low" in absolute terms - a small practice is always visited
rarely. So every signal here compares the customer with **their own history**: a *recent* window
(default the last 2 quarters, ending with the quarter) against a *baseline* window (default the 8
quarters before it).

No look-ahead: every value of quarter ``q`` is computed from rows dated on or before the end of ``q``
(complaints still open at that date count as open, whatever their later ``resolved_on``; the BG/NBD
model behind ``p_alive`` is fitted on the orders up to that date). Changing data after a quarter's end
never changes its features; the tests check this.

Everything is vectorised over all customers: per-customer windows are differences of grouped cumulative
sums on the dense customer-quarter panel, never a Python loop over customers.

Columns of :func:`habituation_features` (model inputs in :data:`FEATURES`, grouped in
:data:`HABITUATION_FEATURES` and :data:`BASE_FEATURES`):

=============================  =======================================================================
order_interval_change          recent mean days between orders / own baseline - 1 (+0.5 = 50 % longer)
contact_change                 contacts per quarter, recent vs own baseline (smoothed ratio - 1)
visit_change                   visits per quarter, recent vs own baseline (smoothed ratio - 1)
novelty_contact_change         trainings + events per quarter, recent vs own baseline (smoothed)
quarters_since_new_group       quarters since the customer last bought a product group new to them
share_of_wallet_change         share of wallet (4 x quarterly revenue / potential), recent - baseline
complaint_change               complaints + returns per quarter, recent vs own baseline (smoothed)
resolution_days                mean days to resolve (or open so far) of the trailing year's complaints
satisfaction_change            latest survey satisfaction - the customer's previous survey (0-10 scale)
account_manager_quarters       quarters the current account manager has served the customer (contacts)
days_since_last_order          recency in days (panel)
revenue_change                 revenue per quarter, recent vs own baseline (smoothed ratio - 1)
revenue_year_change            log ratio of the trailing year's revenue to the year before (shrunk)
order_rate_change              orders in the quarter vs own baseline rate, empirical-Bayes log ratio
orders_4q                      orders in the trailing year (activity level: sparse buyers are volatile)
order_cv                       coefficient of variation of orders per quarter over the last 8 quarters
tenure_quarters                quarters since the first order quarter (panel)
p_alive                        BG/NBD probability that the customer is still buying (bestandlib.btyd)
=============================  =======================================================================

Besides the features the frame carries the raw recent/baseline rates (``visits_recent``,
``visits_base``, ...), the trailing-year sums (``revenue_4q``, ``margin_4q``, ``orders_4q``,
``revenue_prev_4q``, ``orders_2q``) and ``resolution_days_base`` that phases, targets and the reasons
in words use.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bestandlib.config import ensure_config
from bestandlib.concepts import date_quarter_index, quarter_index

__all__ = ["habituation_features", "FEATURES", "HABITUATION_FEATURES", "BASE_FEATURES",
           "feature_settings"]

#: Signals of habituation (the flag asks whether these drive a customer's risk).
HABITUATION_FEATURES = [
    "order_interval_change",
    "contact_change",
    "visit_change",
    "novelty_contact_change",
    "quarters_since_new_group",
    "share_of_wallet_change",
    "complaint_change",
    "resolution_days",
    "satisfaction_change",
    "account_manager_quarters",
]
#: General risk signals: recency, revenue trend, regularity, tenure and the BTYD view.
BASE_FEATURES = ["days_since_last_order", "revenue_change", "revenue_year_change", "order_rate_change",
                 "orders_4q", "order_cv", "tenure_quarters", "p_alive"]
#: All model inputs, in a fixed order.
FEATURES = HABITUATION_FEATURES + BASE_FEATURES

def feature_settings(config=None) -> dict:
    """The ``churn.features`` settings (windows, smoothing) with the defaults of ``bestand.yml``
    (the only defaults) filled in."""
    from bestandlib.config import default_config

    cfg = ensure_config(config)
    out = default_config()["churn"]["features"]
    out.update((cfg.get("churn") or {}).get("features") or {})
    return out


# --- small vectorised helpers -------------------------------------------------------------------

def _window_sum(frame: pd.DataFrame, col: str, width: int, lag: int = 0) -> pd.Series:
    """Sum of ``col`` over quarters t-lag-width+1 .. t-lag within each customer (dense panel).

    Difference of a grouped cumulative sum and its shifted self: one pass, no rolling objects. Rows
    before the customer's history are treated as zero, so callers divide by :func:`_window_len`.
    """
    g = frame.groupby("customer_id", sort=False)[col]
    cs = g.cumsum()
    cs_g = cs.groupby(frame["customer_id"], sort=False)
    upper = cs if lag == 0 else cs_g.shift(lag).fillna(0.0)
    lower = cs_g.shift(lag + width).fillna(0.0)
    return upper - lower


def _window_len(frame: pd.DataFrame, width: int, lag: int = 0) -> pd.Series:
    """Number of the customer's own quarters inside the window (0 .. width)."""
    pos = frame["tenure_quarters"].astype(float)  # 0 in the first panel quarter
    return (pos - lag + 1).clip(lower=0, upper=width)


def _smoothed_change(recent: pd.Series, base: pd.Series, a: float) -> pd.Series:
    """(recent + a) / (base + a) - 1: a rarely visited customer missing one visit is not -100 %."""
    return (recent + a) / (base + a) - 1.0


def _shrunk_log_ratio(count: pd.Series, base_rate: pd.Series, n: pd.Series | float, prior: float,
                      floor: float = 0.1) -> pd.Series:
    """Empirical-Bayes log ratio of a recent count to the customer's own baseline rate.

    With a Gamma prior centred on the baseline rate and worth ``prior`` quarters, the posterior mean
    rate of the recent window is ``(count + prior x base) / (n + prior)``: a single quiet quarter
    of a customer who orders twice a year moves it little, the same quarter of a weekly buyer a lot.
    ``floor`` (events per quarter) keeps the logarithm finite for customers without any events.
    """
    post = (count + prior * base_rate) / (n + prior)
    return np.log(post + floor) - np.log(base_rate + floor)


def _quarter_counts(events: pd.DataFrame | None, date_col: str, frame: pd.DataFrame, name: str,
                    mask=None) -> pd.Series:
    """Events per customer-quarter, aligned to ``frame`` (zero where none)."""
    if events is None or events.empty:
        return pd.Series(0.0, index=frame.index, name=name)
    ev = events if mask is None else events[mask]
    qi = date_quarter_index(ev[date_col])
    ev, qi = ev[qi.notna()], qi[qi.notna()].astype("int64")  # undated events count nowhere
    counts = ev.groupby([ev["customer_id"].astype(str), qi]).size().rename(name)
    key = pd.MultiIndex.from_arrays([frame["customer_id"], frame["_qi"]])
    return pd.Series(counts.reindex(key).fillna(0.0).to_numpy(), index=frame.index, name=name)


# --- the signals ----------------------------------------------------------------------------------

def habituation_features(panel: pd.DataFrame, tables=None, *, contacts=None, complaints=None,
                         potentials=None, surveys=None, config=None) -> pd.DataFrame:
    """Habituation signals and general risk signals per customer and quarter.

    Parameters
    ----------
    panel : DataFrame
        The customer-quarter panel (:func:`bestandlib.panel.build_panel`). The order-based signals,
        P(alive) included, come from it: no order line is read here.
    tables : bestandlib.io.Tables, optional
        Source of ``contacts``, ``complaints``, ``potentials`` and ``surveys`` (the keyword arguments
        override single tables). Missing tables give NaN/neutral signals.
    config : dict, optional
        Full configuration (``churn.features``: ``recent_quarters``, ``baseline_quarters``,
        ``min_baseline_quarters``, ``smoothing``, ``prior_quarters``, ``p_alive``); None = defaults.

    Returns
    -------
    DataFrame
        One row per panel row, ``customer_id, quarter, quarter_end`` then :data:`FEATURES` and the
        helper columns listed in the module docstring. Baseline-relative signals are NaN until the
        customer has ``min_baseline_quarters`` of baseline history.
    """
    s = feature_settings(config)
    R, B, a = int(s["recent_quarters"]), int(s["baseline_quarters"]), float(s["smoothing"])

    def pick(name, given):
        if given is not None:
            return given
        return getattr(tables, name, None) if tables is not None else None

    contacts, complaints = pick("contacts", contacts), pick("complaints", complaints)
    potentials, surveys = pick("potentials", potentials), pick("surveys", surveys)

    purchase_cols = ["order_days", "first_order_date", "last_order_date"]
    f = panel[["customer_id", "quarter", "quarter_end", "revenue", "margin", "orders",
               "new_product_groups", "days_since_last_order", "tenure_quarters",
               *[c for c in purchase_cols if c in panel.columns]]].copy()
    f = f.sort_values(["customer_id", "quarter"], ignore_index=True)
    f["_qi"] = quarter_index(f["quarter"])

    n_recent = _window_len(f, R)
    n_base = _window_len(f, B, lag=R)
    has_base = n_base >= int(s["min_baseline_quarters"])

    def recent_base(col):
        recent = _window_sum(f, col, R) / n_recent.where(n_recent > 0)
        base = (_window_sum(f, col, B, lag=R) / n_base.where(n_base > 0)).where(has_base)
        return recent, base

    # Trailing sums for targets, phases and the money at risk.
    f["revenue_4q"] = _window_sum(f, "revenue", 4)
    f["margin_4q"] = _window_sum(f, "margin", 4)
    f["revenue_prev_4q"] = _window_sum(f, "revenue", 4, lag=4)
    f["orders_4q"] = _window_sum(f, "orders", 4)
    f["orders_2q"] = _window_sum(f, "orders", 2)

    # Order interval: ~91 days / orders per quarter; compared as a ratio of mean order rates, with the
    # open gap since the last order as a floor on the recent interval (a customer who stopped ordering
    # has an interval that keeps growing).
    f["orders_recent"], f["orders_base"] = recent_base("orders")
    interval_recent = np.maximum(91.3 * R / np.maximum(f["orders_recent"] * R, 0.5),
                                 f["days_since_last_order"].fillna(0.0))
    f["interval_base"] = 91.3 / f["orders_base"].where(f["orders_base"] > 0)
    f["interval_recent"] = interval_recent
    f["order_interval_change"] = (interval_recent / f["interval_base"] - 1.0).clip(-0.9, 10.0)

    # The latest quarter's orders against the own baseline rate, shrunk toward it: the earliest
    # sign of a gap, without the noise of a raw one-quarter ratio.
    f["order_rate_change"] = _shrunk_log_ratio(f["orders"].astype(float), f["orders_base"], 1.0,
                                               float(s["prior_quarters"]))

    # Revenue trend (a general signal; the share of wallet below is its habituation twin).
    f["revenue_recent"], f["revenue_base"] = recent_base("revenue")
    scale = f["revenue_base"].abs() + 1.0
    f["revenue_change"] = ((f["revenue_recent"] - f["revenue_base"]) / scale).clip(-1.0, 3.0)
    # Trailing year against the year before: the comparison the partial-churn target makes, so a
    # year inflated by one-off orders (which tends to fall back) shows here. The pseudo-count of 5 %
    # of the two years' mean keeps a customer who stops at a finite value; known once both years
    # lie inside the customer's history.
    cur, prev = f["revenue_4q"].clip(lower=0), f["revenue_prev_4q"].clip(lower=0)
    pseudo = 0.05 * (cur + prev) / 2 + 1.0
    f["revenue_year_change"] = np.log((cur + pseudo) / (prev + pseudo)).where(f["tenure_quarters"] >= 7)

    # Contacts, visits, and the novelty channels (trainings and events).
    for name, mask in [("contacts", None), ("visits", "visit"), ("novelty", ("training", "event"))]:
        m = None
        if mask is not None and contacts is not None:
            m = contacts["channel"].isin([mask] if isinstance(mask, str) else list(mask))
        f["_n_" + name] = _quarter_counts(contacts, "contact_date", f, name, m)
        f[name + "_recent"], f[name + "_base"] = recent_base("_n_" + name)
    f["contact_change"] = _smoothed_change(f["contacts_recent"], f["contacts_base"], a)
    f["visit_change"] = _smoothed_change(f["visits_recent"], f["visits_base"], a)
    f["novelty_contact_change"] = _smoothed_change(f["novelty_recent"], f["novelty_base"], a)

    # Novelty in purchases: quarters since the last quarter with a product group new to the customer.
    last_new = f["_qi"].where(f["new_product_groups"] > 0).groupby(f["customer_id"], sort=False).ffill()
    f["quarters_since_new_group"] = (f["_qi"] - last_new).fillna(f["tenure_quarters"]).astype(float)

    # Share of wallet: annualised quarterly revenue over the latest potential assessed by quarter end.
    f["potential"] = _asof(f, potentials, "assessed_on", "potential")
    f["_sow"] = (4 * f["revenue"] / f["potential"].where(f["potential"] > 0)).clip(0, 3).fillna(0.0)
    f["sow_recent"], f["sow_base"] = recent_base("_sow")
    f["share_of_wallet_change"] = (f["sow_recent"] - f["sow_base"]).where(f["potential"].notna())

    # Complaints and returns (delivery problems are the seller's, counted in resolution time only).
    cmask = complaints["kind"].isin(["complaint", "return"]) if complaints is not None else None
    f["_n_complaints"] = _quarter_counts(complaints, "complaint_date", f, "complaints", cmask)
    f["complaints_recent"], f["complaints_base"] = recent_base("_n_complaints")
    f["complaint_change"] = _smoothed_change(f["complaints_recent"], f["complaints_base"], a / 2)
    f["resolution_days"], f["resolution_days_base"] = _resolution_days(f, complaints, B)

    f["satisfaction"], f["satisfaction_change"] = _satisfaction(f, surveys)
    f["account_manager_quarters"] = _account_manager_quarters(f, contacts)

    # Regularity: coefficient of variation of orders per quarter over the last 8 quarters.
    g = f.groupby("customer_id", sort=False)["orders"]
    mean8 = g.rolling(8, min_periods=4).mean().reset_index(level=0, drop=True)
    std8 = g.rolling(8, min_periods=4).std().reset_index(level=0, drop=True)
    f["order_cv"] = (std8 / mean8.where(mean8 > 0)).clip(upper=3.0)

    f["p_alive"] = _p_alive(f, config) if (s["p_alive"] and "order_days" in f.columns) else np.nan
    f = f.drop(columns=[c for c in purchase_cols if c in f.columns])
    f["tenure_quarters"] = f["tenure_quarters"].astype(float)
    f["orders_4q"] = f["orders_4q"].astype(float)
    for col in ["order_interval_change", "order_rate_change", "contact_change", "visit_change", "novelty_contact_change",
                "share_of_wallet_change", "complaint_change", "revenue_change"]:
        f[col] = f[col].where(has_base)
    return f.drop(columns=[c for c in f.columns if c.startswith("_") and c != "_qi"]).rename(
        columns={"_qi": "quarter_index"})


def _asof(f: pd.DataFrame, events: pd.DataFrame | None, date_col: str, value_col: str) -> pd.Series:
    """The customer's latest ``value_col`` dated on or before each quarter end (NaN if none)."""
    if events is None or events.empty:
        return pd.Series(np.nan, index=f.index)
    # one datetime resolution on both sides (merge_asof refuses ns against us)
    left = (f[["customer_id", "quarter_end"]].reset_index()
            .astype({"quarter_end": "datetime64[ns]"}).sort_values("quarter_end"))
    right = (events[["customer_id", date_col, value_col]].dropna(subset=[date_col])
             .astype({"customer_id": str, date_col: "datetime64[ns]"}).sort_values(date_col))
    m = pd.merge_asof(left, right, left_on="quarter_end", right_on=date_col, by="customer_id",
                      direction="backward")
    return m.set_index("index")[value_col].reindex(f.index)


def _resolution_days(f: pd.DataFrame, complaints, baseline_quarters: int):
    """Mean days to resolve the complaints of the trailing 4 quarters, and of the baseline before.

    As seen at each quarter end: a complaint resolved later counts as open, with its age so far, so
    the value never depends on the future.
    """
    nan = pd.Series(np.nan, index=f.index)
    if complaints is None or complaints.empty:
        return nan, nan
    c = complaints[["customer_id", "complaint_date", "resolved_on"]].astype({"customer_id": str})
    c = c.assign(_cqi=date_quarter_index(c["complaint_date"]).astype("int64"))
    # Pair each complaint with the quarter ends of its customer that can see it: up to 4 + baseline
    # quarters later (a join on customer and a bounded quarter offset, vectorised).
    span = 4 + baseline_quarters
    offsets = pd.DataFrame({"_off": np.arange(span)})
    pairs = c.merge(offsets, how="cross")
    pairs["_qi"] = pairs["_cqi"] + pairs["_off"]
    pairs = pairs.merge(f[["customer_id", "_qi", "quarter_end"]].reset_index(), on=["customer_id", "_qi"])
    seen_until = pairs["resolved_on"].where(pairs["resolved_on"] <= pairs["quarter_end"], pairs["quarter_end"])
    pairs["_days"] = (seen_until - pairs["complaint_date"]).dt.days.astype(float)
    recent = pairs[pairs["_off"] < 4].groupby("index")["_days"].mean()
    base = pairs[pairs["_off"] >= 4].groupby("index")["_days"].mean()
    return recent.reindex(f.index), base.reindex(f.index)


def _satisfaction(f: pd.DataFrame, surveys):
    """Latest satisfaction by quarter end and its change against the customer's previous survey."""
    nan = pd.Series(np.nan, index=f.index)
    if surveys is None or surveys.empty or "satisfaction" not in surveys:
        return nan, nan
    s = (surveys[["customer_id", "survey_date", "satisfaction"]].dropna()
         .astype({"customer_id": str}).sort_values(["customer_id", "survey_date"]))
    s["_change"] = s.groupby("customer_id")["satisfaction"].diff()
    latest = _asof(f, s, "survey_date", "satisfaction")
    change = _asof(f, s, "survey_date", "_change")
    return latest, change


def _account_manager_quarters(f: pd.DataFrame, contacts) -> pd.Series:
    """Quarters since the account manager of the customer's latest contact started serving them.

    A 'run' is a stretch of consecutive contacts by the same manager; the run of the latest contact by
    quarter end tells since when the current manager is in charge.
    """
    if contacts is None or contacts.empty or "account_manager" not in contacts:
        return pd.Series(np.nan, index=f.index)
    c = (contacts[["customer_id", "contact_date", "account_manager"]].dropna()
         .astype({"customer_id": str}).sort_values(["customer_id", "contact_date"], kind="stable"))
    if c.empty:  # contacts without account managers (a bare export): nothing to tell
        return pd.Series(np.nan, index=f.index)
    changed = (c["account_manager"] != c.groupby("customer_id")["account_manager"].shift()).astype(int)
    run = changed.groupby(c["customer_id"]).cumsum()
    c["_run_start"] = c.groupby([c["customer_id"], run])["contact_date"].transform("min")
    start = _asof(f, c, "contact_date", "_run_start")
    start_qi = date_quarter_index(start)
    return (f["_qi"] - start_qi).astype(float)


def _p_alive(f: pd.DataFrame, config) -> pd.Series:
    """BG/NBD P(alive) at each quarter end, the model fitted on the purchases up to that date only.

    One fit per quarter keeps the feature free of look-ahead: a model fitted on all data would know
    which customers later stopped. The RFM summary at a quarter end is
    :func:`bestandlib.btyd.rfm_from_panel` (the one RFM summary of the panel, in ``btyd.time_unit``).
    """
    from bestandlib import btyd

    out = pd.Series(np.nan, index=f.index)
    cols = f[["customer_id", "quarter", "order_days", "first_order_date", "last_order_date"]]
    days_so_far = f.groupby("customer_id", sort=False)["order_days"].cumsum()
    bought = (days_so_far > 0) & f["first_order_date"].notna()
    for end, idx in f[bought].groupby("quarter_end", sort=True).groups.items():
        if len(idx) < 20:
            continue
        summary = btyd.rfm_from_panel(cols, pd.Timestamp(end), config=config)
        ids = f.loc[idx, "customer_id"]
        rfm = summary.reindex(ids.to_numpy()).rename_axis("customer_id").reset_index()
        try:
            model = btyd.BetaGeoModel(penalizer=0.001).fit(rfm)
            out.loc[idx] = np.asarray(model.p_alive(rfm), dtype=float)
        except (btyd.RFMDataError, btyd.ConvergenceError):
            # too few repeat buyers early in the history (or no fit): leave NaN (imputed later)
            continue
    return out
