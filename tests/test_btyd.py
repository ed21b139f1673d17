"""Tests of bestandlib.btyd: published CDNOW estimates, agreement with lifetimes, RFM summary, errors."""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from bestandlib import btyd
from bestandlib.btyd import (
    BetaGeoModel,
    ConvergenceError,
    GammaGammaModel,
    NoRepeatBuyersError,
    ParetoNBDModel,
    RFMDataError,
    calibration_holdout_split,
    customer_lifetime_value,
    rfm_summary,
)
from bestandlib.errors import BestandError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # lifetimes warns on import under pandas 3
    lifetimes = pytest.importorskip("lifetimes")
    from lifetimes.utils import summary_data_from_transaction_data

DATASETS = Path(lifetimes.__file__).with_name("datasets")
CALIBRATION_END = "1997-09-30"  # 39 weeks after the cohort's first day, 1997-01-01
HOLDOUT_END = "1998-06-30"

# Fader, Hardie & Lee (2005a), Marketing Science 24(2), Sec. 7, CDNOW sample, 39-week calibration.
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_BGNBD_LL = -9582.4
PUBLISHED_PARETO = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
PUBLISHED_PARETO_LL = -9595.0
# Fader & Hardie (2013), note 025; log-likelihood -4659 of the same fit in Fader, Hardie & Lee (2005b, JMR).
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}
PUBLISHED_GG_LL_TOTAL_SPEND = -4659


def assert_three_significant_digits(actual: dict, published: dict):
    """Each value differs from the published one by less than half a unit of its third significant digit."""
    for key, expected in published.items():
        half_unit = 0.5 * 10 ** (math.floor(math.log10(abs(expected))) - 2)
        assert abs(actual[key] - expected) < half_unit, (key, actual[key], expected)


def rel_diff(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


# --------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cdnow_orders():
    """The CDNOW 1/10 sample as order lines (2,357 customers, 1997-01-01..1998-06-30)."""
    raw = pd.read_csv(
        DATASETS / "CDNOW_sample.txt", sep=r"\s+", header=None,
        names=["master_id", "customer_id", "date", "cds", "net_revenue"],
    )
    raw["order_date"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    return raw[["customer_id", "order_date", "net_revenue"]]


@pytest.fixture(scope="module")
def published_summary():
    """The calibration summary Fader & Hardie distribute (x, t_x, T in weeks, zbar), as an RFM table."""
    df = pd.read_csv(DATASETS / "cdnow_customers_summary_with_transactions.csv")
    return df.rename(columns={"ID": "customer_id", "x": "frequency", "t_x": "recency", "zbar": "monetary_value"})


@pytest.fixture(scope="module")
def cdnow_rfm(cdnow_orders):
    return rfm_summary(cdnow_orders, observation_end=CALIBRATION_END)


@pytest.fixture(scope="module")
def fitted(cdnow_rfm):
    return {
        "bg": BetaGeoModel().fit(cdnow_rfm),
        "pareto": ParetoNBDModel().fit(cdnow_rfm),
        "gg": GammaGammaModel().fit(cdnow_rfm),
    }


def lifetimes_with(fitter_cls, params):
    """A lifetimes fitter carrying the given parameters (comparison at identical parameters)."""
    fitter = fitter_cls()
    fitter.params_ = pd.Series(params)
    fitter.predict = getattr(fitter, "conditional_expected_number_of_purchases_up_to_time", None)
    return fitter


def order_log(seed=1, n_customers=300):
    """Random order lines with same-day repeats, times of day and a credit note or two."""
    rng = np.random.default_rng(seed)
    n = n_customers * 8
    customers = rng.integers(0, n_customers, n)
    dates = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 400, n), unit="D")
    dates = dates + pd.to_timedelta(rng.integers(0, 24, n), unit="h")
    return pd.DataFrame(
        {
            "customer_id": np.char.add("C", customers.astype(str)),
            "order_date": dates,
            "net_revenue": np.round(rng.gamma(2.0, 150.0, n), 2),
        }
    )


def mixed_byte_ids(ids):
    """Ids of one UTF-8 byte width but different lengths: "Ä" takes two bytes, "Z" one (and sorts first)."""
    return pd.Series([("Ä" if int(i[1:]) % 2 else "Z0") + i[2:] for i in ids], index=ids.index, dtype="str")


# --------------------------------------------------------------------------------------------------
# Published CDNOW results
# --------------------------------------------------------------------------------------------------
class TestPublishedEstimates:
    def test_bgnbd_matches_fader_hardie_lee_2005(self, fitted, published_summary):
        for model in (fitted["bg"], BetaGeoModel().fit(published_summary)):
            assert_three_significant_digits(model.params_, PUBLISHED_BGNBD)
            assert model.log_likelihood_ == pytest.approx(PUBLISHED_BGNBD_LL, abs=0.05)
            assert model.n_customers_ == 2357

    def test_pareto_nbd_matches_fader_hardie_lee_2005(self, fitted, published_summary):
        for model in (fitted["pareto"], ParetoNBDModel().fit(published_summary)):
            assert_three_significant_digits(model.params_, PUBLISHED_PARETO)
            assert model.log_likelihood_ == pytest.approx(PUBLISHED_PARETO_LL, abs=0.05)

    def test_gamma_gamma_matches_fader_hardie_2013(self, fitted, published_summary):
        for model in (fitted["gg"], GammaGammaModel().fit(published_summary)):
            assert_three_significant_digits(model.params_, PUBLISHED_GG)
            assert model.n_customers_ == 946  # repeat buyers only
        # The JMR paper's likelihood is that of the total repeat spend x * zbar: lower by sum(ln x).
        repeaters = published_summary[published_summary["frequency"] > 0]
        total_spend_ll = fitted["gg"].log_likelihood_ - np.log(repeaters["frequency"]).sum()
        assert total_spend_ll == pytest.approx(PUBLISHED_GG_LL_TOTAL_SPEND, abs=0.5)

    def test_rfm_summary_reproduces_the_published_calibration_summary(self, cdnow_rfm, published_summary):
        merged = cdnow_rfm.merge(published_summary, on="customer_id", suffixes=("", "_pub"))
        assert len(merged) == len(cdnow_rfm) == 2357
        assert (merged["frequency"] == merged["frequency_pub"]).all()
        # the published file rounds to two decimals
        for col in ("recency", "T", "monetary_value"):
            assert np.abs(merged[col] - merged[f"{col}_pub"]).max() <= 0.005 + 1e-9, col

    def test_holdout_of_non_repeaters_matches_the_paper(self, cdnow_orders):
        split = calibration_holdout_split(cdnow_orders, CALIBRATION_END, HOLDOUT_END)
        zero = split[split["frequency_cal"] == 0]
        # Sec. 7: the 1,411 customers without a calibration repeat purchase made 334 holdout purchases
        assert len(zero) == 1411
        assert zero["frequency_holdout"].sum() == 334
        assert (split["duration_holdout"] == 39.0).all()

    def test_paper_example_customer(self, fitted):
        # FHL 2005 spreadsheet, customer 0001: x=2, t_x=30.43, T=38.86 -> E[Y(39)] = 1.226
        bg = fitted["bg"]
        assert float(bg.conditional_expected_purchases(39, 2, 30.43, 38.86)) == pytest.approx(1.226, abs=1e-3)


# --------------------------------------------------------------------------------------------------
# Agreement with lifetimes
# --------------------------------------------------------------------------------------------------
class TestAgreementWithLifetimes:
    HORIZONS = (1.0, 39.0, 104.0)

    def test_bgnbd_at_identical_parameters(self, fitted, published_summary):
        bg = fitted["bg"]
        lt = lifetimes_with(lifetimes.BetaGeoFitter, bg.params_)
        x, tx, T = (published_summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
        assert rel_diff(bg.p_alive(x, tx, T), lt.conditional_probability_alive(x, tx, T)) < 1e-6
        for t in self.HORIZONS:
            ours = bg.conditional_expected_purchases(t, x, tx, T)
            assert rel_diff(ours, lt.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T)) < 1e-6
            assert rel_diff(bg.expected_purchases(t), lt.expected_number_of_purchases_up_to_time(t)) < 1e-6

    def test_pareto_nbd_at_identical_parameters(self, fitted, published_summary):
        pn = fitted["pareto"]
        lt = lifetimes_with(lifetimes.ParetoNBDFitter, pn.params_)
        x, tx, T = (published_summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
        assert rel_diff(pn.p_alive(x, tx, T), lt.conditional_probability_alive(x, tx, T)) < 1e-6
        for t in self.HORIZONS:
            ours = pn.conditional_expected_purchases(t, x, tx, T)
            assert rel_diff(ours, lt.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T)) < 1e-6
            assert rel_diff(pn.expected_purchases(t), lt.expected_number_of_purchases_up_to_time(t)) < 1e-6
        theirs = lifetimes.ParetoNBDFitter._conditional_log_likelihood(list(pn.params_.values()), x, tx, T)
        assert rel_diff(pn.log_likelihood(x, tx, T), theirs) < 1e-9

    def test_gamma_gamma_and_clv_at_identical_parameters(self, fitted, published_summary):
        bg, gg = fitted["bg"], fitted["gg"]
        lt_gg = lifetimes_with(lifetimes.GammaGammaFitter, {"p": gg.params_["p"], "q": gg.params_["q"], "v": gg.params_["gamma"]})
        f, m = published_summary["frequency"], published_summary["monetary_value"]
        assert rel_diff(gg.conditional_expected_spend(f, m), lt_gg.conditional_expected_average_profit(f, m)) < 1e-6
        # lifetimes: 12 months of 4.345 weeks, 1 % a month
        theirs = lt_gg.customer_lifetime_value(
            lifetimes_with(lifetimes.BetaGeoFitter, bg.params_), f, published_summary["recency"],
            published_summary["T"], m, time=12, discount_rate=0.01, freq="W",
        )
        ours = customer_lifetime_value(
            published_summary, bg, gg, horizon=12, period_days=4.345 * 7, discount_rate=0.01, time_unit="W"
        )
        assert rel_diff(ours["clv"], theirs.to_numpy()) < 1e-6

    def test_fitted_parameters_agree_with_lifetimes_fits(self, fitted, published_summary):
        x, tx, T = (published_summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
        lt_bg = lifetimes.BetaGeoFitter().fit(x, tx, T)
        assert rel_diff(list(fitted["bg"].params_.values()), lt_bg.params_.to_numpy()) < 1e-4
        rep = published_summary[published_summary["frequency"] > 0]
        lt_gg = lifetimes.GammaGammaFitter().fit(rep["frequency"].to_numpy(float), rep["monetary_value"].to_numpy(float))
        ours = GammaGammaModel().fit(published_summary)
        assert rel_diff(list(ours.params_.values()), lt_gg.params_.to_numpy()) < 1e-4

    @pytest.mark.parametrize("id_format", ["C{}", "K{:06d}"])  # variable width; fixed width (integer-key path)
    def test_rfm_summary_equals_lifetimes(self, id_format):
        orders = order_log()
        orders["customer_id"] = [id_format.format(int(c[1:])) for c in orders["customer_id"]]
        ours = rfm_summary(orders, time_unit="W").set_index("customer_id")
        theirs = summary_data_from_transaction_data(
            orders, "customer_id", "order_date", monetary_value_col="net_revenue", freq="D", freq_multiplier=7
        )
        theirs = theirs.loc[ours.index]
        assert len(ours) == len(theirs)
        for col in ("frequency", "recency", "T", "monetary_value"):
            np.testing.assert_allclose(ours[col].to_numpy(float), theirs[col].to_numpy(float), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------------
# RFM summary and calibration/holdout split
# --------------------------------------------------------------------------------------------------
class TestRFMSummary:
    @pytest.fixture
    def small_orders(self):
        return pd.DataFrame(
            {
                "customer_id": ["A", "A", "A", "A", "B", "C", "C"],
                "order_date": pd.to_datetime(
                    ["2025-01-01 09:00", "2025-01-01 15:00", "2025-01-15 00:00", "2025-01-29 00:00", "2025-01-08 00:00", "2025-01-10 00:00", "2025-03-01 00:00"]
                ),
                "net_revenue": [100.0, 50.0, 30.0, 70.0, 20.0, 5.0, 99.0],
            }
        )

    def test_hand_computed_example(self, small_orders):
        rfm = rfm_summary(small_orders, observation_end="2025-02-26", time_unit="W").set_index("customer_id")
        assert list(rfm.index) == ["A", "B", "C"]  # C's later order is cut; C stays a one-time buyer
        assert rfm.loc["A", "frequency"] == 2  # two orders on 1 January count as one purchase
        assert rfm.loc["A", "recency"] == pytest.approx(4.0)
        assert rfm.loc["A", "T"] == pytest.approx(8.0)
        assert rfm.loc["A", "monetary_value"] == pytest.approx(50.0)  # mean of 30 and 70
        assert rfm.loc["C", "frequency"] == 0 and rfm.loc["C", "monetary_value"] == 0.0
        assert rfm["frequency"].dtype == np.int64

    def test_time_unit_from_config_and_argument(self, small_orders):
        weeks = rfm_summary(small_orders)  # default config: weeks
        days = rfm_summary(small_orders, config={"btyd": {"time_unit": "D"}})
        np.testing.assert_allclose(days["T"], weeks["T"] * 7)
        assert rfm_summary(small_orders, time_unit=14.0)["T"].iloc[0] == pytest.approx(weeks["T"].iloc[0] / 2)

    def test_without_value_column(self, small_orders):
        rfm = rfm_summary(small_orders, value_col=None)
        assert list(rfm.columns) == ["customer_id", "frequency", "recency", "T"]

    def test_calibration_holdout_split(self, small_orders):
        split = calibration_holdout_split(small_orders, "2025-01-20", "2025-03-03").set_index("customer_id")
        assert list(split.index) == ["A", "B", "C"]
        assert split.loc["A", "frequency_cal"] == 1 and split.loc["A", "frequency_holdout"] == 1
        assert split.loc["A", "monetary_value_holdout"] == 70.0
        assert split.loc["C", "frequency_holdout"] == 1 and split.loc["C", "monetary_value_holdout"] == 99.0
        assert split["duration_holdout"].iloc[0] == pytest.approx(42 / 7)

    @pytest.mark.parametrize(
        "make_ids, integer_keys",
        [
            (lambda ids: ids, True),
            (mixed_byte_ids, True),
            (lambda ids: ids.str.lstrip("K0"), False),  # variable width
            (lambda ids: ids.str.slice(1).astype("int64"), False),
            (lambda ids: ids.astype(object), False),
            (lambda ids: ids.astype("string[python]"), False),
            (lambda ids: pd.Series(pd.array(pa.chunked_array([pa.array(ids[:700].tolist()), pa.array(ids[700:].tolist())]), dtype="str")), True),
        ],
        ids=["fixed-width", "fixed-bytes-non-ascii", "variable-width", "int", "object", "python-string", "chunked-arrow"],
    )
    def test_customer_id_types_give_the_same_summary(self, make_ids, integer_keys):
        orders = order_log(seed=4, n_customers=200)
        base = "K" + orders["customer_id"].str.slice(1).str.zfill(5)
        orders["customer_id"] = make_ids(base)
        assert (btyd._fixed_width_keys(orders["customer_id"]) is not None) == integer_keys
        for frame in (orders, orders.iloc[333:]):  # a slice starts the arrow buffers at an offset
            ours = rfm_summary(frame)
            # reference: the same ids as Python objects (pandas' generic factorize and sort)
            expected = rfm_summary(frame.astype({"customer_id": object}))
            assert ours["customer_id"].dtype == frame["customer_id"].dtype
            pd.testing.assert_frame_equal(ours.astype({"customer_id": object}), expected, check_exact=True)
            split = calibration_holdout_split(frame, "2024-09-30")
            expected_split = calibration_holdout_split(frame.astype({"customer_id": object}), "2024-09-30")
            pd.testing.assert_frame_equal(split.astype({"customer_id": object}), expected_split, check_exact=True)

    def test_fixed_width_ids_in_an_unpadded_arrow_buffer(self, small_orders):
        # the 8-byte window of the last id would run past the end of this exact-size buffer
        ids = pa.StringArray.from_buffers(
            7, pa.py_buffer(np.arange(0, 22, 3, dtype=np.int32).tobytes()), pa.py_buffer(b"K02K02K02K02K01K03K03")
        )
        orders = small_orders.assign(customer_id=pd.Series(pd.array(ids, dtype="str")))
        assert btyd._fixed_width_keys(orders["customer_id"]) is not None
        rfm = rfm_summary(orders)
        assert list(rfm["customer_id"]) == ["K01", "K02", "K03"]
        pd.testing.assert_frame_equal(rfm.astype({"customer_id": object}), rfm_summary(orders.astype({"customer_id": object})))

    def test_categorical_ids_keep_category_order_and_dtype(self, small_orders):
        orders = small_orders.astype({"customer_id": pd.CategoricalDtype(["Z", "C", "B", "A"])})
        rfm = rfm_summary(orders, observation_end="2025-02-26")
        assert list(rfm["customer_id"]) == ["C", "B", "A"]  # category order, unused "Z" left out
        assert rfm["customer_id"].dtype == orders["customer_id"].dtype
        plain = rfm_summary(small_orders, observation_end="2025-02-26").set_index("customer_id")
        pd.testing.assert_frame_equal(rfm.set_index(rfm["customer_id"].astype(str)).drop(columns="customer_id"), plain.loc[["C", "B", "A"]], check_names=False)

    @pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
    def test_day_numbers_floor_like_numpy_also_before_1970(self, unit):
        rng = np.random.default_rng(5)
        stamps = pd.Series(pd.Timestamp("1969-12-25") + pd.to_timedelta(rng.integers(0, 20 * 86_400, 500), unit="s")).dt.as_unit(unit)
        expected = stamps.to_numpy().astype("datetime64[D]").astype(np.int64)
        np.testing.assert_array_equal(btyd._day_numbers(stamps), expected)
        assert btyd._day_numbers(stamps).min() < 0  # pre-1970 days, times of day floored
        with pytest.raises(RFMDataError, match="1 missing dates"):
            btyd._day_numbers(pd.concat([stamps, pd.Series([pd.NaT], dtype=stamps.dtype)]))

    def test_input_errors(self, small_orders):
        with pytest.raises(RFMDataError, match="lacks the column"):
            rfm_summary(small_orders.drop(columns="net_revenue"))
        with pytest.raises(RFMDataError, match="time_unit"):
            rfm_summary(small_orders, time_unit="fortnight")
        with pytest.raises(RFMDataError, match="No order"):
            rfm_summary(small_orders, observation_end="2020-01-01")
        with pytest.raises(RFMDataError, match="holdout period is empty"):
            calibration_holdout_split(small_orders, "2025-03-01", "2025-02-01")


# --------------------------------------------------------------------------------------------------
# Estimator conventions
# --------------------------------------------------------------------------------------------------
class TestEstimatorConventions:
    @pytest.mark.parametrize("cls", [BetaGeoModel, ParetoNBDModel, GammaGammaModel])
    def test_params_clone_and_repr(self, cls, cdnow_rfm):
        model = cls(penalizer=0.0)
        assert model.get_params() == {"penalizer": 0.0}
        assert not hasattr(model, "params_")
        assert repr(model) == f"{cls.__name__}()"
        assert model.fit(cdnow_rfm) is model
        assert list(model.params_) == list(cls._param_names)
        text = repr(model)
        assert "fitted on" in text and all(f"{k}=" in text for k in model.params_)
        copy = clone(model.set_params(penalizer=0.01))
        assert copy.get_params() == {"penalizer": 0.01} and not hasattr(copy, "params_")

    @pytest.mark.parametrize("cls", [BetaGeoModel, ParetoNBDModel])
    def test_unfitted_model_refuses_predictions(self, cls):
        with pytest.raises(NotFittedError):
            cls().p_alive(1, 2.0, 3.0)

    def test_series_in_series_out(self, fitted, cdnow_rfm):
        rfm = cdnow_rfm.set_index("customer_id")
        p = fitted["bg"].p_alive(rfm)
        assert isinstance(p, pd.Series) and p.index.equals(rfm.index)
        assert isinstance(fitted["bg"].p_alive(rfm["frequency"].to_numpy(), rfm["recency"].to_numpy(), rfm["T"].to_numpy()), np.ndarray)


# --------------------------------------------------------------------------------------------------
# Behaviour and numerical robustness
# --------------------------------------------------------------------------------------------------
class TestBehaviour:
    def test_expectations_are_sane(self, fitted):
        for model in (fitted["bg"], fitted["pareto"]):
            x, tx, T = np.array([0, 1, 5, 5]), np.array([0.0, 10.0, 38.0, 5.0]), np.full(4, 39.0)
            p = model.p_alive(x, tx, T)
            assert np.all((p > 0) & (p <= 1))
            assert p[2] > p[3]  # same frequency, recent buyer more likely alive
            e = np.array([model.conditional_expected_purchases(t, x, tx, T) for t in (0.0, 10.0, 50.0)])
            assert np.all(e[0] == 0) and np.all(np.diff(e, axis=0) > 0)
            assert model.expected_purchases(0.0) == 0.0 and model.expected_purchases(52) > model.expected_purchases(26)

    def test_heavy_buyers_stay_finite(self, fitted):
        x, tx, T = np.array([400.0, 2000.0]), np.array([70.0, 75.0]), np.array([78.0, 78.0])
        for model in (fitted["bg"], fitted["pareto"]):
            values = [model.p_alive(x, tx, T), model.conditional_expected_purchases(52, x, tx, T), model.log_likelihood(x, tx, T)]
            assert all(np.all(np.isfinite(v)) for v in values)

    def test_pareto_at_s_equal_one_is_the_limit(self):
        def model(s):
            m = ParetoNBDModel()
            m.params_ = {"r": 0.5, "alpha": 10.0, "s": s, "beta": 12.0}
            return m

        x, tx, T = np.array([0, 3]), np.array([0.0, 20.0]), np.array([39.0, 39.0])
        at_one = model(1.0).conditional_expected_purchases(39, x, tx, T)
        near = model(1.0 + 1e-7).conditional_expected_purchases(39, x, tx, T)
        np.testing.assert_allclose(at_one, near, rtol=1e-6)
        assert model(1.0).expected_purchases(39) == pytest.approx(model(1 - 1e-7).expected_purchases(39), rel=1e-6)

    def test_clv_table(self, fitted, cdnow_rfm):
        clv = customer_lifetime_value(cdnow_rfm, fitted["pareto"], fitted["gg"])
        assert list(clv.columns) == ["customer_id", "p_alive", "expected_purchases", "expected_spend", "clv"]
        assert (clv["clv"] > 0).all()
        undiscounted = customer_lifetime_value(cdnow_rfm, fitted["pareto"], fitted["gg"], discount_rate=0.0)
        assert (undiscounted["clv"] > clv["clv"]).all()
        np.testing.assert_allclose(undiscounted["clv"], undiscounted["expected_purchases"] * undiscounted["expected_spend"])
        half = customer_lifetime_value(cdnow_rfm, fitted["pareto"], fitted["gg"], margin=0.5)
        np.testing.assert_allclose(half["clv"], clv["clv"] / 2)


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------
class TestErrors:
    @pytest.mark.parametrize("cls", [BetaGeoModel, ParetoNBDModel, GammaGammaModel])
    def test_no_repeat_buyers_is_refused(self, cls):
        rfm = pd.DataFrame({"frequency": [0, 0, 0], "recency": [0.0] * 3, "T": [5.0, 8.0, 9.0], "monetary_value": [0.0] * 3})
        with pytest.raises(NoRepeatBuyersError, match="repeat purchase") as info:
            cls().fit(rfm)
        assert isinstance(info.value, BestandError) and isinstance(info.value, ValueError)

    @pytest.mark.parametrize(
        "frequency, recency, T, message",
        [
            ([1, 2], [5.0, 9.0], [6.0, 8.0], "recency is larger than T"),
            ([1.5, 2], [5.0, 6.0], [6.0, 8.0], "whole numbers"),
            ([-1, 2], [0.0, 6.0], [6.0, 8.0], "negative"),
            ([0, 2], [3.0, 6.0], [6.0, 8.0], "recency must be 0"),
            ([1, 2], [np.nan, 6.0], [6.0, 8.0], "missing"),
        ],
    )
    def test_invalid_rfm_is_refused(self, frequency, recency, T, message):
        with pytest.raises(RFMDataError, match=message):
            BetaGeoModel().fit(frequency, recency, T)

    def test_missing_columns(self):
        with pytest.raises(RFMDataError, match="lacks the column"):
            BetaGeoModel().fit(pd.DataFrame({"frequency": [1], "recency": [1.0]}))

    def test_gamma_gamma_refuses_non_positive_spend(self):
        with pytest.raises(RFMDataError, match="mean spend <= 0"):
            GammaGammaModel().fit([1, 2, 0], [10.0, -5.0, 0.0])

    def test_non_convergence_says_so(self):
        # Identical, perfectly regular customers: no heterogeneity and no drop-out to estimate, so
        # the maximum likelihood runs off to the boundary of the parameter space.
        n = 50
        rfm = pd.DataFrame({"frequency": [10] * n, "recency": [20.0] * n, "T": [20.0] * n})
        with pytest.raises(ConvergenceError, match="did not converge") as info:
            BetaGeoModel().fit(rfm)
        assert "ran off towards 0 or infinity" in str(info.value) and isinstance(info.value, BestandError)

    def test_penalizer_shrinks_the_parameters(self, cdnow_rfm):
        plain, penalised = BetaGeoModel().fit(cdnow_rfm), BetaGeoModel(penalizer=0.05).fit(cdnow_rfm)
        assert penalised.log_likelihood_ < plain.log_likelihood_
        assert penalised.params_["b"] < plain.params_["b"]
