"""The customer-quarter panel: DuckDB result against a plain pandas computation, and edge cases."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bestandlib.errors import BestandError, ConfigError
from bestandlib.panel import PANEL_COLUMNS, build_panel, customer_summary


def make_orders(rows) -> pd.DataFrame:
    """Canonical orders from (customer, date, order_id, group, quantity, revenue, margin) tuples."""
    df = pd.DataFrame(rows, columns=["customer_id", "order_date", "order_id", "product_group", "quantity",
                                     "net_revenue", "contribution_margin"])
    df["order_date"] = pd.to_datetime(df["order_date"]).astype("datetime64[ns]")
    df["product_id"] = "P" + df["product_group"].astype(str)
    return df.astype({"customer_id": "str", "order_id": "str", "product_group": "str",
                      "quantity": "float64", "net_revenue": "float64", "contribution_margin": "float64"})


def random_orders(seed: int, n: int = 400, customers: int = 25) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cust = rng.integers(0, customers, n)
    dates = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365, n), unit="D")
    revenue = rng.gamma(2.0, 300.0, n).round(2)
    credit = rng.random(n) < 0.08
    revenue[credit] *= -0.5
    return make_orders(pd.DataFrame({
        "customer_id": [f"K{c:03d}" for c in cust],
        "order_date": dates,
        # a few orders span several lines (same id, same customer)
        "order_id": [f"{c}-{i // 3}" for c, i in zip(cust, rng.integers(0, 60, n))],
        "product_group": rng.choice(["Implantate", "Verbrauch", "Geräte", "Service"], n),
        "quantity": np.where(credit, -1, rng.integers(1, 20, n)),
        "net_revenue": revenue,
        "contribution_margin": (revenue * rng.uniform(0.1, 0.5, n)).round(2),
    }))


def pandas_panel(orders: pd.DataFrame, until: str | None = None) -> pd.DataFrame:
    """The panel computed the obvious way in pandas (loops over customers are fine at this size)."""
    o = orders.copy()
    o["q"] = o["order_date"].dt.to_period("Q-DEC")
    if until is not None:
        o = o[o["q"] <= pd.Period(until, "Q-DEC")]
    last_q = pd.Period(until, "Q-DEC") if until else o["q"].max()
    sale = o["net_revenue"] >= 0
    rows = []
    for cid, g in o.groupby("customer_id"):
        seen: set = set()
        last = pd.NaT
        first_q = g["q"].min()
        first_order = g.loc[sale[g.index], "order_date"].min()
        # purchase days and the gap ending at each (NaN at the first), keyed by the later day's quarter
        days = pd.Series(sorted(g.loc[sale[g.index], "order_date"].dt.normalize().unique()),
                         dtype="datetime64[ns]")
        gaps = pd.DataFrame({"q": days.dt.to_period("Q-DEC"), "gap": days.diff().dt.days.astype("float64")})
        groups_in: dict = {}
        for k, q in enumerate(pd.period_range(first_q, last_q, freq="Q-DEC")):
            gq = g[g["q"] == q]
            s = gq[gq["net_revenue"] >= 0]
            groups = set(s["product_group"])
            groups_in[q] = groups
            trailing = set().union(*(groups_in.get(q - i, set()) for i in range(4)))
            gap_q = gaps.loc[gaps["q"] == q, "gap"]
            if len(s):
                last = s["order_date"].max() if pd.isna(last) else max(last, s["order_date"].max())
            qend = q.end_time.normalize()
            rows.append({
                "customer_id": cid, "quarter": str(q), "quarter_end": qend,
                "revenue": gq["net_revenue"].sum(), "margin": gq["contribution_margin"].sum(),
                "orders": s["order_id"].nunique(), "lines": len(gq), "quantity": gq["quantity"].sum(),
                "product_groups": len(groups), "new_product_groups": len(groups - seen),
                "order_days": len(gap_q), "gap_days_sum": gap_q.sum(), "gap_days_sumsq": (gap_q ** 2).sum(),
                "first_gap_days": gap_q.iloc[0] if len(gap_q) else np.nan,
                "product_groups_4q": len(trailing),
                "first_order_date": first_order, "last_order_date": last,
                "days_since_last_order": (qend - last).days if pd.notna(last) else np.nan,
                "tenure_quarters": k,
            })
            seen |= groups
    return pd.DataFrame(rows, columns=PANEL_COLUMNS)


def assert_same_panel(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(actual.columns) == PANEL_COLUMNS
    expected = expected.astype(actual.dtypes.to_dict())
    pd.testing.assert_frame_equal(actual.reset_index(drop=True), expected.reset_index(drop=True),
                                  check_exact=False, rtol=1e-9, atol=1e-6)


class TestBuildPanel:
    @pytest.mark.parametrize("seed", [0, 1])
    def test_matches_pandas(self, seed):
        orders = random_orders(seed)
        assert_same_panel(build_panel(orders), pandas_panel(orders))

    def test_until_cut_matches_pandas(self):
        orders = random_orders(3)
        panel = build_panel(orders, until="2023Q2")
        assert panel["quarter"].max() == "2023Q2"
        assert_same_panel(panel, pandas_panel(orders, until="2023Q2"))

    @pytest.mark.parametrize("until", [None, "2023Q2"])
    def test_ranges_of_customers_match_pandas(self, until):
        # above engine.duckdb.partition_lines the panel is built per range of customers
        orders = random_orders(4, n=600)
        config = {"engine": {"duckdb": {"partition_lines": 100}}}
        assert_same_panel(build_panel(orders, until=until, config=config), pandas_panel(orders, until=until))

    def test_until_cut_ignores_later_lines_and_extends(self):
        orders = make_orders([
            ("A", "2024-02-01", "1", "x", 1, 100.0, 30.0),
            ("A", "2024-07-01", "2", "x", 1, 50.0, 10.0),   # after the cut
            ("B", "2024-08-01", "3", "x", 1, 70.0, 10.0),   # B only after the cut: not in the panel
        ])
        panel = build_panel(orders, until=pd.Period("2024Q2", "Q-DEC"))
        assert panel["customer_id"].tolist() == ["A", "A"]
        assert panel["revenue"].tolist() == [100.0, 0.0]
        # until later than the data: rows run on to it, zero-filled
        panel = build_panel(orders, until="2025Q1")
        assert panel.groupby("customer_id")["quarter"].max().eq("2025Q1").all()
        assert panel["revenue"].sum() == pytest.approx(220.0)

    def test_line_on_last_day_with_time_belongs_to_quarter(self):
        orders = make_orders([("A", "2024-06-30 15:30", "1", "x", 1, 10.0, 1.0)])
        panel = build_panel(orders, until="2024Q2")
        assert panel["revenue"].tolist() == [10.0]

    def test_single_order_customer_and_gaps(self):
        orders = make_orders([
            ("A", "2024-01-10", "1", "x", 2, 100.0, 30.0),
            ("B", "2024-01-15", "2", "x", 1, 10.0, 1.0),
            ("B", "2024-10-01", "3", "y", 1, 20.0, 2.0),
        ])
        panel = build_panel(orders)
        a = panel[panel["customer_id"] == "A"]
        assert a["quarter"].tolist() == ["2024Q1", "2024Q2", "2024Q3", "2024Q4"]
        assert a["orders"].tolist() == [1, 0, 0, 0]
        assert a["tenure_quarters"].tolist() == [0, 1, 2, 3]
        assert a["last_order_date"].eq(pd.Timestamp("2024-01-10")).all()
        # quarter without orders: days since the last order grow with the quarter end
        assert a["days_since_last_order"].tolist() == [81.0, 172.0, 264.0, 356.0]
        assert a["quarter_end"].tolist() == [pd.Timestamp(d) for d in
                                             ["2024-03-31", "2024-06-30", "2024-09-30", "2024-12-31"]]
        b = panel[panel["customer_id"] == "B"]
        assert b["new_product_groups"].tolist() == [1, 0, 0, 1]
        assert b["last_order_date"].iloc[-1] == pd.Timestamp("2024-10-01")

    def test_credit_notes_net_revenue_but_are_not_orders(self):
        orders = make_orders([
            ("A", "2024-01-10", "1", "x", 5, 500.0, 100.0),
            ("A", "2024-04-20", "G1", "y", -1, -100.0, -20.0),   # credit note only: not active
            ("A", "2024-07-05", "2", "x", 1, 50.0, 10.0),
            ("A", "2024-07-06", "G2", "x", -1, -30.0, -5.0),     # netted in the same quarter
        ])
        panel = build_panel(orders).set_index("quarter")
        assert panel.loc["2024Q2", "revenue"] == -100.0
        assert panel.loc["2024Q2", "orders"] == 0
        assert panel.loc["2024Q2", "product_groups"] == 0
        assert panel.loc["2024Q2", "lines"] == 1
        assert panel.loc["2024Q2", "last_order_date"] == pd.Timestamp("2024-01-10")
        assert panel.loc["2024Q3", "revenue"] == 20.0
        assert panel.loc["2024Q3", "margin"] == 5.0
        assert panel.loc["2024Q3", "orders"] == 1
        assert panel.loc["2024Q3", "quantity"] == 0.0
        # a group first seen on a credit note only is new when it is really bought
        assert panel["new_product_groups"].tolist() == [1, 0, 0]

    def test_orders_count_distinct_ids(self):
        orders = make_orders([
            ("A", "2024-01-10", "1", "x", 1, 10.0, 1.0),
            ("A", "2024-01-10", "1", "y", 1, 10.0, 1.0),
            ("A", "2024-02-10", "2", "y", 1, 10.0, 1.0),
        ])
        row = build_panel(orders).iloc[0]
        assert (row["orders"], row["lines"], row["product_groups"], row["new_product_groups"]) == (2, 3, 2, 2)

    def test_parquet_file_and_folder(self, tmp_path):
        orders = random_orders(5, n=200)
        expected = build_panel(orders)
        orders.to_parquet(tmp_path / "orders.parquet")
        assert_same_panel(build_panel(tmp_path / "orders.parquet"), expected)
        folder = tmp_path / "parts"
        for year, part in orders.groupby(orders["order_date"].dt.year):
            (folder / f"year={year}").mkdir(parents=True)
            part.to_parquet(folder / f"year={year}" / "part.parquet")
        assert_same_panel(build_panel(str(folder)), expected)

    def test_empty_and_errors(self, tmp_path):
        empty = build_panel(make_orders([]))
        assert list(empty.columns) == PANEL_COLUMNS and empty.empty
        with pytest.raises(ConfigError, match="engine"):
            build_panel(make_orders([]), engine="spark-typo")
        with pytest.raises(BestandError, match="lacks"):
            build_panel(pd.DataFrame({"customer_id": ["A"]}))
        with pytest.raises(BestandError, match="No orders"):
            build_panel(tmp_path / "missing.parquet")

    def test_many_product_groups_span_several_masks(self):
        # product groups travel as 62-bit masks in the DuckDB query: 150 groups need three of them
        rng = np.random.default_rng(8)
        orders = random_orders(8, n=600, customers=12)
        orders["product_group"] = [f"G{g:03d}" for g in rng.integers(0, 150, len(orders))]
        panel = build_panel(orders)
        assert panel["new_product_groups"].max() > 0
        assert_same_panel(panel, pandas_panel(orders))

    def test_order_on_several_days_is_one_order(self):
        orders = make_orders([
            ("A", "2024-01-10", "1", "x", 1, 10.0, 1.0),
            ("A", "2024-02-11", "1", "y", 1, 10.0, 1.0),   # same order, later day, same quarter
            ("A", "2024-04-02", "1", "y", 1, 10.0, 1.0),   # same order id in the next quarter
            ("A", "2024-04-03", "2", "z", -1, -5.0, -1.0),  # a credit note only: no order
        ])
        panel = build_panel(orders)
        assert panel["orders"].tolist() == [1, 1]
        assert panel["product_groups"].tolist() == [2, 1]
        assert panel["new_product_groups"].tolist() == [2, 0]
        assert panel["last_order_date"].tolist() == [pd.Timestamp("2024-02-11"), pd.Timestamp("2024-04-02")]
        assert panel["first_order_date"].eq(pd.Timestamp("2024-01-10")).all()

    def test_purchase_days_and_gaps(self):
        orders = make_orders([
            ("A", "2024-01-10", "1", "x", 1, 10.0, 1.0),
            ("A", "2024-01-10", "2", "y", 1, 10.0, 1.0),     # second order of the day: one purchase day
            ("A", "2024-02-09", "3", "x", 1, 10.0, 1.0),
            ("A", "2024-03-01", "G1", "z", -1, -5.0, -1.0),  # credit note: no purchase day, no gap
            ("A", "2024-05-01", "4", "x", 1, 10.0, 1.0),
            ("B", "2024-08-01", "5", "x", 1, 10.0, 1.0),
            ("B", "2024-08-01", "5", "x", 2, 20.0, 2.0),     # two lines of one day
        ])
        panel = build_panel(orders, until="2024Q4")
        a = panel[panel["customer_id"] == "A"].set_index("quarter")
        assert a["order_days"].tolist() == [2, 1, 0, 0]
        assert a["gap_days_sum"].tolist() == [30.0, 82.0, 0.0, 0.0]
        assert a["gap_days_sumsq"].tolist() == [900.0, 6724.0, 0.0, 0.0]
        # the first purchase day ever has no gap; 2024Q2's first gap reaches back to 2024-02-09
        assert np.isnan(a.loc["2024Q1", "first_gap_days"]) and a.loc["2024Q2", "first_gap_days"] == 82.0
        assert a.loc[["2024Q3", "2024Q4"], "first_gap_days"].isna().all()
        b = panel[panel["customer_id"] == "B"]
        assert b["order_days"].tolist() == [1, 0] and b["gap_days_sum"].tolist() == [0.0, 0.0]
        assert b["first_gap_days"].isna().all()
        # the number of gaps follows from order_days: all days but the customer's very first
        n_gaps = panel["order_days"].sum() - panel["customer_id"].nunique()
        assert n_gaps == 2

    def test_product_groups_of_the_trailing_year(self):
        orders = make_orders([
            ("A", "2024-01-10", "1", "x", 1, 10.0, 1.0),
            ("A", "2024-02-10", "2", "y", 1, 10.0, 1.0),
            ("A", "2024-05-10", "3", "x", 1, 10.0, 1.0),
            ("A", "2024-06-10", "G1", "z", -1, -5.0, -1.0),  # a group on a credit note only is not bought
            ("A", "2025-04-10", "4", "z", 1, 10.0, 1.0),
        ])
        panel = build_panel(orders)
        # 2024Q1..2025Q2: y lasts 4 quarters (to 2024Q4), x from 2024Q2 to 2025Q1, then z alone
        assert panel["product_groups_4q"].tolist() == [2, 2, 2, 2, 1, 1]
        assert panel["product_groups"].tolist() == [2, 1, 0, 0, 0, 1]

    def test_new_columns_when_no_line_is_a_sale(self):
        orders = make_orders([("A", "2024-01-10", "G1", "x", -1, -5.0, -1.0)])
        panel = build_panel(orders)
        assert panel[["order_days", "product_groups_4q"]].iloc[0].tolist() == [0, 0]
        assert panel["gap_days_sum"].iloc[0] == 0.0 and np.isnan(panel["first_gap_days"].iloc[0])

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.tuples(st.sampled_from("ABCDE"), st.integers(0, 1500),
                              st.floats(-1e4, 1e5, allow_nan=False).map(lambda x: round(x, 2))),
                    min_size=1, max_size=40))
    def test_revenue_is_conserved(self, lines):
        orders = make_orders([(c, pd.Timestamp("2021-01-01") + pd.Timedelta(days=d), str(i), "g", 1, r, r / 3)
                              for i, (c, d, r) in enumerate(lines)])
        panel = build_panel(orders)
        assert panel["revenue"].sum() == pytest.approx(orders["net_revenue"].sum(), abs=1e-6)
        assert panel["lines"].sum() == len(orders)
        # dense: every customer has one row per quarter from its first quarter to the last
        first = orders.groupby("customer_id")["order_date"].min().dt.to_period("Q-DEC")
        last = orders["order_date"].max().to_period("Q-DEC")
        expected_rows = sum((last - f).n + 1 for f in first)
        assert len(panel) == expected_rows
        # purchase days: each counted once; the gaps of a customer add up to first-to-last purchase day
        sales = orders[orders["net_revenue"] >= 0]
        days = sales.groupby("customer_id")["order_date"]
        assert panel["order_days"].sum() == days.nunique().sum()
        span = (days.max() - days.min()).dt.days.astype("float64")
        gaps = panel.groupby("customer_id")["gap_days_sum"].sum()
        pd.testing.assert_series_equal(gaps.reindex(span.index), span, check_names=False)
        assert (panel["gap_days_sumsq"] >= panel["gap_days_sum"]).all()  # gaps are whole days >= 1


class TestCustomerSummary:
    def test_trailing_windows(self):
        orders = make_orders([
            ("A", "2023-02-01", "1", "x", 1, 100.0, 10.0),   # prev 12m for 2024Q2 (2022Q3..2023Q2)
            ("A", "2023-08-01", "2", "x", 1, 200.0, 20.0),   # last 12m (2023Q3..2024Q2)
            ("A", "2024-05-01", "3", "x", 1, 300.0, 30.0),
            ("A", "2024-09-01", "4", "x", 1, 999.0, 99.0),   # after the quarter: ignored
            ("B", "2023-01-15", "5", "x", 1, 50.0, 5.0),     # only before: inactive at 2024Q2
        ])
        panel = build_panel(orders)
        s = customer_summary(panel, "2024Q2").set_index("customer_id")
        assert s.loc["A", "revenue_12m"] == 500.0
        assert s.loc["A", "margin_12m"] == 50.0
        assert s.loc["A", "revenue_prev_12m"] == 100.0
        assert s.loc["A", "orders_12m"] == 2
        assert s.loc["A", "last_order_date"] == pd.Timestamp("2024-05-01")
        assert s.loc["A", "tenure_quarters"] == 5
        assert s.loc["A", "days_since_last_order"] == 60.0
        assert bool(s.loc["A", "active"]) and not bool(s.loc["B", "active"])
        assert s.loc["B", "revenue_12m"] == 0.0 and s.loc["B", "revenue_prev_12m"] == 50.0

    def test_only_customers_known_by_quarter(self):
        orders = make_orders([("A", "2024-01-01", "1", "x", 1, 1.0, 1.0),
                              ("B", "2024-05-01", "2", "x", 1, 1.0, 1.0)])
        s = customer_summary(build_panel(orders), "2024Q1")
        assert s["customer_id"].tolist() == ["A"]

    def test_quarter_beyond_panel_is_an_error(self):
        panel = build_panel(make_orders([("A", "2024-01-01", "1", "x", 1, 1.0, 1.0)]))
        with pytest.raises(BestandError, match="until"):
            customer_summary(panel, "2024Q3")
