"""Churn targets, the backtest design, the model, reasons in words, the table; and the demo truth."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from bestandlib import churn, features, io, panel
from bestandlib.config import load_config

QUARTERS = pd.period_range("2021Q1", "2023Q4", freq="Q-DEC")


def _panel(rows):
    """rows: (customer, quarter index, revenue) -> panel via build_panel."""
    o = pd.DataFrame([{"order_id": f"O{i}", "customer_id": c,
                       "order_date": QUARTERS[q].start_time + pd.Timedelta(days=10), "product_id": "P",
                       "product_group": "G", "quantity": 1.0, "net_revenue": float(r),
                       "contribution_margin": 0.3 * r} for i, (c, q, r) in enumerate(rows)])
    o["order_date"] = o["order_date"].astype("datetime64[ns]")
    return panel.build_panel(o, until="2023Q4")


class TestTargets:
    @pytest.fixture()
    def targets(self):
        rows = [("FULL", q, 1000) for q in range(6)]                          # stops after 2022Q2
        rows += [("PART", q, 1000 if q < 6 else 300) for q in range(12)]      # shrinks to 30 %
        rows += [("KEEP", q, 1000) for q in range(12)]
        return churn.churn_targets(_panel(rows)).set_index(["customer_id", "quarter"])

    def test_full_churn_is_no_order_in_the_next_two_quarters(self, targets):
        assert targets.loc[("FULL", "2022Q2"), "churn_full"] == 1
        assert targets.loc[("FULL", "2022Q1"), "churn_full"] == 0   # still orders in 2022Q2
        assert targets.loc[("KEEP", "2022Q2"), "churn_full"] == 0

    def test_partial_churn_compares_next_four_with_last_four_quarters(self, targets):
        assert targets.loc[("PART", "2022Q2"), "churn_partial"] == 1   # 4 x 300 < 50 % of 4 x 1000
        assert targets.loc[("PART", "2021Q3"), "churn_partial"] == 0   # 3000 + 300... >= 50 %
        assert targets.loc[("PART", "2022Q2"), "churn"] == 1
        assert targets.loc[("PART", "2022Q2"), "lost_revenue"] == pytest.approx(4000 - 1200)

    def test_outcome_unknown_until_the_window_is_in_the_data(self, targets):
        assert np.isnan(targets.loc[("KEEP", "2023Q1"), "churn"])        # needs 2023Q2..2024Q1
        assert not targets.loc[("KEEP", "2023Q1"), "observed"]
        assert targets.loc[("KEEP", "2022Q4"), "observed"]
        assert targets.loc[("KEEP", "2023Q2"), "churn_full"] == 0       # 2 quarters are enough
        assert np.isnan(targets.loc[("KEEP", "2023Q3"), "churn_full"])

    def test_target_kind_is_configurable(self):
        rows = [("PART", q, 1000 if q < 6 else 300) for q in range(12)]
        cfg = load_config(overrides={"churn": {"target": {"kind": "full"}}})
        t = churn.churn_targets(_panel(rows), cfg).set_index("quarter")
        assert t["churn"].max() == 0 and t["observed"].sum() == 10


class TestBacktestDesign:
    def test_no_training_outcome_window_reaches_the_scored_quarter(self):
        frame = pd.DataFrame({"quarter_index": np.repeat(np.arange(8084, 8108), 2),
                              "observed": True})
        frame.loc[frame["quarter_index"] > 8103, "observed"] = False
        for kind, h in [("either", 4), ("full", 2)]:
            cfg = load_config(overrides={"churn": {"target": {"kind": kind}}})
            splits = churn.backtest_splits(frame, cfg)
            assert len(splits) >= 6
            for s in splits:
                assert s["horizon"] == h
                assert churn._qi(s["train_until"]) + h <= churn._qi(s["scored"])
            assert splits[-1]["scored"] == churn._label(8103)


def _toy(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(features.FEATURES))), columns=features.FEATURES)
    logit = -2 + 1.5 * X["quarters_since_new_group"] - 1.0 * X["visit_change"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


class TestModel:
    @pytest.mark.parametrize("kind", ["logistic", "gradient_boosting"])
    def test_fit_predict_and_clone(self, kind):
        X, y = _toy()
        m = churn.ChurnModel(kind=kind).fit(X, y)
        p = m.predict_proba(X)[:, 1]
        assert p.shape == (len(X),) and (0 <= p).all() and (p <= 1).all()
        from sklearn.metrics import roc_auc_score
        assert roc_auc_score(y, p) > 0.75
        assert clone(m).get_params()["kind"] == kind

    def test_contributions_point_at_the_drivers(self):
        X, y = _toy()
        m = churn.ChurnModel().fit(X, y)
        coef = m.coefficients_
        assert coef.idxmax() == "quarters_since_new_group" and coef.idxmin() == "visit_change"
        c = m.contributions(X)
        assert c.shape == X.shape
        share = churn.habituation_share(m, X)
        assert share.between(0, 1).all()


class TestReasons:
    def test_wording_in_both_languages(self):
        assert churn.reason_text("quarters_since_new_group", {"quarters_since_new_group": 7}, "de") == \
            "keine neue Produktgruppe seit 7 Quartalen"
        assert churn.reason_text("quarters_since_new_group", {"quarters_since_new_group": 7}, "en") == \
            "no new product group for 7 quarters"
        row = {"visits_recent": 0.4, "visits_base": 1.0, "visit_change": -0.4}
        assert churn.reason_text("visit_change", row, "de") == "Besuche -60 % ggü. eigener Basis"
        assert churn.reason_text("visit_change", row, "en") == "visits down 60% vs own baseline"
        assert churn.reason_text("account_manager_quarters", {"account_manager_quarters": 1}, "en") == \
            "account manager changed 1 quarter ago"

    def test_every_feature_has_words(self):
        row = {f: 0.5 for f in features.FEATURES}
        for f in features.FEATURES:
            for lang in ("de", "en"):
                assert churn.reason_text(f, row, lang)


# --- the demo world: against the generating truth -----------------------------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from bestandlib.demo import generate_demo

    out = tmp_path_factory.mktemp("churn") / "world"
    generate_demo(out, customers=400, seed=5)
    tables = io.load_tables(out)
    pnl = panel.build_panel(tables.orders)
    frame = churn.model_frame(pnl, tables)
    truth = pd.read_csv(out.parent / "world_truth" / "truth.csv", dtype={"customer_id": str})
    scores = churn.backtest(frame, kinds=("logistic",))
    return dict(tables=tables, frame=frame, truth=truth, scores=scores)


def _qi(dates):
    d = pd.to_datetime(dates)
    return d.dt.year * 4 + d.dt.quarter - 1


class TestDemoWorld:
    def test_backtest_beats_both_baselines(self, demo):
        m = churn.backtest_metrics(demo["scores"]).set_index("score")
        print("\nbacktest ROC AUC:", m["roc_auc"].round(3).to_dict(), "PR AUC:", m["pr_auc"].round(3).to_dict())
        # a clear margin, not a tie: on this world 0.675 vs 0.621 for both baselines
        assert m.loc["logistic", "roc_auc"] > m.loc["recency", "roc_auc"] + 0.03
        assert m.loc["logistic", "roc_auc"] > m.loc["p_alive", "roc_auc"] + 0.03
        assert m.loc["logistic", "lift_top"] > 1.5
        assert demo["scores"]["quarter"].nunique() >= 6

    def test_most_habituating_churners_are_flagged_before_they_churn(self, demo):
        s, t = demo["scores"].copy(), demo["truth"]
        s["qi"] = _qi(s["quarter"].map(lambda q: pd.Period(q, freq="Q-DEC").start_time))
        t = t.assign(cq=_qi(t["churn_date"]))
        lo, hi = s["qi"].min(), s["qi"].max()
        hab = t[(t["archetype"] == "habituating") & t["churn_kind"].isin(["full", "partial"])
                & (t["cq"] - 1 >= lo) & (t["cq"] - 1 <= hi)]
        b = s.merge(hab[["customer_id", "cq"]], on="customer_id")
        b = b[(b["qi"] < b["cq"]) & (b["qi"] >= b["cq"] - 4)]  # the 4 quarters before churn
        flagged = b.groupby("customer_id")["habituation_flag"].any()
        others = s[~s["customer_id"].isin(t.loc[t["archetype"] == "habituating", "customer_id"])]
        print(f"\nhabituating churners in the backtest: {len(flagged)}, flagged before churn: "
              f"{flagged.mean():.0%}; flag rate among other customer-quarters: {others['habituation_flag'].mean():.1%}")
        assert len(flagged) >= 10
        assert flagged.mean() > 0.5
        assert flagged.mean() > 3 * others["habituation_flag"].mean()

    def test_churn_table(self, demo):
        frame, tables = demo["frame"], demo["tables"]
        model = churn.fit_current(frame, "2025Q4")
        table = churn.churn_table(frame, model, tables.customers, "2025Q4", lang="en")
        assert list(table.columns) == churn.TABLE_COLUMNS
        assert table["customer_id"].is_unique
        np.testing.assert_allclose(table["margin_at_risk"],
                                   table["churn_probability"] * table["margin_12m"].clip(lower=0))
        assert table["margin_at_risk"].is_monotonic_decreasing
        flagged = table[table["habituation_flag"]]
        assert len(flagged) > 0 and (flagged["reason_1"] != "").all() and flagged["high_risk"].all()
        assert table["account_manager"].notna().all()
        lead = churn.lead_times(demo["scores"])
        assert (lead["lead_quarters"].dropna() >= 1).all()


def test_reason_without_a_baseline_is_worded_without_a_figure():
    from bestandlib.churn import reason_text

    assert reason_text("visit_change", {"visits_recent": float("nan"), "visits_base": float("nan"),
                                        "visit_change": float("nan")}, "de") == "Besuche auffällig ggü. eigener Basis"
    assert "unusual" in reason_text("order_interval_change", {"order_interval_change": float("nan")}, "en")


def test_gradient_boosting_survives_a_feature_missing_everywhere():
    import numpy as np
    import pandas as pd

    from bestandlib.churn import ChurnModel

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"days_since_last_order": rng.exponential(90, 300),
                      "satisfaction_change": np.nan})
    y = (X["days_since_last_order"] + rng.normal(0, 40, 300) > 120).astype(int)
    model = ChurnModel(kind="gradient_boosting", features=list(X.columns)).fit(X, y)
    p = model.predict_proba(X)[:, 1]
    assert p.shape == (300,) and np.isfinite(p).all()
