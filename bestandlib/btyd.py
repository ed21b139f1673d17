"""Buy-till-you-die models: is a customer still alive, and how much will they buy?

Three estimators in the style of scikit-learn, for non-contractual customer relationships (a
customer never cancels; they simply stop ordering):

* :class:`BetaGeoModel` - BG/NBD, Fader, Hardie & Lee (2005a), "Counting Your Customers the Easy
  Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284.
* :class:`ParetoNBDModel` - Pareto/NBD, Schmittlein, Morrison & Colombo (1987), with the likelihood
  and expressions of Fader & Hardie (2005), "A Note on Deriving the Pareto/NBD Model and Related
  Expressions" (brucehardie.com/notes/009).
* :class:`GammaGammaModel` - spend per transaction, Fader & Hardie (2013), "The Gamma-Gamma Model
  of Monetary Value" (brucehardie.com/notes/025).

Their input is the RFM summary of each customer, built from the order lines by
:func:`rfm_summary` (or :func:`calibration_holdout_split` for a back-test): ``frequency`` = number
of repeat purchase days, ``recency`` = time from the first to the last purchase day, ``T`` = time
from the first purchase day to the end of observation, ``monetary_value`` = mean spend per repeat
purchase day. :func:`customer_lifetime_value` combines a transaction model and the spend model.

Why hand-written numerics: the likelihoods are closed-form expressions of ``gammaln``, ``hyp2f1``
and ``logsumexp`` (scipy.special) and are maximised with ``scipy.optimize.minimize``; no library
that installs on Python 3.11 with pandas 3 offers them without a heavy stack (lifetimes needs
autograd and is unmaintained, pymc-marketing needs PyMC). The tests prove the implementation on the
published CDNOW estimates and against lifetimes.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import optimize, special
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import ThreadpoolController

from bestandlib.errors import BestandError

__all__ = [
    "BetaGeoModel",
    "ParetoNBDModel",
    "GammaGammaModel",
    "ConvergenceError",
    "NoRepeatBuyersError",
    "RFMDataError",
    "rfm_summary",
    "rfm_from_panel",
    "calibration_holdout_split",
    "customer_lifetime_value",
    "TIME_UNIT_DAYS",
]

#: Length of one time unit in days. "W" is the week of the BG/NBD literature (days / 7); "M" and
#: "Y" are mean calendar months and years.
TIME_UNIT_DAYS = {"D": 1.0, "W": 7.0, "M": 365.25 / 12, "Q": 365.25 / 4, "Y": 365.25}

# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------
class RFMDataError(BestandError, ValueError):
    """The RFM input is not valid for the model (negative times, recency > T, ...)."""


class NoRepeatBuyersError(RFMDataError):
    """No customer bought more than once: the data cannot tell anything about repeat buying."""


class ConvergenceError(BestandError, RuntimeError):
    """The maximum-likelihood fit did not converge."""


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------
_DEFAULT_SECTION = []


def _default_section() -> dict:
    """The ``btyd`` section of the defaults file, read once per process (parsing it takes ~35 ms,
    as long as an RFM summary of a million order lines)."""
    if not _DEFAULT_SECTION:
        try:
            from bestandlib.config import default_config

            config = default_config()
        except ImportError:  # config module not there yet: read the defaults file directly
            import yaml
            from pathlib import Path

            config = yaml.safe_load(Path(__file__).with_name("bestand.yml").read_text("utf-8"))
        _DEFAULT_SECTION.append((config or {}).get("btyd") or {})
    return _DEFAULT_SECTION[0]


def _settings(config) -> dict:
    """The ``btyd`` section of ``config`` (None = the documented defaults), keys it lacks taken from
    ``bestand.yml`` (the only defaults)."""
    section = {} if config is None else (config.get("btyd") or {})
    return {**_default_section(), **section}


def _unit_days(time_unit) -> float:
    if isinstance(time_unit, (int, float)) and time_unit > 0:
        return float(time_unit)
    try:
        return TIME_UNIT_DAYS[str(time_unit).upper()]
    except KeyError:
        raise RFMDataError(
            f"Unknown time_unit {time_unit!r}: use one of {', '.join(TIME_UNIT_DAYS)} or a number of days."
        ) from None


# --------------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------------
def _as_arrays(*columns, names=("frequency", "recency", "T")):
    """Accept a DataFrame with the named columns as first argument, or one array per column.

    Returns the float arrays and the pandas index of the input (None for plain arrays).
    """
    first = columns[0]
    if isinstance(first, pd.DataFrame):
        missing = [n for n in names if n not in first.columns]
        if missing:
            raise RFMDataError(
                f"The RFM table lacks the column(s) {missing}; build it with bestandlib.btyd.rfm_summary."
            )
        index = first.index
        arrays = [first[n].to_numpy(dtype=float) for n in names]
    else:
        if any(c is None for c in columns):
            raise TypeError(f"Pass either an RFM DataFrame or all of {', '.join(names)}.")
        index = next((c.index for c in columns if isinstance(c, pd.Series)), None)
        arrays = [np.asarray(c, dtype=float) for c in columns]
    arrays = np.broadcast_arrays(*arrays)
    return [np.array(a) for a in arrays], index  # copies: broadcast views are read-only


def _wrap(values, index, name):
    """Return a Series when the input came with a pandas index, a float for scalars, else the array."""
    if np.ndim(values) == 0:
        return float(values)
    if index is not None and np.ndim(values) == 1 and len(values) == len(index):
        return pd.Series(values, index=index, name=name)
    return values


def _check_rfm(x, tx, T):
    if x.size == 0:
        raise RFMDataError("The RFM table is empty: there are no customers to fit.")
    for name, a in (("frequency", x), ("recency", tx), ("T", T)):
        if not np.all(np.isfinite(a)):
            raise RFMDataError(f"{name} contains missing or infinite values ({int((~np.isfinite(a)).sum())} rows).")
        if np.any(a < 0):
            raise RFMDataError(f"{name} contains negative values ({int((a < 0).sum())} rows).")
    if np.any(x != np.round(x)):
        raise RFMDataError("frequency must count repeat purchases (whole numbers).")
    if np.any(tx > T * (1 + 1e-12)):
        raise RFMDataError(
            f"recency is larger than T for {int((tx > T).sum())} customers: the last purchase lies after the "
            "end of observation. Check observation_end and the time unit."
        )
    if np.any((x == 0) & (tx != 0)):
        raise RFMDataError("recency must be 0 for customers without repeat purchases (frequency 0).")


def _compress(*arrays, weights=None):
    """Collapse identical customer histories into one row with a weight (speeds up the fit)."""
    w = np.ones(len(arrays[0])) if weights is None else np.asarray(weights, dtype=float)
    order = np.lexsort(arrays[::-1])
    sorted_arrays = [a[order] for a in arrays]
    new = np.ones(len(order), dtype=bool)
    new[1:] = np.any([np.diff(a) != 0 for a in sorted_arrays], axis=0)
    group = np.cumsum(new) - 1
    return [a[new] for a in sorted_arrays], np.bincount(group, weights=w[order])


# --------------------------------------------------------------------------------------------------
# Maximum likelihood
# --------------------------------------------------------------------------------------------------
# Parameters live in exp([-15, 15]) on the internal scales (longest history = 10 time units, median
# spend = 1). An estimate near that edge means the likelihood is flat in that direction (e.g. no
# heterogeneity or no drop-out in the data): that is reported as non-convergence, not returned.
_LOG_BOUND = 15.0


_THREADPOOLS = []


def _one_blas_thread():
    """Context limiting BLAS to one thread; the library scan is done once per process (it is slow)."""
    if not _THREADPOOLS:
        _THREADPOOLS.append(ThreadpoolController())
    return _THREADPOOLS[0].limit(limits=1, user_api="blas")


def _maximise(negll, n_params, starts, names, jac):
    """Minimise ``negll(log_params)`` with L-BFGS-B from several starts; return the first clean optimum.

    ``jac=True`` means ``negll`` returns (value, gradient); otherwise scipy's finite differences are
    used. Raises :class:`ConvergenceError` when no start converges to an interior optimum.
    """
    best, messages = None, []
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * n_params
    for start in starts:
        # One BLAS thread: the optimiser's linear algebra is on 3-4 numbers, and waking BLAS
        # threads on a busy machine cost more than the whole fit.
        with np.errstate(all="ignore"), warnings.catch_warnings(), _one_blas_thread():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = optimize.minimize(
                negll, np.asarray(start, dtype=float), jac=jac, method="L-BFGS-B", bounds=bounds,
                options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-9, "maxcor": 20},
            )
        ok = np.isfinite(res.fun) and (res.success or _small_gradient(negll, res.x, jac))
        if not ok:
            messages.append(str(res.message))
            continue
        at_bound = np.abs(res.x) > _LOG_BOUND - 1.0
        if at_bound.any():
            messages.append(f"parameter(s) {[n for n, b in zip(names, at_bound) if b]} ran off towards 0 or infinity")
            continue
        best = res  # the first clean interior optimum; later starts are fallbacks only
        break
    if best is None:
        raise ConvergenceError(
            f"The model fit did not converge ({messages[0]}). Check that the "
            "RFM table covers enough customers with repeat purchases, that recency and T use the same "
            "time unit (weeks work well), and that the customers differ: a parameter running to 0 or "
            "infinity means the data show no heterogeneity or no drop-out. On small customer bases a "
            "small penalizer (e.g. 0.001-0.1) can help."
        )
    return best


def _small_gradient(negll, x, jac):
    """L-BFGS-B sometimes stops with ABNORMAL after reaching the optimum to machine precision."""
    if not jac:
        g = optimize.approx_fprime(x, negll, 1e-7)
    else:
        g = negll(x)[1]
    return bool(np.all(np.isfinite(g)) and np.max(np.abs(g)) < 1e-4)


def _distinct(x):
    """Distinct values of a frequency array and the inverse index (x-only terms are computed once)."""
    ux, inv = np.unique(x, return_inverse=True)
    return ux, inv.reshape(np.shape(x))


def _distinct_pairs(x, y):
    """Distinct (x, y) rows: their x, their y and the inverse index."""
    order = np.lexsort((y, x))
    xs, ys = x[order], y[order]
    new = np.ones(len(x), dtype=bool)
    new[1:] = (np.diff(xs) != 0) | (np.diff(ys) != 0)
    inv = np.empty(len(x), dtype=np.intp)
    inv[order] = np.cumsum(new) - 1
    return xs[new], ys[new], inv


def _lse2(a, b):
    """log(exp(a) + exp(b)) and the share exp(b) / (exp(a) + exp(b)), elementwise, stable."""
    m = np.maximum(a, b)
    ea, eb = np.exp(a - m), np.exp(b - m)
    s = ea + eb
    return m + np.log(s), eb / s


class _BTYDBase(BaseEstimator):
    _param_names: tuple = ()

    def _unload(self):
        check_is_fitted(self, "params_")
        return [self.params_[k] for k in self._param_names]

    def __repr__(self, N_CHAR_MAX=700):
        base = super().__repr__(N_CHAR_MAX)
        if not hasattr(self, "params_"):
            return base
        params = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return (
            f"{base} fitted on {self.n_customers_:,} customers: {params}; "
            f"log-likelihood={self.log_likelihood_:.1f}"
        )


class _TransactionModel(_BTYDBase):
    """Shared fit logic of BG/NBD and Pareto/NBD."""

    def __init__(self, penalizer=0.0):
        self.penalizer = penalizer

    def fit(self, frequency, recency=None, T=None, weights=None):
        """Estimate the parameters by maximum likelihood.

        Parameters
        ----------
        frequency : DataFrame or array-like
            The RFM table (columns ``frequency``, ``recency``, ``T``, as from :func:`rfm_summary`),
            or the number of repeat purchases per customer (x in the literature).
        recency, T : array-like, optional
            Time of the last purchase and length of observation, both since the first purchase
            (t_x and T), in one time unit. Only when ``frequency`` is an array.
        weights : array-like, optional
            Number of customers with each history (default 1 each).

        Returns
        -------
        self
            With ``params_`` (dict), ``log_likelihood_`` (total, in the paper's units),
            ``n_customers_`` and ``n_iter_``.
        """
        (x, tx, T), _ = _as_arrays(frequency, recency, T)
        _check_rfm(x, tx, T)
        if weights is not None and len(np.asarray(weights)) != len(x):
            raise RFMDataError("weights must have one entry per customer.")
        if not np.any(x > 0):
            raise NoRepeatBuyersError(
                f"None of the {len(x):,} customers made a repeat purchase, so repeat buying and drop-out "
                "cannot be estimated. Use a longer observation period or a coarser customer base."
            )
        if self.penalizer < 0:
            raise ValueError("penalizer must be >= 0.")
        (x, tx, T), w = _compress(x, tx, T, weights=weights)
        # Work on a time scale where the longest history is 10 units (as lifetimes does), so all
        # parameters are of order one and the optimiser's tolerances mean the same on any data.
        scale = 10.0 / T.max()
        data = (x, tx * scale, T * scale, w / w.sum())
        pen = float(self.penalizer)

        plan = self._plan(*data[:3])  # distinct-value groupings, computed once per fit

        def negll(theta):
            p = np.exp(theta)
            ll, grad = self._loglik(p, *data[:3], gradient=True, plan=plan)
            # elementwise sums, not BLAS: BLAS threads only add overhead to these small products
            value = -np.sum(data[3] * ll) + pen * np.sum(p * p)
            if grad is None:
                return value
            g = -np.sum(grad * data[3], axis=1) * p + 2 * pen * p * p
            return value, g

        has_grad = self._has_gradient
        res = _maximise(negll, len(self._param_names), self._starts(*data[:3]), self._param_names, has_grad)
        params = np.exp(res.x)
        params[list(self._time_params)] /= scale
        self.params_ = dict(zip(self._param_names, (float(v) for v in params)))
        ll, _ = self._loglik(params, x, tx, T, gradient=False, plan=self._plan(x, tx, T))
        self.log_likelihood_ = float(np.sum(w * ll))
        self.n_customers_ = int(round(w.sum()))
        self.n_iter_ = int(res.nit)
        return self

    def log_likelihood(self, frequency, recency=None, T=None):
        """Log-likelihood of each customer's history under the fitted parameters.

        Returns
        -------
        ndarray or Series
        """
        (x, tx, T), index = _as_arrays(frequency, recency, T)
        ll, _ = self._loglik(np.array(self._unload()), x, tx, T, gradient=False)
        return _wrap(ll, index, "log_likelihood")


# --------------------------------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------------------------------
class BetaGeoModel(_TransactionModel):
    """BG/NBD model of repeat purchases and drop-out (Fader, Hardie & Lee 2005a).

    While alive, a customer buys as a Poisson process with rate lambda ~ gamma(r, alpha); after each
    purchase they drop out with probability p ~ beta(a, b).

    Parameters
    ----------
    penalizer : float, default 0.0
        Coefficient of an L2 penalty on the parameters (on the internal time scale where the
        longest customer history is 10 units). Helps small customer bases converge.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha`` (in the time unit of the data), ``a``, ``b``.
    log_likelihood_ : float
        Sum over customers of ln L(r, alpha, a, b | x, t_x, T), Eq. (6) of the paper - the value
        the paper reports (-9582.4 on the CDNOW sample, 39 weeks).
    n_customers_ : int
    n_iter_ : int

    Examples
    --------
    >>> rfm = rfm_summary(orders, time_unit="W")              # doctest: +SKIP
    >>> bg = BetaGeoModel().fit(rfm)                          # doctest: +SKIP
    >>> rfm["p_alive"] = bg.p_alive(rfm)                      # doctest: +SKIP
    """

    _param_names = ("r", "alpha", "a", "b")
    _time_params = (1,)
    _has_gradient = True

    @staticmethod
    def _starts(x, tx, T):
        # Order of magnitude from the data (rate ~ r / alpha); the lifetimes start as a fallback.
        rate = max(x.mean() / max(T.mean(), 1e-9), 1e-3)
        return [np.log([1.0, 1.0 / rate, 1.0, 3.0]), np.full(4, 0.1), np.log([0.5, 5.0, 0.5, 0.5])]

    @staticmethod
    def _plan(x, tx, T):
        return _distinct(x)

    @staticmethod
    def _loglik(params, x, tx, T, gradient=False, plan=None):
        """Eq. (6)/(7) of the paper as A1 + A2 + ln(A3 + delta A4), with analytic gradient."""
        r, alpha, a, b = params
        ux, inv = _distinct(x) if plan is None else plan
        # gamma-function terms depend on x only: evaluate them once per distinct frequency
        A12 = (
            special.gammaln(r + ux) - special.gammaln(r) + special.gammaln(a + b) + special.gammaln(b + ux)
            - special.gammaln(b) - special.gammaln(a + b + ux)
        )[inv] + r * np.log(alpha)
        rx = r + x
        pos = x > 0
        bx1 = np.where(pos, b + x - 1.0, 1.0)
        log_aT, log_atx = np.log(alpha + T), np.log(alpha + tx)
        A3 = -rx * log_aT
        A4 = np.where(pos, np.log(a) - np.log(bx1) - rx * log_atx, -np.inf)
        lse, pi = _lse2(A3, A4)
        ll = A12 + lse
        if not gradient:
            return ll, None
        # pi = share of the "dropped out after the last purchase" branch
        psi_ab = special.digamma(a + b)
        d_r = (special.digamma(r + ux) - special.digamma(r))[inv] + np.log(alpha) - (1 - pi) * log_aT - pi * log_atx
        d_alpha = r / alpha - rx * ((1 - pi) / (alpha + T) + pi / (alpha + tx))
        psi_abx = special.digamma(a + b + ux)
        d_a = (psi_ab - psi_abx)[inv] + pi / a
        d_b = (psi_ab + special.digamma(b + ux) - special.digamma(b) - psi_abx)[inv] - pi / bx1
        return ll, np.vstack([d_r, d_alpha, d_a, d_b])

    def p_alive(self, frequency, recency=None, T=None):
        """Probability that a customer with history (x, t_x, T) is still alive at T.

        P(alive) = 1 / (1 + delta_{x>0} a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))
        (Fader, Hardie & Lee 2008, note 021, Eq. 1). Customers without repeat purchase are alive by
        the model's construction (drop-out happens only after a purchase).

        Returns
        -------
        ndarray or Series (index of the input)
        """
        (x, tx, T), index = _as_arrays(frequency, recency, T)
        r, alpha, a, b = self._unload()
        return _wrap(self._p_alive(r, alpha, a, b, x, tx, T), index, "p_alive")

    @staticmethod
    def _p_alive(r, alpha, a, b, x, tx, T):
        pos = x > 0
        log_odds_dead = (r + x) * np.log((alpha + T) / (alpha + tx)) + np.log(a / np.where(pos, b + x - 1, 1.0))
        return np.where(pos, special.expit(-log_odds_dead), 1.0)

    @staticmethod
    def _bracket(r, alpha, a, b, x, T, t):
        """1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t)).

        Computed through Euler's transformation as 1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z),
        which cannot overflow for large x (the direct form needs 2F1 values of order (1-z)^-x).
        """
        z = t / (alpha + T + t)
        c = a + b + x - 1
        return 1.0 - np.exp((a - 1) * np.log1p(-z)) * special.hyp2f1(a + b - 1 - r, a - 1, c, z)

    def conditional_expected_purchases(self, t, frequency, recency=None, T=None):
        """Expected number of purchases in (T, T + t] of a customer with history (x, t_x, T), Eq. (10).

        Parameters
        ----------
        t : float or array-like
            Forecast horizon in the model's time unit (broadcast against the customers).

        Returns
        -------
        ndarray or Series
        """
        (x, tx, T), index = _as_arrays(frequency, recency, T)
        r, alpha, a, b = self._unload()
        t = np.asarray(t, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = (
                (a + b + x - 1) / (a - 1) * self._bracket(r, alpha, a, b, x, T, t)
                * self._p_alive(r, alpha, a, b, x, tx, T)
            )
        return _wrap(np.where(t == 0, 0.0, value), index, "expected_purchases")

    def expected_purchases(self, t):
        """Expected number of repeat purchases in (0, t] of a new customer, Eq. (9).

        Returns
        -------
        float or ndarray
        """
        r, alpha, a, b = self._unload()
        t = np.asarray(t, dtype=float)
        value = (a + b - 1) / (a - 1) * self._bracket(r, alpha, a, b, 0.0, 0.0, t)
        return value if value.ndim else float(value)


# --------------------------------------------------------------------------------------------------
# Pareto/NBD
# --------------------------------------------------------------------------------------------------
class ParetoNBDModel(_TransactionModel):
    """Pareto/NBD model (Schmittlein, Morrison & Colombo 1987; Fader & Hardie 2005, note 009).

    While alive, a customer buys with rate lambda ~ gamma(r, alpha); the lifetime is exponential
    with rate mu ~ gamma(s, beta).

    Parameters
    ----------
    penalizer : float, default 0.0
        Coefficient of an L2 penalty on the parameters (internal time scale, see BetaGeoModel).

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``s``, ``beta`` (alpha and beta in the time unit of the data).
    log_likelihood_ : float
        Sum of ln L(r, alpha, s, beta | x, t_x, T), Eq. (18) of note 009 - the value Fader, Hardie
        & Lee (2005a) report (-9595.0 on the CDNOW sample).
    """

    _param_names = ("r", "alpha", "s", "beta")
    _time_params = (1, 3)
    _has_gradient = False  # the 2F1 derivatives in its parameters have no closed form

    @staticmethod
    def _starts(x, tx, T):
        rate = max(x.mean() / max(T.mean(), 1e-9), 1e-3)
        return [np.log([1.0, 1.0 / rate, 1.0, T.mean()]), np.full(4, 0.1), np.log([0.5, 5.0, 0.5, 5.0])]

    @staticmethod
    def _plan(x, tx, T):
        # The 2F1 terms depend on (x, t_x) and on (x, T) only; customer bases have far fewer
        # distinct pairs than customers (all non-repeaters share t_x = 0, cohorts share T).
        return _distinct_pairs(x, tx), _distinct_pairs(x, T)

    @staticmethod
    def _log_A0(r, alpha, s, beta, x, tx, T, plan=None):
        """ln A0 of note 009, Eqs. (19)-(20), with Euler-transformed 2F1 terms in log space.

        A0 = F(t_x) - F(T) with F(y) = 2F1(r+s+x, b; r+s+x+1; |alpha-beta| / (m+y)) / (m+y)^(r+s+x),
        m = max(alpha, beta) and b = s+1 if alpha >= beta else r+x. With c = r+s+x+1,
        2F1(c-1, b; c; z) = (1-z)^(1-b) 2F1(1, c-b; c; z): the second factor is of order one, so
        ln F is exact even for heavy buyers where the plain series overflows.
        """
        if alpha >= beta:
            m, bb_s, bb_r = alpha, s + 1.0, 0.0
        else:
            m, bb_s, bb_r = beta, 0.0, 1.0
        diff = abs(alpha - beta)

        def log_F(xv, y):
            rsx = r + s + xv
            c = rsx + 1.0
            bb = bb_s + bb_r * (r + xv)
            z = diff / (m + y)
            return (1.0 - bb) * np.log1p(-z) + np.log(special.hyp2f1(1.0, c - bb, c, z)) - rsx * np.log(m + y)

        if plan is None:
            l1, l2 = log_F(x, tx), log_F(x, T)
        else:
            (x1, y1, inv1), (x2, y2, inv2) = plan
            l1, l2 = log_F(x1, y1)[inv1], log_F(x2, y2)[inv2]
        with np.errstate(divide="ignore"):
            # A0 = e^l1 - e^l2 >= 0 (F decreases in y); -inf when t_x == T
            return l1 + np.log(-np.expm1(np.minimum(l2 - l1, 0.0)))

    @classmethod
    def _loglik(cls, params, x, tx, T, gradient=False, plan=None):
        r, alpha, s, beta = params
        rx = r + x
        A1 = special.gammaln(rx) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        alive = -rx * np.log(alpha + T) - s * np.log(beta + T)
        dead = np.log(s) - np.log(r + s + x) + cls._log_A0(r, alpha, s, beta, x, tx, T, plan)
        return A1 + np.logaddexp(alive, dead), None

    def p_alive(self, frequency, recency=None, T=None):
        """Probability that a customer with history (x, t_x, T) is still alive, note 009 Eq. (37).

        Returns
        -------
        ndarray or Series
        """
        (x, tx, T), index = _as_arrays(frequency, recency, T)
        r, alpha, s, beta = self._unload()
        return _wrap(self._p_alive(r, alpha, s, beta, x, tx, T), index, "p_alive")

    @classmethod
    def _p_alive(cls, r, alpha, s, beta, x, tx, T):
        log_A0 = cls._log_A0(r, alpha, s, beta, x, tx, T)
        log_ratio = np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T) + s * np.log(beta + T) + log_A0
        return special.expit(-log_ratio)

    def conditional_expected_purchases(self, t, frequency, recency=None, T=None):
        """Expected number of purchases in (T, T + t] given the history, note 009 Eq. (41).

        E = P(alive) (r + x)(beta + T) / ((alpha + T)(s - 1)) [1 - ((beta + T)/(beta + T + t))^(s - 1)],
        with the limit for s = 1 taken exactly.

        Returns
        -------
        ndarray or Series
        """
        (x, tx, T), index = _as_arrays(frequency, recency, T)
        r, alpha, s, beta = self._unload()
        t = np.asarray(t, dtype=float)
        horizon = _one_minus_power(s - 1.0, np.log((beta + T) / (beta + T + t)))
        value = self._p_alive(r, alpha, s, beta, x, tx, T) * (r + x) * (beta + T) / (alpha + T) * horizon
        return _wrap(value, index, "expected_purchases")

    def expected_purchases(self, t):
        """Expected number of repeat purchases in (0, t] of a new customer, note 009 Eq. (27).

        Returns
        -------
        float or ndarray
        """
        r, alpha, s, beta = self._unload()
        t = np.asarray(t, dtype=float)
        value = r * beta / alpha * _one_minus_power(s - 1.0, np.log(beta / (beta + t)))
        return value if value.ndim else float(value)


def _one_minus_power(k, log_base):
    """(1 - exp(k * log_base)) / k, and its limit -log_base at k = 0, without cancellation."""
    if abs(k) < 1e-12:
        return -log_base
    return -np.expm1(k * log_base) / k


# --------------------------------------------------------------------------------------------------
# Gamma-Gamma
# --------------------------------------------------------------------------------------------------
class GammaGammaModel(_BTYDBase):
    """Gamma-Gamma model of spend per transaction (Fader & Hardie 2013, note 025).

    A customer's transaction values are gamma(p, nu); nu ~ gamma(q, gamma) across customers. Spend
    is assumed independent of the transaction process - check that on your data (correlation of
    frequency and monetary_value among repeat buyers) before using CLV.

    Parameters
    ----------
    penalizer : float, default 0.0
        Coefficient of an L2 penalty on the parameters.

    Attributes
    ----------
    params_ : dict
        ``p``, ``q``, ``gamma`` (gamma in currency units).
    log_likelihood_ : float
        Sum of ln f(m_x | p, q, gamma; x), Eq. (1a) of note 025, the density of the mean repeat
        spend m_x (-4055.9 on CDNOW). Fader, Hardie & Lee (2005b, JMR) report -4659 for the same fit:
        their likelihood is that of the total repeat spend x m_x, which is lower by sum(ln x).
    n_customers_ : int
        Repeat buyers used in the fit (customers with frequency 0 carry no spend information).
    """

    _param_names = ("p", "q", "gamma")

    def __init__(self, penalizer=0.0):
        self.penalizer = penalizer

    @staticmethod
    def _prepare(frequency, monetary_value):
        (x, m), index = _as_arrays(frequency, monetary_value, names=("frequency", "monetary_value"))
        return x, m, index

    def fit(self, frequency, monetary_value=None, weights=None):
        """Estimate p, q, gamma on the repeat buyers.

        Parameters
        ----------
        frequency : DataFrame or array-like
            The RFM table (columns ``frequency`` and ``monetary_value``) or the repeat purchases.
        monetary_value : array-like, optional
            Mean spend per repeat purchase (ignored for customers with frequency 0).
        weights : array-like, optional
            Number of customers with each history.

        Returns
        -------
        self
        """
        x, m, _ = self._prepare(frequency, monetary_value)
        if x.size == 0:
            raise RFMDataError("The RFM table is empty: there are no customers to fit.")
        w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=float)
        if len(w) != len(x):
            raise RFMDataError("weights must have one entry per customer.")
        keep = x > 0
        if not keep.any():
            raise NoRepeatBuyersError(
                f"None of the {len(x):,} customers made a repeat purchase, so there is no repeat spend to "
                "model. Use a longer observation period."
            )
        x, m, w = x[keep], m[keep], w[keep]
        bad = ~np.isfinite(m) | (m <= 0)
        if bad.any():
            raise RFMDataError(
                f"{int(bad.sum())} repeat buyers have a mean spend <= 0 or missing (credit notes?). The "
                "Gamma-Gamma model needs positive spend: drop them, e.g. rfm[rfm.monetary_value > 0]."
            )
        if self.penalizer < 0:
            raise ValueError("penalizer must be >= 0.")
        # Spend on a scale of order one, so gamma starts near 1 whatever the currency.
        scale = 1.0 / np.median(m)
        ms, wn, pen = m * scale, w / w.sum(), float(self.penalizer)

        plan = self._plan(x, ms)

        def negll(theta):
            par = np.exp(theta)
            ll, grad = self._loglik(par, x, ms, gradient=True, plan=plan)
            return (
                -np.sum(wn * ll) + pen * np.sum(par * par),
                -np.sum(grad * wn, axis=1) * par + 2 * pen * par * par,
            )

        starts = [np.log([1.0, 2.0, 1.0]), np.full(3, 0.1), np.log([5.0, 5.0, 5.0])]
        res = _maximise(negll, 3, starts, self._param_names, True)
        p, q, g = np.exp(res.x)
        g /= scale
        self.params_ = {"p": float(p), "q": float(q), "gamma": float(g)}
        ll, _ = self._loglik(np.array([p, q, g]), x, m)
        self.log_likelihood_ = float(np.sum(w * ll))
        self.n_customers_ = int(round(w.sum()))
        self.n_iter_ = int(res.nit)
        return self

    @staticmethod
    def _plan(x, m):
        ux, inv = _distinct(x)
        return ux, inv, np.log(ux), np.log(m)

    @staticmethod
    def _loglik(params, x, m, gradient=False, plan=None):
        """Eq. (1a) of note 025 with analytic gradient."""
        p, q, g = params
        ux, inv, log_ux, log_m = GammaGammaModel._plan(x, m) if plan is None else plan
        upx = p * ux
        px = p * x
        log_gxm = np.log(g + x * m)
        ll = (
            (special.gammaln(upx + q) - special.gammaln(upx) + upx * log_ux)[inv]
            - special.gammaln(q) + q * np.log(g) + (px - 1) * log_m - (px + q) * log_gxm
        )
        if not gradient:
            return ll, None
        psi = special.digamma(upx + q)
        d_p = x * ((psi - special.digamma(upx) + log_ux)[inv] + log_m - log_gxm)
        d_q = psi[inv] - special.digamma(q) + np.log(g) - log_gxm
        d_g = q / g - (px + q) / (g + x * m)
        return ll, np.vstack([d_p, d_q, d_g])

    def conditional_expected_spend(self, frequency, monetary_value=None):
        """Expected spend per transaction given x repeat purchases with mean m_x, note 025 Eq. (5).

        E(Z | x, m_x) = p (gamma + x m_x) / (p x + q - 1): a weighted average of the population mean
        p gamma / (q - 1) and m_x. Customers without repeat purchase get the population mean.

        Returns
        -------
        ndarray or Series
        """
        x, m, index = self._prepare(frequency, monetary_value)
        p, q, g = self._unload()
        m = np.where(x > 0, m, 0.0)
        return _wrap(p * (g + x * m) / (p * x + q - 1), index, "expected_spend")

    def population_mean_spend(self):
        """E(Z) = p gamma / (q - 1), the mean spend per transaction across customers (q > 1)."""
        p, q, g = self._unload()
        return p * g / (q - 1) if q > 1 else float("inf")


# --------------------------------------------------------------------------------------------------
# Customer lifetime value
# --------------------------------------------------------------------------------------------------
def customer_lifetime_value(
    rfm,
    transaction_model,
    spend_model,
    *,
    horizon=None,
    period_days=None,
    discount_rate=None,
    margin=1.0,
    time_unit=None,
    config=None,
):
    """Discounted expected value of each customer's future purchases.

    CLV = margin * E(spend) * sum_k (E[Y(k P)] - E[Y((k-1) P)]) / (1 + d)^k, k = 1..horizon, with
    P the period length, E[Y] the conditional expected purchases of the transaction model and
    E(spend) the Gamma-Gamma conditional expected spend (the lifetimes convention).

    Parameters
    ----------
    rfm : DataFrame
        RFM table with ``frequency``, ``recency``, ``T``, ``monetary_value`` (and ``customer_id``).
    transaction_model : BetaGeoModel or ParetoNBDModel, fitted
    spend_model : GammaGammaModel, fitted
    horizon : int, optional
        Number of periods (config ``btyd.clv_horizon``, default 12).
    period_days : float, optional
        Length of one period in days (config ``btyd.clv_period_days``, default a mean month).
    discount_rate : float, optional
        Discount rate per period (config ``btyd.discount_rate``, default 0.01 = 12.7 % a year).
    margin : float, default 1.0
        Share of revenue counted as value (1.0 = revenue CLV; e.g. the contribution-margin rate).
    time_unit : str, optional
        Time unit of recency and T in ``rfm`` (config ``btyd.time_unit``, default "W").
    config : dict, optional

    Returns
    -------
    DataFrame
        ``customer_id`` (when in ``rfm``), ``p_alive``, ``expected_purchases`` (over the horizon),
        ``expected_spend``, ``clv``; index of ``rfm``.
    """
    cfg = _settings(config)
    horizon = int(cfg["clv_horizon"] if horizon is None else horizon)
    period_days = float(cfg["clv_period_days"] if period_days is None else period_days)
    d = float(cfg["discount_rate"] if discount_rate is None else discount_rate)
    unit = _unit_days(cfg["time_unit"] if time_unit is None else time_unit)
    if horizon < 1 or period_days <= 0 or d <= -1:
        raise ValueError("horizon must be >= 1, period_days > 0 and discount_rate > -1.")
    step = period_days / unit
    cum = np.vstack(
        [np.zeros(len(rfm))]
        + [np.asarray(transaction_model.conditional_expected_purchases(k * step, rfm), dtype=float) for k in range(1, horizon + 1)]
    )
    per_period = np.diff(cum, axis=0)
    discount = (1.0 + d) ** -np.arange(1, horizon + 1)
    spend = np.asarray(spend_model.conditional_expected_spend(rfm), dtype=float)
    out = pd.DataFrame(index=rfm.index)
    if "customer_id" in rfm.columns:
        out["customer_id"] = rfm["customer_id"]
    out["p_alive"] = np.asarray(transaction_model.p_alive(rfm), dtype=float)
    out["expected_purchases"] = cum[-1]
    out["expected_spend"] = spend
    out["clv"] = margin * spend * (discount @ per_period)
    return out


# --------------------------------------------------------------------------------------------------
# RFM summary from order lines
# --------------------------------------------------------------------------------------------------
# Why hand-written: a pandas group-by over (customer, day) needs hash group-bys on a million lines
# and is what makes lifetimes' summary slow. The kit codes the customers once, merges same-day
# purchases with one sort of an integer key and reduces with bincount: no group-by, no Python loop.
_TICKS_PER_DAY = {"D": 1, "h": 24, "m": 1_440, "s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def _day_numbers(dates) -> np.ndarray:
    """Calendar day numbers (days since 1970-01-01) of a date column; times of day are dropped."""
    values = dates.to_numpy() if isinstance(dates, pd.Series) and dates.dtype.kind == "M" else None
    if values is None:
        values = pd.to_datetime(dates).to_numpy()
    if values.dtype.kind != "M":
        raise RFMDataError("The date column must hold dates.")
    ticks = values.view(np.int64)
    if len(ticks) and ticks.min() == np.iinfo(np.int64).min:  # NaT is the smallest int64
        raise RFMDataError(f"The date column has {int(np.isnat(values).sum())} missing dates.")
    unit, count = np.datetime_data(values.dtype)
    per_day = _TICKS_PER_DAY.get(unit)
    if per_day is None or count != 1 or per_day % count:
        return values.astype("datetime64[D]").astype(np.int64)
    # integer floor division = numpy's datetime64[D] cast (floors before 1970 too), without its
    # unit-conversion machinery (five times faster)
    return ticks // per_day if per_day > 1 else ticks.copy()


def _as_day(value) -> int:
    return int(np.datetime64(pd.Timestamp(value).normalize(), "D").astype(np.int64))


def _fixed_width_keys(ids: pd.Series):
    """Order-preserving uint64 keys of pyarrow-backed string ids of one width up to 8 bytes, else None.

    ERP customer numbers usually have a fixed width ("K000123", CDNOW's "00001"). Read big-endian,
    the bytes of such an id are an integer that sorts like the string (UTF-8 byte order is code
    point order), and hashing integers is about twice as fast as hashing strings.
    """
    dtype = ids.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return None
    arr = pa.array(ids.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count or len(arr) == 0 or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    n = len(arr)
    offset_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    _, offsets_buffer, data_buffer = arr.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type, count=n + 1, offset=arr.offset * np.dtype(offset_type).itemsize)
    width = int(offsets[1] - offsets[0])
    if not 1 <= width <= 8 or offsets[-1] - offsets[0] != n * width or np.any(np.diff(offsets) != width):
        return None
    # Read an 8-byte big-endian window at every id (it overlaps the next id) and shift the surplus
    # bytes out: one vectorised pass, no per-id Python. Arrow pads its buffers to 64 bytes, so the
    # last window usually fits; otherwise read from a zero-padded copy.
    buffer, start = np.frombuffer(data_buffer, dtype=np.uint8), int(offsets[0])
    if start + (n - 1) * width + 8 > len(buffer):
        buffer = np.concatenate([buffer[start:start + n * width], np.zeros(8, dtype=np.uint8)])
        start = 0
    windows = np.ndarray((n,), dtype=">u8", buffer=buffer, offset=start, strides=(width,))
    return windows >> np.uint64(8 * (8 - width)), width


def _keys_to_strings(keys, width, dtype):
    """Inverse of :func:`_fixed_width_keys` for the (few) distinct ids."""
    data = keys.astype(">u8").view(np.uint8).reshape(-1, 8)[:, 8 - width:].copy()
    binary = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(keys), [None, pa.py_buffer(data)])
    return pd.Index(pd.array(binary.cast(pa.large_string()), dtype=dtype))


def _encode_integers(keys):
    """Codes (int32, first-appearance order) and the distinct keys of an integer array.

    pyarrow's hash table, about twice as fast as ``pd.factorize`` on a million 64-bit keys.
    """
    encoded = pc.dictionary_encode(pa.array(keys))
    return encoded.indices.to_numpy(), encoded.dictionary.to_numpy()


def _customer_codes(ids: pd.Series, customer_col):
    """Code every order line's customer once.

    Returns ``codes`` (one per line), ``customers`` (the distinct ids, indexed by code) and
    ``rank`` (the position of each code when the customers are sorted - the output order).
    Categorical ids keep their category order, as pandas sorts them.
    """
    if isinstance(ids.dtype, pd.CategoricalDtype):
        codes = ids.cat.codes.to_numpy()
        customers = pd.CategoricalIndex(ids.cat.categories, dtype=ids.dtype)
        rank = np.arange(len(customers))
    else:
        packed = _fixed_width_keys(ids)
        if packed is not None:
            keys, width = packed
            codes, unique_keys = _encode_integers(keys)
            customers = _keys_to_strings(unique_keys, width, ids.dtype)
            order = np.argsort(unique_keys)
        else:
            codes, customers = pd.factorize(ids)
            order = np.asarray(customers.argsort())
        rank = np.empty(len(order), dtype=np.intp)
        rank[order] = np.arange(len(order))
    if len(codes) and codes.min() < 0:
        raise RFMDataError(f"{int((codes < 0).sum())} order lines have no {customer_col}.")
    return codes, customers, rank


def _purchase_days(codes, n_customers, days):
    """Distinct purchase days per customer (same-day orders merged).

    One ``np.sort`` of an integer (customer, day) key - a plain sort is several times faster than
    the argsort a group-by needs; each customer's block of the sorted keys is then known from the
    line counts. Returns, over all ``n_customers`` codes, the number of purchase days (0 = no purchase;
    the other two arrays are then meaningless) and the first and last purchase day, counted from
    ``d0`` (the earliest day); plus ``d0`` and every line's day counted from ``d0``.
    """
    d0 = int(days.min())
    span = int(days.max()) - d0 + 1
    # 32-bit keys sort twice as fast (SIMD lanes); they suffice for ~1 million customer-years
    dtype = np.int32 if n_customers * span < 2**31 else np.int64
    day = np.subtract(days, d0, out=np.empty(len(days), dtype=dtype), casting="unsafe")
    key = codes.astype(dtype)
    key *= dtype(span)
    key += day
    key.sort()
    # distinct keys up to each position: the purchase days of a customer's block are a difference
    distinct = np.empty(len(key) + 1, dtype=np.int64)
    distinct[:2] = 0, 1
    np.cumsum(key[1:] != key[:-1], out=distinct[2:])
    distinct[2:] += 1
    # the sorted keys come in one block per customer, as long as the customer's line count
    bounds = np.zeros(n_customers + 1, dtype=np.intp)
    np.cumsum(np.bincount(codes, minlength=n_customers), out=bounds[1:])
    start, end = bounds[:-1], bounds[1:]
    n_days = distinct[end] - distinct[start]
    base = np.arange(n_customers, dtype=dtype) * dtype(span)  # key of each customer's day 0
    # no boolean selection: customers without a purchase (start == end) read a neighbour's key
    first = key[np.minimum(start, len(key) - 1)] - base
    last = key[end - 1] - base
    return n_days, first, last, d0, day


def _summarise(codes, n_customers, days, values, end_day, unit):
    """Per customer code: purchase days, frequency, recency, T and mean repeat spend (all codes)."""
    n_days, first, last, d0, day = _purchase_days(codes, n_customers, days)
    frequency = np.maximum(n_days - 1, 0)
    recency = (last - first) / unit
    T = ((end_day - d0) - first.astype(np.int64)) / unit
    monetary = None
    if values is not None:
        repeat_lines = np.where(day != first[codes], values, 0.0)
        repeat_value = np.bincount(codes, weights=repeat_lines, minlength=n_customers)
        with np.errstate(invalid="ignore", divide="ignore"):
            monetary = np.where(frequency > 0, repeat_value / np.maximum(frequency, 1), 0.0)
    return n_days, frequency, recency, T, monetary


def _prepare_orders(orders, customer_col, date_col, value_col):
    missing = [c for c in (customer_col, date_col, value_col) if c is not None and c not in orders.columns]
    if missing:
        raise RFMDataError(f"The orders table lacks the column(s) {missing}.")
    if len(orders) == 0:
        raise RFMDataError("The orders table is empty.")
    codes, customers, rank = _customer_codes(orders[customer_col], customer_col)
    days = _day_numbers(orders[date_col])
    values = None
    if value_col is not None:
        values = pd.to_numeric(orders[value_col]).to_numpy(dtype=float)
        if not np.all(np.isfinite(values)):
            raise RFMDataError(f"{value_col} has missing values.")
    return codes, customers, rank, days, values


def _output_rows(n_days, rank):
    """Codes of the customers with a purchase, in output (customer) order."""
    present = np.flatnonzero(n_days)
    return present[np.argsort(rank[present])]


def rfm_summary(
    orders,
    customer_col="customer_id",
    date_col="order_date",
    value_col="net_revenue",
    observation_end=None,
    time_unit=None,
    config=None,
):
    """Frequency, recency, T and mean repeat spend per customer, from order lines.

    All purchases of a customer on the same calendar day count as one purchase (order lines,
    several orders a day); the first purchase day is not a repeat purchase. Vectorised (customer
    ids coded once, one sort, no group-by, no per-customer loop): about 0.04 s for a million
    order lines.

    Parameters
    ----------
    orders : DataFrame
        Order lines, e.g. the canonical ``orders`` table.
    customer_col, date_col : str
        Customer id and order date columns.
    value_col : str or None, default "net_revenue"
        Value of a line; None skips ``monetary_value``.
    observation_end : date-like, optional
        End of observation (inclusive); later lines are ignored. Default: the last order date.
    time_unit : {"D", "W", "M", "Q", "Y"} or float, optional
        Unit of recency and T (a number = days per unit). Default config ``btyd.time_unit`` ("W",
        7 days, the unit of the BG/NBD literature).
    config : dict, optional
        Full configuration; None means the defaults.

    Returns
    -------
    DataFrame
        One row per customer with a purchase up to ``observation_end``, sorted by customer
        (categorical ids: in category order): ``customer_id`` (the dtype of the input column),
        ``frequency`` (int64, repeat purchase days), ``recency`` (float, first to last purchase
        day), ``T`` (float, first purchase day to ``observation_end``), ``monetary_value`` (float,
        mean spend per repeat purchase day, 0 without repeat purchase).
    """
    unit = _unit_days(_settings(config)["time_unit"] if time_unit is None else time_unit)
    codes, customers, rank, days, values = _prepare_orders(orders, customer_col, date_col, value_col)
    end_day = int(days.max()) if observation_end is None else _as_day(observation_end)
    keep = days <= end_day
    if not keep.any():
        raise RFMDataError(f"No order lies on or before observation_end {observation_end}.")
    if not keep.all():
        codes, days = codes[keep], days[keep]
        values = values[keep] if values is not None else None
    n_days, frequency, recency, T, monetary = _summarise(codes, len(customers), days, values, end_day, unit)
    rows = _output_rows(n_days, rank)
    columns = {"customer_id": customers.take(rows), "frequency": frequency[rows], "recency": recency[rows], "T": T[rows]}
    if monetary is not None:
        columns["monetary_value"] = monetary[rows]
    return pd.DataFrame(columns, copy=False)  # fresh arrays: nothing to protect by copying


def rfm_from_panel(panel: pd.DataFrame, quarter_end, time_unit=None, config=None) -> pd.DataFrame:
    """The RFM summary at ``quarter_end`` from the customer-quarter panel instead of the order lines.

    The same conventions as :func:`rfm_summary` (one purchase per calendar day, a credit note is no
    purchase, the first purchase day is no repeat purchase), built from the panel's purchase-day
    columns: ``frequency`` = purchase days up to the quarter (sum of ``order_days``) - 1, ``recency``
    = first to last purchase day, ``T`` = first purchase day to ``quarter_end``, in ``time_unit``.
    The one RFM summary of the panel: :mod:`bestandlib.features` (P(alive) per quarter) and the
    purchase model of :mod:`bestandlib.churn` use it.

    Parameters
    ----------
    panel : DataFrame
        Panel rows with ``customer_id, quarter`` (or ``quarter_end``), ``order_days,
        first_order_date, last_order_date``; rows of later quarters are ignored.
    quarter_end : date-like, str or Period
        End of observation: a quarter ("2025Q4": its last day) or the last day of one.
    time_unit : {"D", "W", "M", "Q", "Y"} or float, optional
        Default config ``btyd.time_unit``.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (sorted), columns ``frequency, recency, T``; only customers with a
        purchase day up to ``quarter_end``.
    """
    from bestandlib.periods import parse_quarter

    unit = _unit_days(_settings(config)["time_unit"] if time_unit is None else time_unit)
    if isinstance(quarter_end, (str, pd.Period)) and not str(quarter_end)[:10].count("-") == 2:
        q = parse_quarter(quarter_end)
        end, label = pd.Timestamp(q.end_time.normalize()), str(q)
    else:
        end = pd.Timestamp(quarter_end).normalize()
        label = str(end.to_period("Q-DEC"))
    if "quarter" in panel.columns:
        rows = panel.loc[panel["quarter"].astype(str) <= label]
    else:
        rows = panel.loc[pd.to_datetime(panel["quarter_end"]).dt.normalize() <= end]
    by = rows.groupby("customer_id", sort=True)
    days = by["order_days"].sum()
    first, last = by["first_order_date"].min(), by["last_order_date"].max()
    known = (days > 0) & first.notna() & last.notna()
    return pd.DataFrame({"frequency": (days[known] - 1).astype("int64"),
                         "recency": (last[known] - first[known]).dt.days / unit,
                         "T": (end - first[known]).dt.days / unit})


def calibration_holdout_split(
    orders,
    calibration_end,
    holdout_end=None,
    customer_col="customer_id",
    date_col="order_date",
    value_col="net_revenue",
    time_unit=None,
    config=None,
):
    """RFM summary of a calibration period and the purchases of the following holdout period.

    For back-testing: fit on the ``*_cal`` columns, compare ``conditional_expected_purchases(
    duration_holdout, ...)`` with ``frequency_holdout``. Only customers whose first purchase lies in
    the calibration period are included (their history is what the models condition on). The
    customer ids are coded once for both periods.

    Parameters
    ----------
    orders : DataFrame
    calibration_end : date-like
        Last day of the calibration period (inclusive).
    holdout_end : date-like, optional
        Last day of the holdout period (inclusive). Default: the last order date.
    customer_col, date_col, value_col, time_unit, config
        As in :func:`rfm_summary`.

    Returns
    -------
    DataFrame
        Sorted as :func:`rfm_summary`: ``customer_id``, ``frequency_cal`` (int64), ``recency_cal``,
        ``T_cal``, ``monetary_value_cal``, ``frequency_holdout`` (int64, purchase days in the
        holdout), ``monetary_value_holdout`` (mean spend per holdout purchase day, 0 without),
        ``duration_holdout`` (float).
    """
    unit = _unit_days(_settings(config)["time_unit"] if time_unit is None else time_unit)
    codes, customers, rank, days, values = _prepare_orders(orders, customer_col, date_col, value_col)
    n_customers = len(customers)
    cal_day = _as_day(calibration_end)
    end_day = int(days.max()) if holdout_end is None else _as_day(holdout_end)
    if end_day <= cal_day:
        raise RFMDataError(
            f"The holdout period is empty: holdout_end ({pd.Timestamp(end_day, unit='D').date()}) must lie "
            f"after calibration_end ({pd.Timestamp(calibration_end).date()})."
        )
    cal = days <= cal_day
    if not cal.any():
        raise RFMDataError(f"No order lies on or before calibration_end {calibration_end}.")
    pick = (lambda mask: values[mask]) if values is not None else (lambda mask: None)
    n_days, frequency, recency, T, monetary = _summarise(codes[cal], n_customers, days[cal], pick(cal), cal_day, unit)
    rows = _output_rows(n_days, rank)

    hold = (days > cal_day) & (days <= end_day)
    n_hold = np.zeros(n_customers, dtype=np.int64)
    hold_value = np.zeros(n_customers)
    if hold.any():
        n_hold = _purchase_days(codes[hold], n_customers, days[hold])[0]
        if values is not None:
            hold_value = np.bincount(codes[hold], weights=values[hold], minlength=n_customers)
    out = pd.DataFrame(
        {
            "customer_id": customers.take(rows),
            "frequency_cal": frequency[rows],
            "recency_cal": recency[rows],
            "T_cal": T[rows],
        }
    )
    if monetary is not None:
        out["monetary_value_cal"] = monetary[rows]
    out["frequency_holdout"] = n_hold[rows]
    if values is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            out["monetary_value_holdout"] = np.where(n_hold > 0, hold_value / np.maximum(n_hold, 1), 0.0)[rows]
    out["duration_holdout"] = (end_day - cal_day) / unit
    return out
