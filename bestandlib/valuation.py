"""Customer valuation: four-field matrix, weighted customer score and migration between quarters.

Classic ABC analysis ranks customers by past revenue only. The four-field matrix (Vier-Felder-Matrix)
places every active customer by trailing-12-month revenue AND assessed revenue potential:

=================  ===============  =================  =========================================
quadrant           revenue (x)      potential (y)      advice
=================  ===============  =================  =========================================
Topkunde           high             high               invest and expand
Premiumkunde       high             low                protect (little potential left: the
                                                       habituation zone)
Entwicklungskunde  low              high               develop
Kleinkunde         low              low                serve efficiently
nicht bewertet     any              no assessment      assess the potential; counted, never placed
=================  ===============  =================  =========================================

"High" means value >= threshold (a customer exactly at the threshold is high). Thresholds are the
median, a quantile or an absolute EUR value, over all customers or per business unit
(``config["valuation"]["thresholds"]``). The revenue threshold is taken over all active customers, the
potential threshold over the customers with an assessment.

The customer score (Kundenwert-Scoring) turns configurable indicators into 0-100 points (percentile
rank or min-max, within each business unit), weighs them with the business unit's weights and sums
them to a score of 0-100.

Every function takes the canonical tables / the customer-quarter panel (see ``docs/architecture.md``)
and returns a tidy DataFrame with one row per customer (or per transition).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from bestandlib import concepts, i18n
from bestandlib.config import ensure_config
from bestandlib.errors import ConfigError
from bestandlib.periods import parse_quarter, quarter_end, quarter_label

# Quadrant keys in display order; the labels come from the config (de/en).
QUADRANTS = ("top", "premium", "development", "small")
UNASSESSED = "unassessed"
NEW, LOST = "new", "lost"
_STATE_ORDER = QUADRANTS + (UNASSESSED,)

# Indicators that customer_frame computes; any other numeric column of the frame may be used too.
INDICATORS = (
    "revenue_12m", "margin_12m", "margin_rate", "revenue_growth", "potential", "remaining_potential",
    "share_of_wallet", "competitive_intensity", "tenure_quarters", "purchase_regularity",
    "complaint_rate", "orders_12m",
)
_INFO_COLUMNS = ("name", "segment", "region", "business_unit", "account_manager")
_WEIGHT_TOLERANCE = 1e-6
# Window of quarters for purchase_regularity.
_REGULARITY_QUARTERS = 8

_COLOURS = {
    "top": "#1b7837", "premium": "#2166ac", "development": "#e08214", "small": "#8c8c8c",
    UNASSESSED: "#d6604d",
}

# Texts (plot labels ``val_*``, quadrant names ``quadrant_<key>``, advice ``advice_<key>``) live in the
# text catalogues bestandlib/locale/<lang>/value.yml.


# --------------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------------
def _section(config) -> dict:
    """The ``valuation`` section of a full config (``None`` = the documented defaults)."""
    return ensure_config(config)["valuation"]


def _labels(lang: str) -> dict[str, str]:
    """Display names of the quadrant keys plus "new"/"lost" in ``lang`` (catalogue ``quadrant_<key>``)."""
    i18n.check_lang(lang)
    return {key: i18n.t(f"quadrant_{key}", lang) for key in (*_STATE_ORDER, NEW, LOST)}


def _check_choice(value, allowed, key):
    if value not in allowed:
        raise ConfigError(f"config key '{key}' is {value!r}; use one of: {', '.join(allowed)}")
    return value


# --------------------------------------------------------------------------------------------------
# customer frame
# --------------------------------------------------------------------------------------------------
def customer_frame(panel: pd.DataFrame, customers: pd.DataFrame, potentials: pd.DataFrame | None,
                   quarter, complaints: pd.DataFrame | None = None, config=None) -> pd.DataFrame:
    """One row per customer active in the 12 months up to the end of ``quarter``, with the indicators.

    Parameters
    ----------
    panel : DataFrame
        The customer-quarter panel (``customer_id, quarter, revenue, margin, orders``, optionally
        ``first_order_date``). Rows after ``quarter`` are ignored.
    customers : DataFrame
        Master data: ``customer_id, name, segment, region, business_unit, account_manager``.
    potentials : DataFrame or None
        ``customer_id, assessed_on, potential, competitive_intensity``; ``None`` = no assessments.
    quarter : str or Period
        The quarter of the report, e.g. ``"2025Q4"``.
    complaints : DataFrame, optional
        ``customer_id, complaint_date, ...``; ``None`` leaves ``complaint_rate`` empty (NaN).
    config : dict, optional
        Full configuration (the active window ``phases.lost_quarters``); None = the defaults.

    Returns
    -------
    DataFrame
        ``customer_id, name, segment, region, business_unit, account_manager, quarter, revenue_12m,
        margin_12m, orders_12m, margin_rate, revenue_prev_12m, revenue_growth, potential,
        assessed_on, competitive_intensity, share_of_wallet, remaining_potential, tenure_quarters,
        purchase_regularity, complaints_12m, complaint_rate``, sorted by ``customer_id``.

    Notes
    -----
    - Active: :mod:`bestandlib.concepts` "active", at least one order in the trailing
      ``phases.lost_quarters`` (4) quarters; a credit note alone is no order and does not make a
      customer active (the same customers as ``customer_summary(...).active``, the KPI "active
      customers" of :func:`bestandlib.history.kpi_summary` and the phases other than "lost").
    - ``margin_rate`` = margin_12m / revenue_12m, NaN when revenue_12m <= 0.
    - ``revenue_growth`` = revenue_12m / revenue of the 12 months before - 1, NaN when that is <= 0.
    - ``potential`` and ``competitive_intensity`` come from the latest assessment dated on or before
      the quarter end (the same row; an older intensity is not carried forward).
    - ``share_of_wallet`` = revenue_12m / potential, NaN when the potential is missing or <= 0 (a
      zero potential has no meaningful share). Negative revenue gives a negative share (kept, not
      clipped, so credit notes stay visible).
    - ``remaining_potential`` = potential - revenue_12m (negative when revenue exceeds the potential).
    - ``tenure_quarters`` = quarters since the first order quarter (0 in the first quarter).
    - ``purchase_regularity`` = share of the last 8 quarters with an order, counting only quarters
      since the customer's first order (a customer ordering in each of its 3 quarters scores 1).
      Chosen over 1/CV of quarterly revenue because it is bounded (0-1) and defined for one order.
    - ``complaint_rate`` = complaints in the trailing 12 months per 100,000 EUR revenue_12m, NaN when
      revenue_12m <= 0 or when no complaints table is given.
    """
    q = parse_quarter(quarter)
    end = quarter_end(q)
    start_12m = (q - 3).start_time.normalize()

    p = panel.loc[:, [c for c in ("customer_id", "quarter", "revenue", "margin", "orders", "first_order_date")
                      if c in panel.columns]].copy()
    p["customer_id"] = p["customer_id"].astype(str)
    # Quarters back from the report quarter: 0 = this quarter, 3 = oldest of the trailing 12 months.
    p["age"] = concepts.quarter_index(q) - concepts.quarter_index(p["quarter"])
    p = p[p["age"] >= 0]
    state = concepts.status_at(p, q, config).set_index("customer_id")

    t12 = p[p["age"] < 4].groupby("customer_id").agg(
        revenue_12m=("revenue", "sum"), margin_12m=("margin", "sum"), orders_12m=("orders", "sum"))
    active = state.index[state["active"]]
    t12 = t12.reindex(active).fillna({"revenue_12m": 0.0, "margin_12m": 0.0, "orders_12m": 0})
    t12["orders_12m"] = t12["orders_12m"].astype("int64")
    prev = p[(p["age"] >= 4) & (p["age"] < 8)].groupby("customer_id")["revenue"].sum()
    frame = t12.join(prev.rename("revenue_prev_12m")).reset_index()
    frame["revenue_prev_12m"] = frame["revenue_prev_12m"].fillna(0.0)
    frame["quarter"] = quarter_label(q)

    rev = frame["revenue_12m"]
    frame["margin_rate"] = (frame["margin_12m"] / rev).where(rev > 0)
    frame["revenue_growth"] = (rev / frame["revenue_prev_12m"] - 1).where(frame["revenue_prev_12m"] > 0)

    frame = frame.merge(_latest_assessment(potentials, end), on="customer_id", how="left")
    pot = frame["potential"]
    frame["share_of_wallet"] = (rev / pot).where(pot > 0)
    frame["remaining_potential"] = pot - rev

    # Tenure as everywhere (bestandlib.concepts): from the first order date when the panel has it
    # (stable even if the panel is cut), otherwise from the first panel quarter.
    frame["tenure_quarters"] = _mapped(frame["customer_id"], state["tenure_quarters"]).astype("int64")

    window = p[p["age"] < _REGULARITY_QUARTERS]
    with_orders = (window["orders"] > 0).groupby(window["customer_id"]).sum()
    observable = np.minimum(frame["tenure_quarters"] + 1, _REGULARITY_QUARTERS)
    frame["purchase_regularity"] = _mapped(frame["customer_id"], with_orders).fillna(0) / observable

    if complaints is not None:
        c = complaints[(complaints["complaint_date"] >= start_12m) & (complaints["complaint_date"] <= end)]
        n = c.groupby(c["customer_id"].astype(str)).size()
        frame["complaints_12m"] = _mapped(frame["customer_id"], n).fillna(0).astype("int64")
        frame["complaint_rate"] = (frame["complaints_12m"] / rev * 100_000).where(rev > 0)
    else:
        frame["complaints_12m"] = np.nan
        frame["complaint_rate"] = np.nan

    info = customers.loc[:, ["customer_id", *[c for c in _INFO_COLUMNS if c in customers.columns]]].copy()
    info["customer_id"] = info["customer_id"].astype(str)
    frame = info.merge(frame, on="customer_id", how="right")
    return frame.sort_values("customer_id", ignore_index=True)


def _mapped(ids: pd.Series, values: pd.Series) -> pd.Series:
    """``ids.map(values)`` as numbers, also when ``ids`` is empty (a quarter before the first order):
    pandas gives an empty map the dtype of ``ids`` (str), and arithmetic on it fails."""
    return pd.to_numeric(ids.map(values), errors="coerce").astype("float64")


def _latest_assessment(potentials: pd.DataFrame | None, end: pd.Timestamp) -> pd.DataFrame:
    """Per customer the latest potential assessment dated on or before ``end``."""
    cols = ["customer_id", "assessed_on", "potential", "competitive_intensity"]
    if potentials is None or len(potentials) == 0:
        return pd.DataFrame({c: pd.Series(dtype="str" if c == "customer_id" else "float64") for c in cols})
    pot = potentials.copy()
    if "competitive_intensity" not in pot.columns:
        pot["competitive_intensity"] = np.nan
    pot["customer_id"] = pot["customer_id"].astype(str)
    pot = pot[pot["assessed_on"] <= end]
    # Stable sort: of two assessments on the same day the later row in the file wins.
    pot = pot.sort_values("assessed_on", kind="stable").groupby("customer_id", as_index=False).tail(1)
    out = pot[cols].reset_index(drop=True)
    out["potential"] = out["potential"].astype("float64")
    out["competitive_intensity"] = out["competitive_intensity"].astype("float64")
    return out


# --------------------------------------------------------------------------------------------------
# four-field matrix
# --------------------------------------------------------------------------------------------------
def _threshold(values: pd.Series, units: pd.Series, spec: dict, key: str) -> pd.Series:
    """The threshold for each row of ``values`` according to ``spec`` (method, value, scope)."""
    if not isinstance(spec, dict):
        raise ConfigError(f"config key '{key}' must be a mapping with method, value and scope")
    method = _check_choice(spec.get("method", "median"), ("median", "quantile", "absolute"), f"{key}.method")
    scope = _check_choice(spec.get("scope", "global"), ("global", "business_unit"), f"{key}.scope")
    value = spec.get("value")
    if method == "absolute":
        if isinstance(value, dict):
            if scope != "business_unit":
                raise ConfigError(f"config key '{key}.value' is a mapping per business unit, "
                                  f"so '{key}.scope' must be business_unit")
            missing = sorted(set(units.dropna()) - set(value) - {"default"})
            if missing and "default" not in value:
                raise ConfigError(f"config key '{key}.value' has no threshold for business unit "
                                  f"'{missing[0]}' and no 'default'")
            return units.map(lambda u: float(value.get(u, value.get("default")))).astype("float64")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(f"config key '{key}.value' must be an amount in EUR for method absolute")
        return pd.Series(float(value), index=values.index)
    if method == "median":
        level = 0.5
    else:
        if not isinstance(value, (int, float)) or not 0 < value < 1:
            raise ConfigError(f"config key '{key}.value' must be a quantile between 0 and 1, not {value!r}")
        level = float(value)
    if scope == "global":
        return pd.Series(values.quantile(level), index=values.index, dtype="float64")
    # NaN values (unassessed customers) are skipped by quantile, so they never move a threshold.
    return values.groupby(units, dropna=False).transform(lambda s: s.quantile(level)).astype("float64")


def four_field_matrix(frame: pd.DataFrame, config=None, lang: str = "de") -> pd.DataFrame:
    """Place each customer of :func:`customer_frame` in the four-field matrix.

    Parameters
    ----------
    frame : DataFrame
        Output of :func:`customer_frame`.
    config : dict, str or None
        Full configuration (``None`` = defaults); uses ``config["valuation"]``.
    lang : {"de", "en"}
        Language of the ``quadrant`` names.

    Returns
    -------
    DataFrame
        ``frame`` plus ``matrix_potential`` (the y value: potential, or remaining potential when
        ``use_remaining_potential``), ``revenue_threshold``, ``potential_threshold``,
        ``revenue_high``, ``potential_high`` (nullable booleans; value >= threshold is high),
        ``quadrant_key`` (top, premium, development, small, unassessed) and ``quadrant`` (its name).
        Customers without an assessment get ``quadrant_key == "unassessed"`` ("nicht bewertet"):
        they are kept and counted, never placed. A potential of 0 is an assessment (low potential).
    """
    cfg = _section(config)
    labels = _labels(lang)
    thresholds = cfg.get("thresholds", {})
    out = frame.copy()
    units = out["business_unit"] if "business_unit" in out.columns else pd.Series("", index=out.index)
    y_col = "remaining_potential" if cfg.get("use_remaining_potential", False) else "potential"
    assessed = out["potential"].notna()
    out["matrix_potential"] = out[y_col].where(assessed)

    out["revenue_threshold"] = _threshold(out["revenue_12m"], units, thresholds.get("revenue", {}),
                                          "valuation.thresholds.revenue")
    out["potential_threshold"] = _threshold(out["matrix_potential"], units, thresholds.get("potential", {}),
                                            "valuation.thresholds.potential")
    out["revenue_high"] = (out["revenue_12m"] >= out["revenue_threshold"]).astype("boolean")
    pot_high = (out["matrix_potential"] >= out["potential_threshold"]).astype("boolean")
    out["potential_high"] = pot_high.where(assessed, pd.NA)

    rh, ph = out["revenue_high"].fillna(False).to_numpy(bool), out["potential_high"].fillna(False).to_numpy(bool)
    key = np.select([~assessed.to_numpy(), rh & ph, rh & ~ph, ~rh & ph],
                    [UNASSESSED, "top", "premium", "development"], default="small")
    out["quadrant_key"] = pd.Series(key, index=out.index, dtype="str")
    out["quadrant"] = out["quadrant_key"].map(labels)
    return out


def quadrant_definition() -> pd.DataFrame:
    """The definition of the quadrants as a small table to show next to the portfolio plot.

    Returns
    -------
    DataFrame
        One row per quadrant (and "unassessed"), keys only: ``quadrant`` (shown as ``quadrant_<key>``),
        ``revenue_level`` and ``potential_level`` (high, low, none; shown as ``level_<key>``) and
        ``advice`` (shown as ``advice_<quadrant>``).
    """
    axes = {"top": ("high", "high"), "premium": ("high", "low"), "development": ("low", "high"),
            "small": ("low", "low"), UNASSESSED: (None, "none")}
    return pd.DataFrame([{"quadrant": k, "revenue_level": axes[k][0], "potential_level": axes[k][1], "advice": k}
                         for k in _STATE_ORDER])


def quadrant_summary(matrix: pd.DataFrame) -> pd.DataFrame:
    """Customers, revenue and margin per quadrant, including the unassessed customers.

    Returns
    -------
    DataFrame
        One row per quadrant in fixed order (top, premium, development, small, unassessed; empty
        quadrants with 0): ``quadrant, customers, revenue_12m, margin_12m, customer_share,
        revenue_share, advice``; ``quadrant`` and ``advice`` hold the quadrant key (shown as
        ``quadrant_<key>`` / ``advice_<key>``). Shares are of all active customers.
    """
    g = matrix.groupby("quadrant_key").agg(customers=("customer_id", "size"),
                                           revenue_12m=("revenue_12m", "sum"),
                                           margin_12m=("margin_12m", "sum"))
    g = g.reindex(list(_STATE_ORDER), fill_value=0)
    g["customers"] = g["customers"].astype("int64")
    g["customer_share"] = g["customers"] / max(int(g["customers"].sum()), 1)
    total = g["revenue_12m"].sum()
    g["revenue_share"] = g["revenue_12m"] / total if total else np.nan
    g = g.rename_axis("quadrant").reset_index()
    g["advice"] = g["quadrant"]
    return g


# --------------------------------------------------------------------------------------------------
# migration
# --------------------------------------------------------------------------------------------------
def migration(matrix_now: pd.DataFrame, matrix_before: pd.DataFrame, lang: str = "de") -> pd.DataFrame:
    """Transition table between two four-field matrices (counts and revenue).

    Customers only in ``matrix_now`` come from "neu"/"new"; customers only in ``matrix_before`` go to
    "verloren"/"lost" (no longer active). The unassessed state is a state like the quadrants.

    Returns
    -------
    DataFrame
        One row per (from, to) pair, all pairs listed (zeros included, except new -> lost):
        ``from_key, to_key, from_quadrant, to_quadrant, customers, revenue_before, revenue_now,
        revenue``. ``revenue_before`` / ``revenue_now`` are the trailing-12-month revenue in each
        matrix (0 where absent); ``revenue`` is ``revenue_now``, except for exits to lost, where it is
        the revenue lost (``revenue_before``).
        Summing ``customers`` over ``to`` gives the counts before (plus the new customers in the
        "new" row); summing over ``from`` gives the counts now (plus the lost customers).
    """
    labels = _labels(lang)
    cols = ["customer_id", "quadrant_key", "revenue_12m"]
    m = matrix_before[cols].merge(matrix_now[cols], on="customer_id", how="outer",
                                  suffixes=("_before", "_now"))
    m["from_key"] = m["quadrant_key_before"].fillna(NEW)
    m["to_key"] = m["quadrant_key_now"].fillna(LOST)
    m["revenue_before"] = m["revenue_12m_before"].fillna(0.0)
    m["revenue_now"] = m["revenue_12m_now"].fillna(0.0)
    g = m.groupby(["from_key", "to_key"]).agg(customers=("customer_id", "size"),
                                              revenue_before=("revenue_before", "sum"),
                                              revenue_now=("revenue_now", "sum"))
    pairs = [(f, t) for f in _STATE_ORDER + (NEW,) for t in _STATE_ORDER + (LOST,) if (f, t) != (NEW, LOST)]
    g = g.reindex(pd.MultiIndex.from_tuples(pairs, names=["from_key", "to_key"]), fill_value=0)
    g["customers"] = g["customers"].astype("int64")
    g = g.reset_index()
    g["revenue"] = g["revenue_now"].where(g["to_key"] != LOST, g["revenue_before"])
    g.insert(2, "from_quadrant", g["from_key"].map(labels))
    g.insert(3, "to_quadrant", g["to_key"].map(labels))
    return g


def migration_matrix(table: pd.DataFrame, value: str = "customers") -> pd.DataFrame:
    """The long :func:`migration` table as a from x to matrix (rows: before incl. new; columns: now
    incl. lost), labelled with the quadrant names."""
    rows = [k for k in _STATE_ORDER + (NEW,) if k in set(table["from_key"])]
    cols = [k for k in _STATE_ORDER + (LOST,) if k in set(table["to_key"])]
    wide = table.pivot_table(index="from_key", columns="to_key", values=value, aggfunc="sum",
                             fill_value=0).reindex(index=rows, columns=cols, fill_value=0)
    names = dict(zip(table["from_key"], table["from_quadrant"])) | dict(zip(table["to_key"], table["to_quadrant"]))
    wide.index = [names[k] for k in wide.index]
    wide.columns = [names[k] for k in wide.columns]
    return wide


def matrix_at(panel, customers, potentials, quarter, complaints=None, config=None,
              lang: str = "de") -> pd.DataFrame:
    """:func:`four_field_matrix` of :func:`customer_frame` at ``quarter`` (data up to its end)."""
    frame = customer_frame(panel, customers, potentials, quarter, complaints, config=config)
    return four_field_matrix(frame, config, lang)


def quarterly_migration(panel, customers, potentials, quarter, complaints=None, config=None,
                        lang: str = "de", lags=(1, 4)) -> pd.DataFrame:
    """Migration of ``quarter`` against earlier quarters (default: previous quarter and a year ago).

    The matrices of the earlier quarters use only data up to their own quarter end (assessments
    included), so the thresholds are those that applied then.

    Returns
    -------
    DataFrame
        The :func:`migration` columns plus ``quarter, compared_with, lag`` (one block per lag).
    """
    q = parse_quarter(quarter)
    now = matrix_at(panel, customers, potentials, q, complaints, config, lang)
    blocks = []
    for lag in lags:
        before = matrix_at(panel, customers, potentials, q - lag, complaints, config, lang)
        t = migration(now, before, lang)
        t.insert(0, "lag", int(lag))
        t.insert(0, "compared_with", quarter_label(q - lag))
        t.insert(0, "quarter", quarter_label(q))
        blocks.append(t)
    return pd.concat(blocks, ignore_index=True)


def movers(matrix_now: pd.DataFrame, matrix_before: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` customers that changed quadrant with the largest revenue change (for the index page).

    Returns
    -------
    DataFrame
        ``customer_id, name, business_unit, quadrant_before, quadrant, revenue_before, revenue_12m,
        revenue_change``; the quadrants are keys (``new`` before, ``lost`` now: new and lost customers
        count as a change of state).
    """
    info = [c for c in ("name", "business_unit") if c in matrix_now.columns]
    a = matrix_before[["customer_id", "quadrant_key", "revenue_12m", *info]]
    b = matrix_now[["customer_id", "quadrant_key", "revenue_12m", *info]]
    m = a.merge(b, on="customer_id", how="outer", suffixes=("_before", ""))
    for c in info:
        m[c] = m[c].fillna(m[f"{c}_before"])
    m["quadrant_before"] = m["quadrant_key_before"].fillna(NEW)
    m["quadrant"] = m["quadrant_key"].fillna(LOST)
    m["revenue_before"] = m["revenue_12m_before"].fillna(0.0)
    m["revenue_12m"] = m["revenue_12m"].fillna(0.0)
    m["revenue_change"] = m["revenue_12m"] - m["revenue_before"]
    m = m[m["quadrant_before"] != m["quadrant"]]
    m = m.reindex(m["revenue_change"].abs().sort_values(ascending=False, kind="stable").index).head(n)
    return m[["customer_id", *info, "quadrant_before", "quadrant", "revenue_before", "revenue_12m",
              "revenue_change"]].reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# customer score
# --------------------------------------------------------------------------------------------------
def _score_setup(frame: pd.DataFrame, config, business_units=None):
    """Validate the score config against ``frame``; return (indicators, method, within, weights)."""
    cfg = _section(config).get("score", {})
    indicators = cfg.get("indicators") or {}
    if not isinstance(indicators, dict) or not indicators:
        raise ConfigError("config key 'valuation.score.indicators' must map indicator names to higher/lower")
    for name, direction in indicators.items():
        if name not in frame.columns or not pd.api.types.is_numeric_dtype(frame[name]):
            raise ConfigError(f"unknown indicator in config key 'valuation.score.indicators.{name}'; "
                              f"known: {', '.join(INDICATORS)}")
        _check_choice(direction, ("higher", "lower"), f"valuation.score.indicators.{name}")
    method = _check_choice(cfg.get("normalisation", "rank"), ("rank", "minmax"), "valuation.score.normalisation")
    within = _check_choice(cfg.get("normalise_within", "business_unit"), ("business_unit", "global"),
                           "valuation.score.normalise_within")

    weights = cfg.get("weights") or {}
    if business_units is None:
        business_units = frame["business_unit"].dropna().unique() if "business_unit" in frame.columns else []
    known_units = set(map(str, business_units))
    checked = {}
    for unit, wset in weights.items():
        key = f"valuation.score.weights.{unit}"
        if unit != "default" and str(unit) not in known_units:
            raise ConfigError(f"unknown business unit in config key '{key}'; business units in the data: "
                              f"{', '.join(sorted(known_units)) or '(none)'}")
        if not isinstance(wset, dict):
            raise ConfigError(f"config key '{key}' must map indicators to weights")
        for ind, w in wset.items():
            if ind not in indicators:
                raise ConfigError(f"unknown indicator in config key '{key}.{ind}'; the indicators are "
                                  f"those under valuation.score.indicators: {', '.join(indicators)}")
            if not isinstance(w, (int, float)) or isinstance(w, bool) or not math.isfinite(w) or w < 0:
                raise ConfigError(f"config key '{key}.{ind}' must be a weight >= 0, not {w!r}")
        total = float(sum(wset.values()))
        if abs(total - 1) > _WEIGHT_TOLERANCE:
            raise ConfigError(f"the weights in config key '{key}' sum to {total:.6g}, not 1")
        checked[str(unit)] = {ind: float(wset.get(ind, 0.0)) for ind in indicators}
    present = frame["business_unit"] if "business_unit" in frame.columns else pd.Series(dtype="str")
    without = sorted({str(u) for u in present.dropna().unique()} - set(checked))
    if (without or present.isna().any()) and "default" not in checked:
        unit = without[0] if without else "(none)"
        raise ConfigError(f"missing config key 'valuation.score.weights.default': business unit "
                          f"'{unit}' has no weights of its own")
    return indicators, method, within, checked


def _normalise(values: pd.Series, method: str, higher: bool) -> pd.Series:
    """0-100 points for ``values`` (100 = best). Missing values get the neutral 50."""
    v = values.astype("float64") if higher else -values.astype("float64")
    n = int(v.notna().sum())
    if method == "rank":
        # Percentile rank with ties averaged: lowest 0, highest 100, evenly spaced in between.
        pts = (v.rank(method="average") - 1) / (n - 1) * 100 if n > 1 else pd.Series(50.0, index=v.index)
    else:
        lo, hi = v.min(), v.max()
        pts = (v - lo) / (hi - lo) * 100 if n > 1 and hi > lo else pd.Series(50.0, index=v.index)
    return pts.where(v.notna(), 50.0).astype("float64")


def _points(frame: pd.DataFrame, indicators: dict, method: str, within: str) -> pd.DataFrame:
    groups = (frame["business_unit"].astype("object").fillna("")
              if within == "business_unit" and "business_unit" in frame.columns
              else pd.Series("", index=frame.index))
    pts = pd.DataFrame(index=frame.index)
    for name, direction in indicators.items():
        pts[name] = frame[name].groupby(groups).transform(
            lambda s, d=direction: _normalise(s, method, d == "higher"))
    return pts


def _weight_matrix(frame: pd.DataFrame, indicators, weights: dict) -> pd.DataFrame:
    units = frame["business_unit"] if "business_unit" in frame.columns else pd.Series(np.nan, index=frame.index)
    rows = [weights.get(str(u), weights.get("default")) if pd.notna(u) else weights["default"] for u in units]
    return pd.DataFrame(rows, index=frame.index, columns=list(indicators)).astype("float64")


def _ranking(frame: pd.DataFrame, score: pd.Series) -> pd.Series:
    """Customer ids ordered best first (ties broken by customer id, so the order is reproducible)."""
    order = pd.DataFrame({"customer_id": frame["customer_id"].astype(str), "score": score})
    return order.sort_values(["score", "customer_id"], ascending=[False, True])["customer_id"]


def customer_score(frame: pd.DataFrame, config=None, business_units=None) -> pd.DataFrame:
    """Weighted customer score (Kundenwert) from the indicators of :func:`customer_frame`.

    Each indicator becomes 0-100 points (``normalisation: rank``: percentile rank with ties averaged,
    lowest 0 and highest 100; ``minmax``: (x - min) / (max - min) * 100), within each business unit
    by default, reversed for indicators where lower is better. A missing value (e.g. no potential
    assessment) gets the neutral 50 points. The score is the weighted sum with the weights of the
    customer's business unit (``default`` for units without their own set), so it lies in 0-100.

    Parameters
    ----------
    frame : DataFrame
        Output of :func:`customer_frame` (or any frame with ``customer_id``, ``business_unit`` and
        the configured indicator columns).
    config : dict, str or None
        Full configuration; uses ``config["valuation"]["score"]``.
    business_units : iterable of str, optional
        All business units that exist (e.g. ``customers["business_unit"].unique()``). Weights for a
        unit outside this list are a config error (a typo in a unit name must not go unnoticed).
        Default: the units in ``frame``.

    Returns
    -------
    DataFrame
        ``customer_id, business_unit, points_<indicator>... , missing_indicators, score, score_rank,
        score_rank_bu``, best first. ``score_rank`` is over all customers (1 = best, ties share the
        best rank), ``score_rank_bu`` within the business unit.

    Raises
    ------
    ConfigError
        Naming the key: weights not summing to 1 (tolerance 1e-6), negative weights, unknown
        indicators, weights for an unknown business unit, no ``default`` for a unit without weights.
    """
    indicators, method, within, weights = _score_setup(frame, config, business_units)
    pts = _points(frame, indicators, method, within)
    score = (pts * _weight_matrix(frame, indicators, weights)).sum(axis=1)
    out = pd.DataFrame({"customer_id": frame["customer_id"].astype(str)})
    if "business_unit" in frame.columns:
        out["business_unit"] = frame["business_unit"]
    for name in indicators:
        out[f"points_{name}"] = pts[name]
    out["missing_indicators"] = frame[list(indicators)].isna().sum(axis=1).astype("int64")
    out["score"] = score.clip(0, 100)
    out["score_rank"] = out["score"].rank(method="min", ascending=False).astype("int64")
    units = out["business_unit"].astype("object").fillna("") if "business_unit" in out else ""
    out["score_rank_bu"] = out.groupby(units)["score"].rank(method="min", ascending=False).astype("int64")
    return out.sort_values(["score_rank", "customer_id"], ignore_index=True)


def score_sensitivity(frame: pd.DataFrame, config=None, change: float | None = None,
                      top: int | None = None, business_units=None) -> pd.DataFrame:
    """How stable the ranking is when each weight moves by ``±change``.

    For each indicator with a weight > 0 in some set, and each sign, that indicator's weight is
    multiplied by (1 ± change) in every weight set, each set is renormalised to sum 1, and the
    scores are recomputed from the same points.

    Parameters
    ----------
    change, top : optional
        Default ``config["valuation"]["sensitivity"]`` (0.2 and 50). ``top`` is capped at the number
        of customers.

    Returns
    -------
    DataFrame
        One row per indicator and sign: ``indicator, change`` (+0.2 / -0.2), ``top``, ``overlap``
        (customers in both top lists), ``overlap_share`` (overlap / top) and ``spearman`` (rank
        correlation of all scores with the base scores, :func:`scipy.stats.spearmanr`).
    """
    sens = _section(config).get("sensitivity", {})
    change = float(sens.get("change", 0.2) if change is None else change)
    top = int(sens.get("top", 50) if top is None else top)
    if not 0 < change < 1:
        raise ConfigError(f"config key 'valuation.sensitivity.change' must be between 0 and 1, not {change}")
    indicators, method, within, weights = _score_setup(frame, config, business_units)
    pts = _points(frame, indicators, method, within)
    base = (pts * _weight_matrix(frame, indicators, weights)).sum(axis=1)
    n_top = min(top, len(frame))
    base_top = set(_ranking(frame, base).head(n_top))
    rows = []
    for ind in indicators:
        if not any(w[ind] > 0 for w in weights.values()):
            continue
        for sign in (+1, -1):
            moved = {}
            for unit, wset in weights.items():
                w = dict(wset)
                w[ind] *= 1 + sign * change
                total = sum(w.values())
                moved[unit] = {k: v / total for k, v in w.items()}
            score = (pts * _weight_matrix(frame, indicators, moved)).sum(axis=1)
            overlap = len(base_top & set(_ranking(frame, score).head(n_top)))
            rho = stats.spearmanr(base, score).statistic if len(frame) > 2 else np.nan
            rows.append({"indicator": ind, "change": sign * change, "top": n_top, "overlap": overlap,
                         "overlap_share": overlap / n_top if n_top else np.nan, "spearman": float(rho)})
    return pd.DataFrame(rows, columns=["indicator", "change", "top", "overlap", "overlap_share", "spearman"])


# --------------------------------------------------------------------------------------------------
# the customer-level table
# --------------------------------------------------------------------------------------------------
def customer_value_table(panel, customers, potentials, quarter, complaints=None, config=None) -> pd.DataFrame:
    """The customer-level result of the valuation: ``tables/customer_value.csv``.

    Returns
    -------
    DataFrame
        One row per active customer, best score first: ``customer_id, name, business_unit, segment,
        region, account_manager, quarter, revenue_12m, margin_12m, margin_rate, revenue_growth,
        potential, remaining_potential, share_of_wallet, competitive_intensity, quadrant_key,
        quadrant_prev_quarter, quadrant_year_ago, score, score_rank, score_rank_bu``. The quadrants are
        keys (top, premium, development, small, unassessed; ``new`` for customers not active then).
    """
    q = parse_quarter(quarter)
    frame = customer_frame(panel, customers, potentials, q, complaints, config=config)
    matrix = four_field_matrix(frame, config)
    units = customers["business_unit"].dropna().unique() if "business_unit" in customers.columns else None
    scores = customer_score(frame, config, business_units=units)
    out = matrix.merge(scores[["customer_id", "score", "score_rank", "score_rank_bu"]], on="customer_id")
    for lag, col in ((1, "quadrant_prev_quarter"), (4, "quadrant_year_ago")):
        before = matrix_at(panel, customers, potentials, q - lag, complaints, config)
        out[col] = out["customer_id"].map(before.set_index("customer_id")["quadrant_key"]).fillna(NEW)
    cols = ["customer_id", *[c for c in _INFO_COLUMNS if c in out.columns], "quarter", "revenue_12m",
            "margin_12m", "margin_rate", "revenue_growth", "potential", "remaining_potential",
            "share_of_wallet", "competitive_intensity", "quadrant_key", "quadrant_prev_quarter",
            "quadrant_year_ago", "score", "score_rank", "score_rank_bu"]
    return out[cols].sort_values(["score_rank", "customer_id"], ignore_index=True)


# --------------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------------
def _ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(8, 6))
    return ax


def plot_portfolio(matrix: pd.DataFrame, ax=None, log: bool = True, lang: str = "de", config=None,
                   linthresh: float = 1_000.0, legend: bool = True):
    """Portfolio bubble chart of the four-field matrix.

    x = revenue_12m, y = the matrix potential, bubble area ~ contribution margin (negative margins
    drawn at the smallest size), colour = quadrant, dashed threshold lines, quadrant names in the
    corners. Unassessed customers are not drawn; their count and revenue are noted in the legend.
    With per-business-unit thresholds draw one chart per unit (pass the unit's rows).

    Parameters
    ----------
    log : bool
        Logarithmic axes. An axis with values <= 0 (revenue after credit notes, a potential of 0)
        becomes symmetric-log (linear within ±``linthresh`` EUR), so those customers stay visible
        where a plain log axis would drop them.
    legend : bool
        Draw the legend right of the axes (switch off for all but one panel of a grid).
    """
    ax = _ax(ax)
    labels = _labels(lang)
    placed = matrix[matrix["quadrant_key"] != UNASSESSED]
    margin = placed["margin_12m"].clip(lower=0)
    scale = float(margin.max()) if len(margin) and margin.max() > 0 else 1.0
    sizes = 15 + 400 * np.sqrt(margin / scale)
    for key in QUADRANTS:
        part = placed["quadrant_key"] == key
        if part.any():
            ax.scatter(placed.loc[part, "revenue_12m"], placed.loc[part, "matrix_potential"], s=sizes[part],
                       color=_COLOURS[key], alpha=0.55, edgecolor="white", linewidth=0.5, label=labels[key])
    for i, x in enumerate(sorted(placed["revenue_threshold"].dropna().unique())):
        ax.axvline(x, color="0.3", linestyle="--", linewidth=0.9, label=i18n.t("val_threshold", lang) if i == 0 else None)
    for y in sorted(placed["potential_threshold"].dropna().unique()):
        ax.axhline(y, color="0.3", linestyle="--", linewidth=0.9)
    if log and len(placed):
        for values, set_scale in ((placed["revenue_12m"], ax.set_xscale),
                                  (placed["matrix_potential"], ax.set_yscale)):
            if (values > 0).all():
                set_scale("log")
            else:
                set_scale("symlog", linthresh=linthresh)
        _money_axes(ax, lang)
    corners = {"top": (0.98, 0.98, "right", "top"), "development": (0.02, 0.98, "left", "top"),
               "premium": (0.98, 0.02, "right", "bottom"), "small": (0.02, 0.02, "left", "bottom")}
    for key, (x, y, ha, va) in corners.items():
        ax.text(x, y, labels[key], transform=ax.transAxes, ha=ha, va=va, fontsize=10, fontweight="bold",
                color=_COLOURS[key])
    remaining = bool(_section(config).get("use_remaining_potential", False))
    ax.set_xlabel(i18n.t("val_revenue_12m", lang))
    ax.set_ylabel(i18n.t("val_remaining_potential" if remaining else "val_potential", lang))
    unassessed = matrix[matrix["quadrant_key"] == UNASSESSED]
    note = i18n.t("val_unassessed_note", lang).format(
        n=i18n.fmt_number(len(unassessed), lang), rev=i18n.fmt_eur(float(unassessed["revenue_12m"].sum()), lang))
    if legend:
        from matplotlib.lines import Line2D

        handles, texts = ax.get_legend_handles_labels()
        handles.append(Line2D([], [], linestyle="none"))
        texts.append(note)
        leg = ax.legend(handles, texts, title=i18n.t("val_bubble", lang), loc="upper left",
                        bbox_to_anchor=(1.01, 1), fontsize=8, title_fontsize=8, frameon=False)
        for handle in leg.legend_handles:  # one marker size in the legend, whatever the margins
            if hasattr(handle, "set_sizes"):
                handle.set_sizes([40])
    return ax


def plot_portfolios(matrix: pd.DataFrame, units, lang: str = "de", config=None):
    """One :func:`plot_portfolio` per business unit side by side (shared y axis, legend on the last);
    returns the figure."""
    import matplotlib.pyplot as plt

    units = list(units)
    fig, axes = plt.subplots(1, max(len(units), 1), figsize=(5.2 * max(len(units), 1), 4.8), sharey=True,
                             squeeze=False)
    for i, (ax, unit) in enumerate(zip(axes[0], units)):
        plot_portfolio(matrix[matrix["business_unit"] == unit], ax=ax, lang=lang, config=config,
                       legend=i == len(units) - 1)
        ax.set_title(unit)
        if i:
            ax.set_ylabel("")
    return fig


def plot_migrations(table: pd.DataFrame, lang: str = "de", value: str = "customers"):
    """One :func:`plot_migration` heatmap per earlier quarter of a :func:`quarterly_migration` table;
    returns the figure."""
    import matplotlib.pyplot as plt

    before = list(table["compared_with"].unique())
    fig, axes = plt.subplots(1, len(before), figsize=(7.5 * len(before), 5), squeeze=False)
    for ax, quarter in zip(axes[0], before):
        plot_migration(table, ax=ax, lang=lang, value=value, compared_with=quarter)
    fig.tight_layout()
    return fig


def money_tick(x: float, lang: str = "de") -> str:
    """A short amount for an axis tick whose label names the currency: ``10 Tsd.`` / ``10k``,
    ``2 Mio.`` / ``2m``, below 1,000 the number itself."""
    sign, v = ("−" if x < 0 else ""), abs(float(x))
    for size, key in ((1e6, "val_axis_million"), (1e3, "val_axis_thousand")):
        if v >= size:
            digits = 0 if v / size >= 10 or (v / size).is_integer() else 1
            return sign + i18n.t(key, lang, amount=i18n.fmt_number(v / size, lang, digits))
    return sign + i18n.fmt_number(v, lang, 0)


def _decade_ticks(lo: float, hi: float, symlog: bool, linthresh: float) -> list[float]:
    """Powers of ten in [lo, hi], every second one (counted from the largest) while there are more
    than four ticks in all, so the labels never overlap; on a symlog axis also 0 and the most negative power."""
    powers = [10.0 ** k for k in range(-2, 13) if not symlog or 10.0 ** k >= linthresh]
    negative = [-p for p in reversed(powers) if symlog and -p >= lo][:1]
    extra = negative + ([0.0] if symlog and lo <= 0 <= hi else [])
    positive = [p for p in powers if lo <= p <= hi]
    while len(positive) > max(2, 4 - len(extra)):
        positive = positive[::-1][::2][::-1]
    return extra + positive


def _money_axes(ax, lang: str) -> None:
    """Readable amounts on both (log or symlog) axes instead of ``−10^4``: powers of ten as ``10 Tsd.``."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    for axis, lim in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        scale = axis.get_scale()
        linthresh = getattr(axis.get_transform(), "linthresh", 1.0)
        axis.set_major_locator(FixedLocator(_decade_ticks(min(lim), max(lim), scale == "symlog", linthresh)))
        axis.set_major_formatter(FuncFormatter(lambda x, _pos: money_tick(x, lang)))
        axis.set_minor_formatter(NullFormatter())


def plot_migration(table: pd.DataFrame, ax=None, lang: str = "de", value: str = "customers",
                   compared_with: str | None = None):
    """Heatmap of a :func:`migration` table (rows: quadrant before incl. new; columns: now incl. lost).

    Parameters
    ----------
    value : {"customers", "revenue", "revenue_now", "revenue_before"}
        What the cells show; revenue in thousand EUR (``revenue``: now, for lost customers the
        revenue lost).
    compared_with : str, optional
        For a :func:`quarterly_migration` table, which earlier quarter (default: the first).
    """
    import seaborn as sns

    ax = _ax(ax)
    before_q = now_q = ""
    if "compared_with" in table.columns:
        compared_with = compared_with or table["compared_with"].iloc[0]
        table = table[table["compared_with"] == compared_with]
        before_q, now_q = compared_with, table["quarter"].iloc[0]
    wide = migration_matrix(table, value)
    if value != "customers":
        wide = wide / 1_000
    # new -> lost cannot happen (such a customer is in neither matrix): leave the cell blank.
    mask = np.zeros(wide.shape, dtype=bool)
    names = dict(zip(table["from_key"], table["from_quadrant"])) | dict(zip(table["to_key"], table["to_quadrant"]))
    if names.get(NEW) in wide.index and names.get(LOST) in wide.columns:
        mask[wide.index.get_loc(names[NEW]), wide.columns.get_loc(names[LOST])] = True
    ax.grid(False)
    sns.heatmap(wide, ax=ax, mask=mask, annot=True, fmt=".0f", cmap="Blues", cbar=False, linewidths=0.5,
                linecolor="white")
    what = i18n.t("val_customers" if value == "customers" else "val_revenue_k", lang)
    ax.set_title(i18n.t("val_migration_title", lang).format(value=what))
    ax.set_ylabel(i18n.t("val_before", lang).format(q=before_q).strip())
    ax.set_xlabel(i18n.t("val_now", lang).format(q=now_q).strip())
    ax.tick_params(axis="x", rotation=30)
    ax.tick_params(axis="y", rotation=0)
    return ax


def plot_score_distribution(scores: pd.DataFrame, ax=None, lang: str = "de"):
    """Distribution of the customer score per business unit (box plot with the customers as dots)."""
    ax = _ax(ax)
    units = scores["business_unit"].astype("object").fillna("–")
    order = sorted(units.unique())
    groups = [scores.loc[units == u, "score"].to_numpy() for u in order]
    positions = np.arange(len(order))
    # matplotlib's own boxplot: seaborn 0.13 passes the deprecated ``vert`` to matplotlib 3.11.
    ax.boxplot(groups, positions=positions, widths=0.55, showfliers=False, patch_artist=True,
               boxprops={"facecolor": "#d1e5f0", "edgecolor": "0.3"}, medianprops={"color": "#2166ac"},
               orientation="vertical")
    rng = np.random.default_rng(0)  # fixed jitter: the same PNG on every run
    for pos, values in zip(positions, groups):
        ax.scatter(pos + rng.uniform(-0.2, 0.2, len(values)), values, s=4, color="#2166ac", alpha=0.4)
    ax.set_xticks(positions, order)
    ax.set_ylim(0, 100)
    ax.set_xlabel(i18n.t("val_business_unit", lang))
    ax.set_ylabel(i18n.t("val_score", lang))
    return ax


#: What an indicator is measured with beyond orders: optional tables (one of them needed) and
#: "table.column" that must hold values. Read by :func:`score_config_for`.
INDICATOR_DATA = {
    "margin_12m": ((), ("orders.contribution_margin",)),
    "margin_rate": ((), ("orders.contribution_margin",)),
    "potential": (("potentials",), ()),
    "remaining_potential": (("potentials",), ()),
    "share_of_wallet": (("potentials",), ()),
    "competitive_intensity": (("potentials",), ("potentials.competitive_intensity",)),
    "complaint_rate": (("complaints",), ()),
}


def unsupported_indicators(facts) -> list[str]:
    """Score indicators the data cannot measure (:class:`bestandlib.needs.Facts`): margins without
    contribution margins, potential and share of wallet without potential assessments, the
    complaint rate without complaints. Scored anyway they would give every customer the same points."""
    from bestandlib.needs import measurable

    return [name for name, (tables, columns) in INDICATOR_DATA.items()
            if not measurable(facts, tables, columns)]


def score_config_for(config, facts) -> tuple[dict, list[str]]:
    """The configuration with the indicators the data cannot measure left out of the score.

    Each weight set keeps its other weights in proportion, renormalised to sum 1 (a set left with
    nothing falls back to equal weights of the remaining indicators). Returns the new configuration
    and the indicators left out, so the page can name them.
    """
    import copy

    from bestandlib.config import ensure_config

    cfg = copy.deepcopy(ensure_config(config))
    score = cfg["valuation"]["score"]
    dropped = [i for i in unsupported_indicators(facts) if i in score["indicators"]]
    if not dropped:
        return cfg, []
    score["indicators"] = {k: v for k, v in score["indicators"].items() if k not in dropped}
    for unit, wset in score["weights"].items():
        kept = {k: float(w) for k, w in wset.items() if k not in dropped}
        total = sum(kept.values())
        if total <= 0:
            kept = {k: 1.0 for k in score["indicators"]}
            total = float(len(kept))
        score["weights"][unit] = {k: w / total for k, w in kept.items()}
    return cfg, dropped
