"""Churn risk: who will leave or shrink, how sure we are, and whether habituation is behind it.

The pieces, in the order a notebook uses them::

    frame = churn.model_frame(s.panel, s.tables, config=s.config)     # features + targets
    bt = churn.backtest(frame, config=s.config)                      # rolling origin, past only
    churn.backtest_metrics(bt)                                       # AUC, PR AUC, Brier, lift ...
    model = churn.fit_current(frame, s.quarter, config=s.config)     # trained on observed outcomes
    table = churn.churn_table(frame, model, s.tables.customers, s.quarter, config=s.config)

Targets (configurable in ``churn.target``) for a customer in quarter t:

* **full** churn: no order in the next ``full_quarters`` (2) quarters;
* **partial** churn: revenue of the next ``partial_quarters`` (4) quarters below ``partial_share``
  (50 %) of the last 4 quarters - B2B customers usually shrink before they leave;
* **either** (default): full or partial.

A row's outcome is *observed* once its whole outcome window lies inside the data. The backtest scores
quarter s with a model trained only on rows t with t + horizon <= s, so no training outcome reaches
into the scored quarter or beyond (``backtest`` asserts it for every split).

Models (:class:`ChurnModel`): a regularised logistic regression (the default: its per-feature
contributions ``coef x standardised value`` give the reasons in words) and a histogram gradient
boosting model, both wrapped in scikit-learn's probability calibration. The baselines are recency
alone (days since the last order) and 1 - BTYD P(alive).

Habituation flag: a customer is flagged when the risk is high (probability at or above
``flag.min_probability``, or among the ``flag.top_share`` riskiest) AND at least
``flag.habituation_share`` of the positive logistic-regression contributions come from the
habituation signals (:data:`bestandlib.features.HABITUATION_FEATURES`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bestandlib import i18n
from bestandlib.config import ensure_config
from bestandlib.errors import BestandError, ConfigError
from bestandlib.features import FEATURES, HABITUATION_FEATURES, habituation_features
from bestandlib.periods import parse_quarter

__all__ = ["ChurnModel", "churn_settings", "churn_targets", "model_frame", "backtest_splits",
           "backtest", "backtest_metrics", "calibration_table", "lift_table", "lead_times",
           "fit_current", "explain", "habituation_share", "reason_text", "churn_table", "plot_backtest",
           "plot_calibration", "plot_lift", "TABLE_COLUMNS", "ONBOARDING_FEATURES", "SEGMENTS",
           "fit_onboarding", "calibration_by_decile", "BacktestReport", "backtest_report", "CurrentRisk",
           "current_risk", "current_risk_data", "word_risk", "churn_table_data", "reason_features",
           "word_reasons", "backtest_notes", "session_frame", "session_backtest", "session_risk_data",
           "session_risk", "session_purchase", "PurchaseReport", "purchase_report", "PageSummary", "page_summary", "risk_csv"]

#: Columns of ``tables/churn_risk.csv`` (the first seven are the contract with the playbook).
TABLE_COLUMNS = ["customer_id", "churn_probability", "habituation_flag", "reason_1", "reason_2",
                 "reason_3", "margin_at_risk", "risk_level", "high_risk", "habituation_share",
                 "margin_12m", "revenue_12m", "name", "account_manager", "business_unit", "segment_model"]

#: Inputs of the onboarding model (customers younger than ``population.min_tenure_quarters``): has
#: the second purchase day happened, purchase days so far, purchase days against the cohort at the
#: same age (log ratio), days since the last order against the cohort's mean gap at that age,
#: recency and age. The cohort of a customer-quarter is every customer of the same age (tenure) in
#: that quarter or before it, so nothing looks ahead.
ONBOARDING_FEATURES = ["second_order", "purchase_days_so_far", "order_rate_vs_cohort", "overdue_vs_cohort",
                       "days_since_last_order", "tenure_quarters"]

#: Values of ``segment_model`` in the churn table: which rule scored the customer.
#: ``established`` - the tested churn model (the scoring population); ``onboarding`` - the onboarding
#: model (too young for the population); ``purchase_model`` - active, but neither model scores them
#: (no order within ``population.active_quarters``, or young without an onboarding model): BG/NBD
#: 1 - P(alive) at the quarter's end, Platt-calibrated on the past rows of this group when they hold
#: churners and non-churners; ``recency`` - as before but P(alive) unknown (no BG/NBD fit that
#: quarter): the overdue score of :func:`bestandlib.actions.recency_risk` (not a probability).
SEGMENTS = ("established", "onboarding", "purchase_model", "recency")

# The defaults live only in bestand.yml (section churn; churn.features belongs to bestandlib.features).
from bestandlib.config import default_config as _default_config  # noqa: E402

_DEFAULTS = {k: v for k, v in _default_config()["churn"].items() if k != "features"}

# Which side of a feature means risk: +1 = higher is riskier, -1 = lower is riskier, 0 = either.
# A contribution only becomes a reason when the customer's value lies on the risky side, so the
# words never read "visits +20 %" as a reason to worry.
RISK_DIRECTION = {
    "order_interval_change": 1, "contact_change": -1, "visit_change": -1,
    "novelty_contact_change": -1, "quarters_since_new_group": 1, "share_of_wallet_change": -1,
    "complaint_change": 1, "resolution_days": 1, "satisfaction_change": -1,
    "account_manager_quarters": 0, "days_since_last_order": 1, "revenue_change": -1,
    # revenue_year_change: a year above the one before raises the risk of a partial-churn outcome
    # (such years tend to fall back), a statistical reason, not one to act on: worded only when down
    "revenue_year_change": -1, "order_rate_change": -1, "orders_4q": -1,
    "order_cv": 1, "tenure_quarters": 0, "p_alive": -1,
    # onboarding model
    "second_order": -1, "purchase_days_so_far": -1, "order_rate_vs_cohort": -1, "overdue_vs_cohort": 1,
}


def churn_settings(config=None) -> dict:
    """The ``churn`` section with defaults filled in (sub-dicts merged key by key)."""
    cfg = ensure_config(config)
    section = cfg.get("churn") or {}
    out = {}
    for key, default in _DEFAULTS.items():
        out[key] = {**default, **(section.get(key) or {})}
    kind = out["target"]["kind"]
    if kind not in ("full", "partial", "either"):
        raise ConfigError(f"churn.target.kind must be full, partial or either, not {kind!r}")
    if out["model"]["kind"] not in ("logistic", "gradient_boosting"):
        raise ConfigError("churn.model.kind must be logistic or gradient_boosting, "
                          f"not {out['model']['kind']!r}")
    return out



class NothingToLearn(BestandError):
    """The data hold no churners (or no non-churners) a model could learn from: a world where nobody
    has left yet. Not a failure of the kit: the page says so instead of a risk model."""


def _horizon(target: dict) -> int:
    kind = target["kind"]
    if kind == "full":
        return int(target["full_quarters"])
    if kind == "partial":
        return int(target["partial_quarters"])
    return max(int(target["full_quarters"]), int(target["partial_quarters"]))


# --------------------------------------------------------------------------------------------------
# Targets and the modelling frame
# --------------------------------------------------------------------------------------------------

def _future_sum(frame: pd.DataFrame, col: str, h: int) -> pd.Series:
    """Sum of ``col`` over quarters t+1 .. t+h of the same customer (NaN where not in the panel)."""
    cs = frame.groupby("customer_id", sort=False)[col].cumsum()
    return cs.groupby(frame["customer_id"], sort=False).shift(-h) - cs


def churn_targets(panel: pd.DataFrame, config=None) -> pd.DataFrame:
    """Churn outcomes per customer-quarter (they look into the future: for training and scoring only).

    Parameters
    ----------
    panel : DataFrame
        The customer-quarter panel (dense per customer up to the last quarter of the data).
    config : dict, optional
        ``churn.target``: ``kind`` (full | partial | either), ``full_quarters``,
        ``partial_quarters``, ``partial_share``.

    Returns
    -------
    DataFrame
        ``customer_id, quarter, churn_full, churn_partial, churn, observed, lost_revenue``.
        ``churn_*`` are floats (1.0/0.0, NaN while the outcome window is not fully in the data);
        ``observed`` says whether the configured target is known; ``lost_revenue`` is the revenue of
        the last 4 quarters minus the (annualised) revenue of the target window, for churners.
    """
    t = churn_settings(config)["target"]
    hf, hp, share = int(t["full_quarters"]), int(t["partial_quarters"]), float(t["partial_share"])
    f = panel[["customer_id", "quarter", "revenue", "orders"]].sort_values(
        ["customer_id", "quarter"], ignore_index=True)
    last4 = f.groupby("customer_id", sort=False)["revenue"].rolling(4, min_periods=1).sum()
    last4 = last4.reset_index(level=0, drop=True)
    fut_orders = _future_sum(f, "orders", hf)
    fut_rev = _future_sum(f, "revenue", hp)
    full = (fut_orders == 0).astype(float).where(fut_orders.notna())
    partial = ((fut_rev < share * last4) & (last4 > 0)).astype(float).where(fut_rev.notna())
    if t["kind"] == "full":
        y = full
    elif t["kind"] == "partial":
        y = partial
    else:  # either: known as soon as both windows are in the data
        y = np.fmax(full, partial).where(full.notna() & partial.notna())
    h = _horizon(t)
    fut_rev_h = _future_sum(f, "revenue", h) * 4.0 / h
    lost = (last4 - fut_rev_h).clip(lower=0).fillna(0.0) * y.fillna(0.0)
    return pd.DataFrame({"customer_id": f["customer_id"], "quarter": f["quarter"], "churn_full": full,
                         "churn_partial": partial, "churn": y, "observed": y.notna(),
                         "lost_revenue": lost})


def model_frame(panel: pd.DataFrame, tables=None, config=None, features: pd.DataFrame | None = None
                ) -> pd.DataFrame:
    """Features, targets and the scoring population in one customer-quarter frame.

    Parameters
    ----------
    panel : DataFrame
        The customer-quarter panel.
    tables : bestandlib.io.Tables, optional
        For the contact, complaint, potential, survey and order based signals.
    config : dict, optional
        Full configuration (``churn`` section).
    features : DataFrame, optional
        Precomputed :func:`bestandlib.features.habituation_features` (saves the P(alive) fits).

    Returns
    -------
    DataFrame
        The feature frame plus ``churn_full, churn_partial, churn, observed, lost_revenue`` and
        ``in_population`` (active in the last ``population.active_quarters`` quarters and at least
        ``population.min_tenure_quarters`` old: the customers a churn score is meant for),
        ``active`` (an order in the last 4 quarters, as :func:`bestandlib.panel.customer_summary`),
        ``in_onboarding`` (active, younger than ``min_tenure_quarters`` and new: the first order lies
        at least 4 quarters after the first quarter of the data, so the customer did not buy in the
        year before it - a customer first seen at the start of the data is an old customer whose
        history is cut off, not a new one; the onboarding model's population) and the onboarding signals :data:`ONBOARDING_FEATURES` with their helpers
        ``cohort_purchase_days``, ``cohort_gap_days`` and ``own_gap_days``.
    """
    st = churn_settings(config)
    feats = features if features is not None else habituation_features(panel, tables, config=config)
    targets = churn_targets(panel, config)
    frame = feats.merge(targets, on=["customer_id", "quarter"], how="left", validate="one_to_one")
    pop = st["population"]
    active_q = int(pop["active_quarters"])
    recent_orders = frame.groupby("customer_id", sort=False)["orders"].rolling(
        active_q, min_periods=1).sum().reset_index(level=0, drop=True)
    frame["in_population"] = (recent_orders > 0) & (frame["tenure_quarters"] >= int(pop["min_tenure_quarters"]))
    frame["active"] = frame["orders_4q"] > 0
    first_qi = frame["quarter_index"] - frame["tenure_quarters"]
    new = first_qi >= frame["quarter_index"].min() + 4
    frame["in_onboarding"] = (frame["active"] & new
                              & (frame["tenure_quarters"] < int(pop["min_tenure_quarters"])))
    return _onboarding_features(frame, panel, new)


def _onboarding_features(frame: pd.DataFrame, panel: pd.DataFrame, new: pd.Series) -> pd.DataFrame:
    """Adds :data:`ONBOARDING_FEATURES` (vectorised; past and same-quarter data only).

    Purchase days come from the panel's ``order_days`` (orders where the panel has none), the gaps
    between them from ``gap_days_sum``. The cohort figures of a row are means over every row of the
    same tenure in the same quarter or before (expanding over calendar quarters) among the new
    customers (``new``: not cut off by the start of the data)."""
    extra = [c for c in ("order_days", "gap_days_sum") if c in panel.columns]
    f = frame[["customer_id", "quarter"]].merge(panel[["customer_id", "quarter", *extra]],
                                                 on=["customer_id", "quarter"], how="left")
    g = frame["customer_id"].to_numpy()
    days = (f["order_days"] if "order_days" in f else frame["orders"]).fillna(0.0).to_numpy(dtype=float)
    so_far = pd.Series(days, index=frame.index).groupby(g, sort=False).cumsum()
    if "gap_days_sum" in f:
        gaps = pd.Series(f["gap_days_sum"].fillna(0.0).to_numpy(dtype=float), index=frame.index)
        own_gap = (gaps.groupby(g, sort=False).cumsum() / (so_far - 1)).where(so_far >= 2)
    else:
        own_gap = pd.Series(np.nan, index=frame.index)
    key = pd.DataFrame({"k": frame["tenure_quarters"].to_numpy(), "qi": frame["quarter_index"].to_numpy(),
                        "days": so_far.to_numpy(), "gap": own_gap.to_numpy()})
    agg = key[new.to_numpy()].groupby(["qi", "k"]).agg(n=("days", "size"), s=("days", "sum"),
                                                        gn=("gap", "count"), gs=("gap", "sum"))
    # running totals per age over all calendar quarters (a quarter without new customers of that
    # age keeps the totals of the quarters before)
    quarters = np.arange(int(key["qi"].min()), int(key["qi"].max()) + 1)
    cum = {c: agg[c].unstack("k").reindex(quarters).fillna(0.0).cumsum() for c in agg.columns}

    def lookup(table):
        rows = np.searchsorted(quarters, key["qi"].to_numpy())
        cols = table.columns.get_indexer(key["k"].to_numpy())
        vals = table.to_numpy()
        return np.where(cols >= 0, vals[rows, np.maximum(cols, 0)], np.nan) if table.shape[1] else \
            np.full(len(key), np.nan)

    n, gn = lookup(cum["n"]), lookup(cum["gn"])
    with np.errstate(invalid="ignore", divide="ignore"):
        cohort_days = np.where(n > 0, lookup(cum["s"]) / n, np.nan)
        cohort_gap = np.where(gn >= 5, lookup(cum["gs"]) / gn, np.nan)
    out = frame.copy()
    out["purchase_days_so_far"] = so_far.to_numpy()
    out["second_order"] = (so_far >= 2).astype(float).to_numpy()
    out["own_gap_days"] = own_gap.to_numpy()
    out["cohort_purchase_days"] = cohort_days
    out["cohort_gap_days"] = cohort_gap
    out["order_rate_vs_cohort"] = np.log((so_far.to_numpy() + 0.5) / (cohort_days + 0.5))
    out["overdue_vs_cohort"] = out["days_since_last_order"] / np.where(cohort_gap > 0, cohort_gap, np.nan)
    return out


# --------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------

def _logistic(C, random_state):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import QuantileTransformer, StandardScaler

    # Rank-based normal scores (QuantileTransformer): the signals are skewed with long tails (days
    # since the last order, interval ratios), and a linear model on normal scores uses their order,
    # not their extremes. Missing values stay missing through the transform and are then set to
    # the median (0), i.e. "an average customer" contributes nothing.
    return make_pipeline(QuantileTransformer(n_quantiles=200, output_distribution="normal",
                                             subsample=100_000, random_state=random_state),
                         SimpleImputer(strategy="constant", fill_value=0.0, keep_empty_features=True),
                         StandardScaler(), LogisticRegression(C=C, max_iter=500, random_state=random_state))


#: Rows of the rarer class (usually churners) from which ``calibration="auto"`` calibrates isotonically.
ISOTONIC_MIN = 200


def _build_classes() -> dict:
    """The estimator classes, built on first use: scikit-learn costs over a second to import, and pages
    that only need labels or tables never pay it (``churn.ChurnModel`` builds them, see ``__getattr__``)."""
    from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.utils.validation import check_is_fitted
    from threadpoolctl import threadpool_limits

    class ChurnModel(ClassifierMixin, BaseEstimator):
        """Calibrated churn classifier on habituation and risk features.

        Parameters
        ----------
        kind : {"logistic", "gradient_boosting"}
            ``logistic``: rank-based normal scores, missing = average, standardise, L2-regularised
            logistic regression.
            ``gradient_boosting``: :class:`~sklearn.ensemble.HistGradientBoostingClassifier` (handles
            missing values natively).
        C : float
            Inverse L2 strength of the logistic regression.
        calibration : {"auto", "sigmoid", "isotonic", None}
            Probability calibration by :class:`~sklearn.calibration.CalibratedClassifierCV` (3 folds).
            ``auto`` (the configured default): isotonic when the rarer class has at least
            :data:`ISOTONIC_MIN` rows (about 67 per calibration fold), else sigmoid. The risk score's
            relation to churn is not sigmoid-shaped on the demo worlds: with sigmoid calibration the
            backtest over-predicts the middle risk deciles and under-predicts the riskiest one by more
            than 3 binomial standard errors; isotonic keeps every decile within them (tests/test_churn.py).
        features : list of str, optional
            Columns of ``X`` to use; default :data:`bestandlib.features.FEATURES`.
        random_state : int
        n_threads : int or None
            OpenMP threads of the gradient boosting. One thread is as fast at this size (tens of
            thousands of rows) and avoids the heavy slow-down of oversubscribed shared machines.
        explain : bool
            Fit the explaining logistic regression (``explainer_``) also for ``kind="gradient_boosting"``.
            The backtest turns it off for models whose contributions it does not read.

        Attributes
        ----------
        estimator_ : the fitted (calibrated) classifier
        explainer_ : Pipeline
            The logistic regression fitted on all rows: its contributions explain the risk (also when
            ``kind="gradient_boosting"`` predicts it; absent then with ``explain=False``).
        features_ : list of str
        classes_ : ndarray
        """

        def __init__(self, kind="logistic", C=0.3, calibration="sigmoid", features=None, random_state=0,
                     n_threads=1, explain=True):
            self.kind = kind
            self.explain = explain
            self.C = C
            self.calibration = calibration
            self.features = features
            self.random_state = random_state
            self.n_threads = n_threads

        def _X(self, X):
            if isinstance(X, pd.DataFrame):
                missing = [c for c in self.features_ if c not in X]
                if missing:
                    raise BestandError(f"ChurnModel: feature columns missing: {missing}")
                return X[self.features_].to_numpy(dtype=float)
            return np.asarray(X, dtype=float)

        def fit(self, X, y):
            """Fit on a feature frame ``X`` (one row per customer-quarter) and 0/1 outcomes ``y``."""
            if self.kind not in ("logistic", "gradient_boosting"):
                raise ConfigError(f"ChurnModel.kind must be logistic or gradient_boosting, not {self.kind!r}")
            if isinstance(X, pd.DataFrame):
                self.features_ = [c for c in (self.features or FEATURES) if c in X]
            else:
                self.features_ = list(self.features or [f"x{i}" for i in range(np.shape(X)[1])])
            with threadpool_limits(self.n_threads):
                return self._fit(self._X(X), y)

        def _fit(self, Xa, y):
            y = np.asarray(y).astype(int)
            if len(np.unique(y)) < 2:
                raise NothingToLearn("ChurnModel needs churners and non-churners in the training data.")
            self.classes_ = np.array([0, 1])
            # the gradient boosting of a backtest needs no explainer (explain=False): one fit less
            if self.explain or self.kind == "logistic":
                self.explainer_ = _logistic(self.C, self.random_state).fit(Xa, y)
            if self.kind == "logistic":
                base = _logistic(self.C, self.random_state)
            else:
                # Stops when 10 % held-out rows have not improved for 10 rounds: at thousands of rows
                # that happens after 20-60 of the 100 rounds (scikit-learn's "auto" only stops above
                # 10,000 rows, i.e. runs all 100 rounds on the calibration folds of the demo). Needs a
                # few of the rarer class in each held-out tenth, so not on tiny data.
                rarer_all = int(np.bincount(y, minlength=2).min())
                base = make_pipeline(_DropEmptyColumns(), HistGradientBoostingClassifier(
                    max_iter=100, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=40,
                    l2_regularization=1.0, early_stopping=len(y) >= 2000 and rarer_all >= 100,
                    validation_fraction=0.1, n_iter_no_change=10, random_state=self.random_state))
            # Calibration cross-validates in stratified folds, each needing examples of both classes:
            # at most 3 folds, fewer when one class is rarer; with a single churner (or non-churner)
            # there is nothing to calibrate on and the model's own probabilities are used.
            rarer = int(np.bincount(y, minlength=2).min())
            folds = min(3, rarer)
            self.calibrated_ = self.calibration is not None and folds >= 2
            if not self.calibrated_:
                self.estimator_ = self.explainer_ if self.kind == "logistic" else base.fit(Xa, y)
            else:
                method = self.calibration
                if method == "auto":
                    method = "isotonic" if rarer >= ISOTONIC_MIN else "sigmoid"
                self.calibration_method_ = method
                self.estimator_ = CalibratedClassifierCV(base, method=method, cv=folds).fit(Xa, y)
            self.n_features_in_ = Xa.shape[1]
            return self

        def predict_proba(self, X):
            check_is_fitted(self, "estimator_")
            with threadpool_limits(self.n_threads):
                return self.estimator_.predict_proba(self._X(X))

        def predict(self, X):
            return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

        def contributions(self, X) -> pd.DataFrame:
            """Per-feature contributions to the log-odds of churn (coef x standardised value).

            Relative to an average customer of the training data (standardised value 0), so positive
            values push the risk up. Columns = ``features_``.
            """
            check_is_fitted(self, "explainer_")
            pre = self.explainer_[:-1].transform(self._X(X))
            coef = self.explainer_[-1].coef_[0]
            index = X.index if isinstance(X, pd.DataFrame) else None
            return pd.DataFrame(pre * coef, columns=self.features_, index=index)

        @property
        def coefficients_(self) -> pd.Series:
            """Standardised logistic-regression coefficients per feature (log-odds per SD)."""
            check_is_fitted(self, "explainer_")
            return pd.Series(self.explainer_[-1].coef_[0], index=self.features_, name="coefficient")


    class _DropEmptyColumns(TransformerMixin, BaseEstimator):
        """Drops columns without any value in the training data.

        HistGradientBoosting handles missing values natively, but scikit-learn 1.9 fails while binning a
        column that is missing everywhere (e.g. satisfaction change when a fold has no surveys).
        """

        def fit(self, X, y=None):
            self.keep_ = ~np.all(np.isnan(np.asarray(X, dtype=float)), axis=0)
            return self

        def transform(self, X):
            check_is_fitted(self, "keep_")
            return np.asarray(X, dtype=float)[:, self.keep_]

    for cls in (ChurnModel, _DropEmptyColumns):  # pickles name them bestandlib.churn.<class>
        cls.__module__, cls.__qualname__ = __name__, cls.__name__
    return {"ChurnModel": ChurnModel, "_DropEmptyColumns": _DropEmptyColumns}


_CLASSES: dict = {}


def __getattr__(name: str):
    # PEP 562: ``churn.ChurnModel`` (and pickles of fitted models) build the classes on first use
    if name in ("ChurnModel", "_DropEmptyColumns"):
        if not _CLASSES:
            _CLASSES.update(_build_classes())
            globals().update(_CLASSES)
        return _CLASSES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _model_class():
    return __getattr__("ChurnModel")


def _make_model(settings: dict, kind: str | None = None, segment: str = "established") -> ChurnModel:
    m = settings["model"]
    if segment == "onboarding":  # always the explainable logistic model, on the onboarding signals
        return _model_class()(kind="logistic", C=float(m["C"]), calibration=m["calibration"],
                          features=list(ONBOARDING_FEATURES), random_state=int(m["random_state"]))
    return _model_class()(kind=kind or m["kind"], C=float(m["C"]), calibration=m["calibration"],
                      features=list(m["features"]) if m.get("features") else None,
                      random_state=int(m["random_state"]))


def _train_sample(train: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """At most ``model.max_train_rows`` training rows: a uniform random sample (``model.random_state``)
    when there are more, so the churn rate and with it the calibration stay as in the data; all rows
    otherwise (null = never sampled). A model trained on 100,000 customer-quarters ranks as well as one
    trained on millions, and the fits of a rolling backtest on a large panel stay within minutes."""
    limit = settings["model"].get("max_train_rows")
    if limit is None or len(train) <= int(limit):
        return train
    rng = np.random.default_rng(int(settings["model"]["random_state"]))
    return train.iloc[np.sort(rng.choice(len(train), size=int(limit), replace=False))]


_POPULATION = {"established": "in_population", "onboarding": "in_onboarding"}


def _population(frame: pd.DataFrame, segment: str) -> pd.Series:
    if segment not in _POPULATION:
        raise ValueError(f"segment must be established or onboarding, not {segment!r}")
    return frame[_POPULATION[segment]]


# --------------------------------------------------------------------------------------------------
# Rolling-origin backtest
# --------------------------------------------------------------------------------------------------

def _qi(label: str) -> int:
    p = parse_quarter(label)
    return p.year * 4 + p.quarter - 1


def _label(qi: int) -> str:
    return f"{qi // 4}Q{qi % 4 + 1}"


def backtest_splits(frame: pd.DataFrame, config=None, until=None) -> list[dict]:
    """The rolling-origin splits: for each scored quarter, the last training quarter.

    A row of quarter t may train a model that scores quarter s only when its outcome window
    (t+1 .. t+horizon) has ended by the end of s: t + horizon <= s. The scored quarters are the last
    ``backtest.quarters`` quarters (up to ``until``) whose own outcome is observed.

    Returns
    -------
    list of dict
        ``scored`` (quarter label), ``train_until`` (last training quarter), ``horizon``.
    """
    st = churn_settings(config)
    h = _horizon(st["target"])
    obs = frame.loc[frame["observed"], "quarter_index"]
    if obs.empty:
        raise BestandError("No quarter with an observed churn outcome: the history is too short.")
    last = int(obs.max()) if until is None else min(int(obs.max()), _qi(until))
    first = int(frame["quarter_index"].min())
    n = int(st["backtest"]["quarters"])
    min_train = int(st["backtest"]["min_train_quarters"])
    splits = []
    for s in range(last - n + 1, last + 1):
        train_until = s - h
        if train_until - first + 1 < min_train:
            continue
        splits.append({"scored": _label(s), "train_until": _label(train_until), "horizon": h})
    if not splits:
        raise BestandError("The history is too short for a backtest: need at least "
                           f"{min_train + 2 * h} quarters with customers old enough to score.")
    return splits


def backtest(frame: pd.DataFrame, config=None, kinds=("logistic", "gradient_boosting"),
             until=None, segment: str = "established") -> pd.DataFrame:
    """Score each backtest quarter with models trained on the past only, and the two baselines.

    Parameters
    ----------
    frame : DataFrame
        From :func:`model_frame`.
    config : dict, optional
    kinds : sequence of str
        Model kinds to backtest (each calibrated as configured).
    until : str, optional
        Last quarter that may be scored (default: the last quarter with observed outcomes).
    segment : {"established", "onboarding"}
        Which model to test: the churn model on the scoring population (``in_population``), or the
        onboarding model on the customers too young for it (``in_onboarding``, always logistic on
        :data:`ONBOARDING_FEATURES`; its score column is named after ``kinds[0]``). Same splits.

    Returns
    -------
    DataFrame
        One row per scored customer-quarter: ``customer_id, quarter, train_until, churn,
        lost_revenue, revenue_4q`` and one score column per model kind plus ``recency`` (days since
        the last order) and ``p_alive`` (1 - P(alive)); higher score = riskier. ``train_rows`` and
        ``train_available``: rows the split's models were trained on, of how many (fewer when
        ``model.max_train_rows`` sampled them, see :func:`_train_sample`).

    Each split trains every model kind once, on the population rows its outcome allows (sampled to
    ``model.max_train_rows``), with the feature columns only; only the first kind fits the explaining
    regression (its habituation flag is the one the sales team would have seen).
    """
    st = churn_settings(config)
    first = _make_model(st, tuple(kinds)[0], segment)
    features = [c for c in (first.features or FEATURES) if c in frame]
    keep = ["customer_id", "quarter", "quarter_index", "churn", "lost_revenue", "revenue_4q",
            "days_since_last_order", "p_alive", *features]
    pop = frame.loc[_population(frame, segment) & frame["observed"], list(dict.fromkeys(keep))]
    if segment == "onboarding":
        kinds = tuple(kinds)[:1]
    out = []
    for split in backtest_splits(frame, config, until):
        s, tu = _qi(split["scored"]), _qi(split["train_until"])
        train = pop[pop["quarter_index"] <= tu]
        test = pop[pop["quarter_index"] == s]
        # an early split of a short or small history may have no population rows to learn from
        if train.empty or test.empty or train["churn"].nunique() < 2:
            continue
        # the guarantee of the design: no training outcome window reaches past the scored quarter
        assert int(train["quarter_index"].max()) + split["horizon"] <= s
        scored = test[["customer_id", "quarter", "churn", "lost_revenue", "revenue_4q"]].copy()
        scored["train_until"] = split["train_until"]
        available = len(train)
        train = _train_sample(train, st)
        if train["churn"].nunique() < 2:
            continue
        scored["train_rows"], scored["train_available"] = len(train), available
        for i, kind in enumerate(kinds):
            model = _make_model(st, kind, segment).set_params(explain=i == 0).fit(train, train["churn"])
            scored[kind] = model.predict_proba(test)[:, 1]
            if i == 0:  # the flag of the first (default) model, as the sales team would have seen it
                share = habituation_share(model, test, config).to_numpy()
                high = _high_risk(pd.Series(scored[kind].to_numpy()), st["flag"]).to_numpy()
                scored["habituation_flag"] = high & (share >= float(st["flag"]["habituation_share"]))
        scored["recency"] = test["days_since_last_order"].fillna(1e6).to_numpy()
        scored["p_alive"] = (1.0 - test["p_alive"]).fillna(0.0).to_numpy()
        out.append(scored)
    if not out:
        raise NothingToLearn("The backtest found no quarter with churners and non-churners to learn from.")
    return pd.concat(out, ignore_index=True)


def _score_columns(scores: pd.DataFrame) -> list[str]:
    fixed = {"customer_id", "quarter", "train_until", "churn", "lost_revenue", "revenue_4q",
             "habituation_flag", "train_rows", "train_available"}
    return [c for c in scores.columns if c not in fixed and not c.startswith("top_")]


def _top(scores: pd.DataFrame, col: str, share: float) -> pd.Series:
    """True for the ``share`` highest scores within each quarter (the list the sales team gets)."""
    rank = scores.groupby("quarter")[col].rank(ascending=False, method="first")
    n = scores.groupby("quarter")[col].transform("size")
    return rank <= np.ceil(share * n)


def backtest_metrics(scores: pd.DataFrame, config=None, by_quarter: bool = False) -> pd.DataFrame:
    """ROC AUC, PR AUC, Brier score, lift / recall / revenue recall in the top share, per score.

    Parameters
    ----------
    scores : DataFrame
        From :func:`backtest`.
    by_quarter : bool
        One row per score and quarter (True) or pooled over all backtest quarters (False). The top
        share is always taken within each quarter.

    Returns
    -------
    DataFrame
        ``score, [quarter,] n, churners, churn_rate, roc_auc, pr_auc, brier, lift_top, recall_top,
        revenue_recall_top``. ``brier`` is NaN for ``recency`` (not a probability).
    """
    share = float(churn_settings(config)["backtest"]["top_share"])
    rows = []
    groups = scores.groupby("quarter") if by_quarter else [(None, scores)]
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    for q, df in groups:
        y = df["churn"].to_numpy().astype(int)
        for col in _score_columns(scores):
            p = df[col].to_numpy()
            top = _top(df, col, share).to_numpy()
            both = len(np.unique(y)) == 2
            rate = y.mean() if len(y) else np.nan
            row = {"score": col, "n": len(df), "churners": int(y.sum()), "churn_rate": rate,
                   "roc_auc": roc_auc_score(y, p) if both else np.nan,
                   "pr_auc": average_precision_score(y, p) if both else np.nan,
                   "brier": brier_score_loss(y, p) if col != "recency" else np.nan,
                   "lift_top": (y[top].mean() / rate) if rate > 0 and top.any() else np.nan,
                   "recall_top": y[top].sum() / max(y.sum(), 1),
                   "revenue_recall_top": df["lost_revenue"].to_numpy()[top].sum()
                   / max(df["lost_revenue"].sum(), 1e-9)}
            if by_quarter:
                row = {"quarter": q, **row}
            rows.append(row)
    return pd.DataFrame(rows)


def calibration_table(scores: pd.DataFrame, score: str = "logistic", n_bins: int = 10) -> pd.DataFrame:
    """Predicted vs observed churn rate in quantile bins (:func:`sklearn.calibration.calibration_curve`)."""
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(scores["churn"].astype(int), scores[score], n_bins=n_bins,
                                            strategy="quantile")
    return pd.DataFrame({"score": score, "predicted": predicted, "observed": observed})


def calibration_by_decile(scores: pd.DataFrame, score: str = "logistic", n_bins: int = 10) -> pd.DataFrame:
    """Mean predicted and observed churn per risk decile of the pooled backtest (1 = lowest risk).

    Returns ``decile, n, predicted, observed, se`` (binomial standard error of the observed rate,
    at least that of one churner in the bin) and ``z`` = (predicted - observed) / se: the check of
    tests/test_churn.py that the probabilities behind the money at risk are calibrated.
    """
    df = scores[["churn", score]].dropna()
    d = pd.qcut(df[score].rank(method="first"), n_bins, labels=False) + 1
    g = df.groupby(d).agg(n=("churn", "size"), predicted=(score, "mean"), observed=("churn", "mean"))
    floor = np.minimum(1.0 / g["n"], 0.5)
    rate = np.clip(g["observed"], floor, 1 - floor)
    g["se"] = np.sqrt(rate * (1 - rate) / g["n"])
    g["z"] = (g["predicted"] - g["observed"]) / g["se"]
    return g.rename_axis("decile").reset_index()


def lift_table(scores: pd.DataFrame, score: str = "logistic", n_bins: int = 10) -> pd.DataFrame:
    """Churn rate, lift and cumulative recall per risk decile (1 = riskiest), deciles within quarter."""
    df = scores[["quarter", "churn", "lost_revenue", score]].copy()
    pct = df.groupby("quarter")[score].rank(ascending=False, pct=True, method="first")
    df["decile"] = np.ceil(pct * n_bins).clip(1, n_bins).astype(int)
    g = df.groupby("decile").agg(customers=("churn", "size"), churners=("churn", "sum"),
                                 lost_revenue=("lost_revenue", "sum")).reset_index()
    rate = df["churn"].mean()
    g["churn_rate"] = g["churners"] / g["customers"]
    g["lift"] = g["churn_rate"] / rate if rate > 0 else np.nan
    g["cumulative_recall"] = g["churners"].cumsum() / max(g["churners"].sum(), 1)
    g["cumulative_revenue_recall"] = g["lost_revenue"].cumsum() / max(g["lost_revenue"].sum(), 1e-9)
    g.insert(0, "score", score)
    return g


def lead_times(scores: pd.DataFrame, config=None, score: str = "logistic", lookback: int = 4
               ) -> pd.DataFrame:
    """How many quarters before churn each churner was first flagged as high risk.

    A churner's *onset* is the quarter after their first backtest quarter with a positive outcome
    (their first quarter of lost orders or revenue). They count as warned when one of the
    ``lookback`` scored quarters before the onset put them at high risk (probability at or above
    ``flag.min_probability`` or within ``flag.top_share``); the lead time is onset minus the
    earliest such quarter.

    Returns
    -------
    DataFrame
        ``customer_id, onset, first_flagged, lead_quarters`` (NaN when never warned).
    """
    fl = churn_settings(config)["flag"]
    df = scores[["customer_id", "quarter", "churn", score]].copy()
    df["qi"] = _qi_series(df["quarter"])
    df["high"] = _high_risk(df[score], fl, df["quarter"])
    pos = df[df["churn"] == 1].groupby("customer_id")["qi"].min().rename("first_pos")
    df = df.join(pos, on="customer_id", how="inner")
    onset = df["first_pos"] + 1
    warned = df[df["high"] & (df["qi"] < onset) & (df["qi"] >= onset - lookback)]
    first = warned.groupby("customer_id")["qi"].min().rename("first_flagged_qi")
    out = pos.to_frame().join(first)
    out["lead_quarters"] = (out["first_pos"] + 1 - out["first_flagged_qi"]).astype(float)
    out["onset"] = [_label(int(v) + 1) for v in out["first_pos"]]
    out["first_flagged"] = [_label(int(v)) if pd.notna(v) else None for v in out["first_flagged_qi"]]
    return out.reset_index()[["customer_id", "onset", "first_flagged", "lead_quarters"]]


def _qi_series(q: pd.Series) -> pd.Series:
    q = q.astype(str)
    return q.str.slice(0, 4).astype(int) * 4 + q.str.slice(5, 6).astype(int) - 1


# --------------------------------------------------------------------------------------------------
# The current quarter: model, flag, reasons
# --------------------------------------------------------------------------------------------------

def fit_current(frame: pd.DataFrame, quarter, config=None, kind: str | None = None,
                segment: str = "established") -> ChurnModel:
    """The model for scoring ``quarter``: trained on every population row (``segment``
    established: ``in_population``; onboarding: ``in_onboarding``) whose outcome is observed by the
    quarter's end (t + horizon <= quarter)."""
    st = churn_settings(config)
    s = _qi(str(parse_quarter(quarter)))
    h = _horizon(st["target"])
    train = frame[_population(frame, segment) & frame["observed"] & (frame["quarter_index"] <= s - h)]
    if train.empty:
        raise NothingToLearn(f"No observed churn outcomes before {parse_quarter(quarter)} to train on.")
    train = _train_sample(train, st)  # at most model.max_train_rows rows
    return _make_model(st, kind, segment).fit(train, train["churn"])


def fit_onboarding(frame: pd.DataFrame, quarter, config=None) -> ChurnModel | None:
    """The onboarding model for ``quarter`` (:func:`fit_current` with ``segment="onboarding"``), or
    None when ``churn.onboarding.enabled`` is false or the young customer-quarters hold no churners
    (or no non-churners) to learn from: their customers are then scored by the purchase model."""
    if not churn_settings(config)["onboarding"]["enabled"]:
        return None
    try:
        return fit_current(frame, quarter, config, segment="onboarding")
    except NothingToLearn:
        return None


def _fmt(x, lang, digits=0):
    from bestandlib.i18n import fmt_number

    return fmt_number(x, lang, digits)


def _pct_phrase(change, lang, what, base="own"):
    """'Besuche -60 % ggü. eigener Basis' / 'visits down 60% vs own baseline' (``what``: catalogue
    ``churn_what_<what>``, ``base``: ``churn_base_<base>``)."""
    fields = {"what": i18n.t(f"churn_what_{what}", lang), "base": i18n.t(f"churn_base_{base}", lang)}
    change = float(change) if change is not None else float("nan")
    if not np.isfinite(change):  # no usable baseline (e.g. none before): name the signal without a figure
        return i18n.t("churn_reason_unusual", lang, **fields)
    pct = round(100 * change)
    key = "churn_reason_up" if pct > 0 else "churn_reason_down" if pct < 0 else "churn_reason_unchanged"
    return i18n.t(key, lang, pct=_fmt(abs(pct), lang), **fields)


def _raw_change(row, recent, base, fallback):
    b = row.get(base)
    if b is not None and pd.notna(b) and b > 0 and pd.notna(row.get(recent)):
        return row[recent] / b - 1.0
    return row.get(fallback)


def reason_text(feature: str, row, lang: str = "de") -> str:
    """One reason in words for ``feature``, with the customer's own figures from ``row``.

    Parameters
    ----------
    feature : str
        A name from :data:`bestandlib.features.FEATURES`.
    row : mapping
        The customer's feature row (features and the raw recent/baseline columns).
    lang : {"de", "en"}

    Examples
    --------
    >>> reason_text("quarters_since_new_group", {"quarters_since_new_group": 7}, "de")
    'keine neue Produktgruppe seit 7 Quartalen'
    >>> reason_text("visit_change", {"visits_recent": 0.4, "visits_base": 1.0}, "en")
    'visits down 60% vs own baseline'
    """
    v = row.get(feature)
    t = i18n.t
    if feature == "quarters_since_new_group":
        return t("churn_reason_no_new_group", lang, count=int(v))
    if feature == "visit_change":
        return _pct_phrase(_raw_change(row, "visits_recent", "visits_base", feature), lang, "visits")
    if feature == "contact_change":
        return _pct_phrase(_raw_change(row, "contacts_recent", "contacts_base", feature), lang, "contacts")
    if feature == "novelty_contact_change":
        return _pct_phrase(_raw_change(row, "novelty_recent", "novelty_base", feature), lang, "novelty")
    if feature == "order_interval_change":
        return _pct_phrase(v, lang, "order_interval")
    if feature == "revenue_change":
        return _pct_phrase(_raw_change(row, "revenue_recent", "revenue_base", feature), lang, "revenue")
    if feature == "complaint_change":
        return _pct_phrase(_raw_change(row, "complaints_recent", "complaints_base", feature), lang, "complaints")
    if feature == "share_of_wallet_change":
        pts = round(100 * float(v))
        return t("churn_reason_wallet_up" if pts > 0 else "churn_reason_wallet_down", lang, pts=_fmt(abs(pts), lang))
    if feature == "resolution_days":
        base = row.get("resolution_days_base")
        if base is not None and pd.notna(base):
            return t("churn_reason_resolution_base", lang, days=_fmt(v, lang), base=_fmt(base, lang))
        return t("churn_reason_resolution", lang, days=_fmt(v, lang))
    if feature == "satisfaction_change":
        return t("churn_reason_satisfaction_down" if v < 0 else "churn_reason_satisfaction_up", lang,
                 pts=_fmt(abs(v), lang))
    if feature == "account_manager_quarters":
        n = int(v)
        changed = row.get("_short_account_manager", n <= 2)
        return t("churn_reason_manager_changed" if changed else "churn_reason_manager_same", lang, count=n)
    if feature == "days_since_last_order":
        return t("churn_reason_last_order", lang, days=_fmt(v, lang))
    if feature == "revenue_year_change":
        return _pct_phrase(np.expm1(float(v)) if v is not None and pd.notna(v) else v, lang, "revenue_12m", "year")
    if feature == "order_rate_change":
        # the customer's own figures (orders this quarter vs baseline), not the shrunk log ratio
        return _pct_phrase(_raw_change(row, "orders", "orders_base", "_none"), lang, "orders_quarter")
    if feature == "orders_4q":
        return t("churn_reason_few_orders", lang, count=int(v))
    if feature == "order_cv":
        return t("churn_reason_irregular", lang, cv=_fmt(v, lang, 1))
    if feature == "tenure_quarters":
        return t("churn_reason_tenure", lang, count=int(v))
    if feature == "p_alive":
        return t("churn_reason_p_alive", lang, pct=_fmt(100 * v, lang))
    # the onboarding model's signals (new customers, against the cohort at the same age)
    if feature == "second_order":
        return t("churn_reason_no_second_order", lang)
    if feature == "purchase_days_so_far":
        return t("churn_reason_purchase_days", lang, count=int(v))
    if feature == "order_rate_vs_cohort":
        cohort = row.get("cohort_purchase_days")
        own = row.get("purchase_days_so_far")
        change = (own / cohort - 1.0) if cohort is not None and pd.notna(cohort) and cohort > 0 \
            and own is not None and pd.notna(own) else np.nan
        return _pct_phrase(change, lang, "purchase_days", "cohort")
    if feature == "overdue_vs_cohort":
        gap = row.get("cohort_gap_days")
        days = _fmt(row.get("days_since_last_order"), lang)
        if gap is None or pd.isna(gap):
            return t("churn_reason_last_order", lang, days=days)
        return t("churn_reason_overdue_cohort", lang, days=days, gap=_fmt(gap, lang))
    raise KeyError(f"No wording for feature {feature!r}")


def _reason_contributions(model: ChurnModel, X: pd.DataFrame, config=None) -> pd.DataFrame:
    """Contributions that may count as reasons: large enough, on the risky side, wordable."""
    fl = churn_settings(config)["flag"]
    contrib = model.contributions(X)
    z = model.explainer_[:-1].transform(model._X(X))  # standardised values: sign = side of average
    direction = np.array([RISK_DIRECTION.get(f, 0) for f in contrib.columns])
    ok = ((np.sign(z) * direction >= 0) | (direction == 0)) & (contrib.to_numpy() >= float(fl["min_contribution"]))
    excluded = set(fl.get("not_reasons") or [])
    ok &= ~np.isin(np.array(contrib.columns), list(excluded))[None, :]
    if "p_alive" in contrib.columns:
        # P(alive) reads as a reason only when it is clearly low; 0.98 vs a typical 0.999 is a
        # strong model signal but no sentence a sales manager can act on
        pa = X["p_alive"].to_numpy() if "p_alive" in X else np.full(len(X), np.nan)
        ok[:, list(contrib.columns).index("p_alive")] &= np.nan_to_num(pa, nan=1.0) < 0.8
    return contrib.where(ok, 0.0)


def habituation_share(model: ChurnModel, X: pd.DataFrame, config=None) -> pd.Series:
    """Share of a row's reason contributions that come from the habituation signals (0..1)."""
    c = _reason_contributions(model, X, config)
    hab = [f for f in c.columns if f in HABITUATION_FEATURES]
    total = c.sum(axis=1)
    return (c[hab].sum(axis=1) / total.where(total > 0)).fillna(0.0).rename("habituation_share")


def explain(model: ChurnModel, X: pd.DataFrame, config=None, lang: str = "de", n_reasons: int = 3
            ) -> pd.DataFrame:
    """Top reasons in words and the habituation share of each row's risk.

    A feature is a reason when its logistic-regression contribution is at least
    ``flag.min_contribution`` (log-odds), the customer's value lies on its risky side
    (:data:`RISK_DIRECTION`) and it is not listed in ``flag.not_reasons`` (tenure by default: true
    in the data, but no reason to act on). ``habituation_share`` = habituation contributions / all
    reason contributions.

    Returns
    -------
    DataFrame (index of ``X``)
        ``reason_1 .. reason_n`` (empty string when fewer reasons), ``reason_feature_1 ..``,
        ``habituation_share``. The language-free part is :func:`reason_features`.
    """
    why = reason_features(model, X, config, n_reasons)
    records = reason_inputs(X).assign(_short_account_manager=why["_short_account_manager"]).to_dict("records")
    out = why.drop(columns="_short_account_manager")
    for k in range(n_reasons):
        out[f"reason_{k + 1}"] = _words(out[f"reason_feature_{k + 1}"], records, lang)
    return out[[c for k in range(n_reasons) for c in (f"reason_feature_{k + 1}", f"reason_{k + 1}")]
               + ["habituation_share"]]


def reason_features(model: ChurnModel, X: pd.DataFrame, config=None, n_reasons: int = 3) -> pd.DataFrame:
    """The language-free part of :func:`explain`: ``reason_feature_1 .. n`` (feature names, empty string
    when fewer reasons), ``habituation_share`` and ``_short_account_manager`` (the customer's account
    manager tenure lies below average: how its reason is worded). Cacheable; :func:`explain` words it."""
    c = _reason_contributions(model, X, config)
    hab = [f for f in c.columns if f in HABITUATION_FEATURES]
    total = c.sum(axis=1)
    share = (c[hab].sum(axis=1) / total.where(total > 0)).fillna(0.0)
    vals = c.to_numpy()
    order = np.argsort(-vals, axis=1, kind="stable")[:, :n_reasons]
    cols = np.array(c.columns)
    out = pd.DataFrame(index=X.index)
    for k in range(n_reasons):
        ok = vals[np.arange(len(vals)), order[:, k]] > 0
        out[f"reason_feature_{k + 1}"] = np.where(ok, cols[order[:, k]], "")
    out["habituation_share"] = share.to_numpy()
    out["_short_account_manager"] = False
    if "account_manager_quarters" in c.columns:
        # the model may find a short OR a long tenure of the account manager risky: word it by the
        # side of average the customer is on ("changed 3 quarters ago" vs "same manager for 12")
        j = list(c.columns).index("account_manager_quarters")
        out["_short_account_manager"] = model.explainer_[:-1].transform(model._X(X))[:, j] < 0
    return out


#: Columns :func:`reason_text` reads besides the features themselves.
_REASON_INPUTS = ["customer_id", "cohort_gap_days", "cohort_purchase_days", "days_since_last_order",
                  "purchase_days_so_far", "resolution_days_base", "orders", "orders_base", "p_alive"]


def reason_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns of ``frame`` that :func:`reason_text` words reasons from (the figures behind them)."""
    cols = [c for c in frame.columns if c in RISK_DIRECTION or c in _REASON_INPUTS
            or c.endswith(("_recent", "_base"))]
    return frame[cols]


def _words(features, records, lang: str) -> list:
    # wording needs each customer's own figures; a few thousand strings per quarter
    return [reason_text(f, r, lang) if f else "" for f, r in zip(features, records)]


def word_reasons(table: pd.DataFrame, rows: pd.DataFrame, lang: str = "de") -> pd.DataFrame:
    """``table`` with ``reason_1 .. reason_3`` in ``lang`` from its ``reason_feature_*`` columns and the
    figures in ``rows`` (:func:`reason_inputs`, row by row as ``table``); the feature columns dropped."""
    records = rows.to_dict("records")
    out = table.copy()
    keys = [c for c in table.columns if c.startswith("reason_feature_")]
    for key in keys:
        out[key.replace("reason_feature_", "reason_")] = _words(table[key].to_numpy(), records, lang)
    return out.drop(columns=keys)


def _high_risk(p: pd.Series, flag: dict, groups: pd.Series | None = None) -> pd.Series:
    """Probability at or above ``min_probability`` or within the ``top_share`` riskiest (per group)."""
    g = groups if groups is not None else pd.Series(0, index=p.index)
    rank = p.groupby(g).rank(ascending=False, method="first")
    n = p.groupby(g).transform("size")
    return (p >= float(flag["min_probability"])) | (rank <= np.ceil(float(flag["top_share"]) * n))


def _risk_level(p: pd.Series, levels: dict) -> pd.Series:
    return pd.Series(np.where(p >= float(levels["high"]), "high",
                              np.where(p >= float(levels["medium"]), "medium", "low")), index=p.index)


def churn_table(frame: pd.DataFrame, model: ChurnModel, customers: pd.DataFrame | None, quarter,
                config=None, lang: str = "de", onboarding: ChurnModel | None = None) -> pd.DataFrame:
    """The churn-risk table of ``quarter`` with reasons in ``lang``: :func:`churn_table_data`, worded by
    :func:`word_reasons`. Columns :data:`TABLE_COLUMNS`, sorted by ``margin_at_risk`` descending."""
    table, rows = churn_table_data(frame, model, customers, quarter, config, onboarding)
    return word_reasons(table, rows, lang)[TABLE_COLUMNS]


def churn_table_data(frame: pd.DataFrame, model: ChurnModel, customers: pd.DataFrame | None, quarter,
                     config=None, onboarding: ChurnModel | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The churn-risk table of ``quarter``: one row per active customer (an order in the last 4 quarters).

    Who scores whom (column ``segment_model``, :data:`SEGMENTS`): the scoring population
    (``in_population``) by ``model`` (``established``); customers too young for it by the
    ``onboarding`` model (``onboarding``, see :func:`fit_onboarding`); every other active customer
    (no order within ``population.active_quarters``, or young without an onboarding model) by the
    purchase model: 1 - BG/NBD P(alive) at the quarter's end, Platt-calibrated on the past
    customer-quarters of this group whose outcome is known when they hold at least 5 churners and
    5 non-churners (raw 1 - P(alive) otherwise) (``purchase_model``); where P(alive) is unknown, the
    overdue score of :func:`bestandlib.actions.recency_risk` (``recency``, not a probability).

    Parameters
    ----------
    frame : DataFrame
        From :func:`model_frame` (must contain ``quarter``).
    model : ChurnModel
        Fitted, e.g. by :func:`fit_current`.
    customers : DataFrame, optional
        Canonical customers table (adds ``name, account_manager, business_unit``).
    quarter : str or Period
    config : dict, optional
    onboarding : ChurnModel, optional
        The onboarding model (:func:`fit_onboarding`).

    Returns
    -------
    (DataFrame, DataFrame)
        The table, language-free: :data:`TABLE_COLUMNS` with ``reason_feature_1..3`` (feature names)
        in place of the reasons in words, sorted by ``margin_at_risk`` descending; and the figures the
        reasons are worded from (:func:`reason_inputs`, same rows; :func:`word_reasons` words them). ``margin_at_risk`` =
        churn probability x expected contribution margin of the next 12 months (taken as the
        trailing 12-month margin, floored at 0). ``risk_level`` is high / medium / low by
        ``churn.risk_levels``; ``high_risk`` by ``churn.flag`` (the top share within the
        established customers; elsewhere the probability threshold only); ``habituation_flag`` =
        high risk and ``habituation_share >= flag.habituation_share`` (established customers only).
    """
    st = churn_settings(config)
    fl = st["flag"]
    label = str(parse_quarter(quarter))
    at = frame[frame["quarter"] == label]
    if "active" not in at:  # a frame of an older model_frame: the population only
        at = at.assign(active=at["in_population"], in_onboarding=False)
    now = at[at["active"] | at["in_population"]].reset_index(drop=True)
    if not now["in_population"].any():
        raise BestandError(f"No active customers to score in {label}.")
    est = now["in_population"].to_numpy()
    onb = (~est & now["in_onboarding"].to_numpy()) if onboarding is not None else np.zeros(len(now), bool)
    rest = ~est & ~onb
    segment = np.where(est, "established", np.where(onb, "onboarding", "purchase_model")).astype(object)
    p = pd.Series(np.nan, index=now.index)
    reasons = pd.DataFrame("", index=now.index, columns=["reason_1", "reason_2", "reason_3"])
    share = pd.Series(0.0, index=now.index)
    high = pd.Series(False, index=now.index)
    short = pd.Series(False, index=now.index)
    for mask, m in ((est, model), (onb, onboarding)):
        if not mask.any():
            continue
        part = now[mask]
        pm = pd.Series(m.predict_proba(part)[:, 1], index=part.index)
        why = reason_features(m, part, config)
        p.loc[part.index] = pm
        reasons.loc[part.index] = why[["reason_feature_1", "reason_feature_2", "reason_feature_3"]].to_numpy()
        short.loc[part.index] = why["_short_account_manager"].to_numpy()
        if m is model:
            share.loc[part.index] = why["habituation_share"].to_numpy()
            high.loc[part.index] = _high_risk(pm, fl).to_numpy()
    if rest.any():
        part = now[rest]
        pm, seg = _purchase_model_risk(frame, part, label, config)
        p.loc[part.index] = pm
        segment[rest] = seg
        reasons.loc[part.index, "reason_1"] = np.where(part["days_since_last_order"].notna(),
                                                       "days_since_last_order", "")
        reasons.loc[part.index, "reason_2"] = np.where(part["p_alive"].to_numpy(dtype=float) < 0.8, "p_alive", "")
    high = high | ((p >= float(fl["min_probability"])) & ~pd.Series(est, index=now.index))
    table = pd.DataFrame({
        "customer_id": now["customer_id"], "churn_probability": p,
        "habituation_flag": high & pd.Series(est, index=now.index) & (share >= float(fl["habituation_share"])),
        "reason_feature_1": reasons["reason_1"], "reason_feature_2": reasons["reason_2"],
        "reason_feature_3": reasons["reason_3"],
        "margin_at_risk": p * now["margin_4q"].clip(lower=0),
        "risk_level": _risk_level(p, st["risk_levels"]), "high_risk": high,
        "habituation_share": share, "margin_12m": now["margin_4q"],
        "revenue_12m": now["revenue_4q"], "segment_model": segment})
    if customers is not None:
        info = customers[["customer_id", "name", "account_manager", "business_unit"]].astype(
            {"customer_id": str})
        table = table.merge(info, on="customer_id", how="left")
    else:
        table["name"] = table["account_manager"] = table["business_unit"] = None
    cols = [c.replace("reason_", "reason_feature_") if c.startswith("reason_") else c for c in TABLE_COLUMNS]
    order = table.reset_index(drop=True).sort_values("margin_at_risk", ascending=False).index.to_numpy()
    rows = reason_inputs(now).assign(_short_account_manager=short.to_numpy()).iloc[order].reset_index(drop=True)
    return table[cols].iloc[order].reset_index(drop=True), rows


def _logit(p):
    # clipped at 1 % / 99 %: P(alive) of a long-gone customer is 1e-9, and a Platt fit on such
    # extremes would promise certainty the group's churn rate does not show
    p = np.clip(np.asarray(p, dtype=float), 0.01, 0.99)
    return np.log(p / (1 - p))


def _purchase_model_risk(frame: pd.DataFrame, part: pd.DataFrame, label: str, config=None):
    """Churn probability and segment of active customers neither model scores (see :func:`churn_table`).

    1 - P(alive), Platt-calibrated (a logistic regression on its log-odds, Platt's smoothed targets) on
    the past rows of the same group: active, not in the scoring population, not young (when an
    onboarding model scores the young: ``part`` tells), outcome observed by the quarter's end. Rows without P(alive) get the
    recency score of :func:`bestandlib.actions.recency_risk`, computed from the frame.
    """
    st = churn_settings(config)
    s, h = _qi(label), _horizon(st["target"])
    young_in = bool(part["in_onboarding"].any())
    past = frame[frame["active"] & ~frame["in_population"] & frame["observed"]
                 & (frame["quarter_index"] <= s - h) & frame["p_alive"].notna()]
    if not young_in:
        past = past[~past["in_onboarding"]]
    x_now = 1.0 - part["p_alive"].to_numpy(dtype=float)
    p = x_now.copy()
    y = past["churn"].to_numpy().astype(int)
    if len(y) and min(int(y.sum()), int(len(y) - y.sum())) >= 5:
        # Platt's (1999) smoothed targets (n+ + 1) / (n+ + 2) and 1 / (n- + 2) instead of 1 and 0,
        # fitted as weighted rows: a group that nearly always churned gets no promise of certainty
        n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
        target = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
        x = _logit(1.0 - past["p_alive"].to_numpy())[:, None]
        from sklearn.linear_model import LogisticRegression

        platt = LogisticRegression(C=1e4).fit(np.vstack([x, x]), np.r_[np.ones(len(y)), np.zeros(len(y))],
                                              sample_weight=np.r_[target, 1 - target])
        ok = np.isfinite(x_now)
        p[ok] = platt.predict_proba(_logit(x_now[ok])[:, None])[:, 1]
    seg = np.where(np.isfinite(p), "purchase_model", "recency").astype(object)
    if (~np.isfinite(p)).any():
        p[~np.isfinite(p)] = _recency_score(frame[frame["quarter"] == label], part[~np.isfinite(p)])
    return p, seg


def _recency_score(now: pd.DataFrame, part: pd.DataFrame) -> np.ndarray:
    """:func:`bestandlib.actions.recency_risk` from the frame: days since the last purchase over the
    customer's own mean gap (the median of those among customers with two or more purchase days, for
    customers with fewer than three), score = clip((overdue - 1) / 3, 0, 1)."""
    gaps = now.loc[now["purchase_days_so_far"] >= 2, "own_gap_days"]
    overall = float(gaps.median()) if gaps.notna().any() else 90.0
    gap = part["own_gap_days"].where(part["purchase_days_so_far"] >= 3, overall).clip(lower=7)
    overdue = part["days_since_last_order"] / gap
    return ((overdue - 1) / 3).clip(0, 1).fillna(1.0).to_numpy(dtype=float)


# --------------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------------

def score_label(score: str, lang: str = "de") -> str:
    """The name of a model or baseline of the backtest (catalogue ``churn_score_<score>``)."""
    key = f"churn_score_{score}"
    return i18n.t(key, lang) if i18n.has(key, lang) else str(score)


def _metric_label(metric: str, lang: str) -> str:
    return i18n.t(metric, lang) if i18n.has(metric, lang) else metric


def _ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def plot_backtest(metrics: pd.DataFrame, metric: str = "roc_auc", ax=None, lang: str = "de"):
    """Backtest metric per quarter for each model and baseline (``backtest_metrics(by_quarter=True)``)."""
    ax = _ax(ax)
    for score, df in metrics.groupby("score", sort=False):
        style = "--" if score in ("recency", "p_alive") else "-"
        ax.plot(df["quarter"], df[metric], style, marker="o", label=score_label(score, lang))
    ax.set_ylabel(_metric_label(metric, lang))
    ax.set_xlabel(i18n.t("churn_plot_scored_quarter", lang))
    ax.set_title(i18n.t("churn_plot_backtest", lang, metric=_metric_label(metric, lang)))
    ax.legend(fontsize="small")
    ax.tick_params(axis="x", rotation=45)
    return ax


def plot_calibration(table: pd.DataFrame, ax=None, lang: str = "de"):
    """Calibration curve(s) from :func:`calibration_table` (several scores may be concatenated)."""
    ax = _ax(ax)
    top = float(max(table["predicted"].max(), table["observed"].max(), 0.05)) * 1.05
    ax.plot([0, top], [0, top], color="grey", lw=1, ls=":",
            label=i18n.t("churn_plot_perfect", lang))
    for score, df in table.groupby("score", sort=False):
        ax.plot(df["predicted"], df["observed"], marker="o", label=score_label(score, lang))
    ax.set_xlabel(i18n.t("churn_plot_predicted", lang))
    ax.set_ylabel(i18n.t("churn_plot_observed", lang))
    ax.set_title(i18n.t("churn_plot_calibration", lang))
    ax.legend(fontsize="small")
    return ax


def plot_lift(table: pd.DataFrame, ax=None, lang: str = "de"):
    """Cumulative recall of churners (and of lost revenue) over the risk deciles (:func:`lift_table`)."""
    ax = _ax(ax)
    for score, df in table.groupby("score", sort=False):
        x = np.concatenate([[0], df["decile"].to_numpy() * 10])
        ax.plot(x, np.concatenate([[0], df["cumulative_recall"].to_numpy()]), marker="o",
                label=score_label(score, lang))
    ax.plot([0, 100], [0, 1], color="grey", lw=1, ls=":", label=i18n.t("churn_plot_random", lang))
    ax.set_xlabel(i18n.t("churn_plot_share_by_risk", lang))
    ax.set_ylabel(i18n.t("churn_plot_caught", lang))
    ax.set_title(i18n.t("churn_plot_lift", lang))
    ax.legend(fontsize="small")
    return ax


# --------------------------------------------------------------------------------------------------
# Purchase model (BTYD): a churn risk that needs no observed churn
# --------------------------------------------------------------------------------------------------

def purchase_model_table(panel: pd.DataFrame, customers: pd.DataFrame | None, quarter, config=None,
                         margin: bool = True):
    """BG/NBD P(alive) and expected purchases of every active customer at ``quarter``.

    The purchase model (Fader, Hardie & Lee 2005) needs no observed churn and no training window:
    fitted on the purchase days of every customer known by the quarter's end, it gives each customer's
    probability of still being "alive" (buying). It is the churn risk of a history too short for a
    tested model (:data:`bestandlib.needs.SECTIONS` ``churn.model``), and a baseline otherwise. The RFM
    summary comes from the panel (``order_days``, first and last order date), in ``btyd.time_unit``.

    Raises :class:`NothingToLearn` when the fit finds no drop-out in the data (BG/NBD's drop-out
    parameter runs to its bound: one year of history, or a base where nobody stopped buying).

    Returns
    -------
    (BetaGeoModel, DataFrame)
        The fitted model and one row per active customer (:func:`bestandlib.panel.customer_summary`):
        ``customer_id, name, account_manager, business_unit, frequency, recency, T, p_alive,
        churn_probability (= 1 - p_alive), expected_purchases (next quarter), revenue_12m,
        margin_12m, value_at_risk, value_basis, risk_level, risk_source``, sorted by ``value_at_risk``.
        ``value_at_risk`` = churn probability x the trailing 12 months' contribution margin, or
        revenue when the order lines carry no margin (``value_basis`` says which).
    """
    from bestandlib import btyd
    from bestandlib.panel import customer_summary

    st = churn_settings(config)
    unit = btyd._unit_days(btyd._settings(config)["time_unit"])
    q = parse_quarter(quarter)
    rfm = btyd.rfm_from_panel(panel, q, config=config)  # the one RFM summary of the panel
    try:
        model = btyd.BetaGeoModel(penalizer=0.001).fit(rfm)
    except btyd.ConvergenceError as exc:
        # the drop-out parameter runs to its bound when the data show no drop-out yet (a short
        # history, or nobody has stopped buying): there is nothing to tell customers apart by
        raise NothingToLearn(f"The purchase model finds no drop-out to learn from in these data ({exc})") from exc
    rfm["p_alive"] = np.asarray(model.p_alive(rfm), dtype=float)
    rfm["expected_purchases"] = np.asarray(
        model.conditional_expected_purchases(91.3 / unit, rfm), dtype=float)
    summary = customer_summary(panel, q)
    out = summary.loc[summary["active"], ["customer_id", "revenue_12m", "margin_12m"]].merge(
        rfm.rename_axis("customer_id").reset_index(), on="customer_id", how="left")
    out["churn_probability"] = 1.0 - out["p_alive"]
    basis = "margin_12m" if margin else "revenue_12m"
    out["value_at_risk"] = out["churn_probability"] * out[basis].clip(lower=0)
    out["value_basis"] = "margin" if margin else "revenue"
    out["risk_level"] = _risk_level(out["churn_probability"], st["risk_levels"])
    out["risk_source"] = "btyd"
    info_cols = ["customer_id", "name", "account_manager", "business_unit"]
    if customers is not None:
        out = out.merge(customers[info_cols].astype({"customer_id": str}), on="customer_id", how="left")
    else:
        for c in info_cols[1:]:
            out[c] = None
    cols = [*info_cols, "frequency", "recency", "T", "p_alive", "churn_probability", "expected_purchases",
            "revenue_12m", "margin_12m", "value_at_risk", "value_basis", "risk_level", "risk_source"]
    return model, out[cols].sort_values("value_at_risk", ascending=False, ignore_index=True)


def plot_p_alive(table: pd.DataFrame, ax=None, lang: str = "de"):
    """Histogram of P(alive) over the active customers (:func:`purchase_model_table`), the share of
    revenue at each level as a second series: where the business at risk sits."""
    ax = _ax(ax)
    bins = np.linspace(0, 1, 11)
    p = table["p_alive"].to_numpy()
    w_cust = np.full(len(p), 1.0 / max(len(p), 1))
    rev = table["revenue_12m"].clip(lower=0).to_numpy()
    w_rev = rev / rev.sum() if rev.sum() > 0 else w_cust
    ax.hist([p, p], bins=bins, weights=[w_cust, w_rev], color=["C0", "C1"],
            label=[i18n.t("churn_plot_customers", lang), i18n.t("churn_plot_revenue", lang)])
    ax.set_xlabel(i18n.t("churn_plot_p_alive", lang))
    ax.set_ylabel(i18n.t("churn_plot_share", lang))
    ax.yaxis.set_major_formatter(_percent_formatter())
    ax.set_title(i18n.t("churn_plot_who_buys", lang))
    ax.legend(fontsize="small")
    return ax


def _percent_formatter():
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0)


def beats_baselines(metrics: pd.DataFrame, model: str = "logistic") -> bool:
    """Whether ``model`` ranks churners better than both simple baselines in the backtest (pooled ROC
    AUC above recency and BTYD P(alive)). When it does not, the page says so instead of claiming that
    the model detects churn (e.g. a base with very few churners)."""
    m = metrics.set_index("score")["roc_auc"]
    own = m.get(model, np.nan)
    best = np.nanmax([m.get("recency", np.nan), m.get("p_alive", np.nan), 0.5])
    return bool(np.isfinite(own) and own > best)


# --------------------------------------------------------------------------------------------------
# What page 05 shows: the backtest, the current risk and the purchase model as tables and keys
# --------------------------------------------------------------------------------------------------
# Each report runs one part of the page and returns its tables (canonical columns, keys as values; the
# page formats and translates them, bestandlib.display) and, where the data hold nothing a model could
# learn from, the catalogue key of the reason (``reasons``/``reason``) instead of raising.

#: ``risk_source`` of a ``segment_model`` (the names page 06 uses for where a risk comes from).
RISK_SOURCES = {"established": "model", "onboarding": "onboarding", "purchase_model": "btyd", "recency": "recency"}


@dataclass
class BacktestReport:
    """The rolling-origin backtest of page 05 (:func:`backtest_report`); tables are None without one.

    ``metrics``: ``segment_model, score_kind, n, churners, churn_rate, roc_auc, pr_auc, brier,
    lift_top, recall_top, revenue_recall_top`` (one row per model or baseline and model group);
    ``established``: :func:`backtest_metrics` of the churn model (column ``score``);
    ``by_quarter``, ``calibration``, ``lift``: inputs of the plots; ``deciles``:
    :func:`calibration_by_decile` of the churn model; ``lead``: ``lead_quarters, customers`` (churners
    by quarters of warning); ``reasons``: catalogue keys of what could not be tested.
    """

    reasons: list = field(default_factory=list)
    metrics: pd.DataFrame | None = None
    established: pd.DataFrame | None = None
    by_quarter: pd.DataFrame | None = None
    calibration: pd.DataFrame | None = None
    lift: pd.DataFrame | None = None
    deciles: pd.DataFrame | None = None
    lead: pd.DataFrame | None = None
    warned_share: float = float("nan")
    median_lead: float = float("nan")
    #: most training rows of a split and the rows it could have used, when ``model.max_train_rows``
    #: sampled them (else None): the page says so (:func:`backtest_notes`)
    train_sample: tuple | None = None

    @property
    def max_calibration_gap(self) -> float:
        """Largest |predicted - observed| per risk decile, in binomial standard errors."""
        return float(self.deciles["z"].abs().max()) if self.deciles is not None else float("nan")

    @property
    def beats_baselines(self) -> bool:
        return self.established is not None and beats_baselines(self.established)


def _metrics_rows(metrics: pd.DataFrame, segment: str) -> pd.DataFrame:
    out = metrics.rename(columns={"score": "score_kind"})
    out.insert(0, "segment_model", segment)
    return out


def backtest_report(frame: pd.DataFrame | None, config=None) -> BacktestReport:
    """The backtest of the churn model and of the onboarding model (same splits), with calibration,
    lift and lead times; ``frame`` None (section not available) gives an empty report.

    Nothing to learn (no churners in any split) is a reason, not an error: ``reasons`` holds
    ``churn_nothing_to_learn``, or ``onboarding_nothing_to_learn`` when the young customers hold fewer
    than 5 churners (the onboarding rows are then shown without calibration).
    """
    rep = BacktestReport()
    if frame is None:
        return rep
    try:
        scores = backtest(frame, config=config)
    except NothingToLearn:  # nobody has left yet: nothing a model could learn from
        rep.reasons.append("churn_nothing_to_learn")
        return rep
    rep.established = backtest_metrics(scores, config=config)
    if (scores["train_rows"] < scores["train_available"]).any():
        rep.train_sample = (int(scores["train_rows"].max()), int(scores["train_available"].max()))
    parts = [_metrics_rows(rep.established, "established")]
    calibration = [calibration_table(scores, k) for k in ("logistic", "gradient_boosting") if k in scores]
    if churn_settings(config)["onboarding"]["enabled"]:
        try:
            onb = backtest(frame, config=config, kinds=("logistic",), segment="onboarding")
        except NothingToLearn:
            onb = None
        if onb is None or onb["churn"].sum() < 5:
            rep.reasons.append("onboarding_nothing_to_learn")
        else:
            calibration.append(calibration_table(onb, "logistic").assign(score="onboarding"))
        if onb is not None:
            parts.append(_metrics_rows(backtest_metrics(onb, config=config), "onboarding"))
    rep.metrics = pd.concat(parts, ignore_index=True)
    rep.by_quarter = backtest_metrics(scores, config=config, by_quarter=True)
    rep.calibration = pd.concat(calibration, ignore_index=True)
    rep.lift = pd.concat([lift_table(scores, k) for k in ("logistic", "gradient_boosting", "recency", "p_alive")
                          if k in scores], ignore_index=True)
    rep.deciles = calibration_by_decile(scores, "logistic")
    lead = lead_times(scores, config=config)
    rep.warned_share = float(lead["lead_quarters"].notna().mean()) if len(lead) else float("nan")
    rep.median_lead = float(lead["lead_quarters"].median()) if lead["lead_quarters"].notna().any() else float("nan")
    rep.lead = (lead["lead_quarters"].dropna().astype(int).value_counts().sort_index()
                .rename_axis("lead_quarters").rename("customers").reset_index())
    return rep


def backtest_notes(report: BacktestReport, lang: str = "de") -> list[str]:
    """What the page says about the backtest besides its tables: the training sample, if any."""
    if report.train_sample is None:
        return []
    rows, available = report.train_sample
    return [i18n.t("churn_train_sampled", lang, rows=i18n.fmt_number(rows, lang),
                   available=i18n.fmt_number(available, lang))]


@dataclass
class CurrentRisk:
    """The risk of the report quarter (:func:`current_risk`); tables are None without a model.

    ``table``: :func:`churn_table` plus ``revenue_at_risk`` and ``risk_source`` (the CSV);
    ``at_risk``: the column of the money at risk (``margin_at_risk``, or ``revenue_at_risk`` when the
    order lines carry no margins); ``coefficients``: ``feature, coefficient_established,
    coefficient_onboarding``; ``segments``: ``segment_model, customers, churn_probability`` (mean);
    ``top``: the 10 high-risk customers with the most money at risk.
    """

    reason: str | None = None
    model: ChurnModel | None = None
    onboarding: ChurnModel | None = None
    table: pd.DataFrame | None = None
    at_risk: str = "margin_at_risk"
    coefficients: pd.DataFrame | None = None
    segments: pd.DataFrame | None = None
    top: pd.DataFrame | None = None
    #: the figures the reasons are worded from (:func:`reason_inputs`, row by row as ``table``)
    rows: pd.DataFrame | None = None


def coefficient_table(model: ChurnModel, onboarding: ChurnModel | None = None) -> pd.DataFrame:
    """``feature, coefficient_established, coefficient_onboarding`` (NaN where a model lacks the
    feature), the churn model's features by coefficient, then the onboarding model's own."""
    est = model.coefficients_.sort_values()
    onb = onboarding.coefficients_.sort_values() if onboarding is not None else pd.Series(dtype=float)
    features = list(est.index) + [f for f in onb.index if f not in est.index]
    return pd.DataFrame({"feature": features,
                         "coefficient_established": est.reindex(features).to_numpy(),
                         "coefficient_onboarding": onb.reindex(features).to_numpy()})


def current_risk(frame: pd.DataFrame | None, customers: pd.DataFrame | None, quarter, config=None,
                 lang: str = "de", margin: bool = True) -> CurrentRisk:
    """Fit the churn model (and the onboarding model) for ``quarter`` and score every active customer.

    ``frame`` None (section not available) gives an empty report; no churn to learn from gives
    ``reason="churn_nothing_to_learn"``. ``lang`` is the language of the reasons in words. Without
    contribution margins (``margin=False``) the money at risk is revenue: ``revenue_at_risk`` =
    probability x revenue of the last 12 months (always in the table, the page's column then).
    """
    return word_risk(current_risk_data(frame, customers, quarter, config=config, margin=margin), lang)


def current_risk_data(frame: pd.DataFrame | None, customers: pd.DataFrame | None, quarter, config=None,
                      margin: bool = True) -> CurrentRisk:
    """The language-free part of :func:`current_risk` (the fits and the table with ``reason_feature_*``
    instead of words, ``top`` None): what pages 05 and 06 cache as ``"churn.current_risk"``
    (``s.cached``), so a second language or page 06 refits nothing; :func:`word_risk` words it."""
    rep = CurrentRisk(at_risk="margin_at_risk" if margin else "revenue_at_risk")
    if frame is None:
        return rep
    try:
        rep.model = fit_current(frame, quarter, config=config)
    except NothingToLearn:
        rep.reason = "churn_nothing_to_learn"
        return rep
    rep.onboarding = fit_onboarding(frame, quarter, config=config)  # None: nothing to learn
    table, rep.rows = churn_table_data(frame, rep.model, customers, quarter, config=config,
                                       onboarding=rep.onboarding)
    table["revenue_at_risk"] = table["churn_probability"] * table["revenue_12m"].clip(lower=0)
    table["risk_source"] = table["segment_model"].map(RISK_SOURCES)
    rep.table = table
    rep.coefficients = coefficient_table(rep.model, rep.onboarding)
    rep.segments = (table.groupby("segment_model", sort=False)
                    .agg(customers=("customer_id", "size"), churn_probability=("churn_probability", "mean"))
                    .reset_index())
    return rep


def word_risk(data: CurrentRisk, lang: str = "de") -> CurrentRisk:
    """:func:`current_risk_data` with the reasons in ``lang`` (``table`` as the CSV, ``top``)."""
    if data.table is None or "reason_feature_1" not in data.table:
        return data
    rep = dataclasses.replace(data)
    table = word_reasons(data.table, data.rows, lang)
    rep.table = table[TABLE_COLUMNS + [c for c in table.columns if c not in TABLE_COLUMNS]]
    top = rep.table[rep.table["high_risk"]].sort_values(rep.at_risk, ascending=False).head(10)
    rep.top = top[["name", "account_manager", "churn_probability", rep.at_risk, "habituation_flag",
                   "reason_1", "reason_2", "reason_3", "segment_model"]].reset_index(drop=True)
    return rep


@dataclass
class PurchaseReport:
    """The purchase model (BG/NBD) of page 05 (:func:`purchase_report`); tables are None without it.

    ``table``: :func:`purchase_model_table`; ``params``: ``bgnbd_parameter, bgnbd_estimate``;
    ``top``: the 10 customers with the most value at risk (``name, account_manager, p_alive,
    expected_purchases`` and ``margin_at_risk`` or ``revenue_at_risk``).
    """

    reason: str | None = None
    model: object = None
    table: pd.DataFrame | None = None
    params: pd.DataFrame | None = None
    top: pd.DataFrame | None = None


def purchase_report(panel: pd.DataFrame | None, customers: pd.DataFrame | None, quarter, config=None,
                    margin: bool = True) -> PurchaseReport:
    """:func:`purchase_model_table` for the page; ``panel`` None (section not available) gives an empty
    report, a fit without drop-out ``reason="btyd_nothing_to_learn"``."""
    rep = PurchaseReport()
    if panel is None:
        return rep
    try:
        rep.model, rep.table = purchase_model_table(panel, customers, quarter, config=config, margin=margin)
    except NothingToLearn:
        rep.reason = "btyd_nothing_to_learn"
        return rep
    params = dict(rep.model.params_)
    rep.params = pd.DataFrame({"bgnbd_parameter": list(params), "bgnbd_estimate": list(params.values())})
    at_risk = "margin_at_risk" if margin else "revenue_at_risk"
    rep.top = (rep.table.head(10).rename(columns={"value_at_risk": at_risk})
               [["name", "account_manager", "p_alive", "expected_purchases", at_risk]].reset_index(drop=True))
    return rep


@dataclass
class PageSummary:
    """The key finding of page 05 for the management page (:func:`page_summary`)."""

    title: str
    text: str
    sentence: bool = True
    table_title: str | None = None
    table: pd.DataFrame | None = None
    purchase_figure: bool = False


def page_summary(backtest: BacktestReport, risk: CurrentRisk, purchase: PurchaseReport, lang: str = "de",
                 unmet: str = "", notes=()) -> PageSummary:
    """The page's sentence in ``lang``: the tested model's quality and the habituation it finds; without
    a tested model the purchase model's view (``unmet``: why there is no model, in words); without
    either the section notes (``notes``, the non-empty ones joined) or the reasons of the catalogue."""
    title = i18n.t("churn_title", lang)
    if backtest.metrics is not None and risk.table is not None:
        m = backtest.established.set_index("score")
        flagged = risk.table[risk.table["habituation_flag"]]
        margin = risk.at_risk == "margin_at_risk"
        text = i18n.t("churn_summary_model", lang,
                      lead=i18n.t("churn_lead_detects" if backtest.beats_baselines else "churn_lead_no_better", lang),
                      auc=i18n.fmt_number(m.loc["logistic", "roc_auc"], lang, 2),
                      recency=i18n.fmt_number(m.loc["recency", "roc_auc"], lang, 2),
                      p_alive=i18n.fmt_number(m.loc["p_alive", "roc_auc"], lang, 2),
                      recall=i18n.fmt_pct(m.loc["logistic", "revenue_recall_top"], lang, 0),
                      flagged=i18n.fmt_number(len(flagged), lang),
                      at_risk=i18n.fmt_money(flagged[risk.at_risk].sum(), lang),
                      at_risk_words=i18n.t(f"churn_at_risk_{'margin' if margin else 'revenue'}_words", lang))
        return PageSummary(title, text, table=risk.top,
                           table_title=i18n.t("churn_top_margin" if margin else "churn_top_revenue", lang))
    if purchase.table is not None:
        doubtful = purchase.table[purchase.table["p_alive"] < 0.5]
        text = i18n.t("churn_summary_btyd", lang, reasons=unmet or i18n.t("churn_no_churn_observed", lang),
                      doubtful=i18n.fmt_number(len(doubtful), lang),
                      active=i18n.fmt_number(len(purchase.table), lang),
                      revenue=i18n.fmt_money(doubtful["revenue_12m"].sum(), lang))
        return PageSummary(title, text, table_title=i18n.t("churn_top_btyd", lang), table=purchase.top,
                           purchase_figure=True)
    text = " ".join(n for n in notes if n) or " ".join(
        i18n.t(key, lang) for key in ("churn_nothing_to_learn", "btyd_nothing_to_learn"))
    return PageSummary(title, text, sentence=False)


def risk_csv(risk: CurrentRisk, purchase: PurchaseReport) -> pd.DataFrame | None:
    """``tables/churn_risk.csv``: the churn table of the tested model, else the purchase model's table."""
    return risk.table if risk.table is not None else purchase.table


# --------------------------------------------------------------------------------------------------
# Page results, computed once per data, quarter, configuration and code version (Session.cached)
# --------------------------------------------------------------------------------------------------

def session_frame(s) -> pd.DataFrame | None:
    """:func:`model_frame` of a session (``s``: :class:`bestandlib.session.Session`), once per
    session; None when ``s.available("churn.model")`` is false. Only computed when a result below
    is not in the cache yet."""
    if not s.available("churn.model"):
        return None
    if getattr(s, "_churn_frame", None) is None:
        s._churn_frame = model_frame(s.panel, s.tables, config=s.config, features=s.features())
    return s._churn_frame


def session_backtest(s) -> BacktestReport:
    """:func:`backtest_report` of the session's quarter, cached as ``"churn.backtest"`` (no text in it:
    ``reasons`` are catalogue keys); None-frame report when section ``churn.model`` is off."""
    on = s.section("churn.model")  # shows why not, on every rendering
    return s.cached("churn.backtest", lambda: backtest_report(session_frame(s) if on else None, config=s.config))


def session_risk_data(s) -> CurrentRisk:
    """:func:`current_risk_data` of the session's quarter, cached as ``"churn.current_risk"``: page 05
    and page 06 (:func:`bestandlib.actions.plan_inputs`) share the fit, a second language reads it."""
    return s.cached("churn.current_risk",
                    lambda: current_risk_data(session_frame(s), s.tables.customers, s.quarter,
                                              config=s.config, margin=s.has_margin))


def session_risk(s) -> CurrentRisk:
    """:func:`session_risk_data` with the reasons in the session's language (:func:`word_risk`)."""
    return word_risk(session_risk_data(s), s.lang)


def session_purchase(s) -> PurchaseReport:
    """:func:`purchase_report` of the session's quarter (section ``churn.btyd``), cached as
    ``"churn.purchase_report"``."""
    on = s.section("churn.btyd")  # shows why not, on every rendering
    return s.cached("churn.purchase_report",
                    lambda: purchase_report(s.panel if on else None, s.tables.customers, s.quarter,
                                            config=s.config, margin=s.has_margin))
