"""Revenue vs potential: a test of the claim "customers with more revenue have more potential".

The seed article claims that customers with more revenue have more *additional* potential, and that
this held in several sub-studies. Sales management asks whether a customer's trailing-12-month
revenue goes with its assessed potential, overall and within business units, regions and segments.
Two measures are tested:

``total_potential``
    the potential the sales staff assessed (EUR per year);
``additional_potential``
    potential - revenue, what is still to be won.

The verdict answers the claim
-----------------------------
For each measure the verdict is ``positive`` only when all of these hold:

* Spearman's rho of revenue with the measure is above 0,
* its bootstrap interval (``stats.confidence_level``) lies entirely above 0, and
* a one-sided test of rho against 0 is significant at ``stats.alpha`` after the multiple-testing
  correction (``stats.correction``: Holm by default, or Benjamini-Hochberg) across the sub-studies of
  that measure. The all-customers row is a family of its own (one test per measure).

Otherwise the verdict is ``not shown``; groups with fewer than ``stats.min_n`` assessed customers are
``too small`` and not tested. A clearly *negative* rho (interval below 0) is also ``not shown``: it is
no evidence for "more revenue, more potential". The sentence then says the relation is negative, and
for the additional potential that this is what the arithmetic potential - revenue gives.

The test of rho against 0 is a permutation test of independence: the measure is shuffled across
customers against revenue, p = (1 + #{shuffled rho >= observed rho}) / (1 + #shuffles). It is exact
under independence at every n, with ties, zeros and heavy tails (Phipson & Smyth 2010), and its
counted tail gives the small p-values a Holm correction needs, where the textbook p-value
(``p_naive``, a Student-t approximation, two-sided) relies on an approximation's extreme tail. It
costs one gather and one dot product per shuffle (revenue and the measure are ranked once). The
interval condition guards against a measure that depends on revenue without a positive trend (for
instance a spread that grows with revenue), where a test of independence alone could reject; with
a 95 % interval it is the stricter condition on the all-customers row (about a one-sided test at
2.5 %), so the verdict's error rate is below ``alpha``.

Mathematical coupling: a secondary comparison, never the verdict
----------------------------------------------------------------
The additional potential contains revenue with a minus sign. Even when revenue and potential have
nothing to do with each other, customers with high revenue have, by arithmetic alone, less potential
left: rho of revenue with (potential - revenue) is clearly negative on independent data. The mirror
case: where staff assess the *remaining* potential (``stats.assessed: additional_potential``) and the
total is revenue + remaining, the total contains revenue with a plus sign and is positively related
to revenue by arithmetic: a ``positive`` verdict for the total potential is then true but says no
more than the addition.

Each row therefore also compares rho with what the arithmetic alone gives: a permutation test that
shuffles the *independently assessed quantity* across customers (keeping both distributions and
breaking only the link), rebuilds the coupled measure and recomputes rho. ``null_estimate`` is the
centre of that distribution (about 0 for an uncoupled measure, about -0.4 for the additional
potential of independent lognormal data), ``p_vs_arithmetic`` the two-sided p-value against it
(corrected like the verdict's p-value: ``p_vs_arithmetic_adjusted``), and ``vs_arithmetic`` says
``above``, ``as expected`` or ``below``. The sentences report it as "stronger than the arithmetic
alone would give" or "no stronger than the arithmetic alone gives". A relation above the arithmetic
with rho still <= 0 is not the claim: the additional potential of high-revenue customers is then
smaller than arithmetic predicts, but not larger than that of low-revenue customers.

Simulation (``tests/test_stats.py``, seeded; alpha = 0.05, 95 % BCa intervals, 499 resamples)
---------------------------------------------------------------------------------------------
Share of data sets with the verdict ``positive`` on the all-customers row, where the claim is false:
n = 100 customers, 400 data sets per design (Monte-Carlo standard error 0.011 at 0.05; the test
allows alpha + 3 standard errors = 0.083):

===============================================  ==========  =============
design                                           additional  total
===============================================  ==========  =============
(a) total potential independent of revenue       0.000       0.040
(b) remaining potential independent of revenue   0.028       1.000 (true)
===============================================  ==========  =============

Design (a) mixes lognormal data, Pareto tails, and rounded values with zeros and credit notes.

In design (b) the total potential *is* larger for high-revenue customers (it contains revenue), so
``positive`` is correct there; the honest question for it is the secondary one, and "above the
arithmetic" came out at 0.030 (additional potential 0.028; design (a): total 0.038, additional
0.023). Sub-studies (three frames of 190 customers with 7 sub-studies each, default configuration):
"not shown" in 21 of 21 additional-potential sub-studies in both designs; in design (b), where the
default ``assessed: total_potential`` is the wrong assumption, all 21 lie "above the arithmetic",
which the verdict before issue 16 reported as ``positive``.
Power of the verdict for a planted Spearman correlation between revenue and the additional potential
(design (b), n = 200, 200 data sets each): 0.29 at rho = 0.1, 0.82 at 0.2, 0.995 at 0.3; the
two-sided Fisher-z formula of :func:`spearman_power` predicts 0.29, 0.81 and 0.99.

Effect size and intervals
-------------------------
Spearman's rho (rank correlation: robust to the heavy tails of revenue and potential, and to zeros),
Kendall's tau-b, bootstrap intervals for rho (scipy.stats.bootstrap, BCa by default), a robust
log-log slope (Theil-Sen, scipy.stats.theilslopes) and, per sub-study, the smallest correlation it
could detect with 80 % power (Fisher z with the Bonett-Wright variance for Spearman's rho).
Sub-studies are corrected for multiple testing with Holm or Benjamini-Hochberg (statsmodels), one
family per measure.

Run time and large data
-----------------------
Revenue and the measure are sorted once. A bootstrap resample (scipy's own draws of customer
indices) is ranked by counting how often each customer was drawn (:class:`_TieGroups`), not by
sorting it again; a shuffle of an uncoupled measure is a gather and a dot product, a coupled one one
``argsort`` per row whose ranks are dotted in sorted order. Above ``stats.max_customers`` customers
(default 3,000; the demo is never sampled) the tests run on a seeded random sample of that many
customers (:func:`sample_customers`), and the page says so (:func:`sample_sentence`).
"""
from __future__ import annotations

import math
import warnings
import zlib

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sps
from scipy.special import ndtr, ndtri
from statsmodels.stats.multitest import multipletests

from bestandlib import i18n, periods
from bestandlib.errors import BestandError, ConfigError

__all__ = [
    "MEASURES",
    "VERDICTS",
    "settings",
    "sample_customers",
    "sample_sentence",
    "customer_frame",
    "association",
    "permutation_null",
    "permutation_test",
    "independence_test",
    "simulated_detectable_effect",
    "spearman_power",
    "detectable_effect",
    "substudies",
    "correct",
    "over_time",
    "result_sentence",
    "plot_forest",
    "plot_over_time",
    "plot_scatter",
]

MEASURES = ("total_potential", "additional_potential")
VERDICTS = ("positive", "not shown", "too small")
# How rho compares with what the arithmetic coupling alone gives (the secondary comparison).
VS_ARITHMETIC = ("above", "as expected", "below")
GROUP_COLUMNS = ("business_unit", "region", "segment")
CORRECTIONS = ("holm", "fdr_bh")
CI_METHODS = ("BCa", "percentile")

# Work arrays of permutations/bootstrap resamples are built in batches of about this many cells
# (2e6 float64 = 16 MB), so 20,000 customers do not need gigabytes.
_BATCH_CELLS = 2_000_000
# BCa needs a jackknife: n resamples of n-1 customers, i.e. n^2 work (seconds at 2,000 customers,
# minutes at 20,000). Its bias and skew correction matters in small samples; above this n the
# sampling distribution of rho is close to normal and the percentile interval agrees with it.
_BCA_MAX_N = 1_000
# Theil-Sen looks at all n^2/2 pairs; above this n a seeded random subsample is used (its interval
# is then honestly wider, never too narrow).
_SLOPE_MAX_N = 3_000
# Kendall's tau: variance of Fisher's z of tau-b, 0.437 / (n - 4) (Fieller, Hartley & Pearson 1957,
# Biometrika 44, 470-481).
_KENDALL_Z_VAR = 0.437

_RESULT_COLUMNS = [
    "dimension", "group", "measure", "n", "n_excluded", "estimate", "ci_low", "ci_high", "p_value",
    "p_adjusted", "verdict", "null_estimate", "p_vs_arithmetic", "p_vs_arithmetic_adjusted",
    "vs_arithmetic", "mde_80", "kendall", "kendall_ci_low", "kendall_ci_high", "p_naive", "slope",
    "slope_low", "slope_high", "n_slope", "coupled", "correction", "ci_method", "n_resamples",
    "n_permutations",
]

# Texts live in the text catalogues bestandlib/locale/<lang>/potential.yml: values of the result table
# (``dimension_<d>``, ``loy_measure_<m>``, ``loy_verdict_<v>``, ``vs_arithmetic_<v>``, ``correction_<c>``),
# plot labels (``stats_*``) and the sentence templates (``stats_*``).
_PREFIX = {"all": "dimension_", "business_unit": "dimension_", "region": "dimension_", "segment": "dimension_",
           "total_potential": "loy_measure_", "additional_potential": "loy_measure_",
           "positive": "loy_verdict_", "not shown": "loy_verdict_", "too small": "loy_verdict_",
           "holm": "correction_", "fdr_bh": "correction_"}


def _t(key: str, lang: str, **fields) -> str:
    """The catalogue text of a value of the result table (or of a ``stats_*`` key), else the key."""
    name = _PREFIX.get(key, "stats_") + str(key)
    return i18n.t(name, i18n.check_lang(lang), **fields) if i18n.has(name, lang) else str(key)


# --------------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------------
def settings(config=None) -> dict:
    """The ``stats`` section of the configuration, checked.

    Parameters
    ----------
    config : None, dict or path
        ``None`` for the documented defaults, a full config dict, a dict with only a ``stats``
        section, or the path of a YAML file (merged over the defaults).

    Raises
    ------
    ConfigError
        When a value is out of range; the message names the key.
    """
    from bestandlib.config import ensure_config

    s = dict(ensure_config(config)["stats"])

    def bad(key, why):
        raise ConfigError(f"stats.{key}: {why} (got {s.get(key)!r})")

    if not s.get("measures") or any(m not in MEASURES for m in s["measures"]):
        bad("measures", f"a list of {', '.join(MEASURES)}")
    if s.get("assessed") not in MEASURES:
        bad("assessed", f"one of {', '.join(MEASURES)}")
    if not isinstance(s.get("groups"), (list, tuple)) or not all(isinstance(g, str) for g in s["groups"]):
        bad("groups", "a list of customer column names")
    if not isinstance(s.get("min_n"), int) or s["min_n"] < 5:
        bad("min_n", "a whole number of at least 5")
    for key in ("alpha", "power", "confidence_level"):
        if not isinstance(s.get(key), (int, float)) or not 0 < s[key] < 1:
            bad(key, "a number between 0 and 1")
    if s.get("correction") not in CORRECTIONS:
        bad("correction", f"one of {', '.join(CORRECTIONS)}")
    if not isinstance(s.get("n_resamples"), int) or s["n_resamples"] < 2000:
        bad("n_resamples", "a whole number of at least 2000 (fewer makes p-values and intervals coarse)")
    if not isinstance(s.get("seed"), int):
        bad("seed", "a whole number")
    if s.get("ci_method") not in CI_METHODS:
        bad("ci_method", f"one of {', '.join(CI_METHODS)}")
    if not isinstance(s.get("quarters"), int) or s["quarters"] < 1:
        bad("quarters", "a whole number of at least 1")
    if not isinstance(s.get("trend_resamples"), int) or s["trend_resamples"] < 200:
        bad("trend_resamples", "a whole number of at least 200")
    if not isinstance(s.get("max_customers"), int) or s["max_customers"] < 1000:
        bad("max_customers", "a whole number of at least 1000")
    return s


def sample_customers(frame: pd.DataFrame, config=None, *, seed: int | None = None) -> pd.DataFrame:
    """``frame``, or a seeded random sample of ``stats.max_customers`` of its customers (rows).

    The permutation tests and bootstrap intervals cost resamples x customers; above
    ``stats.max_customers`` (default 3,000: the demo's ~2,000 customers are never sampled) they run on
    a simple random sample of the customers, drawn with the configured seed (the same data give the
    same sample). Spearman's rho, its interval and the tests are then estimates from that sample:
    at 3,000 customers the standard error of rho is below 0.02, and the sub-studies are the groups
    within the sample. The sample keeps the frame's order; ``attrs["customers_total"]`` holds the
    number of customers before sampling (:func:`sample_sentence` says it on the page).
    """
    s = settings(config)
    return _sample(frame, s["max_customers"], s["seed"] if seed is None else int(seed))


def _sample(frame: pd.DataFrame, max_customers: int, seed: int) -> pd.DataFrame:
    total = len(frame)
    if total <= max_customers:
        out = frame.copy(deep=False)
    else:
        rng = np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(b"sample_customers")]))
        pick = np.sort(rng.choice(total, max_customers, replace=False))
        out = frame.iloc[pick].copy()
    out.attrs["customers_total"] = total
    return out


def sample_sentence(result: pd.DataFrame, lang: str) -> str:
    """The page's sentence that the tests ran on a random sample (empty when all customers were used)."""
    sample = result.attrs.get("sample")
    if not sample or sample["n"] >= sample["of"]:
        return ""
    return i18n.t("stats_sampled", i18n.check_lang(lang), n=i18n.fmt_number(sample["n"], lang),
                  total=i18n.fmt_number(sample["of"], lang))


# --------------------------------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------------------------------
def customer_frame(panel: pd.DataFrame, potentials: pd.DataFrame | None, customers: pd.DataFrame,
                   quarter) -> pd.DataFrame:
    """The per-customer input of the tests at the end of ``quarter``.

    Delegates to :func:`bestandlib.valuation.customer_frame`, so the tests look at exactly the
    customers the valuation shows (active in the trailing four quarters), with the latest potential
    assessment dated on or before the quarter end.

    Returns
    -------
    DataFrame
        ``customer_id, quarter, revenue_12m, potential, assessed_on, business_unit, region,
        segment``; ``potential`` is NaN for customers without an assessment (the tests leave them
        out and count them in ``n_excluded``).
    """
    from bestandlib import valuation

    frame = valuation.customer_frame(panel, customers, potentials, quarter)
    cols = ["customer_id", "quarter", "revenue_12m", "potential", "assessed_on", *GROUP_COLUMNS]
    for c in cols:
        if c not in frame.columns:
            frame[c] = pd.NA if c in GROUP_COLUMNS else np.nan
    return frame[cols].reset_index(drop=True)


def _pairs(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    """Revenue and potential of the customers with both values, and how many lack one."""
    missing = [c for c in ("revenue_12m", "potential") if c not in frame.columns]
    if missing:
        raise BestandError(f"The customer frame lacks the column(s) {', '.join(missing)}.")
    r = pd.to_numeric(frame["revenue_12m"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    p = pd.to_numeric(frame["potential"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    ok = np.isfinite(r) & np.isfinite(p)
    return r[ok], p[ok], int((~ok).sum())


def _check_measure(measure: str, name: str = "measure") -> None:
    if measure not in MEASURES:
        raise BestandError(f"Unknown {name} {measure!r}: use one of {', '.join(MEASURES)}.")


def _assessed_values(revenue, potential, assessed):
    """The quantity the sales staff assessed independently of revenue."""
    return potential if assessed == "total_potential" else potential - revenue


def _measure_values(revenue, assessed_values, measure, assessed):
    """The measure rebuilt from revenue and the assessed quantity (broadcasts over resample rows)."""
    if measure == assessed:
        return assessed_values
    if measure == "additional_potential":  # assessed total: additional = total - revenue
        return assessed_values - revenue
    return assessed_values + revenue  # assessed remaining: total = revenue + remaining


# --------------------------------------------------------------------------------------------------
# vectorised rank statistics
# --------------------------------------------------------------------------------------------------
def _rank_rows(x) -> np.ndarray:
    """Ranks along the last axis, ties sharing their mean rank (as ``scipy.stats.rankdata``).

    Written here because ``rankdata`` on a 2-D array of permuted or bootstrapped rows is about five
    times slower than one sort; this ranks a whole matrix with one ``argsort``. The tests compare it
    with ``scipy.stats.rankdata``.
    """
    x = np.asarray(x, dtype=float)
    shape = x.shape
    n = shape[-1]
    x2 = x.reshape(-1, n)
    m = x2.shape[0]
    order = np.argsort(x2, axis=1)
    s = np.take_along_axis(x2, order, axis=1)
    new = np.empty(s.shape, dtype=bool)  # True where a run of equal values starts
    new[:, 0] = True
    np.not_equal(s[:, 1:], s[:, :-1], out=new[:, 1:])
    pos = np.arange(n, dtype=float)
    if new.all():
        sorted_ranks = np.broadcast_to(pos + 1, s.shape)
    else:
        # A tied value gets the mean of its run's first and last position (+1: ranks start at 1).
        first = np.maximum.accumulate(np.where(new, pos, 0.0), axis=1)
        ends = np.empty_like(new)
        ends[:, -1] = True
        ends[:, :-1] = new[:, 1:]
        last = np.minimum.accumulate(np.where(ends, pos, n - 1.0)[:, ::-1], axis=1)[:, ::-1]
        sorted_ranks = (first + last) / 2 + 1
    ranked = np.empty(m * n)
    ranked[(order + (np.arange(m) * n)[:, None]).ravel()] = np.ravel(sorted_ranks)
    return ranked.reshape(shape)


def _pearson_rows(a, b) -> np.ndarray:
    """Pearson correlation along the last axis (NaN where one side is constant)."""
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(axis=-1) / np.where(den > 0, den, 1.0), np.nan)


def _spearman_rows(x, y) -> np.ndarray:
    return _pearson_rows(_rank_rows(x), _rank_rows(y))


def _rank_dot_rows(values, rc) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``values``: the dot product of its (mid)ranks with ``rc`` and the norm of its centred ranks.

    The Pearson correlation of a row's ranks with the centred ranks ``rc`` of a fixed vector is
    ``dot / (norm * |rc|)``. Computed from one ``argsort`` per row without scattering the ranks back
    to customer order: ``sum_i rank_i rc_i = sum_k sorted_rank_k rc[order_k]``. Rows without ties (the
    usual case) have the ranks 1..n in sorted order; only rows with ties get mean ranks.
    """
    v = np.asarray(values, dtype=float)
    m, n = v.shape
    order = np.argsort(v, axis=1)
    rc_sorted = rc[order]
    pos = np.arange(1, n + 1, dtype=float)
    s = np.take_along_axis(v, order, axis=1)
    tied = (s[:, 1:] == s[:, :-1]).any(axis=1)
    dot = rc_sorted @ pos
    mean = (n + 1) / 2
    norm = np.full(m, math.sqrt(((pos - mean) ** 2).sum()))
    if tied.any():
        ranks = _sorted_midranks(s[tied])
        dot[tied] = (rc_sorted[tied] * ranks).sum(axis=1)
        norm[tied] = np.sqrt(((ranks - mean) ** 2).sum(axis=1))
    return dot, norm


def _sorted_midranks(s) -> np.ndarray:
    """Mean ranks (from 1) of rows that are already sorted, ties sharing their run's mean rank."""
    k, n = s.shape
    new = np.empty(s.shape, dtype=bool)
    new[:, 0] = True
    np.not_equal(s[:, 1:], s[:, :-1], out=new[:, 1:])
    pos = np.arange(n, dtype=float)
    first = np.maximum.accumulate(np.where(new, pos, 0.0), axis=1)
    ends = np.empty_like(new)
    ends[:, -1] = True
    ends[:, :-1] = new[:, 1:]
    last = np.minimum.accumulate(np.where(ends, pos, n - 1.0)[:, ::-1], axis=1)[:, ::-1]
    return (first + last) / 2 + 1


class _TieGroups:
    """A fixed vector sorted once, for ranking its bootstrap resamples by counting instead of sorting.

    A bootstrap resample is a vector of counts (how often each customer was drawn). The mean rank of
    customer i's value within the resample is ``#drawn below + (#drawn equal + 1) / 2``, a cumulative
    sum of the counts in the vector's sorted order; tied values form one group. So a matrix of
    resamples is ranked with one gather and one cumulative sum per row, no ``argsort``.
    """

    def __init__(self, x):
        x = np.asarray(x, dtype=float)
        self.order = np.argsort(x, kind="stable")
        s = x[self.order]
        new = np.ones(len(s), dtype=bool)
        new[1:] = s[1:] != s[:-1]
        self.starts = np.flatnonzero(new)
        self.ties = len(self.starts) < len(s)
        group_sorted = np.cumsum(new) - 1
        self.group = np.empty(len(s), dtype=np.intp)
        self.group[self.order] = group_sorted

    def midranks(self, counts) -> np.ndarray:
        """Mean ranks within each resample (rows of ``counts``), per customer in the original order."""
        g = counts[:, self.order]
        if self.ties:
            g = np.add.reduceat(g, self.starts, axis=1)
        mid = np.cumsum(g, axis=1) - g / 2 + 0.5
        return mid[:, self.group]


def _resampled_spearman(idx, gx: _TieGroups, gy: _TieGroups, n: int) -> np.ndarray:
    """Spearman's rho of each resample of customers (rows of indices ``idx``), ranks by counting.

    Equals ``_spearman_rows(x[idx], y[idx])`` (the resample re-ranked) up to rounding, in a fraction
    of the time: a customer drawn k times enters the weighted sums with weight k.
    """
    idx = np.asarray(idx)
    one = idx.ndim == 1
    idx = np.atleast_2d(idx)
    b, k = idx.shape
    counts = np.bincount((idx + (np.arange(b) * n)[:, None]).ravel(), minlength=b * n)
    counts = counts.reshape(b, n).astype(float)
    mean = (k + 1) / 2
    dx = gx.midranks(counts) - mean
    dy = gy.midranks(counts) - mean
    wdx = counts * dx
    cov = (wdx * dy).sum(axis=1)
    den = np.sqrt((wdx * dx).sum(axis=1) * (counts * dy * dy).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(den > 0, cov / np.where(den > 0, den, 1.0), np.nan)
    return rho[0] if one else rho


def permutation_null(revenue, assessed_values, measure="total_potential", assessed="total_potential",
                     n_resamples=2000, rng=None) -> np.ndarray:
    """Spearman's rho of revenue with the measure when the assessed quantity is shuffled.

    The null hypothesis is "revenue and the independently assessed quantity are unrelated". Each
    resample permutes the assessed values across customers, rebuilds the (possibly coupled) measure
    from them and the customers' own revenue, and correlates. Revenue is ranked once; for an uncoupled
    measure the assessed values are ranked once too and a resample is a gather plus a dot product.
    A coupled measure must be re-ranked per resample (one ``argsort`` per batch of rows).

    Returns
    -------
    ndarray of shape (n_resamples,)
    """
    r = np.asarray(revenue, dtype=float)
    q = np.asarray(assessed_values, dtype=float)
    n = len(r)
    rng = np.random.default_rng(rng)
    rc = _rank_rows(r)
    rc = rc - rc.mean()
    rc_norm = np.sqrt(rc @ rc)
    coupled = measure != assessed
    if not coupled:
        qc = _rank_rows(q)
        qc = qc - qc.mean()
        den = rc_norm * np.sqrt(qc @ qc)
    null = np.empty(n_resamples)
    batch = max(1, _BATCH_CELLS // max(n, 1))
    for start in range(0, n_resamples, batch):
        b = min(batch, n_resamples - start)
        idx = rng.permuted(np.broadcast_to(np.arange(n), (b, n)), axis=1)
        if not coupled:
            null[start:start + b] = (qc[idx] @ rc) / den if den > 0 else np.nan
        else:
            dot, norm = _rank_dot_rows(_measure_values(r, q[idx], measure, assessed), rc)
            d = norm * rc_norm
            with np.errstate(invalid="ignore", divide="ignore"):
                null[start:start + b] = np.where(d > 0, dot / np.where(d > 0, d, 1.0), np.nan)
    return null


def _permutation_p(observed: float, null: np.ndarray) -> tuple[float, int]:
    """Two-sided permutation p-value for a null distribution that need not be symmetric.

    Twice the smaller tail, each tail counted with the observed value included (+1 in numerator and
    denominator: a randomised permutation test is then exact, never anti-conservative; Phipson &
    Smyth 2010). Statistics equal up to rounding count as ties, as in scipy.stats.permutation_test.
    Returns the p-value and the direction of the deviation (+1 above, -1 below the null).
    """
    null = null[np.isfinite(null)]
    if not np.isfinite(observed) or len(null) == 0:
        return np.nan, 0
    tol = 1e-12 * max(1.0, abs(observed))
    greater = (1 + np.sum(null >= observed - tol)) / (len(null) + 1)
    less = (1 + np.sum(null <= observed + tol)) / (len(null) + 1)
    direction = 1 if greater < less else (-1 if less < greater else 0)
    return float(min(1.0, 2 * min(greater, less))), direction


def _one_sided_p(observed: float, null: np.ndarray) -> float:
    """One-sided permutation p-value for "larger than the null": (1 + #{null >= observed}) / (1 + B).

    Counted with the observed value included (exact, never anti-conservative; Phipson & Smyth
    2010), ties up to rounding as in :func:`_permutation_p`.
    """
    null = null[np.isfinite(null)]
    if not np.isfinite(observed) or len(null) == 0:
        return np.nan
    tol = 1e-12 * max(1.0, abs(observed))
    return float((1 + np.sum(null >= observed - tol)) / (len(null) + 1))


def independence_test(revenue, values, n_resamples: int = 2000, seed=None) -> dict:
    """The verdict's test: is Spearman's rho of revenue with ``values`` larger than 0?

    A one-sided permutation test of independence: ``values`` (the measure, whatever it is built
    from) are shuffled across customers against revenue, and the p-value is the share of shuffles
    whose rho is at least the observed one (counted as in :func:`_one_sided_p`). Exact under
    independence; both sides are ranked once, so a shuffle is a gather and a dot product.

    Returns
    -------
    dict
        ``statistic`` (rho), ``pvalue`` (one-sided, alternative rho > 0), ``null_distribution``.
    """
    r = np.asarray(revenue, dtype=float)
    v = np.asarray(values, dtype=float)
    rho = float(_spearman_rows(r, v))
    # an uncoupled measure: permutation_null shuffles the values themselves
    null = permutation_null(r, v, "total_potential", "total_potential", n_resamples, seed)
    return {"statistic": rho, "pvalue": _one_sided_p(rho, null), "null_distribution": null}


def permutation_test(revenue, potential, measure: str = "total_potential",
                     assessed: str = "total_potential", n_resamples: int = 2000, seed=None) -> dict:
    """The coupling-aware permutation test: is rho different from what the arithmetic alone gives?

    The secondary comparison of the kit (``p_vs_arithmetic``), never its verdict: see the module
    docstring. For an uncoupled measure it is the two-sided test of rho against 0.

    Parameters
    ----------
    revenue, potential : array-like
        Per customer (no missing values): trailing-12-month revenue and the assessed total potential.
    measure, assessed : {"total_potential", "additional_potential"}
        The measure correlated with revenue and the quantity assessed independently of revenue.
    n_resamples : int
    seed : int, SeedSequence or Generator

    Returns
    -------
    dict
        ``statistic`` (Spearman's rho of revenue with the measure), ``pvalue`` (two-sided),
        ``direction`` (+1/-1/0), ``null_distribution`` (ndarray).
    """
    r = np.asarray(revenue, dtype=float)
    q = _assessed_values(r, np.asarray(potential, dtype=float), assessed)
    rho = float(_spearman_rows(r, _measure_values(r, q, measure, assessed)))
    null = permutation_null(r, q, measure, assessed, n_resamples, seed)
    pvalue, direction = _permutation_p(rho, null)
    return {"statistic": rho, "pvalue": pvalue, "direction": direction, "null_distribution": null}


# --------------------------------------------------------------------------------------------------
# power
# --------------------------------------------------------------------------------------------------
def spearman_power(rho: float, n: int, alpha: float = 0.05) -> float:
    """Power of the two-sided test of Spearman's rho = 0 when the true rank correlation is ``rho``.

    The critical value comes from the permutation null (variance 1/(n-1)); the sampling
    distribution under the alternative from Fisher's z with the Bonett-Wright variance
    (1 + rho^2/2)/(n-3) (Bonett & Wright 2000, Psychometrika 65, 23-28). Checked against simulated
    permutation tests in ``tests/test_stats.py``.
    """
    if n is None or n < 5 or not np.isfinite(rho):
        return np.nan
    c = min(ndtri(1 - alpha / 2) / math.sqrt(n - 1), 0.999999)
    z, zc = math.atanh(max(min(rho, 0.999999), -0.999999)), math.atanh(c)
    se = math.sqrt((1 + rho * rho / 2) / (n - 3))
    return float(ndtr((z - zc) / se) + ndtr((-zc - z) / se))


def detectable_effect(n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest Spearman correlation a sample of ``n`` detects with the given power.

    On the scale of the verdict, rho of revenue with the measure (either measure: the verdict's test
    shuffles the measure itself, so coupling does not change its power). A ``positive`` verdict
    needs the 95 % interval above 0, about a one-sided test at 2.5 %, which is what the two-sided
    formula of :func:`spearman_power` at alpha = 5 % describes (the other tail adds nothing). Before
    any correction for sub-studies. NaN when ``n`` is too small to reach the power even for a
    near-perfect correlation.
    """
    if n is None or n < 5 or spearman_power(0.999, n, alpha) < power:
        return np.nan
    return float(optimize.brentq(lambda r: spearman_power(r, n, alpha) - power, 1e-9, 0.999, xtol=1e-5))


def simulated_detectable_effect(revenue, assessed_values, measure, assessed="total_potential",
                                null=None, alpha: float = 0.05, power: float = 0.8, draws: int = 200,
                                rng=None) -> float:
    """The smallest relation the comparison with the arithmetic detects with the given power, by simulation.

    For the secondary comparison (``p_vs_arithmetic``) of a coupled measure; not part of the
    results table, whose ``mde_80`` is on the verdict's scale (:func:`detectable_effect`).
    A coupled measure has no textbook power formula, and its test is weaker than the direct one (the
    revenue inside the measure adds noise), so the power is simulated on the customers' own values:
    revenue and the assessed quantity are re-paired through a Gaussian copula whose Spearman
    correlation is ``rho`` (the observed values are kept, only who gets which changes), the coupled
    statistic is computed and compared with the critical values of the permutation ``null``. The
    result is the smallest ``rho`` (Spearman correlation between revenue and the assessed quantity,
    the same scale as :func:`detectable_effect`) with simulated power >= ``power``; the same normal
    draws are used for every ``rho`` so the search is monotone. NaN if even rho = 0.99 falls short.
    """
    r = np.sort(np.asarray(revenue, dtype=float))
    q = np.sort(np.asarray(assessed_values, dtype=float))
    n = len(r)
    rng = np.random.default_rng(rng)
    if null is None:
        null = permutation_null(r, q, measure, assessed, 2000, rng)
    null = null[np.isfinite(null)]
    if n < 5 or len(null) == 0:
        return np.nan
    lo, hi = np.quantile(null, [alpha / 2, 1 - alpha / 2])
    z1 = rng.standard_normal((draws, n))
    z2 = rng.standard_normal((draws, n))
    # Position of each customer's revenue in the sorted values: fixed across rho.
    r_sim = r[np.argsort(np.argsort(z1, axis=1), axis=1)]

    def power_at(rho_s):
        rho_p = 2 * math.sin(math.pi * rho_s / 6)  # Pearson of the copula for Spearman rho_s
        w = rho_p * z1 + math.sqrt(1 - rho_p * rho_p) * z2
        q_sim = q[np.argsort(np.argsort(w, axis=1), axis=1)]
        stat = _spearman_rows(r_sim, _measure_values(r_sim, q_sim, measure, assessed))
        return float(np.mean((stat <= lo) | (stat >= hi)))

    if power_at(0.99) < power:
        return np.nan
    a, b = 0.0, 0.99
    while b - a > 0.005:
        mid = (a + b) / 2
        a, b = (mid, b) if power_at(mid) < power else (a, mid)
    return float(b)


# --------------------------------------------------------------------------------------------------
# one association
# --------------------------------------------------------------------------------------------------
def association(frame: pd.DataFrame, measure: str = "total_potential", n_resamples: int = 2000,
                seed=0, *, assessed: str = "total_potential", alpha: float = 0.05, power: float = 0.8,
                ci_method: str = "BCa", confidence_level: float = 0.95, slope: bool = True,
                intervals: bool = True, mde: bool = True, n_permutations: int | None = None) -> pd.Series:
    """How revenue goes with potential across the customers of ``frame``.

    Parameters
    ----------
    frame : DataFrame
        One row per customer with ``revenue_12m`` and ``potential`` (NaN = no assessment: left out
        and counted in ``n_excluded``).
    measure : {"total_potential", "additional_potential"}
        What revenue is correlated with; ``additional_potential`` = potential - revenue_12m.
    n_resamples : int
        Resamples for the bootstrap interval, and permutations for the p-value unless
        ``n_permutations`` is given.
    seed : int, SeedSequence or Generator
        Seed of the resampling; the same seed gives the same numbers.
    assessed : {"total_potential", "additional_potential"}
        The quantity the sales staff assess independently of revenue; the permutation test shuffles
        it (see the module docstring on coupling).
    alpha, power : float
        Level and power for ``mde_80`` (see :func:`detectable_effect`).
    ci_method : {"BCa", "percentile"}
        Bootstrap interval (BCa falls back to percentile above 1,000 customers).
    confidence_level : float
    slope : bool
        Also fit the Theil-Sen log-log slope.
    intervals, mde : bool
        Compute the bootstrap interval and the smallest detectable effect (False skips them).
    n_permutations : int, optional
        Permutations for each p-value (default ``n_resamples``). The smallest possible one-sided
        p-value is 1/(n_permutations+1); :func:`substudies` raises it so a correction over many
        tests can still reach significance.

    Returns
    -------
    Series
        ``measure, n, n_excluded, spearman, ci_low, ci_high, p_value, null_estimate, null_sd,
        p_vs_arithmetic, direction_vs_arithmetic, p_naive, kendall, kendall_ci_low,
        kendall_ci_high, slope, slope_low, slope_high, n_slope, mde_80, coupled, ci_method,
        n_resamples, n_permutations``. ``p_value`` is the verdict's test: the one-sided
        permutation p-value of rho > 0 (:func:`independence_test`). ``null_estimate`` is what the
        arithmetic alone gives (the centre of the coupling-aware permutation null),
        ``p_vs_arithmetic`` the two-sided p-value against it (:func:`permutation_test`) and
        ``direction_vs_arithmetic`` +1 when rho lies above that null, -1 below. ``p_naive`` is the
        textbook two-sided p-value of rho against 0 (Student-t approximation; for reference).
        ``slope`` is the median change of log(measure) per unit of log(revenue) over the customers
        where both are positive. ``mde_80``: the smallest rho of revenue with the measure the
        verdict's test detects with ``power`` (:func:`detectable_effect`).
    """
    _check_measure(measure)
    _check_measure(assessed, "assessed quantity")
    if ci_method not in CI_METHODS:
        raise BestandError(f"Unknown interval method {ci_method!r}: use one of {', '.join(CI_METHODS)}.")
    r, p, n_excluded = _pairs(frame)
    n = len(r)
    q = _assessed_values(r, p, assessed)
    y = _measure_values(r, q, measure, assessed)
    method = ci_method if n <= _BCA_MAX_N else "percentile"
    out = {
        "measure": measure, "n": n, "n_excluded": n_excluded, "spearman": np.nan, "ci_low": np.nan,
        "ci_high": np.nan, "p_value": np.nan, "null_estimate": np.nan, "null_sd": np.nan,
        "p_vs_arithmetic": np.nan, "direction_vs_arithmetic": 0, "p_naive": np.nan, "kendall": np.nan,
        "kendall_ci_low": np.nan, "kendall_ci_high": np.nan, "slope": np.nan, "slope_low": np.nan, "slope_high": np.nan,
        "n_slope": 0, "mde_80": detectable_effect(n, alpha, power) if mde else np.nan,
        "coupled": measure != assessed,
        "ci_method": method, "n_resamples": int(n_resamples),
        "n_permutations": int(n_resamples if n_permutations is None else n_permutations),
    }
    if n < 5 or np.ptp(r) == 0 or np.ptp(y) == 0:
        return pd.Series(out, name=measure)
    rng = np.random.default_rng(seed)
    perm_rng, boot_rng, slope_rng, indep_rng = rng.spawn(4)

    rho = float(_spearman_rows(r, y))
    out["spearman"] = rho
    out["p_naive"] = float(sps.spearmanr(r, y).pvalue)
    tau = sps.kendalltau(r, y)
    out["kendall"] = float(tau.statistic)
    if n > 4 and np.isfinite(tau.statistic):
        zc = sps.norm.ppf(0.5 + confidence_level / 2) * math.sqrt(_KENDALL_Z_VAR / (n - 4))
        z = math.atanh(min(max(tau.statistic, -0.999999), 0.999999))
        out["kendall_ci_low"], out["kendall_ci_high"] = math.tanh(z - zc), math.tanh(z + zc)

    # The secondary comparison: what the arithmetic alone gives (shuffle the assessed quantity).
    null = permutation_null(r, q, measure, assessed, out["n_permutations"], perm_rng)
    out["null_estimate"] = float(np.nanmean(null))
    out["null_sd"] = float(np.nanstd(null))
    out["p_vs_arithmetic"], out["direction_vs_arithmetic"] = _permutation_p(rho, null)
    # The verdict's test: rho > 0 (shuffle the measure itself). For an uncoupled measure this is
    # the same test as above; it has its own random stream all the same, so the verdict does not
    # depend on which quantity ``assessed`` names.
    out["p_value"] = independence_test(r, y, out["n_permutations"], indep_rng)["pvalue"]

    if intervals:
        # The paired bootstrap resamples customers; scipy draws index rows, and this statistic ranks
        # each row by counting (:class:`_TieGroups`): revenue and the measure are sorted once. The
        # draws are scipy's own (paired bootstrap of 0..n-1), so the interval is that of re-ranking.
        gx, gy = _TieGroups(r), _TieGroups(y)

        def statistic(i, axis=-1):
            return _resampled_spearman(i, gx, gy, n)

        with warnings.catch_warnings():
            # Resamples with a constant column give NaN; scipy then warns and returns NaN bounds.
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", sps.DegenerateDataWarning)
            res = sps.bootstrap((np.arange(n),), statistic, paired=True, vectorized=True,
                                n_resamples=n_resamples, method=method,
                                confidence_level=confidence_level, rng=boot_rng,
                                batch=max(1, _BATCH_CELLS // n))
        out["ci_low"] = float(res.confidence_interval.low)
        out["ci_high"] = float(res.confidence_interval.high)

    if slope:
        out.update(_loglog_slope(r, y, confidence_level, slope_rng))
    return pd.Series(out, name=measure)


def _loglog_slope(r, y, confidence_level, rng) -> dict:
    """Theil-Sen slope of log(measure) on log(revenue), customers with both values positive."""
    keep = (r > 0) & (y > 0)
    x, v = np.log(r[keep]), np.log(y[keep])
    if len(x) > _SLOPE_MAX_N:
        pick = rng.choice(len(x), _SLOPE_MAX_N, replace=False)
        x, v = x[pick], v[pick]
    res = {"n_slope": int(keep.sum())}
    if len(x) >= 3 and np.ptp(x) > 0:
        ts = sps.theilslopes(v, x, alpha=confidence_level)
        res.update(slope=float(ts.slope), slope_low=float(ts.low_slope), slope_high=float(ts.high_slope))
    return res


def _verdict(p_adjusted: float, estimate: float, ci_low: float, alpha: float) -> str:
    """``positive`` when rho > 0, its interval lies above 0 and the (corrected) one-sided p <= alpha.

    Everything else, a negative rho included, is ``not shown``: the claim is "more revenue, more
    potential".
    """
    ok = all(np.isfinite(x) for x in (p_adjusted, estimate, ci_low))
    if ok and estimate > 0 and ci_low > 0 and p_adjusted <= alpha:
        return "positive"
    return "not shown"


def _vs_arithmetic(p_adjusted: float, direction: int, alpha: float):
    """``above``/``below`` the arithmetic expectation (corrected two-sided p <= alpha), else ``as expected``."""
    if not np.isfinite(p_adjusted):
        return np.nan
    if p_adjusted <= alpha and direction != 0:
        return "above" if direction > 0 else "below"
    return "as expected"


# --------------------------------------------------------------------------------------------------
# sub-studies
# --------------------------------------------------------------------------------------------------
def _seed_for(seed: int, key: str) -> np.random.SeedSequence:
    """A seed per sub-study that does not depend on which other sub-studies exist."""
    return np.random.SeedSequence([int(seed), zlib.crc32(key.encode("utf-8"))])


def _subsets(frame: pd.DataFrame, by) -> list[tuple[str, str, pd.DataFrame]]:
    out = [("all", "all", frame)]
    for dim in by:
        if dim not in frame.columns:
            raise BestandError(f"Cannot form sub-studies by {dim!r}: the customer frame has no such column.")
        levels = frame[dim].astype("string").fillna("unknown")
        for level in sorted(levels.unique()):
            out.append((dim, str(level), frame[levels == level]))
    return out


def substudies(frame: pd.DataFrame, by=None, config=None, *, n_resamples: int | None = None,
               seed: int | None = None) -> pd.DataFrame:
    """The association overall and per business unit, region and segment, for both measures.

    Parameters
    ----------
    frame : DataFrame
        From :func:`customer_frame` (or the valuation's customer frame).
    by : sequence of str, optional
        Grouping columns; default ``stats.groups`` of the config.
    config : None, dict or path
        Full config (``config["stats"]`` is used); ``None`` = defaults.
    n_resamples, seed : int, optional
        Override the config (the config insists on at least 2,000 resamples; simulations use fewer).

    Returns
    -------
    DataFrame
        One row per sub-study and measure, the all-customers rows first: ``[quarter,] dimension,
        group, measure, n, n_excluded, estimate, ci_low, ci_high, p_value, p_adjusted, verdict,
        null_estimate, p_vs_arithmetic, p_vs_arithmetic_adjusted, vs_arithmetic, mde_80, kendall,
        kendall_ci_low, kendall_ci_high, p_naive, slope, slope_low, slope_high, n_slope, coupled,
        correction, ci_method, n_resamples, n_permutations``. ``dimension`` is ``"all"`` or the
        grouping column. ``estimate`` is Spearman's rho of revenue with the measure, ``ci_low`` and
        ``ci_high`` its bootstrap interval, ``p_value`` the one-sided permutation p-value of rho > 0
        and ``p_adjusted`` that p-value corrected across the sub-studies of the measure.
        ``verdict`` answers the claim "customers with more revenue have more of the measure":
        ``positive`` (rho > 0, interval above 0, ``p_adjusted`` <= alpha), ``not shown`` (anything
        else, a negative rho included), or ``too small`` (fewer than ``min_n`` customers with an
        assessment: not tested). Secondary, never the verdict: ``null_estimate`` is what rho would
        be from the arithmetic coupling alone, ``p_vs_arithmetic`` (``_adjusted``) the two-sided
        p-value of rho against that, ``vs_arithmetic`` ``above``/``as expected``/``below``.
        ``mde_80``: the smallest rho of revenue with the measure the sub-study's verdict detects
        with 80 % power (before correction). ``p_naive``: the textbook two-sided p-value of rho
        against 0 (Student-t approximation), for reference.

    Notes
    -----
    Each measure is its own claim and its own family: the correction (Holm or Benjamini-Hochberg)
    runs over the tested sub-study rows of that measure, for ``p_value`` and for
    ``p_vs_arithmetic`` alike. The all-customers row of a measure is a family of one
    (``p_adjusted`` = ``p_value``). See the module docstring for the simulated error rates and power.
    """
    s = settings(config)
    by = list(s["groups"] if by is None else ([by] if isinstance(by, str) else by))
    n_resamples = s["n_resamples"] if n_resamples is None else int(n_resamples)
    seed = s["seed"] if seed is None else int(seed)
    frame = _sample(frame, s["max_customers"], seed)
    subsets = _subsets(frame, by)
    # With m corrected tests per measure the smallest adjusted p-value is about m/(B+1) (one-sided;
    # 2m/(B+1) for the two-sided comparison with the arithmetic): B permutations must be large
    # enough that a clear effect can still pass (here: reach alpha/2). More would only refine
    # p-values far below alpha and cost run time.
    m = sum(len(sub) - _pairs(sub)[2] >= s["min_n"] for dim, _, sub in subsets if dim != "all")
    sub_permutations = max(n_resamples, math.ceil(4 * m / s["alpha"]))
    rows = []
    for dim, group, sub in subsets:
        ss = _seed_for(seed, f"{dim}={group}")
        for measure in s["measures"]:
            _, _, n_missing = _pairs(sub)
            n = len(sub) - n_missing
            base = {"dimension": dim, "group": group, "measure": measure}
            if n < s["min_n"]:
                rows.append({**base, "n": n, "n_excluded": n_missing, "verdict": "too small",
                             "mde_80": detectable_effect(n, s["alpha"], s["power"]),
                             "coupled": measure != s["assessed"], "n_resamples": 0, "n_permutations": 0})
                continue
            a = association(sub, measure, n_resamples, ss, assessed=s["assessed"], alpha=s["alpha"],
                            power=s["power"], ci_method=s["ci_method"],
                            confidence_level=s["confidence_level"],
                            n_permutations=n_resamples if dim == "all" else sub_permutations)
            rows.append({**base, **a.drop(["measure", "spearman", "null_sd"]).to_dict(),
                         "estimate": a["spearman"], "verdict": None})
    table = correct(pd.DataFrame(rows), s["correction"], s["alpha"])
    for c in _RESULT_COLUMNS:
        if c not in table.columns:
            table[c] = np.nan
    table = table[_RESULT_COLUMNS]
    table = table.astype({"n": "int64", "n_excluded": "int64", "coupled": bool})
    table["n_slope"] = table["n_slope"].fillna(0).astype("int64")
    table["n_resamples"] = table["n_resamples"].fillna(0).astype("int64")
    table["n_permutations"] = table["n_permutations"].fillna(0).astype("int64")
    if "quarter" in frame.columns and frame["quarter"].nunique() == 1:
        table.insert(0, "quarter", str(frame["quarter"].iloc[0]))
    table.attrs["sample"] = {"n": len(frame), "of": frame.attrs.get("customers_total", len(frame))}
    return table


def correct(table: pd.DataFrame, method: str = "holm", alpha: float = 0.05) -> pd.DataFrame:
    """Adjust the sub-study p-values for multiple testing and set the verdicts.

    The correction (statsmodels ``multipletests``: ``holm`` or ``fdr_bh``) runs over the tested
    sub-study rows of each measure separately (one family per measure, i.e. per claim), for
    ``p_value`` (into ``p_adjusted``) and ``p_vs_arithmetic`` (into ``p_vs_arithmetic_adjusted``);
    the all-customers rows are families of one and keep their p-values. Rows with verdict
    ``too small`` stay untested. Then ``verdict`` (:func:`_verdict`: ``positive`` or ``not shown``)
    and ``vs_arithmetic`` are set. Needs the columns ``dimension, p_value, estimate, ci_low,
    verdict``; ``measure`` (else one family), ``p_vs_arithmetic`` and ``direction_vs_arithmetic``
    (or ``null_estimate``) are optional. Returns a new table.
    """
    if method not in CORRECTIONS:
        raise ConfigError(f"stats.correction: one of {', '.join(CORRECTIONS)} (got {method!r})")
    table = table.copy()
    # a table where every sub-study is too small to test has none of the result columns yet
    for col in ("p_value", "estimate", "ci_low", "null_estimate", "p_vs_arithmetic"):
        if col not in table.columns:
            table[col] = np.nan
    if "direction_vs_arithmetic" not in table.columns:
        table["direction_vs_arithmetic"] = np.sign(table["estimate"] - table["null_estimate"]).fillna(0)
    family = table["measure"] if "measure" in table.columns else pd.Series("all", index=table.index)
    table["correction"] = method
    table["p_adjusted"] = table["p_value"]
    table["p_vs_arithmetic_adjusted"] = table["p_vs_arithmetic"]
    tested = table["verdict"].ne("too small")
    sub_tested = (table["dimension"] != "all") & tested
    for _, rows in table[sub_tested].groupby(family[sub_tested], sort=False):
        for raw, adjusted in (("p_value", "p_adjusted"), ("p_vs_arithmetic", "p_vs_arithmetic_adjusted")):
            idx = rows.index[rows[raw].notna()]
            if len(idx):
                table.loc[idx, adjusted] = multipletests(table.loc[idx, raw].to_numpy(float), alpha=alpha,
                                                         method=method)[1]
    table["vs_arithmetic"] = pd.Series(np.nan, index=table.index, dtype=object)
    if tested.any():
        t = table.loc[tested]
        table.loc[tested, "verdict"] = [_verdict(p, e, lo, alpha) for p, e, lo in
                                        zip(t["p_adjusted"], t["estimate"], t["ci_low"])]
        table.loc[tested, "vs_arithmetic"] = [_vs_arithmetic(p, d, alpha) for p, d in
                                              zip(t["p_vs_arithmetic_adjusted"], t["direction_vs_arithmetic"])]
    return table


# --------------------------------------------------------------------------------------------------
# over time
# --------------------------------------------------------------------------------------------------
def over_time(panel: pd.DataFrame, potentials: pd.DataFrame | None, customers: pd.DataFrame,
              quarters=None, config=None, *, quarter=None, n_resamples: int | None = None) -> pd.DataFrame:
    """The all-customers association per quarter, to show whether it is stable.

    Parameters
    ----------
    panel, potentials, customers : DataFrame
        The customer-quarter panel and the canonical tables.
    quarters : int or list of quarters, optional
        The quarters to show, or how many quarters ending with ``quarter``; default ``stats.quarters``
        (8) of the config.
    quarter : str or Period, optional
        The last quarter; default the last quarter in the panel.

    Returns
    -------
    DataFrame
        One row per quarter and measure, oldest first: ``quarter, measure, n, n_excluded, estimate,
        ci_low, ci_high, p_value, verdict, null_estimate, p_vs_arithmetic, vs_arithmetic, mde_80,
        coupled``, with the meanings and the verdict rule of :func:`substudies`. Each quarter is
        tested on its own (a family of one, no correction): the view is descriptive, the report
        quarter's test is the one in :func:`substudies`.
    """
    s = settings(config)
    # The trend is descriptive (each quarter's rho and its interval), so it uses the lighter
    # ``trend_resamples``; the report quarter's test in :func:`substudies` uses ``n_resamples``.
    n_resamples = s["trend_resamples"] if n_resamples is None else int(n_resamples)
    if quarters is None or isinstance(quarters, (int, np.integer)):
        count = s["quarters"] if quarters is None else int(quarters)
        last = quarter if quarter is not None else max(periods.parse_quarter(x) for x in panel["quarter"].unique())
        labels = [str(x) for x in periods.previous_quarters(last, count)]
    else:
        labels = [periods.quarter_label(x) for x in quarters]
    rows = []
    sample = {"n": 0, "of": 0}
    for label in labels:
        frame = _sample(customer_frame(panel, potentials, customers, label), s["max_customers"], s["seed"])
        sample = {"n": max(sample["n"], len(frame)), "of": max(sample["of"], frame.attrs["customers_total"])}
        ss = _seed_for(s["seed"], f"quarter={label}")
        for measure in s["measures"]:
            _, _, n_missing = _pairs(frame)
            n = len(frame) - n_missing
            row = {"quarter": label, "measure": measure, "n": n, "n_excluded": n_missing,
                   "coupled": measure != s["assessed"]}
            if n < s["min_n"]:
                rows.append({**row, "verdict": "too small", "mde_80": detectable_effect(n, s["alpha"], s["power"])})
                continue
            # No slope here: eight quarters would multiply its cost, and the view is about the
            # stability of rho.
            a = association(frame, measure, n_resamples, ss, assessed=s["assessed"], alpha=s["alpha"],
                            power=s["power"], ci_method=s["ci_method"],
                            confidence_level=s["confidence_level"], slope=False)
            rows.append({**row, "estimate": a["spearman"], "ci_low": a["ci_low"], "ci_high": a["ci_high"],
                         "p_value": a["p_value"],
                         "verdict": _verdict(a["p_value"], a["spearman"], a["ci_low"], s["alpha"]),
                         "null_estimate": a["null_estimate"], "p_vs_arithmetic": a["p_vs_arithmetic"],
                         "vs_arithmetic": _vs_arithmetic(a["p_vs_arithmetic"], a["direction_vs_arithmetic"],
                                                         s["alpha"]),
                         "mde_80": a["mde_80"]})
    cols = ["quarter", "measure", "n", "n_excluded", "estimate", "ci_low", "ci_high", "p_value", "verdict",
            "null_estimate", "p_vs_arithmetic", "vs_arithmetic", "mde_80", "coupled"]
    out = pd.DataFrame(rows, columns=cols)
    out = out.astype({"n": "int64", "n_excluded": "int64", "coupled": bool})
    out.attrs["sample"] = sample
    return out


# --------------------------------------------------------------------------------------------------
# the sentence
# --------------------------------------------------------------------------------------------------
def _num(x, lang, digits=2) -> str:
    return i18n.fmt_number(x, lang, digits)


def _p_text(p, lang) -> str:
    if not np.isfinite(p):
        return "p = –"
    if p < 0.001:
        return "p < " + _num(0.001, lang, 3)
    return "p = " + _num(p, lang, 3)


def _formula(measure, lang) -> str:
    return i18n.t("stats_formula_additional" if measure == "additional_potential" else "stats_formula_total", lang)


def _group_list(rows: pd.DataFrame, lang: str) -> str:
    parts = []
    for dim, g in rows.groupby("dimension", sort=False):
        parts.append(f"{_t(dim, lang)}: {', '.join(g['group'].astype(str))}")
    return "; ".join(parts)


def _overall_sentence(row: pd.Series, lang: str) -> str:
    m = _t(row["measure"], lang)
    n = i18n.fmt_number(row["n"], lang)
    if row["verdict"] == "too small":
        return i18n.t("stats_overall_too_small", lang, m=m, n=n)
    ci = i18n.t("stats_ci", lang, low=_num(row["ci_low"], lang), high=_num(row["ci_high"], lang))
    rho = f"Spearman ρ = {_num(row['estimate'], lang)}"
    tested = i18n.t("stats_tested", lang, rho=rho, ci=ci, p=_p_text(row["p_adjusted"], lang))
    positive = row["verdict"] == "positive"
    negative = not positive and np.isfinite(row["ci_high"]) and row["ci_high"] < 0
    key = ("stats_overall_positive" if positive else
           "stats_overall_negative" if negative else "stats_overall_not_shown")
    first = i18n.t(key, lang, n=n, m=m, tested=tested, rho=rho, ci=ci)
    second = _arithmetic_sentence(row, lang, positive)
    return f"{first} {second}" if second else first


def _arithmetic_sentence(row: pd.Series, lang: str, positive: bool) -> str:
    """The secondary comparison of a coupled measure with what the arithmetic alone gives."""
    vs = row.get("vs_arithmetic")
    if not row["coupled"] or not isinstance(vs, str):
        return ""
    p = row.get("p_vs_arithmetic_adjusted", row.get("p_vs_arithmetic", np.nan))
    ref = f"ρ ≈ {_num(row['null_estimate'], lang)}; {_p_text(p, lang)}"
    key = {"above": "stats_arith_above", "as expected": "stats_arith_expected", "below": "stats_arith_below"}[vs]
    return i18n.t(key + ("_positive" if positive else ""), lang, f=_formula(row["measure"], lang), ref=ref)


def _substudy_sentence(rows: pd.DataFrame, lang: str) -> str:
    if rows.empty:
        return ""
    corr = _t(str(rows["correction"].iloc[0]), lang)
    tested = rows[rows["verdict"] != "too small"]
    small = int((rows["verdict"] == "too small").sum())
    pos = tested[tested["verdict"] == "positive"]
    neg = tested[(tested["verdict"] != "positive") & (tested["ci_high"] < 0)]
    k = len(tested)
    fields = {"m": _t(rows["measure"].iloc[0], lang), "k": k, "corr": corr, "pos": len(pos)}
    parts = []
    if k == 0:
        parts.append(i18n.t("stats_sub_none_testable", lang, **fields))
    elif len(pos) == 0:
        parts.append(i18n.t("stats_sub_none", lang, **fields))
    elif len(pos) == k:
        parts.append(i18n.t("stats_sub_all", lang, **fields))
    elif 2 * len(pos) <= k:
        parts.append(i18n.t("stats_sub_few", lang, groups=_group_list(pos, lang), **fields))
    else:  # name the fewer: those where it is not shown
        rest = tested[tested["verdict"] != "positive"]
        parts.append(i18n.t("stats_sub_most", lang, rest=len(rest), groups=_group_list(rest, lang), **fields))
    if len(neg) == k and k:
        parts.append(i18n.t("stats_sub_negative_all", lang, k=k))
    elif len(neg):
        parts.append(i18n.t("stats_sub_negative", lang, neg=len(neg), groups=_group_list(neg, lang)))
    if small and k:
        parts.append(i18n.t("stats_sub_too_small", lang, count=small))
    text = "; ".join(parts) + "."
    if k and bool(rows["coupled"].iloc[0]) and "vs_arithmetic" in tested.columns:
        above = int((tested["vs_arithmetic"] == "above").sum())
        key = "stats_sub_above_none" if above == 0 else "stats_sub_above_all" if above == k else "stats_sub_above_some"
        text = f"{text} {i18n.t(key, lang, f=_formula(rows['measure'].iloc[0], lang), k=k, above=above)}"
    return text


def result_sentence(table: pd.DataFrame, lang: str = "de", measures=None) -> str:
    """The finding in plain words, generated from the numbers of :func:`substudies`.

    Parameters
    ----------
    table : DataFrame
        The result of :func:`substudies`.
    lang : {"de", "en"}
    measures : sequence of str, optional
        Which measures to describe (default: those in the table).

    Returns
    -------
    str
        Per measure: the verdict on all customers (does more revenue go with more of the measure:
        rho, its interval, the one-sided p-value) and, for a measure coupled to revenue by
        arithmetic, a second sentence comparing rho with what the arithmetic alone gives; then the
        sub-studies (how many show the positive relation after correction, which are negative,
        and for a coupled measure how many lie above the arithmetic); and one sentence on customers
        left out for lack of an assessment.
    """
    i18n.check_lang(lang)
    measures = list(dict.fromkeys(table["measure"])) if measures is None else list(measures)
    sentences = []
    excluded = 0
    for measure in measures:
        rows = table[table["measure"] == measure]
        overall = rows[rows["dimension"] == "all"]
        if len(overall):
            sentences.append(_overall_sentence(overall.iloc[0], lang))
            excluded = max(excluded, int(overall["n_excluded"].iloc[0]))
        sub = _substudy_sentence(rows[rows["dimension"] != "all"], lang)
        if sub:
            sentences.append(sub)
    if excluded:
        sentences.append(i18n.t("stats_excluded", lang, k=i18n.fmt_number(excluded, lang)))
    return " ".join(sentences)


# --------------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------------
_MEASURE_COLORS = {"total_potential": "#1f5f8b", "additional_potential": "#c05a1b"}


def plot_forest(table: pd.DataFrame, ax=None, lang: str = "de", measures=None):
    """Forest plot: Spearman's rho with its interval per sub-study and measure.

    Filled markers have the verdict ``positive`` (rho > 0, interval above 0, significant after
    correction), open markers ``not shown``; the dotted line is rho = 0, the claim's reference. A
    grey bar marks, as secondary information, what the arithmetic alone gives (about 0 for an
    uncoupled measure, clearly negative for the additional potential). Sub-studies too small to
    test are listed without an interval.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    i18n.check_lang(lang)
    measures = list(dict.fromkeys(table["measure"])) if measures is None else list(measures)
    keys = list(dict.fromkeys(zip(table["dimension"], table["group"])))
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 1.2 + 0.38 * len(keys)))
    offsets = np.linspace(-0.18, 0.18, len(measures)) if len(measures) > 1 else [0.0]
    labels = []
    for y, (dim, group) in enumerate(keys):
        rows = table[(table["dimension"] == dim) & (table["group"] == group)]
        name = _t("all", lang) if dim == "all" else f"{_t(dim, lang)}: {_t(group, lang) if group == 'unknown' else group}"
        labels.append(f"{name} (n = {i18n.fmt_number(rows['n'].max(), lang)})")
        for off, measure in zip(offsets, measures):
            row = rows[rows["measure"] == measure]
            if row.empty:
                continue
            row = row.iloc[0]
            color = _MEASURE_COLORS.get(measure, "k")
            if row["verdict"] == "too small":
                ax.text(0, y + off, _t("too small", lang), color="0.45", fontsize=8, ha="center", va="center")
                continue
            shown = row["verdict"] == "positive"
            ax.plot([row["ci_low"], row["ci_high"]], [y + off] * 2, color=color, lw=1.6)
            ax.plot(row["estimate"], y + off, "o", color=color, mfc=color if shown else "white", ms=6)
            ax.plot(row["null_estimate"], y + off, "|", color="0.35", ms=11, mew=2)
    ax.axvline(0, color="0.6", lw=0.8, ls=":")
    ax.set_yticks(range(len(keys)), labels)
    ax.set_ylim(len(keys) - 0.5, -0.5)
    ax.set_xlabel(_t("rho_axis", lang))
    ax.set_xlim(-1.02, 1.02)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=_MEASURE_COLORS.get(m, "k"), marker="o", label=_t(m, lang)[:1].upper()
                      + _t(m, lang)[1:]) for m in measures]
    handles.append(Line2D([], [], color="0.2", marker="o", ls="", ms=6, label=_t("positive_shown", lang)))
    handles.append(Line2D([], [], color="0.2", marker="o", mfc="white", ls="", ms=6, label=_t("not shown", lang)))
    handles.append(Line2D([], [], color="0.35", marker="|", ls="", ms=11, mew=2, label=_t("null_reference", lang)))
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, fontsize=8, frameon=False)
    return ax


def plot_over_time(df: pd.DataFrame, ax=None, lang: str = "de"):
    """Spearman's rho per quarter with its interval, per measure.

    Filled markers: verdict ``positive`` in that quarter, open: ``not shown``. The dashed line is,
    as secondary information, what the arithmetic alone gives.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    i18n.check_lang(lang)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    quarters = list(dict.fromkeys(df["quarter"].astype(str)))
    pos = {q: i for i, q in enumerate(quarters)}
    for measure, g in df.groupby("measure", sort=False):
        g = g[g["verdict"] != "too small"]
        if g.empty:
            continue
        x = g["quarter"].astype(str).map(pos).to_numpy()
        color = _MEASURE_COLORS.get(measure, "k")
        label = _t(measure, lang)
        ax.fill_between(x, g["ci_low"], g["ci_high"], color=color, alpha=0.18, lw=0)
        ax.plot(x, g["estimate"], "-", color=color, label=label[:1].upper() + label[1:])
        shown = (g["verdict"] == "positive").to_numpy()
        y = g["estimate"].to_numpy()
        ax.plot(x[shown], y[shown], "o", color=color, ls="")
        ax.plot(x[~shown], y[~shown], "o", color=color, mfc="white", ls="")
        ax.plot(x, g["null_estimate"], ls="--", color=color, lw=1, alpha=0.8,
                label=f"{label[:1].upper() + label[1:]}: {_t('null_reference', lang)}")
    ax.axhline(0, color="0.6", lw=0.8, ls=":")
    ax.set_xticks(range(len(quarters)), quarters)
    ax.set_ylim(-1.02, 1.02)
    ax.set_xlabel(i18n.t("quarter", lang))
    ax.set_ylabel(_t("rho_axis", lang))
    ax.legend(fontsize=8, frameon=False)
    return ax


def plot_scatter(frame: pd.DataFrame, ax=None, lang: str = "de", hue: str = "business_unit",
                 measure: str = "total_potential", assessed: str = "total_potential"):
    """Revenue against potential on log-log axes, coloured by ``hue`` (customers with both > 0).

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    i18n.check_lang(lang)
    _check_measure(measure)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 5))
    data = frame.copy()
    r = pd.to_numeric(data["revenue_12m"], errors="coerce")
    p = pd.to_numeric(data["potential"], errors="coerce")
    data["_y"] = _measure_values(r, _assessed_values(r, p, assessed), measure, assessed)
    shown = data[(r > 0) & (data["_y"] > 0)]
    sns.scatterplot(data=shown, x="revenue_12m", y="_y", hue=hue if hue in shown.columns else None,
                    s=14, alpha=0.6, linewidth=0, ax=ax)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(_t("revenue_12m", lang))
    y_label = _t(measure, lang)
    ax.set_ylabel(i18n.t("stats_amount_axis", lang, label=y_label[:1].upper() + y_label[1:]))
    hidden = len(data) - len(shown)
    if hidden:
        note = i18n.t("stats_scatter_hidden", lang, count=hidden)
        ax.text(0.99, 0.01, note, transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="0.4")
    return ax
