"""The same panel and RFM summary on PySpark (local mode) as on DuckDB.

Needs the optional extra ``pip install -e '.[spark]'`` (part of ``.[dev]``) and Java. The Spark
session starts once for the module (about 8 s) in local mode with two cores, the UTC session time zone
and few shuffle partitions, because a handful of customers needs no 200 partitions.
"""
from __future__ import annotations

import shutil
import warnings

import pandas as pd
import pytest

from bestandlib import panel
from test_panel import assert_same_panel, make_orders, random_orders

pytest.importorskip("pyspark", reason="pyspark is not installed: pip install -e '.[spark]'")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java (java not on PATH)", allow_module_level=True)

# a Spark session takes 8 s to start on an idle 2-core machine (over 30 s on a busy one)
pytestmark = pytest.mark.slow

CONFIG = {"engine": {"backend": "pyspark", "pyspark": {"master": "local[2]", "app_name": "bestand-test",
                                                      "shuffle_partitions": 2, "session_time_zone": "UTC"}}}


@pytest.fixture(scope="module")
def spark():
    from bestandlib import engine

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyspark warns that it does not fully support pandas 3
        session = engine.spark_session(CONFIG)
    session.sparkContext.setLogLevel("ERROR")
    yield engine.ibis_pyspark(session)
    session.stop()


def assert_same_rfm(actual, expected):
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=1e-9, atol=1e-9)


def edge_case_orders() -> pd.DataFrame:
    """Credit-note-only quarter, credit note before the first order, an order spanning two groups, a line
    late on the last day of a quarter."""
    return make_orders([
        ("E1", "2024-01-10", "1", "x", 5, 500.0, 100.0),
        ("E1", "2024-01-10", "1", "y", 1, 10.0, 1.0),
        ("E1", "2024-04-20", "G1", "y", -1, -100.0, -20.0),
        ("E1", pd.Timestamp("2024-09-30 23:30"), "2", "z", 1, 50.0, 10.0),
        ("E2", "2024-02-01", "G2", "x", -1, -30.0, -5.0),
        ("E2", "2024-11-05", "3", "x", 1, 70.0, 7.0),
    ])


def test_panel_on_spark_equals_duckdb(spark):
    orders = pd.concat([random_orders(11, n=600, customers=30), edge_case_orders()], ignore_index=True)
    # engine=None: the backend named in the config (the running session of the fixture is reused)
    assert_same_panel(panel.build_panel(orders, config=CONFIG), panel.build_panel(orders, engine="duckdb"))
    expected = panel.build_panel(orders, until="2024Q3", engine="duckdb")
    e1 = expected.query("customer_id == 'E1'")
    assert e1["orders"].tolist() == [1, 0, 1]  # the edge cases are in
    # purchase days and gaps: the line at 23:30 on the last day of 2024Q3 is a purchase day of that quarter
    assert e1["order_days"].tolist() == [1, 0, 1] and e1["first_gap_days"].iloc[2] == 264.0
    assert e1["product_groups_4q"].tolist() == [2, 2, 3]
    assert_same_panel(panel.build_panel(orders, until="2024Q3", engine=spark), expected)


def test_parquet_folder_and_rfm_on_spark(spark, tmp_path):
    orders = random_orders(12, n=500, customers=20)
    folder = tmp_path / "orders"
    for year, part in orders.groupby(orders["order_date"].dt.year):
        (folder / f"year={year}").mkdir(parents=True)
        # Spark cannot read nanosecond timestamps (pandas' default): write microseconds, as ERP exports do
        part.to_parquet(folder / f"year={year}" / "part.parquet", coerce_timestamps="us",
                        allow_truncated_timestamps=True)
    assert_same_panel(panel.build_panel(str(folder), engine=spark), panel.build_panel(orders))
    expected = panel.rfm_summary(orders, observation_end="2023-05-17", engine="duckdb")
    assert_same_rfm(panel.rfm_summary(folder, observation_end="2023-05-17", engine=spark), expected)


def test_orders_table_on_spark_is_validated_and_aggregated_there(spark, tmp_path):
    """``data.orders_table`` with the pyspark backend: checks and panel run on Spark, as on DuckDB."""
    from bestandlib import demo, io
    from bestandlib.config import load_config

    world = tmp_path / "w"
    demo.generate_demo(world, customers=40, seed=5)
    ref = io.load_tables(world, today="2026-06-30")
    lines = pd.read_parquet(world / "orders.parquet").rename(columns={"customer_id": "Kunde"})
    (world / "orders.parquet").unlink()
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()  # the fixture's session
    session.createDataFrame(lines).createOrReplaceTempView("order_lines")
    bad_lines = lines.copy()
    bad_lines.loc[0, "net_revenue"] = float("inf")  # (a NaN would arrive in Spark as null)
    session.createDataFrame(bad_lines).createOrReplaceTempView("order_lines_bad")
    config = load_config(overrides={**CONFIG, "data": {"orders_table": "order_lines_bad",
                                                       "columns": {"orders": {"Kunde": "customer_id"}}}})
    problems = io.validate(world, config, today="2026-06-30")
    bad = problems[problems["severity"] == "error"]
    assert bad["message"].tolist() == [f"NaN or infinity is not a value (order_id {lines.loc[0, 'order_id']})"]
    assert bad["file"].tolist() == ["table order_lines_bad"] and bad["column"].tolist() == ["net_revenue"]

    config["data"]["orders_table"] = "order_lines"
    tables = io.load_tables(world, config, today="2026-06-30")
    assert tables.orders.backend == "pyspark"
    counts = io.row_counts(tables).set_index("table").loc["orders"]
    assert counts["read_by"] == "pyspark" and counts["rows_used"] == len(ref.orders)
    assert tables.max_date() == ref.max_date()
    q = pd.Period(ref.max_date(), "Q")
    assert_same_panel(panel.build_panel(tables.orders, until=q, config=config),
                      panel.build_panel(ref.orders, until=q, engine="duckdb"))
