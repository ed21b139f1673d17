"""Order logs validated and aggregated by the engine (``data.engine_min_order_lines``), never by pandas.

The same small world is loaded twice - order lines in pandas, and order lines left in a partitioned
Parquet folder for the engine - and everything the analyses see must agree: problems, exclusions,
row counts, the panel, the habituation features.
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest

from bestandlib import cli, features, io, panel, session
from bestandlib.config import load_config
from bestandlib.engine import OrderLines

ENGINE = load_config(overrides={"data": {"engine_min_order_lines": 0}})
PANDAS = load_config(overrides={"data": {"engine_min_order_lines": None}})
TODAY = "2026-06-30"


def _partitioned_copy(world, target, orders=None, rename=None):
    """The world with its orders as a folder of Parquet files, one per order year (hive style)."""
    target.mkdir(parents=True)
    for f in world.iterdir():
        if not f.name.startswith("orders"):
            shutil.copy(f, target / f.name)
    if orders is None:
        orders = pd.read_parquet(world / "orders.parquet")
    folder = target / "orders"
    years = pd.to_datetime(orders["order_date"]).dt.year
    for year, part in orders.groupby(years, sort=True):
        (folder / f"year={year}").mkdir(parents=True)
        part = part.rename(columns=rename or {})
        part.to_parquet(folder / f"year={year}" / "part-0.parquet", index=False)
    return target


@pytest.fixture(scope="module")
def worlds(small_world, tmp_path_factory):
    folder = _partitioned_copy(small_world, tmp_path_factory.mktemp("engine") / "world")
    return {"pandas": io.load_tables(folder, PANDAS, today=TODAY),
            "engine": io.load_tables(folder, ENGINE, today=TODAY), "folder": folder}


class TestSameTables:
    def test_orders_stay_in_the_files(self, worlds):
        t, ref = worlds["engine"], worlds["pandas"]
        assert t.orders_in_engine and isinstance(t.orders, OrderLines) and not ref.orders_in_engine
        assert len(t.orders) == len(ref.orders) > 10_000
        pd.testing.assert_frame_equal(t.customers, ref.customers)
        pd.testing.assert_frame_equal(t.contacts, ref.contacts)

    def test_same_lines_exclusions_and_dates(self, worlds):
        t, ref = worlds["engine"], worlds["pandas"]
        assert ref.excluded["rows"].sum() > 0  # the world has zero-value lines to leave out
        pd.testing.assert_frame_equal(t.excluded, ref.excluded, check_exact=False)
        assert t.order_date_range() == ref.order_date_range()
        lines = t.orders.to_pandas()
        cols = ["order_id", "customer_id", "order_date", "product_group", "quantity", "net_revenue"]
        key = ["order_id", "product_group", "quantity", "net_revenue"]
        a = lines[cols].sort_values(key, ignore_index=True)
        b = ref.orders[cols].sort_values(key, ignore_index=True)
        pd.testing.assert_frame_equal(a, b, check_dtype=False)

    def test_rows_in_and_out_are_counted(self, worlds):
        counts = io.row_counts(worlds["engine"]).set_index("table")
        o = counts.loc["orders"]
        assert o["read_by"] == "duckdb" and counts.loc["customers", "read_by"] == "pandas"
        assert o["rows_read"] == o["rows_excluded"] + o["rows_used"]
        assert o["rows_used"] == len(worlds["pandas"].orders)
        assert o["rows_excluded"] == worlds["pandas"].excluded["rows"].sum()

    def test_same_panel_and_features(self, worlds):
        t, ref = worlds["engine"], worlds["pandas"]
        q = pd.Period(t.max_date(), "Q") - 1
        cut, ref_cut = t.cut(q.end_time), ref.cut(q.end_time)
        assert cut.orders.until == q.end_time.date().isoformat()
        p, ref_p = panel.build_panel(cut.orders, until=q), panel.build_panel(ref_cut.orders, until=q)
        pd.testing.assert_frame_equal(p, ref_p)
        f = features.habituation_features(p, cut)
        ref_f = features.habituation_features(ref_p, ref_cut)
        pd.testing.assert_frame_equal(f, ref_f)
        assert f["p_alive"].notna().mean() > 0.5

    def test_cache_round_trip_keeps_the_reference(self, worlds, tmp_path):
        t = worlds["engine"]
        back = io.Tables.from_parquet(t.to_parquet(tmp_path / "cache"))
        assert back.orders == t.orders and not (tmp_path / "cache" / "orders.parquet").exists()
        assert back.cut("2024-03-31").orders.until == "2024-03-31"
        pd.testing.assert_frame_equal(back.excluded, t.excluded)

    def test_session_opens_on_engine_lines(self, worlds, tmp_path):
        cfg = tmp_path / "engine.yml"
        cfg.write_text("data:\n  engine_min_order_lines: 0\n", encoding="utf-8")
        s = session.open(data_dir=worlds["folder"], config=str(cfg), today=TODAY)
        assert s.tables.orders_in_engine
        assert set(s.panel["customer_id"]) <= set(worlds["pandas"].customers["customer_id"])
        assert len(s.features()) == len(s.panel)


class TestProblems:
    def bad_orders(self, small_world):
        orders = pd.read_parquet(small_world / "orders.parquet").head(400).copy()
        orders = orders.sort_values("order_date", ignore_index=True)
        orders["net_revenue"] = orders["net_revenue"].astype("float64")
        orders.loc[5, "customer_id"] = "K-UNBEKANNT"
        orders.loc[17, "net_revenue"] = np.nan
        orders.loc[30, "order_date"] = pd.Timestamp("2031-01-02")
        orders.loc[41, "order_id"] = None
        return orders

    def test_same_messages_as_pandas(self, small_world, tmp_path):
        folder = tmp_path / "w"
        shutil.copytree(small_world, folder)
        (folder / "orders.parquet").unlink()
        self.bad_orders(small_world).to_parquet(folder / "orders.parquet", index=False)
        by_engine = io.validate(folder, ENGINE, today=TODAY)
        by_pandas = io.validate(folder, PANDAS, today=TODAY)
        key = ["file", "line", "column", "value", "message"]
        errors = by_engine[by_engine["severity"] == "error"]
        assert len(errors) == 4
        assert set(map(tuple, errors[key].astype(str).to_numpy())) == set(
            map(tuple, by_pandas.loc[by_pandas["severity"] == "error", key].astype(str).to_numpy()))
        row = errors[errors["column"] == "customer_id"].iloc[0]
        assert (row["file"], row["line"], row["value"]) == ("orders.parquet", 6, "K-UNBEKANNT")
        with pytest.raises(io.DataValidationError):
            io.load_tables(folder, ENGINE, today=TODAY)

    def test_mapped_columns_and_partitioned_files(self, small_world, tmp_path, monkeypatch):
        german = {"customer_id": "Kundennummer", "net_revenue": "Nettoumsatz", "order_date": "Auftragsdatum"}
        folder = _partitioned_copy(small_world, tmp_path / "w", orders=self.bad_orders(small_world),
                                   rename=german)
        cfg = load_config(overrides={"data": {"engine_min_order_lines": 0,
                                              "columns": {"orders": {v: k for k, v in german.items()}}}})
        monkeypatch.chdir(tmp_path)  # a relative data folder: files are still named from the folder on
        p = io.validate("w", cfg, today=TODAY)
        errors = p[p["severity"] == "error"].set_index("column")
        assert errors.loc["net_revenue", "message"] == "value missing"  # pandas writes NaN as null
        assert errors.loc["order_date", "file"].startswith("orders/year=2031/")
        assert errors.loc["order_date", "message"] == f"date in the future (after {TODAY})"
        assert errors.loc["customer_id", "value"] == "K-UNBEKANNT"
        assert errors.loc["customer_id", "file"].startswith("orders/year=")

    def test_missing_column_is_one_problem(self, small_world, tmp_path):
        folder = tmp_path / "w"
        shutil.copytree(small_world, folder)
        orders = pd.read_parquet(folder / "orders.parquet").drop(columns="net_revenue")
        orders.to_parquet(folder / "orders.parquet", index=False)
        p = io.validate(folder, ENGINE, today=TODAY)
        assert p.loc[p["severity"] == "error", "message"].str.startswith(
            "required column net_revenue is missing").tolist() == [True]

    def test_optional_margin_column_may_be_absent(self, small_world, tmp_path):
        folder = tmp_path / "w"
        shutil.copytree(small_world, folder)
        orders = pd.read_parquet(folder / "orders.parquet").drop(columns="contribution_margin")
        orders.loc[0, "net_revenue"] = 0.0  # a zero-revenue line without margin carries no value
        orders.to_parquet(folder / "orders.parquet", index=False)
        t = io.load_tables(folder, ENGINE, today=TODAY)
        assert t.orders_in_engine
        assert "contribution_margin" not in t.sources["orders"]["columns"]
        assert int(t.excluded["rows"].sum()) >= 1

    def test_threshold_decides(self, small_world):
        rows = len(pd.read_parquet(small_world / "orders.parquet", columns=["order_id"]))
        just_below = load_config(overrides={"data": {"engine_min_order_lines": rows + 1}})
        at = load_config(overrides={"data": {"engine_min_order_lines": rows}})
        assert not io.load_tables(small_world, just_below, today=TODAY).orders_in_engine
        assert io.load_tables(small_world, at, today=TODAY).orders_in_engine
        with pytest.raises(io.ConfigError, match="engine_min_order_lines"):
            io.load_tables(small_world, load_config(overrides={"data": {"engine_min_order_lines": -1}}))


def test_cli_validate_prints_rows_in_and_out(worlds, tmp_path, capsys):
    cfg = tmp_path / "engine.yml"
    cfg.write_text("data:\n  engine_min_order_lines: 0\n", encoding="utf-8")
    assert cli.main(["validate", str(worlds["folder"]), "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "extra column" not in out  # partition folders (year=2024) are no column
    line = next(x for x in out.splitlines() if x.split()[:1] == ["orders"])
    assert line.split()[-1] == "duckdb" and f"{len(worlds['engine'].orders):,}" in line


class TestDatabaseTable:
    """Order lines in a table of a DuckDB database file (``data.orders_table``), read where they lie."""

    @pytest.fixture()
    def world(self, small_world, tmp_path):
        import duckdb

        folder = tmp_path / "w"
        shutil.copytree(small_world, folder)
        orders = pd.read_parquet(folder / "orders.parquet").rename(columns={"customer_id": "Kundennummer"})
        (folder / "orders.parquet").unlink()
        db = tmp_path / "company.duckdb"
        con = duckdb.connect(str(db))
        con.execute("CREATE SCHEMA sales")
        con.register("o", orders)
        con.execute("CREATE TABLE sales.order_lines AS SELECT * FROM o")
        con.close()
        cfg = load_config(overrides={
            "data": {"orders_table": "sales.order_lines", "columns": {"orders": {"Kundennummer": "customer_id"}}},
            "engine": {"duckdb": {"database": str(db)}}})
        return folder, db, cfg

    def test_same_tables_as_the_file(self, world, worlds):
        folder, _, cfg = world
        t, ref = io.load_tables(folder, cfg, today=TODAY), worlds["pandas"]
        assert t.orders.table == "sales.order_lines" and len(t.orders) == len(ref.orders)
        pd.testing.assert_frame_equal(t.excluded, ref.excluded, check_exact=False)
        counts = io.row_counts(t).set_index("table").loc["orders"]
        assert counts["file"] == "table sales.order_lines" and counts["read_by"] == "duckdb"
        q = pd.Period(ref.max_date(), "Q")
        pd.testing.assert_frame_equal(panel.build_panel(t.orders, until=q, config=cfg),
                                      panel.build_panel(ref.orders, until=q))

    def test_bad_rows_name_table_column_value_and_order(self, world):
        import duckdb

        folder, db, cfg = world
        con = duckdb.connect(str(db))
        first = con.execute("SELECT order_id FROM sales.order_lines WHERE rowid = 0").fetchone()[0]
        con.execute("UPDATE sales.order_lines SET net_revenue = 'inf'::DOUBLE, Kundennummer = 'NIEMAND' "
                    "WHERE rowid = 0")  # one line of the order
        con.close()
        p = io.validate(folder, cfg, today=TODAY)
        errors = p[p["severity"] == "error"].set_index("column")
        assert set(errors.index) == {"net_revenue", "customer_id"}
        assert (errors["file"] == "table sales.order_lines").all() and errors["line"].isna().all()
        assert errors.loc["customer_id", "value"] == "NIEMAND"
        assert errors.loc["net_revenue", "message"] == f"NaN or infinity is not a value (order_id {first})"

    def test_a_file_and_a_table_is_an_error_and_changes_reach_the_cache_key(self, world, small_world):
        import duckdb

        folder, db, cfg = world
        key = session.cache_key(folder, cfg)
        con = duckdb.connect(str(db))
        con.execute("UPDATE sales.order_lines SET quantity = quantity + 1 WHERE order_id = "
                    "(SELECT min(order_id) FROM sales.order_lines)")
        con.close()
        assert session.cache_key(folder, cfg) != key  # same files, changed table: validated again
        shutil.copy(small_world / "orders.parquet", folder / "orders.parquet")
        p = io.validate(folder, cfg, today=TODAY)
        assert "remove this file or the setting" in " ".join(p["message"])


def test_sql_and_ibis_read_order_lines_alike(tmp_path):
    """OrderLines reads the same lines through DuckDB SQL and through Ibis (the Spark path), numeric ids
    written as floats included (123.0 is customer "123", as pandas reads it)."""
    from test_panel import random_orders

    orders = random_orders(5, n=400, customers=12)
    orders["customer_id"] = orders["customer_id"].str.extract(r"(\d+)")[0].astype("float64") + 100
    orders.loc[3, ["net_revenue", "contribution_margin"]] = 0.0  # excluded
    orders.to_parquet(tmp_path / "orders.parquet", index=False)
    columns = tuple((c, c, "DOUBLE" if c in ("customer_id", "quantity", "net_revenue", "contribution_margin")
                     else "VARCHAR") for c in ["order_id", "customer_id", "order_date", "product_group",
                                                "quantity", "net_revenue", "contribution_margin"])
    lines = OrderLines(str(tmp_path / "orders.parquet"), columns).cut("2024-06-30")
    by_sql = panel.build_panel(lines, until="2024Q2")
    assert by_sql["customer_id"].str.fullmatch(r"1\d\d").all()
    pd.testing.assert_frame_equal(panel.build_panel(lines, until="2024Q2", engine="duckdb-ibis"), by_sql)
    kept = orders[(orders["order_date"] <= "2024-06-30") & ~orders.index.isin([3])]
    assert by_sql["lines"].sum() == len(kept)


class TestLargeCsv:
    """A large orders CSV is parsed in chunks by the pandas checks and handed to the engine as Parquet."""

    @pytest.fixture()
    def german(self, small_world, tmp_path, monkeypatch):
        monkeypatch.setattr(io.large, "CSV_CHUNK_LINES", 7_000)  # many chunks on a small file
        folder = tmp_path / "w"
        shutil.copytree(small_world, folder)
        orders = pd.read_parquet(folder / "orders.parquet")
        (folder / "orders.parquet").unlink()
        orders["order_date"] = pd.to_datetime(orders["order_date"]).dt.strftime("%d.%m.%Y")
        text = orders.to_csv(sep=";", decimal=",", index=False).splitlines()
        text.insert(9_000, "")  # a blank line: layout, not data, but it counts for the line numbers
        return folder, text

    def write(self, folder, text):
        (folder / "orders.csv").write_text("\n".join(text) + "\n", encoding="cp1252")

    def test_same_tables_and_panel_as_pandas(self, german, worlds):
        folder, text = german
        self.write(folder, text)
        t = io.load_tables(folder, ENGINE, today=TODAY)
        ref = worlds["pandas"]
        assert t.orders_in_engine and t.sources["orders"]["format"] == "csv"
        assert t.sources["orders"]["dialect"]["decimal"] == "," and t.sources["orders"]["dialect"]["sep"] == ";"
        assert len(t.orders) == len(ref.orders)
        pd.testing.assert_frame_equal(t.excluded, ref.excluded, check_exact=False)
        q = pd.Period(ref.max_date(), "Q")
        pd.testing.assert_frame_equal(panel.build_panel(t.orders, until=q), panel.build_panel(ref.orders, until=q))

    def test_problems_across_chunks_are_those_of_pandas(self, german):
        folder, text = german
        header = text[0].split(";")
        for line, column, value in ((8, "customer_id", "NIEMAND"), (20_001, "net_revenue", "zehn"),
                                    (30_002, "order_date", "31.02.2024")):
            cells = text[line - 1].split(";")
            cells[header.index(column)] = value
            text[line - 1] = ";".join(cells)
        self.write(folder, text)
        by_engine = io.validate(folder, ENGINE, today=TODAY)
        by_pandas = io.validate(folder, PANDAS, today=TODAY)
        key = ["file", "line", "column", "value", "message"]
        pd.testing.assert_frame_equal(by_engine[key], by_pandas[key])
        assert by_engine["line"].tolist() == [8, 20_001, 30_002]
        assert by_engine["message"].iloc[2] == "impossible date (no such day)"
        assert not list((io.Path(os.environ["BESTAND_CACHE"]) / "lines").glob(".*"))  # no half-written parts
