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

    def test_nothing_before_observation_end(self):
        orders = make_orders([("A", "2024-01-01", "1", "x", 1, 1.0, 1.0)])
        with pytest.raises(btyd.RFMDataError, match="observation_end"):
            panel.rfm_summary(orders, observation_end="2023-01-01")
