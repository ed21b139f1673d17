"""Habituation signals: hand-built fixtures per signal, and no look-ahead."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bestandlib import features, io, panel
from bestandlib.config import load_config

NO_PALIVE = load_config(overrides={"churn": {"features": {"p_alive": False}}})
QUARTERS = pd.period_range("2021Q1", "2023Q4", freq="Q-DEC")  # 12 quarters


def _orders(rows):
    """rows: (customer, quarter index, product group, revenue) -> canonical order lines."""
    out = []
    for i, (c, q, g, rev) in enumerate(rows):
        day = QUARTERS[q].start_time + pd.Timedelta(days=20)
        out.append({"order_id": f"O{i}", "customer_id": c, "order_date": day, "product_id": g + "1",
                    "product_group": g, "quantity": 1.0, "net_revenue": float(rev),
                    "contribution_margin": 0.4 * rev})
    df = pd.DataFrame(out)
    df["order_date"] = df["order_date"].astype("datetime64[ns]")
    return df


def _contacts(rows):
    """rows: (customer, quarter index, channel, n, account manager)."""
    out = []
    for c, q, ch, n, am in rows:
        for k in range(n):
            out.append({"customer_id": c, "contact_date": QUARTERS[q].start_time + pd.Timedelta(days=5 + 10 * k),
                        "channel": ch, "account_manager": am})
    df = pd.DataFrame(out, columns=["customer_id", "contact_date", "channel", "account_manager"])
    df["contact_date"] = df["contact_date"].astype("datetime64[ns]")
    return df


@pytest.fixture()
def world():
    # A buys group KNO every quarter and adds KNB in quarter 3 (index 2); B orders every quarter until
    # quarter 9 (index 8), then stops.
    rows = [("A", q, "KNO", 1000) for q in range(12)] + [("A", 2, "KNB", 200)]
    rows += [("B", q, "KNO", 500) for q in range(9)]
    orders = _orders(rows)
    # A: 2 visits a quarter for 10 quarters, none in the last two; manager changes in quarter 6.
    contacts = _contacts([("A", q, "visit", 2 if q < 10 else 0, "Anna" if q < 6 else "Ole") for q in range(12)]
                         + [("A", q, "training", 1, "Anna" if q < 6 else "Ole") for q in range(0, 6)]
                         + [("B", q, "call", 1, "Frank") for q in range(12)])
    complaints = pd.DataFrame({
        "customer_id": ["A", "A"], "complaint_date": pd.to_datetime(["2023-10-02", "2022-01-10"]),
        "kind": ["complaint", "return"], "severity": [1, 2], "value": [100.0, 50.0],
        "resolved_on": pd.to_datetime(["2024-02-01", "2022-01-20"])})
    potentials = pd.DataFrame({"customer_id": ["A", "B"], "assessed_on": pd.to_datetime(["2021-01-05"] * 2),
                               "potential": [8000.0, 4000.0], "competitive_intensity": [2.0, 3.0]})
    surveys = pd.DataFrame({"customer_id": ["A", "A"], "survey_date": pd.to_datetime(["2021-06-01", "2023-05-01"]),
                            "satisfaction": [9.0, 6.0], "would_recommend": [9.0, 6.0]})
    return dict(orders=orders, contacts=contacts, complaints=complaints, potentials=potentials,
                surveys=surveys)


def _features(w, until="2023Q4", config=NO_PALIVE):
    pnl = panel.build_panel(w["orders"], until=until)
    signals = {k: v for k, v in w.items() if k != "orders"}  # order signals come from the panel
    return features.habituation_features(pnl, config=config, **signals).set_index(["customer_id", "quarter"])


class TestSignals:
    def test_columns_and_one_row_per_panel_row(self, world):
        f = _features(world)
        assert len(f) == 24
        assert set(features.FEATURES) <= set(f.columns)
        assert set(features.HABITUATION_FEATURES) | set(features.BASE_FEATURES) == set(features.FEATURES)

    def test_quarters_since_new_product_group(self, world):
        f = _features(world)
        assert f.loc[("A", "2021Q3"), "quarters_since_new_group"] == 0  # KNB is new here
        assert f.loc[("A", "2023Q2"), "quarters_since_new_group"] == 7
        assert f.loc[("B", "2023Q4"), "quarters_since_new_group"] == 11

    def test_visits_against_own_baseline(self, world):
        f = _features(world)
        row = f.loc[("A", "2023Q4")]
        assert row["visits_recent"] == 0 and row["visits_base"] == 2
        assert row["visit_change"] == pytest.approx((0 + 0.5) / (2 + 0.5) - 1)
        assert f.loc[("A", "2023Q2"), "visit_change"] == pytest.approx(0.0)
        # trainings stopped after quarter 6: novelty contacts far below the baseline
        assert f.loc[("A", "2023Q4"), "novelty_recent"] == 0
        # no baseline yet in the first quarters: unknown, not zero
        assert np.isnan(f.loc[("A", "2021Q3"), "visit_change"])

    def test_order_gap_drift_grows_after_orders_stop(self, world):
        f = _features(world)
        assert f.loc[("B", "2023Q1"), "order_interval_change"] == pytest.approx(0.0, abs=0.01)
        assert f.loc[("B", "2023Q4"), "order_interval_change"] > 1.0
        assert f.loc[("B", "2023Q4"), "days_since_last_order"] > 270

    def test_account_manager_tenure_restarts_at_a_change(self, world):
        f = _features(world)
        assert f.loc[("A", "2022Q2"), "account_manager_quarters"] == 5
        assert f.loc[("A", "2022Q3"), "account_manager_quarters"] == 0  # Ole took over
        assert f.loc[("A", "2023Q2"), "account_manager_quarters"] == 3

    def test_resolution_time_counts_open_complaints_by_their_age(self, world):
        f = _features(world)
        # opened 2023-10-02, resolved only in 2024: at the end of 2023Q4 it is 90 days open
        assert f.loc[("A", "2023Q4"), "resolution_days"] == pytest.approx(90)
        assert f.loc[("A", "2022Q1"), "resolution_days"] == pytest.approx(10)

    def test_satisfaction_change_and_share_of_wallet(self, world):
        f = _features(world)
        assert f.loc[("A", "2023Q2"), "satisfaction_change"] == -3
        assert np.isnan(f.loc[("A", "2022Q1"), "satisfaction_change"])  # one survey only
        # A's revenue is flat except the extra 200 EUR of 2021Q3 in the baseline window (annualised
        # 800 of 8000 potential in one of 8 baseline quarters); B stopped: share of wallet gone
        assert f.loc[("A", "2023Q2"), "share_of_wallet_change"] == pytest.approx(-800 / 8000 / 8)
        assert f.loc[("B", "2023Q4"), "share_of_wallet_change"] == pytest.approx(-0.5 * 7 / 8)  # 2023Q2 empty

    def test_order_rate_is_shrunk_toward_the_own_baseline(self, world):
        f = _features(world)
        # B ordered once a quarter and stops after 2023Q1: one empty quarter weighs 1 of 3 quarters
        assert f.loc[("B", "2023Q1"), "order_rate_change"] == pytest.approx(0.0)
        assert f.loc[("B", "2023Q2"), "order_rate_change"] == pytest.approx(np.log(2 / 3 + 0.1) - np.log(1.1))
        # the stronger the prior, the less a single quarter moves the signal
        strong = load_config(overrides={"churn": {"features": {"p_alive": False, "prior_quarters": 8}}})
        g = _features(world, config=strong)
        assert g.loc[("B", "2023Q2"), "order_rate_change"] > f.loc[("B", "2023Q2"), "order_rate_change"]
        assert np.isnan(f.loc[("A", "2021Q3"), "order_rate_change"])  # no baseline yet

    def test_trailing_year_against_the_year_before(self, world):
        f = _features(world)
        assert f.loc[("A", "2023Q4"), "revenue_year_change"] == pytest.approx(0.0)
        # B: 2000 EUR in 2022 (quarters 5-8), nothing in 2023Q1..Q4 except 500 in 2023Q1
        pseudo = 0.05 * (500 + 2000) / 2 + 1
        assert f.loc[("B", "2023Q4"), "revenue_year_change"] == pytest.approx(np.log((500 + pseudo) / (2000 + pseudo)))
        # 2022Q4: the year before (2021) held the extra 200 EUR of KNB
        pseudo = 0.05 * (4000 + 4200) / 2 + 1
        assert f.loc[("A", "2022Q4"), "revenue_year_change"] == pytest.approx(np.log((4000 + pseudo) / (4200 + pseudo)))
        assert np.isnan(f.loc[("A", "2022Q3"), "revenue_year_change"])   # the year before is incomplete
        assert f.loc[("B", "2023Q4"), "orders_4q"] == 1


class TestNoLookAhead:
    def test_changing_later_data_leaves_earlier_quarters_unchanged(self, world):
        base = _features(world)
        w = {k: v.copy() for k, v in world.items()}
        later = _orders([("A", 11, "SGO", 99999), ("B", 11, "ELT", 5)])
        w["orders"] = pd.concat([w["orders"], later], ignore_index=True)
        w["contacts"] = pd.concat([w["contacts"], _contacts([("A", 11, "visit", 9, "Zed")])], ignore_index=True)
        w["complaints"].loc[0, "resolved_on"] = pd.Timestamp("2023-10-05")
        w["surveys"].loc[1, "satisfaction"] = 1.0  # the 2023-05 survey changes nothing before 2023Q2
        changed = _features(w)
        cols = features.FEATURES
        early = [i for i in base.index if i[1] <= "2023Q1"]
        pd.testing.assert_frame_equal(base.loc[early, cols], changed.loc[early, cols])
        assert not base.loc[[("A", "2023Q4")], cols].equals(changed.loc[[("A", "2023Q4")], cols])

    def test_generated_world_cut_equals_full(self, small_world):
        """Features of quarters up to a cut are the same whether later data exists or not (incl. P(alive))."""
        tables = io.load_tables(small_world)
        full = features.habituation_features(panel.build_panel(tables.orders), tables)
        cut_tables = tables.cut(pd.Timestamp("2023-06-30"))
        cut = features.habituation_features(panel.build_panel(cut_tables.orders, until="2023Q2"), cut_tables)
        key = ["customer_id", "quarter"]
        merged = cut.merge(full, on=key, suffixes=("_cut", "_full"))
        assert len(merged) == len(cut)
        for col in features.FEATURES:
            np.testing.assert_allclose(merged[col + "_cut"], merged[col + "_full"], rtol=1e-9,
                                       equal_nan=True, err_msg=col)
