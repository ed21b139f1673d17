"""Engine settings and connections; the portable Ibis expressions against the DuckDB SQL and btyd."""
from __future__ import annotations

import pandas as pd
import pytest

from bestandlib import btyd, engine, panel
from bestandlib.config import load_config
from bestandlib.errors import BestandError, ConfigError
from test_panel import assert_same_panel, make_orders, random_orders


class TestSettings:
    def test_defaults_come_from_bestand_yml(self):
        s = engine.engine_settings(None)
        assert s["backend"] == "duckdb"
        assert s["duckdb"]["memory_limit"] is None
        assert s["pyspark"]["session_time_zone"] == "UTC"

    def test_user_values_override_and_typos_are_errors(self):
        config = load_config(overrides={"engine": {"duckdb": {"memory_limit": "300MB", "threads": 1}}})
        con = engine.duckdb_connection(config)
        try:
            limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
            threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
        finally:
            con.close()
        assert limit.replace(" ", "").upper().startswith(("300", "286")) and int(threads) == 1
        with pytest.raises(ConfigError, match="memory_limt"):
            load_config(overrides={"engine": {"duckdb": {"memory_limt": "1GB"}}})

    def test_unknown_backend_or_bad_setting(self):
        with pytest.raises(ConfigError, match="backend"):
            engine.engine_settings({"engine": {"backend": "hadoop"}})
        with pytest.raises(ConfigError, match="engine.duckdb"):
            engine.duckdb_connection({"engine": {"duckdb": {"memory_limit": "lots"}}})
        with pytest.raises(ConfigError, match="engine"):
            panel.rfm_summary(make_orders([("A", "2024-01-01", "1", "x", 1, 1.0, 1.0)]), engine="dask")

    def test_a_connected_backend_is_used_as_it_is(self):
        con = engine.connect("duckdb")
        assert engine.connect(con) is con
        assert con.name == "duckdb"

    def test_missing_parquet_path(self, tmp_path):
        with pytest.raises(BestandError, match="No orders"):
            engine.parquet_pattern(tmp_path / "nope")


class TestIbisExpressionOnDuckDB:
    """The expression Spark runs, checked on DuckDB against the hand-written SQL (the default)."""

    @pytest.mark.parametrize("until", [None, "2023Q2", "2025Q3"])
    def test_panel_equals_sql(self, until):
        orders = random_orders(21, n=800, customers=40)
        assert_same_panel(panel.build_panel(orders, until=until, engine="duckdb-ibis"),
                          panel.build_panel(orders, until=until, engine="duckdb"))

    def test_panel_from_parquet_folder_and_empty(self, tmp_path):
        orders = random_orders(22, n=300, customers=15)
        for year, part in orders.groupby(orders["order_date"].dt.year):
            (tmp_path / f"year={year}").mkdir()
            part.to_parquet(tmp_path / f"year={year}" / "p.parquet")
        assert_same_panel(panel.build_panel(tmp_path, engine="duckdb-ibis"), panel.build_panel(orders))
        empty = panel.build_panel(make_orders([]), engine="duckdb-ibis")
        assert list(empty.columns) == panel.PANEL_COLUMNS and empty.empty

    def test_ibis_table_as_input(self, tmp_path):
        orders = random_orders(23, n=200, customers=10)
        orders.to_parquet(tmp_path / "o.parquet")
        con = engine.connect("duckdb")
        # (con.create_table from a DataFrame fails with ibis 12.0 on duckdb 2.0: "DROP VIEW IF EXISTS")
        table = con.read_parquet(tmp_path / "o.parquet")
        assert_same_panel(panel.build_panel(table, engine=con), panel.build_panel(orders))


class TestRFMSummary:
    @pytest.mark.parametrize("eng", ["duckdb", "duckdb-ibis"])
    @pytest.mark.parametrize("end", [None, "2023-05-17"])
    def test_equals_btyd(self, eng, end):
        orders = random_orders(24, n=1000, customers=50)
        expected = btyd.rfm_summary(orders, observation_end=end)
        actual = panel.rfm_summary(orders, observation_end=end, engine=eng)
        pd.testing.assert_frame_equal(actual, expected.astype(actual.dtypes.to_dict()),
                                      check_exact=False, rtol=1e-9, atol=1e-12)

    def test_conventions_by_hand(self):
        orders = make_orders([
            ("A", "2024-01-01", "1", "x", 1, 100.0, 1.0),
            ("A", "2024-01-01", "2", "y", 1, 20.0, 1.0),   # same day: one purchase of 120
            ("A", "2024-01-15", "3", "x", 1, 50.0, 1.0),
            ("A", "2024-01-29", "4", "x", 1, 70.0, 1.0),
            ("B", "2024-01-29", "5", "x", 1, 10.0, 1.0),
        ])
        r = panel.rfm_summary(orders, time_unit="D").set_index("customer_id")
        assert r.loc["A"].tolist() == [2, 28.0, 28.0, 60.0]
        assert r.loc["B"].tolist() == [0, 0.0, 0.0, 0.0]
        assert panel.rfm_summary(orders).loc[0, "T"] == pytest.approx(4.0)  # weeks by default

    @pytest.mark.parametrize("until, end", [(None, None), ("2023Q2", None), (None, "2023-05-17"),
                                            ("2023Q2", "2024-02-01"), ("2024Q3", "2023-05-17")])
    def test_panel_and_rfm_from_one_scan_equal_the_two_calls(self, until, end):
        orders = random_orders(25, n=800, customers=40)
        p, r = panel.build_panel_and_rfm(orders, until=until, observation_end=end)
        assert_same_panel(p, panel.build_panel(orders, until=until))
        pd.testing.assert_frame_equal(r, panel.rfm_summary(orders, observation_end=end),
                                      check_exact=False, rtol=1e-12, atol=1e-9)
        # and against btyd's pandas implementation, the reference for the conventions
        expected = btyd.rfm_summary(orders, observation_end=end)
        pd.testing.assert_frame_equal(r, expected.astype(r.dtypes.to_dict()), check_exact=False,
                                      rtol=1e-9, atol=1e-9)

    @pytest.mark.parametrize("until, end", [(None, None), ("2023Q2", None), (None, "2023-05-17"),
                                            ("2023Q2", "2024-02-01"), ("2024Q3", "2023-05-17")])
    def test_ranges_of_customers_equal_one_piece(self, until, end, tmp_path):
        # partition_lines below the lines: the customers are aggregated in ranges, one scan each
        orders = random_orders(27, n=1500, customers=45)
        orders.to_parquet(tmp_path / "o.parquet")
        whole = load_config(overrides={"engine": {"duckdb": {"partition_lines": None}}})
        parts = load_config(overrides={"engine": {"duckdb": {"partition_lines": 200}}})
        con = engine.duckdb_connection(parts)
        try:
            ranges, last_d = panel._customer_ranges(con, panel._duckdb_source(con, orders), "", orders, parts)
        finally:
            con.close()
        assert len(ranges) >= 5 and last_d == orders["order_date"].max().normalize()
        for source in (orders, tmp_path / "o.parquet"):
            p1, r1 = panel.build_panel_and_rfm(source, until=until, observation_end=end, config=whole)
            p2, r2 = panel.build_panel_and_rfm(source, until=until, observation_end=end, config=parts)
            pd.testing.assert_frame_equal(p2, p1)
            pd.testing.assert_frame_equal(r2, r1)
            assert p2["customer_id"].is_monotonic_increasing and r2["customer_id"].is_monotonic_increasing

    def test_small_inputs_are_one_range(self):
        orders = random_orders(28, n=300, customers=12)
        con = engine.duckdb_connection()
        try:
            assert panel._customer_ranges(con, panel._duckdb_source(con, orders), "", orders, None) == ([""], None)
        finally:
            con.close()

    def test_panel_and_rfm_dates_are_datetime64(self, tmp_path):
        orders = random_orders(26, n=200, customers=10)
        orders.to_parquet(tmp_path / "o.parquet")
        p, r = panel.build_panel_and_rfm(tmp_path / "o.parquet")
        for col in ("quarter_end", "first_order_date", "last_order_date"):
            assert p[col].dtype == "datetime64[ns]"
        assert len(r) == orders["customer_id"].nunique()

    def test_nothing_before_observation_end(self):
        orders = make_orders([("A", "2024-01-01", "1", "x", 1, 1.0, 1.0)])
        with pytest.raises(btyd.RFMDataError, match="observation_end"):
            panel.rfm_summary(orders, observation_end="2023-01-01")


class TestCheckOrders:
    """Validation of large Parquet inputs in DuckDB: same problem table as bestandlib.io.validate."""

    def write(self, tmp_path, orders, name="orders.parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = tmp_path / name
        # keep NaN as NaN (pandas' to_parquet would store it as a missing value)
        table = pa.Table.from_pandas(orders, preserve_index=False)
        for col in ("net_revenue", "contribution_margin"):
            if col in orders and orders[col].dtype == "float64":
                i = table.column_names.index(col)
                table = table.set_column(i, col, pa.array(orders[col].to_numpy(), from_pandas=False))
        pq.write_table(table, path)
        return path

    def test_bad_rows_are_found_with_file_line_column_value(self, tmp_path):
        orders = make_orders([
            ("A", "2024-01-10", "1", "x", 1, 100.0, 30.0),
            ("Z", "2024-01-11", "2", "x", 1, 50.0, 10.0),             # unknown customer (line 2)
            ("A", "2024-01-12", "3", "x", 1, float("nan"), 1.0),      # NaN money (line 3)
            ("B", "2031-05-01", "4", "x", 1, 10.0, float("inf")),     # future date and inf (line 4)
            ("B", "2024-02-01", "5", "x", 1, 10.0, 1.0),
        ])
        orders.loc[4, "order_id"] = None                               # missing id (line 5)
        path = self.write(tmp_path, orders)
        check = engine.check_orders(path, customers=["A", "B"], today="2025-12-31")
        p = check.problems
        assert list(p.columns) == ["file", "line", "column", "value", "message", "severity"]
        got = set(zip(p["line"].astype(int), p["column"], p["message"]))
        assert got == {
            (2, "customer_id", "unknown customer_id (not in customers)"),
            (3, "net_revenue", "NaN or infinity is not a value"),
            (4, "order_date", "date in the future (after 2025-12-31)"),
            (4, "contribution_margin", "NaN or infinity is not a value"),
            (5, "order_id", "value missing"),
        }
        assert p.loc[p["column"] == "customer_id", "value"].tolist() == ["Z"]
        assert p["file"].str.endswith("orders.parquet").all() and (p["severity"] == "error").all()
        assert p["line"].is_monotonic_increasing
        # rows in and out: four rows have at least one error, nothing disappears silently
        assert (check.rows_in, check.rows_out) == (5, 1)
        assert check.counts["rows"].sum() == 5

    def test_folder_text_columns_limit_and_missing_column(self, tmp_path):
        folder = tmp_path / "orders"
        good = make_orders([("A", "2024-01-10", str(i), "x", 1, 10.0, 1.0) for i in range(30)])
        bad = good.astype({"net_revenue": "str"})
        bad.loc[[3, 7], "net_revenue"] = "zehn"                        # text that is no number
        for name, part in (("a", good), ("b", bad)):
            (folder / f"part={name}").mkdir(parents=True)
            part.to_parquet(folder / f"part={name}" / "p.parquet", index=False)
        check = engine.check_orders(folder, limit=1)
        assert check.rows_in == 60 and check.rows_out == 58
        assert len(check.problems) == 1  # limit per check; counts have the full number
        row = check.problems.iloc[0]
        assert (row["line"], row["value"], row["message"]) == (4, "zehn", "not a number")
        assert "part=b" in row["file"]
        assert check.counts.set_index("message").loc["not a number", "rows"] == 2
        # a file without a required column: one whole-file problem, no usable row
        path = self.write(tmp_path, good.drop(columns="net_revenue"), "narrow.parquet")
        check = engine.check_orders(path)
        assert check.problems["message"].tolist() == ["required column net_revenue is missing"]
        assert check.problems["line"].isna().all() and check.rows_out == 0
        # an optional column (the contribution margin) may be absent
        path = self.write(tmp_path, good.drop(columns="contribution_margin"), "no_margin.parquet")
        assert engine.check_orders(path).problems.empty

    def test_clean_input_and_not_a_path(self, tmp_path):
        path = self.write(tmp_path, random_orders(27, n=300, customers=10))
        check = engine.check_orders(path, customers=tmp_path / "orders.parquet", today="2030-01-01")
        assert check.problems.empty and check.rows_in == check.rows_out == 300
        with pytest.raises(BestandError, match="Parquet"):
            engine.check_orders(random_orders(1))
