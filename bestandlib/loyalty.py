"""Loyalty economics: test the classic claims about loyal customers on the user's own data.

The textbook case for customer retention (Reichheld & Sasser 1990, "Zero defections") says that
loyal customers buy more regularly, cost less to serve, pay better prices, buy across more of the
range and recommend the supplier, and that keeping a customer is worth several new ones. Each claim is
tested here as a small comparison of *loyal* customers (long tenure) with *young* ones (second year),
with an effect size, a bootstrap interval and a verdict in words generated from the numbers:

=================  ==========================================  ==================  =========
claim              measure (per customer, last 12 months)       statistic           expected
=================  ==========================================  ==================  =========
regularity         coefficient of variation of order gaps       median              lower
cost_to_serve      (contacts + complaints) per 1,000 EUR        median              lower
margin             contribution margin / net revenue            median              higher
breadth            distinct product groups bought               mean                higher
recommendation     NPS of the latest survey (optional)          NPS points          higher
kept_vs_new        margin of a kept customer / first-year       ratio of means      above 1
                   margin of a newly acquired customer
=================  ==========================================  ==================  =========

``kept_vs_new`` is "1 kept = N new" of :func:`bestandlib.concepts.kept_vs_new`, the kit's one
definition (the retention page shows the same N): kept = ordered in the last 12 months and in the 12
months before, new = acquired in the data in the last ``actions.new_cohort_quarters`` quarters with a
complete first year. This module adds the bootstrap interval and the verdict.

The estimate of the first four claims is the relative difference ``stat(loyal) / stat(young) - 1``;
``effect_size`` is Cliff's delta (from the Mann-Whitney U statistic: the probability that a loyal
customer's value is higher minus the probability that it is lower). Verdicts: *supported* when the
interval lies wholly on the expected side of "no difference", *contradicted* when it lies wholly on the
other side, *not shown* otherwise, *too few data* when a group has fewer than ``min_n`` customers.

Caveat the verdicts carry implicitly: only customers still active are compared, so the loyal group
consists of survivors, and tenure is counted from the first order *in the data* (customers older than
the data are in the top band with a lower bound on their true tenure).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats as sps

from bestandlib import concepts, i18n
from bestandlib.config import ensure_config
from bestandlib.errors import BestandError, ConfigError
from bestandlib.concepts import quarter_index
from bestandlib.panel import customer_summary
from bestandlib.periods import parse_quarter, quarter_end

__all__ = ["settings", "tenure_band", "loyalty_frame", "first_year_margins", "profile", "measured_profile",
           "claims", "tested_claims", "sentence", "sentences", "CLAIMS", "VERDICTS", "TABLE_COLUMNS",
           "PROFILE_PLOTS", "plot_claims", "plot_profile", "plot_profiles", "unsupported_claims",
           "unsupported_measures"]

#: Columns of ``tables/loyalty.csv`` (the first six are the contract named in the issue). Machine
#: values only: ``claim``, ``measure``, ``verdict`` and ``statistic`` are keys (texts in
#: ``bestandlib/locale/<lang>/loyalty.yml``: ``loy_claim_<claim>``, ``loy_measure_<measure>``,
#: ``loy_verdict_<verdict>``); the sentences are built in the reader's language by :func:`sentences`.
TABLE_COLUMNS = ["claim", "measure", "estimate", "ci_low", "ci_high", "verdict", "statistic", "value_loyal",
                 "value_young", "n_loyal", "n_young", "effect_size", "p_value"]

# claim -> (measure column, statistic, expected direction: -1 lower is better for loyal, +1 higher)
CLAIMS = {
    "regularity": ("order_gap_cv", "median", -1),
    "cost_to_serve": ("cost_to_serve", "median", -1),
    "margin": ("margin_rate", "median", 1),
    "breadth": ("product_groups_12m", "mean", 1),
}

VERDICTS = ("supported", "contradicted", "not_shown", "too_few")

#: The measures of :func:`profile` drawn as bars on the page, in this order.
PROFILE_PLOTS = ("order_gap_cv", "cost_to_serve", "margin_rate", "product_groups_12m")

_MEASURES = ("order_gap_cv", "cost_to_serve", "contacts_per_keur", "complaints_per_keur", "margin_rate",
             "product_groups_12m", "revenue_12m", "margin_12m")


# --------------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------------
def settings(config=None) -> dict:
    """The ``loyalty`` section of a full config (``None`` = the documented defaults), checked."""
    cfg = ensure_config(config)["loyalty"]
    bands = cfg.get("tenure_bands", {})
    edges = bands.get("edges", [])
    if not edges or edges[0] != 0 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ConfigError("config key 'loyalty.tenure_bands.edges' must start at 0 and increase")
    for lang in i18n.LANGS:
        if len(bands.get(lang, [])) != len(edges):
            raise ConfigError(f"config key 'loyalty.tenure_bands.{lang}' needs one name per edge "
                              f"({len(edges)})")
    cmp_ = cfg.get("compare", {})
    if not cmp_.get("young_min_quarters", 0) < cmp_.get("young_max_quarters", 0) <= cmp_.get(
            "loyal_min_quarters", 0):
        raise ConfigError("config keys 'loyalty.compare' need young_min_quarters < young_max_quarters "
                          "<= loyal_min_quarters")
    if cfg.get("ci_method") not in ("percentile", "BCa"):
        raise ConfigError("config key 'loyalty.ci_method' must be percentile or BCa")
    return cfg


def tenure_band(tenure_quarters, config=None, lang: str = "de") -> pd.Series:
    """Name of the tenure band (ordered categorical) for each tenure in quarters."""
    cfg = settings(config)
    edges = cfg["tenure_bands"]["edges"]
    names = cfg["tenure_bands"][i18n.check_lang(lang)]
    t = pd.Series(tenure_quarters, dtype="float64")
    idx = np.searchsorted(np.asarray(edges, float), t.to_numpy(), side="right") - 1
    codes = np.where(t.isna().to_numpy() | (idx < 0), -1, idx)
    return pd.Series(pd.Categorical.from_codes(codes, categories=names, ordered=True), index=t.index)


# --------------------------------------------------------------------------------------------------
# customer-level measures
# --------------------------------------------------------------------------------------------------
def _window_counts(events: pd.DataFrame | None, date_col: str, start, end) -> pd.Series:
    if events is None or len(events) == 0:
        return pd.Series(dtype="float64")
    e = events[(events[date_col] >= start) & (events[date_col] <= end)]
    return e.groupby(e["customer_id"].astype(str)).size()


def _order_gap_cv(panel: pd.DataFrame, first_quarter, quarter, min_days: int) -> pd.DataFrame:
    """Coefficient of variation (sd / mean, ddof=1) of the gaps between purchase days in the window.

    From the panel's gap sums (the engine aggregated them from the order lines): the gaps of the
    window's quarters, less the one gap that reaches back before the window (the gap ending at the
    first purchase day inside it). ``order_days`` = purchase days in the window.
    """
    qi = quarter_index(panel["quarter"])
    lo, hi = quarter_index(first_quarter), quarter_index(quarter)
    w = panel.loc[(qi >= lo) & (qi <= hi), ["customer_id", "quarter", "order_days", "gap_days_sum",
                                            "gap_days_sumsq", "first_gap_days"]]
    w = w.assign(customer_id=w["customer_id"].astype(str)).sort_values(["customer_id", "quarter"])
    g = w.groupby("customer_id", sort=True)
    days = g["order_days"].sum()
    total, squares = g["gap_days_sum"].sum(), g["gap_days_sumsq"].sum()
    # the gap into the window belongs to the first quarter of the window that has a purchase day
    # (NaN when that day is the customer's first purchase ever: nothing reaches back; groupby.first()
    # would skip the NaN and take a later quarter's gap)
    lead = w[w["order_days"] > 0].drop_duplicates("customer_id", keep="first").set_index("customer_id")
    lead = lead["first_gap_days"].reindex(days.index).fillna(0.0)
    n = (days - 1).clip(lower=0)
    total, squares = total - lead, squares - lead ** 2
    mean = (total / n).where(n > 0)
    var = ((squares - n * mean ** 2) / (n - 1)).where(n > 1).clip(lower=0)
    out = pd.DataFrame({"order_days": days.astype("int64")})
    out["order_gap_cv"] = (np.sqrt(var) / mean).where(days >= min_days)
    return out


def loyalty_frame(panel: pd.DataFrame, quarter, contacts: pd.DataFrame | None = None,
                  complaints: pd.DataFrame | None = None, customers: pd.DataFrame | None = None,
                  phases: pd.DataFrame | None = None, config=None, lang: str = "de") -> pd.DataFrame:
    """One row per customer active in the last 12 months, with the measures the claims compare.

    Parameters
    ----------
    panel : DataFrame
        The customer-quarter panel up to at least ``quarter``, with the engine's purchase-day columns
        (``order_days``, ``gap_days_sum``, ``gap_days_sumsq``, ``first_gap_days``) for the order gaps
        and ``product_groups_4q`` for the breadth: no order line is read here.
    quarter : str or Period
        The report quarter; "last 12 months" are the four quarters ending with it.
    contacts, complaints : DataFrame, optional
        ``customer_id`` plus ``contact_date`` / ``complaint_date``; missing tables leave the cost
        measures NaN.
    customers : DataFrame, optional
        Master data; adds ``business_unit`` and ``account_manager``.
    phases : DataFrame, optional
        ``customer_id, phase`` (relationship phase per customer), added as column ``phase``.
    config : dict, str or None
        Full configuration; uses ``config["loyalty"]``.
    lang : {"de", "en"}
        Language of the tenure band names.

    Returns
    -------
    DataFrame
        ``customer_id, business_unit, account_manager, phase, tenure_quarters, tenure_band, group,
        revenue_12m, margin_12m, margin_rate, order_days, order_gap_cv, contacts_12m, complaints_12m,
        contacts_per_keur, complaints_per_keur, cost_to_serve, product_groups_12m, kept``.
        ``group`` is ``loyal``, ``young`` or ``other`` (see ``loyalty.compare``); ``kept`` marks the
        kept customers of "1 kept = N new" (:func:`bestandlib.concepts.kept_and_new_margins`); ``margin_rate`` and
        the per-1,000-EUR rates are NaN when revenue_12m <= 0; ``order_gap_cv`` is NaN with fewer than
        ``min_order_days`` order days in the last ``regularity_quarters`` quarters.
    """
    config = ensure_config(config)
    cfg = settings(config)
    q = parse_quarter(quarter)
    end = quarter_end(q)
    start_12m = (q - 3).start_time.normalize()
    summary = customer_summary(panel, q, config)
    f = summary.loc[summary["active"], ["customer_id", "tenure_quarters", "revenue_12m", "margin_12m"]].copy()
    f["customer_id"] = f["customer_id"].astype(str)
    f["tenure_band"] = tenure_band(f["tenure_quarters"].to_numpy(), config, lang).set_axis(f.index)
    cmp_ = cfg["compare"]
    t = f["tenure_quarters"]
    f["group"] = np.select([t >= cmp_["loyal_min_quarters"],
                            (t >= cmp_["young_min_quarters"]) & (t < cmp_["young_max_quarters"])],
                           ["loyal", "young"], default="other")
    rev = f["revenue_12m"]
    pos = rev > 0
    f["margin_rate"] = (f["margin_12m"] / rev).where(pos)

    reg_start = q - (int(cfg["regularity_quarters"]) - 1)
    f = f.merge(_order_gap_cv(panel, reg_start, q, int(cfg["min_order_days"])), left_on="customer_id",
                right_index=True, how="left")
    f["order_days"] = f["order_days"].fillna(0).astype("int64")

    for name, table, col in (("contacts_12m", contacts, "contact_date"),
                             ("complaints_12m", complaints, "complaint_date")):
        if table is None:
            f[name] = np.nan
        else:
            f[name] = f["customer_id"].map(_window_counts(table, col, start_12m, end)).fillna(0).astype("float64")
    keur = rev / 1000.0
    f["contacts_per_keur"] = (f["contacts_12m"] / keur).where(pos)
    f["complaints_per_keur"] = (f["complaints_12m"] / keur).where(pos)
    f["cost_to_serve"] = ((f["contacts_12m"].fillna(0) + f["complaints_12m"].fillna(0)) / keur).where(
        pos & (f["contacts_12m"].notna() | f["complaints_12m"].notna()))

    now = panel.loc[panel["quarter"].astype(str) == str(q), ["customer_id", "product_groups_4q"]]
    groups = now.set_index(now["customer_id"].astype(str))["product_groups_4q"]
    f["product_groups_12m"] = f["customer_id"].map(groups).fillna(0).astype("int64")

    info = ["business_unit", "account_manager"]
    if customers is not None:
        c = customers[["customer_id", *[x for x in info if x in customers.columns]]].astype({"customer_id": str})
        f = f.merge(c, on="customer_id", how="left")
    for col in info:
        if col not in f:
            f[col] = pd.NA
    if phases is not None and "phase" in phases:
        f = f.merge(phases[["customer_id", "phase"]].astype({"customer_id": str}).drop_duplicates("customer_id"),
                    on="customer_id", how="left")
    else:
        f["phase"] = pd.NA
    cols = ["customer_id", "business_unit", "account_manager", "phase", "tenure_quarters", "tenure_band",
            "group", "revenue_12m", "margin_12m", "margin_rate", "order_days", "order_gap_cv",
            "contacts_12m", "complaints_12m", "contacts_per_keur", "complaints_per_keur", "cost_to_serve",
            "product_groups_12m", "kept"]
    km = concepts.kept_and_new_margins(panel, q, config)
    f["kept"] = f["customer_id"].isin(set(km.loc[km["kind"] == "kept", "customer_id"]))
    return f[cols].sort_values("customer_id", ignore_index=True)


def first_year_margins(panel: pd.DataFrame, quarter, config=None) -> pd.DataFrame:
    """The new customers of "1 kept = N new" and their first-year margin.

    The new side of :func:`bestandlib.concepts.kept_and_new_margins`: customers acquired in the data
    (first order after the first quarter of the data) in the last ``actions.new_cohort_quarters``
    quarters with a complete first year by ``quarter``, and the margin of their first
    ``actions.first_year_quarters`` quarters (customers who stopped ordering within the year
    included: their first year is what acquiring them brought).

    Returns
    -------
    DataFrame
        ``customer_id, first_quarter, first_year_margin, first_year_revenue``.
    """
    m = concepts.kept_and_new_margins(panel, quarter, config)
    new = m[m["kind"] == "new"].rename(columns={"margin": "first_year_margin", "revenue": "first_year_revenue"})
    return new[["customer_id", "first_quarter", "first_year_margin", "first_year_revenue"]].reset_index(drop=True)


def profile(frame: pd.DataFrame, by: str = "tenure_band") -> pd.DataFrame:
    """Per level of ``by`` (tenure band or phase): customers and the median of each measure.

    Returns
    -------
    DataFrame
        ``<by>, customers, revenue_12m, margin_12m, margin_rate, order_gap_cv, cost_to_serve,
        contacts_per_keur, complaints_per_keur, product_groups_12m`` (medians; product groups as mean).
    """
    if by not in frame or frame[by].isna().all():
        return pd.DataFrame(columns=[by, "customers"])
    g = frame.groupby(by, observed=True, sort=True)
    out = g.size().rename("customers").to_frame()
    for col in ("revenue_12m", "margin_12m", "margin_rate", "order_gap_cv", "cost_to_serve",
                "contacts_per_keur", "complaints_per_keur"):
        if col in frame:
            out[col] = g[col].median()
    if "product_groups_12m" in frame:
        out["product_groups_12m"] = g["product_groups_12m"].mean()
    return out.reset_index()


def _statistic(kind: str):
    if kind == "median":
        return lambda a, b, axis=-1: np.median(a, axis=axis) / np.median(b, axis=axis) - 1
    if kind == "mean":
        return lambda a, b, axis=-1: np.mean(a, axis=axis) / np.mean(b, axis=axis) - 1
    if kind == "ratio":
        return lambda a, b, axis=-1: np.mean(a, axis=axis) / np.mean(b, axis=axis)
    if kind == "difference":
        return lambda a, b, axis=-1: np.mean(a, axis=axis) - np.mean(b, axis=axis)
    raise ValueError(kind)


def _bootstrap(a, b, kind, cfg, key) -> tuple[float, float]:
    """Two-sample bootstrap interval (groups resampled independently) with scipy."""
    # One seed per claim, so adding a claim never changes the intervals of the others.
    rng = np.random.default_rng([int(cfg["seed"]), sum(map(ord, key))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = sps.bootstrap((a, b), _statistic(kind), vectorized=True, paired=False,
                            n_resamples=int(cfg["n_resamples"]), method=cfg["ci_method"],
                            confidence_level=float(cfg["confidence_level"]), rng=rng)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _verdict(lo, hi, direction, null) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "not_shown"
    if (direction > 0 and lo > null) or (direction < 0 and hi < null):
        return "supported"
    if (direction > 0 and hi < null) or (direction < 0 and lo > null):
        return "contradicted"
    return "not_shown"


def _cliffs_delta(a, b) -> tuple[float, float]:
    """Cliff's delta and the two-sided Mann-Whitney p-value (scipy)."""
    res = sps.mannwhitneyu(a, b, alternative="two-sided")
    return float(2 * res.statistic / (len(a) * len(b)) - 1), float(res.pvalue)


def _compare(claim, measure, a, b, kind, direction, cfg, null=0.0) -> dict:
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    row = {"claim": claim, "measure": measure, "statistic": kind, "n_loyal": len(a), "n_young": len(b),
           "direction": direction, "null": null}
    if len(a) < cfg["min_n"] or len(b) < cfg["min_n"]:
        row.update(estimate=np.nan, ci_low=np.nan, ci_high=np.nan, verdict="too_few",
                   value_loyal=np.nan if not len(a) else _one(a, kind),
                   value_young=np.nan if not len(b) else _one(b, kind), effect_size=np.nan, p_value=np.nan)
        return row
    est = float(_statistic(kind)(a, b))
    lo, hi = _bootstrap(a, b, kind, cfg, claim)
    delta, p = _cliffs_delta(a, b)
    row.update(estimate=est, ci_low=lo, ci_high=hi, value_loyal=_one(a, kind), value_young=_one(b, kind),
               effect_size=delta, p_value=p, verdict=_verdict(lo, hi, direction, null))
    return row


def _one(x, kind):
    return float(np.median(x) if kind == "median" else np.mean(x))


def claims(frame: pd.DataFrame, first_year: pd.DataFrame | None = None,
           recommendation: pd.DataFrame | None = None, config=None) -> pd.DataFrame:
    """Test each loyalty claim: loyal vs young customers, effect size, interval and verdict.

    Parameters
    ----------
    frame : DataFrame
        Output of :func:`loyalty_frame` (uses ``group`` and the measure columns).
    first_year : DataFrame, optional
        Output of :func:`first_year_margins` (the new customers; the kept ones are the rows of
        ``frame`` with ``kept``), or of :func:`bestandlib.concepts.kept_and_new_margins` (both
        samples, column ``kind``); adds the "1 kept = N new" row, the N of
        :func:`bestandlib.concepts.kept_vs_new` with a bootstrap interval.
    recommendation : DataFrame, optional
        One row per respondent with ``customer_id`` and ``nps_score`` (+100 promoter, 0 passive,
        -100 detractor), e.g. from :func:`bestandlib.voice.latest_responses`; adds the
        recommendation row (NPS difference loyal - young in points).
    config : dict, str or None
        Full configuration; uses ``config["loyalty"]``.

    Returns
    -------
    DataFrame
        :data:`TABLE_COLUMNS`. ``estimate`` is the relative difference loyal / young - 1 for the four
        customer measures, the NPS difference in points for the recommendation and the ratio N for
        ``kept_vs_new``; ``ci_low``/``ci_high`` its bootstrap interval; ``verdict`` a key of
        :data:`VERDICTS` (sentences in words: :func:`sentences`).
    """
    cfg = settings(config)
    loyal, young = frame[frame["group"] == "loyal"], frame[frame["group"] == "young"]
    rows = [_compare(c, m, loyal[m], young[m], kind, d, cfg) for c, (m, kind, d) in CLAIMS.items()]
    if recommendation is not None and len(recommendation):
        r = recommendation[["customer_id", "nps_score"]].astype({"customer_id": str}).merge(
            frame[["customer_id", "group"]], on="customer_id")
        rows.append(_compare("recommendation", "nps", r.loc[r["group"] == "loyal", "nps_score"],
                             r.loc[r["group"] == "young", "nps_score"], "difference", 1, cfg))
    if first_year is not None:
        if "kind" in first_year.columns:
            kept = first_year.loc[first_year["kind"] == "kept", "margin"]
            new = first_year.loc[first_year["kind"] == "new", "margin"]
        elif "kept" in frame.columns:
            kept, new = frame.loc[frame["kept"].astype(bool), "margin_12m"], first_year["first_year_margin"]
        else:
            raise BestandError("claims: the kept customers of '1 kept = N new' are missing; pass the frame "
                               "of loyalty_frame (column kept) or concepts.kept_and_new_margins as first_year.")
        row = _compare("kept_vs_new", "margin_ratio", kept, new, "ratio", 1, cfg, null=1.0)
        row["n_young"] = int(new.notna().sum())
        row["value_loyal"] = float(kept.mean()) if len(kept) else np.nan
        row["value_young"] = float(new.mean()) if len(new) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)[TABLE_COLUMNS]


def tested_claims(frame: pd.DataFrame, panel: pd.DataFrame, quarter, facts,
                  recommendation: pd.DataFrame | None = None, config=None) -> pd.DataFrame:
    """:func:`claims` for the report page: the claims the data can test, "1 kept = N new" included.

    ``facts`` (:class:`bestandlib.needs.Facts`) decides which claims are left out
    (:func:`unsupported_claims`: without contacts, margins or product groups their rows would compare
    zeros); the new customers of "1 kept = N new" come from :func:`first_year_margins` of ``panel``.
    """
    out = claims(frame, first_year_margins(panel, quarter, config), recommendation, config=config)
    return out[~out["claim"].isin(unsupported_claims(facts))].reset_index(drop=True)


def _fmt_value(x, measure, lang):
    if measure == "margin_rate":
        return i18n.fmt_pct(x, lang, 1)
    if measure in ("product_groups_12m", "order_gap_cv", "cost_to_serve"):
        return i18n.fmt_number(x, lang, 2)
    if measure == "nps":
        return i18n.fmt_number(x, lang, 0)
    return i18n.fmt_number(x, lang, 1)


def _years(quarters: int, lang: str) -> str:
    return i18n.fmt_number(quarters / 4, lang, 0 if quarters % 4 == 0 else 1)


def sentence(row, lang: str = "de", config=None) -> str:
    """One plain line for a row of :func:`claims`, in ``lang``, built from the numbers of the row.

    ``row`` is a mapping or named tuple with the :data:`TABLE_COLUMNS`; the texts are catalogue
    templates (``loy_sentence*`` in ``bestandlib/locale/<lang>/loyalty.yml``).
    """
    r = pd.Series(row._asdict() if hasattr(row, "_asdict") else dict(row))
    cfg = settings(config)
    cmp_ = cfg["compare"]
    num = lambda x, d: i18n.fmt_number(x, lang, d)  # noqa: E731
    f = {"claim": i18n.t(f"loy_claim_{r['claim']}", lang), "verdict": i18n.t(f"loy_verdict_{r['verdict']}", lang),
         "n_loyal": num(r["n_loyal"], 0), "n_young": num(r["n_young"], 0),
         "level": int(round(float(cfg["confidence_level"]) * 100))}
    if r["verdict"] == "too_few":
        key = "loy_sentence_kept_too_few" if r["claim"] == "kept_vs_new" else "loy_sentence_too_few"
        return i18n.t(key, lang, measure=i18n.t(f"loy_measure_{r['measure']}", lang), **f)
    if r["claim"] == "kept_vs_new":
        return i18n.t("loy_sentence_kept", lang, n=num(r["estimate"], 1), kept=i18n.fmt_money(r["value_loyal"], lang),
                      new=i18n.fmt_money(r["value_young"], lang), ci_low=num(r["ci_low"], 1),
                      ci_high=num(r["ci_high"], 1), **f)
    f.update(measure=i18n.t(f"loy_measure_{r['measure']}", lang), loyal_years=_years(cmp_["loyal_min_quarters"], lang),
             young_from=_years(cmp_["young_min_quarters"], lang), young_to=_years(cmp_["young_max_quarters"], lang),
             loyal_value=_fmt_value(r["value_loyal"], r["measure"], lang),
             young_value=_fmt_value(r["value_young"], r["measure"], lang))
    if r["statistic"] == "difference":  # NPS points
        sign = "+" if r["estimate"] > 0 else ""
        return i18n.t("loy_sentence_points", lang, diff=sign + num(r["estimate"], 0), ci_low=num(r["ci_low"], 0),
                      ci_high=num(r["ci_high"], 0), **f)
    return i18n.t("loy_sentence", lang, statistic=i18n.t(f"loy_statistic_{r['statistic']}", lang),
                  diff=i18n.fmt_change(r["estimate"], lang, 0), ci_low=i18n.fmt_change(r["ci_low"], lang, 0),
                  ci_high=i18n.fmt_change(r["ci_high"], lang, 0), **f)


def sentences(table: pd.DataFrame, lang: str = "de", config=None, skip=()) -> list[str]:
    """:func:`sentence` for each row of ``table`` (output of :func:`claims`), claims in ``skip`` left out.

    Page 07 offers the management page the claims without ``kept_vs_new``: "1 kept = N new" is
    highlighted once, on the retention page (notebook 06, the same N from
    :func:`bestandlib.concepts.kept_vs_new`); on page 07 it stays in the list with its interval.
    """
    return [sentence(r, lang, config) for r in table.itertuples(index=False) if r.claim not in set(skip)]


# --------------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------------
def _ax(ax, size=(8, 4)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=size)
    return ax


_COLOURS = {"supported": "#1b7837", "contradicted": "#b2182b", "not_shown": "#8c8c8c", "too_few": "#cccccc"}


def plot_claims(table: pd.DataFrame, ax=None, lang: str = "de"):
    """Forest plot of the relative differences loyal vs young (claims measured in % only).

    Dots are the estimates, bars the intervals, colour the verdict; the dashed line is "no difference".
    """
    ax = _ax(ax)
    t = table[table["claim"].isin(list(CLAIMS))].reset_index(drop=True)
    y = np.arange(len(t))[::-1]
    for yi, r in zip(y, t.itertuples()):
        c = _COLOURS[r.verdict]
        if np.isfinite(r.ci_low):
            ax.plot([r.ci_low * 100, r.ci_high * 100], [yi, yi], color=c, lw=3, solid_capstyle="round")
        ax.plot([r.estimate * 100], [yi], "o", color=c, ms=8)
    ax.axvline(0, color="black", ls="--", lw=1)
    ax.set_yticks(y, [f"{i18n.t(f'loy_claim_{c}', lang)}\n({i18n.t(f'loy_verdict_{v}', lang)})"
                      for c, v in zip(t["claim"], t["verdict"])])
    ax.set_xlabel(i18n.t("loy_axis_difference", lang))
    return ax


def plot_profile(prof: pd.DataFrame, measure: str, by: str = "tenure_band", ax=None, lang: str = "de"):
    """Bars of one measure per tenure band (or phase), from :func:`profile`."""
    ax = _ax(ax, (6, 3.5))
    ax.bar(prof[by].astype(str), prof[measure], color="#2166ac")
    label = i18n.t(f"loy_measure_{measure}", lang) if i18n.has(f"loy_measure_{measure}", lang) else measure
    ax.set_ylabel(label)
    ax.set_xlabel(i18n.t("loy_tenure_band" if by == "tenure_band" else "loy_phase", lang))
    if measure == "margin_rate":
        from matplotlib.ticker import PercentFormatter

        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    return ax


#: What each claim measures with, beyond orders: (tables of which at least one must be present,
#: "table.column" that must hold values). Read by :func:`unsupported_claims`.
CLAIM_DATA = {
    "cost_to_serve": (("contacts", "complaints"), ()),
    "margin": ((), ("orders.contribution_margin",)),
    "breadth": ((), ("orders.product_group",)),
    "kept_vs_new": ((), ("orders.contribution_margin",)),
}


def unsupported_claims(facts) -> list[str]:
    """Claims the data cannot test (:class:`bestandlib.needs.Facts`): cost to serve without contacts
    or complaints, prices and "1 kept = N new" without contribution margins, breadth without product
    groups. Their rows would compare zeros, so the page leaves them out."""
    from bestandlib.needs import measurable

    return [claim for claim, (tables, columns) in CLAIM_DATA.items()
            if not measurable(facts, tables, columns)]


#: The measures of :func:`profile` and what they are measured with beyond orders (as :data:`CLAIM_DATA`).
MEASURE_DATA = {
    "margin_12m": ((), ("orders.contribution_margin",)),
    "margin_rate": ((), ("orders.contribution_margin",)),
    "cost_to_serve": (("contacts", "complaints"), ()),
    "contacts_per_keur": (("contacts",), ()),
    "complaints_per_keur": (("complaints",), ()),
    "product_groups_12m": ((), ("orders.product_group",)),
}


def unsupported_measures(facts) -> list[str]:
    """Measures of :func:`profile` the data cannot measure (they would show zeros), e.g. the cost to
    serve without contacts and complaints; the page leaves those columns and plots out."""
    from bestandlib.needs import measurable

    return [measure for measure, (tables, columns) in MEASURE_DATA.items()
            if not measurable(facts, tables, columns)]


def measured_profile(frame: pd.DataFrame, by: str = "tenure_band", facts=None) -> pd.DataFrame:
    """:func:`profile` without the measures the data cannot measure (:func:`unsupported_measures` of
    ``facts``; ``None`` keeps all): their columns would show zeros."""
    drop = unsupported_measures(facts) if facts is not None else []
    return profile(frame, by).drop(columns=drop, errors="ignore")


def plot_profiles(prof: pd.DataFrame, by: str = "tenure_band", lang: str = "de"):
    """One bar chart per measure of :data:`PROFILE_PLOTS` that ``prof`` has (output of
    :func:`measured_profile`), side by side; returns the figure (``None`` without any measure)."""
    import matplotlib.pyplot as plt

    shown = [m for m in PROFILE_PLOTS if m in prof.columns]
    if not shown:
        return None
    fig, axes = plt.subplots(1, len(shown), figsize=(4.5 * len(shown), 3.6), squeeze=False)
    for ax, m in zip(axes[0], shown):
        plot_profile(prof, m, by=by, ax=ax, lang=lang)
        ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    return fig
