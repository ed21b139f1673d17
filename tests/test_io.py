"""Tests for bestandlib.io: dialect detection, column mapping and every validation problem.

Each fixture is a small data folder written in code into ``tmp_path``. ``make_world`` writes a
valid English-format world; tests change single cells (``changes={(table, row, column): text}``,
row 0 = first data row = line 2) or whole files and assert file, line, column and value of the
problem reported.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bestandlib import io, schemas
from bestandlib.errors import BestandError, ConfigError, DataValidationError

TODAY = pd.Timestamp("2025-06-30")

BASE = {
    "customers": (
        ["customer_id", "name", "segment", "region", "business_unit", "account_manager"],
        [
            ["C1", "Alpha Clinic", "hospital", "north", "surgery", "Anna"],
            ["C2", "Beta Practice", "practice", "south", "surgery", "Ben"],
            ["C3", "Gamma Lab", "lab", "west", "diagnostics", "Anna"],
        ],
    ),
    "orders": (
        ["order_id", "customer_id", "order_date", "product_id", "product_group", "quantity",
         "net_revenue", "contribution_margin"],
        [
            ["O1", "C1", "2024-01-15", "P1", "G1", "10", "1234.56", "400.10"],
            ["O2", "C1", "2024-04-02", "P2", "G2", "1", "99.90", "30"],
            ["O3", "C2", "2024-05-20", "P1", "G1", "-2", "-246.91", "-80"],
            ["O4", "C3", "2024-07-01", "P3", "G3", "5", "0", "0"],
            ["O5", "C2", "2024-09-30", "P2", "G2", "3", "300", "90"],
        ],
    ),
    "contacts": (
        ["customer_id", "contact_date", "channel", "account_manager"],
        [["C1", "2024-02-01", "visit", "Anna"], ["C2", "2024-06-01", "call", "Ben"]],
    ),
    "complaints": (
        ["customer_id", "complaint_date", "kind", "severity", "value", "resolved_on"],
        [
            ["C1", "2024-03-01", "return", "2", "150.5", "2024-10-20"],
            ["C2", "2024-08-01", "delivery", "1", "0", ""],
        ],
    ),
    "potentials": (
        ["customer_id", "assessed_on", "potential", "competitive_intensity"],
        [
            ["C1", "2024-01-01", "50000", "3"],
            ["C2", "2024-01-01", "20000", ""],
            ["C3", "2024-01-01", "0", "5"],
        ],
    ),
    "surveys": (
        ["customer_id", "survey_date", "satisfaction", "would_recommend", "reason_chosen",
         "initial_hesitation", "would_miss", "would_refer_to"],
        [["C1", "2024-06-01", "8", "9", "quality", "price", "service", "colleague"]],
    ),
}


def write_csv(path, header, rows, sep=",", encoding="utf-8", bom=False):
    text = "\n".join(sep.join(r) for r in [header, *rows]) + "\n"
    data = text.encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def make_world(tmp_path, changes=None, drop=(), surveys=True):
    """Write the valid base world; ``changes`` maps (table, row, column) -> new cell text."""
    changes = changes or {}
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    for table, (header, rows) in BASE.items():
        if table in drop or (table == "surveys" and not surveys):
            continue
        rows = [list(r) for r in rows]
        for (t, i, col), value in changes.items():
            if t == table:
                rows[i][header.index(col)] = value
        write_csv(folder / f"{table}.csv", header, rows)
    return folder


def problems_of(folder, config=None):
    return io.validate(folder, config=config, today=TODAY)


def only(problems, **where):
    sel = problems
    for key, value in where.items():
        sel = sel.loc[sel[key] == value]
    return sel


def assert_problem(problems, file, line, column, value, fragment, severity="error"):
    sel = problems.loc[(problems["file"] == file) & (problems["column"] == column)]
    if line is None:
        sel = sel.loc[sel["line"].isna()]
    else:
        sel = sel.loc[sel["line"] == line]
    sel = sel.loc[sel["message"].str.contains(fragment, regex=False)]
    assert len(sel) == 1, f"no single {fragment!r} at {file}:{line}:{column} in\n{problems}"
    row = sel.iloc[0]
    assert row["value"] == value
    assert row["severity"] == severity


# ----------------------------------------------------------------------------------------------
# Valid input in its dialects
# ----------------------------------------------------------------------------------------------


class TestValidWorld:
    def test_english_world_loads_with_canonical_types(self, tmp_path):
        t = io.load_tables(make_world(tmp_path), today=TODAY)
        assert list(t.orders.columns) == list(schemas.CONTRACT["orders"]["columns"])
        assert str(t.orders["customer_id"].dtype) == "str"
        assert t.orders["order_date"].dtype == "datetime64[ns]"
        assert t.orders["net_revenue"].dtype == "float64"
        assert t.complaints["severity"].dtype == "int64"
        assert t.orders["net_revenue"].sum() == pytest.approx(1234.56 + 99.90 - 246.91 + 300)
        assert t.complaints["resolved_on"].isna().tolist() == [False, True]
        assert np.isnan(t.potentials["competitive_intensity"].iloc[1])
        assert t.sources["orders"]["dialect"] == {
            "encoding": "utf-8", "sep": ",", "decimal": ".", "thousands": ",",
            "date_format": "ISO8601",
        }
        assert t.sources["orders"]["rows"] == 5
        assert t.max_date() == pd.Timestamp("2024-09-30")
        assert len(t.warnings) == 0
        # The loaded tables satisfy the full schema, dtypes included.
        for table in schemas.TABLE_NAMES:
            if getattr(t, table) is not None:  # actions_log is not in this world
                schemas.table_schema(table, today=TODAY).validate(getattr(t, table))

    def test_no_problems_on_valid_world(self, tmp_path):
        assert len(problems_of(make_world(tmp_path))) == 0

    def test_surveys_are_optional(self, tmp_path):
        t = io.load_tables(make_world(tmp_path, surveys=False), today=TODAY)
        assert t.surveys is None

    def test_optional_columns_may_be_absent(self, tmp_path):
        folder = make_world(tmp_path)
        write_csv(folder / "complaints.csv", ["customer_id", "complaint_date", "kind", "severity",
                                              "value"], [["C1", "2024-03-01", "return", "2", "1"]])
        t = io.load_tables(folder, today=TODAY)
        assert t.complaints["resolved_on"].isna().all()
        assert t.complaints["resolved_on"].dtype == "datetime64[ns]"


class TestGermanExports:
    header = BASE["orders"][0]

    def german_orders(self, folder, rows, **kw):
        write_csv(folder / "orders.csv", self.header, rows, sep=";", **kw)

    def test_semicolon_decimal_comma_thousands_dot_and_german_dates(self, tmp_path):
        folder = make_world(tmp_path)
        self.german_orders(folder, [
            ["O1", "C1", "31.12.2024", "P1", "G1", "1.000", "1.234,56", "400,1"],
            ["O2", "C2", "01.02.2024", "P1", "G1", "2", "12.345.678,90", "-5,00"],
            ["O3", "C3", "05.03.2024", "P1", "G1", "-1", "1.234,56-", "0,5"],  # SAP minus
        ])
        t = io.load_tables(folder, today=TODAY)
        o = t.orders.set_index("order_id")
        assert o.loc["O1", "quantity"] == 1000.0
        assert o.loc["O1", "net_revenue"] == pytest.approx(1234.56)
        assert o.loc["O2", "net_revenue"] == pytest.approx(12345678.90)
        assert o.loc["O3", "net_revenue"] == pytest.approx(-1234.56)
        assert o.loc["O1", "order_date"] == pd.Timestamp("2024-12-31")
        assert o.loc["O2", "order_date"] == pd.Timestamp("2024-02-01")  # day first
        d = t.sources["orders"]["dialect"]
        assert (d["sep"], d["decimal"], d["thousands"], d["date_format"]) == (
            ";", ",", ".", "%d.%m.%Y")

    def test_cp1252_umlauts(self, tmp_path):
        folder = make_world(tmp_path)
        header, rows = BASE["customers"]
        rows = [["C1", "Müller Orthopädie GmbH", "Klinik", "Süd", "Chirurgie", "Jürgen Weiß"],
                *rows[1:]]
        write_csv(folder / "customers.csv", header, rows, sep=";", encoding="cp1252")
        t = io.load_tables(folder, today=TODAY)
        assert t.customers.loc[0, "name"] == "Müller Orthopädie GmbH"
        assert t.customers.loc[0, "account_manager"] == "Jürgen Weiß"
        assert t.sources["customers"]["dialect"]["encoding"] == "cp1252"

    def test_utf8_bom(self, tmp_path):
        folder = make_world(tmp_path)
        header, rows = BASE["customers"]
        write_csv(folder / "customers.csv", header, [["C1", "Köln AG", "a", "b", "c", "d"],
                                                     *rows[1:]], sep=";", bom=True)
        t = io.load_tables(folder, today=TODAY)
        assert t.customers.columns[0] == "customer_id"  # the BOM is not part of the name
        assert t.customers.loc[0, "name"] == "Köln AG"
        assert t.sources["customers"]["dialect"]["encoding"] == "utf-8-sig"

    def test_tab_separated_and_datetime_with_time(self, tmp_path):
        folder = make_world(tmp_path)
        write_csv(folder / "orders.csv", self.header, [
            ["O1", "C1", "31.12.2024 13:45:00", "P1", "G1", "1", "10,5", "1,25"],
        ], sep="\t")
        t = io.load_tables(folder, today=TODAY)
        assert t.orders.loc[0, "order_date"] == pd.Timestamp("2024-12-31")  # midnight
        assert t.orders.loc[0, "net_revenue"] == 10.5

    def test_english_thousands_in_quoted_fields(self, tmp_path):
        folder = make_world(tmp_path)
        (folder / "orders.csv").write_text(
            ",".join(self.header) + "\n"
            'O1,C1,12/31/2024,P1,G1,1,"1,234.56",1.5\n'
        )
        t = io.load_tables(folder, today=TODAY)
        assert t.orders.loc[0, "net_revenue"] == pytest.approx(1234.56)
        assert t.orders.loc[0, "order_date"] == pd.Timestamp("2024-12-31")

    def test_sap_column_mapping_from_config(self, tmp_path):
        folder = make_world(tmp_path)
        write_csv(folder / "customers.csv",
                  ["Kundennummer", "Name 1", "Segment", "Region", "SGE", "Betreuer"],
                  [["C1", "A", "s", "r", "b", "m"], ["C2", "B", "s", "r", "b", "m"],
                   ["C3", "C", "s", "r", "b", "m"]], sep=";")
        config = {"data": {"columns": {"customers": {
            "Kundennummer": "customer_id", "Name 1": "name", "SGE": "business_unit",
            "Betreuer": "account_manager"}}}}
        t = io.load_tables(folder, config=config, today=TODAY)
        assert t.customers["customer_id"].tolist() == ["C1", "C2", "C3"]
        assert t.customers["business_unit"].tolist() == ["b"] * 3
        # Without the mapping the same file misses columns.
        p = problems_of(folder)
        assert_problem(p, "customers.csv", 1, "customer_id", "", "required column customer_id")

    def test_sap_orders_example_of_the_docs(self, tmp_path):
        folder = make_world(tmp_path)
        header, rows = BASE["customers"]
        write_csv(folder / "customers.csv", header, [*rows, ["0000104711", *rows[0][1:]]])
        (folder / "orders.csv").write_bytes(
            "Fakturanummer;Kundennummer;Fakturadatum;Material;Warengruppe;Menge;Nettowert;"
            "Deckungsbeitrag\n"
            "90001234;0000104711;31.12.2024;ORT-100;Orthesen;1.000;1.234,56;400,10\n"
            "90001235;0000104711;02.01.2025;ORT-100;Orthesen;2;250,00-;80,00-\n"
            .encode("cp1252"))
        config = {"data": {"columns": {"orders": {
            "Fakturanummer": "order_id", "Kundennummer": "customer_id",
            "Fakturadatum": "order_date", "Material": "product_id", "Warengruppe": "product_group",
            "Menge": "quantity", "Nettowert": "net_revenue",
            "Deckungsbeitrag": "contribution_margin",
        }}}}
        p = problems_of(folder, config)
        assert len(p) == 0, p
        t = io.load_tables(folder, config=config, today=TODAY)
        assert t.orders["customer_id"].tolist() == ["0000104711"] * 2
        assert t.orders["quantity"].tolist() == [1000.0, 2.0]
        assert t.orders["net_revenue"].tolist() == [1234.56, -250.0]
        assert t.orders["order_date"].tolist() == [pd.Timestamp("2024-12-31"),
                                                   pd.Timestamp("2025-01-02")]

    def test_mapping_onto_unknown_column_is_a_config_error(self, tmp_path):
        folder = make_world(tmp_path)
        with pytest.raises(ConfigError, match="custmer_id"):
            io.validate(folder, config={"data": {"columns": {"orders": {"KNR": "custmer_id"}}}})

    def test_header_names_match_case_and_spaces(self, tmp_path):
        folder = make_world(tmp_path)
        header, rows = BASE["contacts"]
        write_csv(folder / "contacts.csv", ["Customer ID", "Contact Date", "CHANNEL",
                                            "account-manager"], rows)
        t = io.load_tables(folder, today=TODAY)
        assert t.contacts["channel"].tolist() == ["visit", "call"]


class TestDialectPinning:
    def test_ambiguous_day_month_is_an_error_asking_to_pin(self, tmp_path):
        folder = make_world(tmp_path)
        header, _ = BASE["contacts"]
        write_csv(folder / "contacts.csv", header,
                  [["C1", "01/02/2024", "visit", "A"], ["C2", "03/04/2024", "call", "B"]])
        p = problems_of(folder)
        assert_problem(p, "contacts.csv", None, "contact_date", "01/02/2024",
                       "ambiguous date format")
        assert "date_format" in only(p, file="contacts.csv")["message"].iloc[0]

    def test_pinned_date_format_resolves_it(self, tmp_path):
        folder = make_world(tmp_path)
        header, _ = BASE["contacts"]
        write_csv(folder / "contacts.csv", header,
                  [["C1", "01/02/2024", "visit", "A"], ["C2", "03/04/2024", "call", "B"]])
        config = {"data": {"dialect": {"contacts": {"date_format": "%m/%d/%Y"}}}}
        t = io.load_tables(folder, config=config, today=TODAY)
        assert t.contacts["contact_date"].tolist() == [pd.Timestamp("2024-01-02"),
                                                       pd.Timestamp("2024-03-04")]
        config = {"data": {"dialect": {"contacts": {"date_format": "DD/MM/YYYY"}}}}
        t = io.load_tables(folder, config=config, today=TODAY)
        assert t.contacts["contact_date"].iloc[0] == pd.Timestamp("2024-02-01")

    def test_unambiguous_slash_dates_need_no_pin(self, tmp_path):
        folder = make_world(tmp_path)
        header, _ = BASE["contacts"]
        write_csv(folder / "contacts.csv", header,
                  [["C1", "01/02/2024", "visit", "A"], ["C2", "25/04/2024", "call", "B"]])
        t = io.load_tables(folder, today=TODAY)
        assert t.contacts["contact_date"].iloc[0] == pd.Timestamp("2024-02-01")

    def test_pinned_separator_decimal_and_encoding(self, tmp_path):
        folder = make_world(tmp_path)
        header, _ = BASE["potentials"]
        # '|' separated, thousands only (ambiguous without a pin), latin-1 bytes.
        write_csv(folder / "potentials.csv", header,
                  [["C1", "2024-01-01", "1.500", "3"], ["C2", "2024-01-01", "2.000", ""]],
                  sep="|", encoding="cp1252")
        p = problems_of(folder)
        assert_problem(p, "potentials.csv", None, "potential", "", "decimal mark",
                       severity="warning")
        config = {"data": {"dialect": {"potentials": {
            "sep": "|", "decimal": ",", "thousands": ".", "encoding": "cp1252"}}}}
        t = io.load_tables(folder, config=config, today=TODAY)
        assert t.potentials["potential"].tolist() == [1500.0, 2000.0]
        assert t.sources["potentials"]["dialect"]["decimal"] == ","
        assert len(t.warnings) == 0

    def test_decimal_comma_against_a_pinned_point_is_reported(self, tmp_path):
        folder = make_world(tmp_path, changes={("orders", 1, "net_revenue"): '"99,90"'})
        config = {"data": {"dialect": {"orders": {"decimal": "."}}}}
        p = problems_of(folder, config)
        assert_problem(p, "orders.csv", 3, "net_revenue", "99,90", "not a number")

    def test_unknown_dialect_key_is_a_config_error(self, tmp_path):
        with pytest.raises(ConfigError, match="seperator"):
            io.validate(make_world(tmp_path),
                        config={"data": {"dialect": {"orders": {"seperator": ";"}}}})


# ----------------------------------------------------------------------------------------------
# Every validation problem, with file, line, column and value
# ----------------------------------------------------------------------------------------------


class TestFileProblems:
    def test_missing_data_folder_raises(self, tmp_path):
        with pytest.raises(BestandError, match="does not exist"):
            io.validate(tmp_path / "nope")

    def test_missing_required_table(self, tmp_path):
        p = problems_of(make_world(tmp_path, drop=("orders",)))
        assert_problem(p, "orders.csv", None, "", "", "required table orders is missing")

    def test_missing_optional_table_is_no_problem(self, tmp_path):
        p = problems_of(make_world(tmp_path, drop=("potentials", "contacts", "complaints")))
        assert len(p) == 0

    def test_excel_file_given(self, tmp_path):
        folder = make_world(tmp_path, drop=("orders",))
        (folder / "orders.xlsx").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
        p = problems_of(folder)
        assert_problem(p, "orders.xlsx", None, "", "", "Excel file given, export it as CSV")
        assert len(only(p, file="orders.csv")) == 0  # not also "missing"

    def test_excel_bytes_under_a_csv_name(self, tmp_path):
        folder = make_world(tmp_path)
        (folder / "orders.csv").write_bytes(b"PK\x03\x04" + b"\x00\x01" * 100)
        p = problems_of(folder)
        assert_problem(p, "orders.csv", None, "", "", "Excel file given")

    def test_binary_garbage(self, tmp_path):
        folder = make_world(tmp_path)
        rng = np.random.default_rng(1)
        (folder / "contacts.csv").write_bytes(rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
                                              + b"\x00")
        (folder / "potentials.parquet").write_bytes(b"not parquet at all")
        (folder / "potentials.csv").unlink()
        p = problems_of(folder)
        assert_problem(p, "contacts.csv", None, "", "", "binary file")
        assert_problem(p, "potentials.parquet", None, "", "", "not a readable Parquet file")

    def test_empty_file_and_header_only(self, tmp_path):
        folder = make_world(tmp_path)
        (folder / "contacts.csv").write_text("")
        (folder / "complaints.csv").write_text(",".join(BASE["complaints"][0]) + "\n")
        p = problems_of(folder)
        # contacts and complaints are optional tables: empty or header-only is a warning
        assert_problem(p, "contacts.csv", None, "", "", "file is empty", severity="warning")
        assert_problem(p, "complaints.csv", None, "", "", "only a header", severity="warning")
        (folder / "customers.csv").write_text(",".join(BASE["customers"][0]) + "\n")
        assert_problem(problems_of(folder), "customers.csv", None, "", "", "only a header")

    def test_header_only_optional_table_is_a_warning(self, tmp_path):
        folder = make_world(tmp_path)
        (folder / "surveys.csv").write_text(",".join(BASE["surveys"][0]) + "\n")
        t = io.load_tables(folder, today=TODAY)
        assert t.surveys is None
        assert "only a header" in t.warnings["message"].iloc[0]

    def test_unknown_files_warn_and_underscore_files_are_ignored(self, tmp_path):
        folder = make_world(tmp_path)
        (folder / "notes.txt").write_text("hello")
        (folder / "_scratch.csv").write_text("x")
        (folder / ".DS_Store").write_bytes(b"\x00\x01")
        p = problems_of(folder)
        assert_problem(p, "notes.txt", None, "", "", "unknown file", severity="warning")
        assert set(p["file"]) == {"notes.txt"}

    def test_missing_and_extra_columns(self, tmp_path):
        folder = make_world(tmp_path)
        header, rows = BASE["orders"]
        keep = [i for i, c in enumerate(header) if c != "net_revenue"]
        write_csv(folder / "orders.csv", [header[i] for i in keep] + ["Bemerkung"],
                  [[r[i] for i in keep] + ["x"] for r in rows])
        p = problems_of(folder)
        assert_problem(p, "orders.csv", 1, "net_revenue", "", "required column net_revenue")
        assert_problem(p, "orders.csv", 1, "Bemerkung", "Bemerkung", "extra column",
                       severity="warning")

    def test_missing_customer_id_does_not_cascade(self, tmp_path):
        folder = make_world(tmp_path)
        header, rows = BASE["customers"]
        write_csv(folder / "customers.csv", ["Kunde", *header[1:]], rows)
        p = problems_of(folder)
        assert_problem(p, "customers.csv", 1, "customer_id", "", "required column customer_id")
        assert not p["message"].str.contains("unknown customer").any()

    def test_extra_columns_alone_load(self, tmp_path):
        folder = make_world(tmp_path)
        header, rows = BASE["customers"]
        write_csv(folder / "customers.csv", header + ["ustid"], [r + ["DE1"] for r in rows])
        t = io.load_tables(folder, today=TODAY)
        assert "ustid" not in t.customers.columns
        assert t.warnings["column"].tolist() == ["ustid"]

    def test_wrong_separator_hints_at_it(self, tmp_path):
        folder = make_world(tmp_path)
        header, rows = BASE["contacts"]
        write_csv(folder / "contacts.csv", header, rows, sep=";")
        config = {"data": {"dialect": {"contacts": {"sep": ","}}}}
        p = problems_of(folder, config)
        msg = only(p, file="contacts.csv", column="customer_id")["message"].iloc[0]
        assert "is the separator right" in msg

    def test_line_with_too_many_fields(self, tmp_path):
        folder = make_world(tmp_path, changes={("contacts", 1, "channel"): "call,extra"})
        p = problems_of(folder)
        assert_problem(p, "contacts.csv", 3, "", "", "line has 5 fields, the header has 4")


class TestCellProblems:
    @pytest.mark.parametrize("text", ["n/a", "-", "abc", "12 EUR", "1.2.3"])
    def test_unparseable_numbers(self, tmp_path, text):
        p = problems_of(make_world(tmp_path, changes={("orders", 2, "net_revenue"): text}))
        assert_problem(p, "orders.csv", 4, "net_revenue", text, "not a number")

    @pytest.mark.parametrize("text", ["NaN", "inf", "-Infinity"])
    def test_nan_and_inf(self, tmp_path, text):
        p = problems_of(make_world(tmp_path, changes={("orders", 0, "contribution_margin"): text}))
        assert_problem(p, "orders.csv", 2, "contribution_margin", text, "NaN or infinity")

    def test_empty_required_value(self, tmp_path):
        p = problems_of(make_world(tmp_path, changes={("orders", 3, "quantity"): ""}))
        assert_problem(p, "orders.csv", 5, "quantity", "", "value missing")

    def test_unparseable_and_impossible_dates(self, tmp_path):
        folder = make_world(tmp_path)
        header, _ = BASE["contacts"]
        write_csv(folder / "contacts.csv", header, [
            ["C1", "01.02.2024", "visit", "A"], ["C2", "31.02.2024", "call", "B"],
            ["C3", "gestern", "call", "B"]], sep=";")
        p = problems_of(folder)
        assert_problem(p, "contacts.csv", 3, "contact_date", "31.02.2024", "impossible date")
        assert_problem(p, "contacts.csv", 4, "contact_date", "gestern",
                       "not a date in the format DD.MM.YYYY")

    def test_whole_number_required(self, tmp_path):
        p = problems_of(make_world(tmp_path, changes={("complaints", 0, "severity"): "1.5"}))
        assert_problem(p, "complaints.csv", 2, "severity", "1.5", "whole number")

    def test_duplicate_customer_id(self, tmp_path):
        p = problems_of(make_world(tmp_path, changes={("customers", 2, "customer_id"): "C1"}))
        assert_problem(p, "customers.csv", 4, "customer_id", "C1",
                       "duplicate customer_id (first on line 2)")

    @pytest.mark.parametrize("table,row,line", [
        ("orders", 4, 6), ("contacts", 0, 2), ("complaints", 1, 3), ("potentials", 2, 4),
        ("surveys", 0, 2),
    ])
    def test_unknown_customer(self, tmp_path, table, row, line):
        p = problems_of(make_world(tmp_path, changes={(table, row, "customer_id"): "C99"}))
        assert_problem(p, f"{table}.csv", line, "customer_id", "C99", "unknown customer_id")

    @pytest.mark.parametrize("table,row,column", [
        ("orders", 1, "order_date"), ("contacts", 1, "contact_date"),
        ("complaints", 0, "resolved_on"), ("potentials", 0, "assessed_on"),
        ("surveys", 0, "survey_date"),
    ])
    def test_dates_in_the_future(self, tmp_path, table, row, column):
        p = problems_of(make_world(tmp_path, changes={(table, row, column): "2025-07-01"}))
        assert_problem(p, f"{table}.csv", row + 2, column, "2025-07-01", "date in the future")

    @pytest.mark.parametrize("table,row,column,text,fragment", [
        ("complaints", 0, "severity", "4", "between 1 and 3"),
        ("complaints", 1, "severity", "0", "between 1 and 3"),
        ("potentials", 0, "competitive_intensity", "6", "between 1 and 5"),
        ("surveys", 0, "satisfaction", "11", "between 0 and 10"),
        ("surveys", 0, "would_recommend", "-1", "between 0 and 10"),
        ("contacts", 1, "channel", "fax", "must be one of: visit, call"),
        ("complaints", 1, "kind", "praise", "must be one of: complaint, return, delivery"),
        ("potentials", 1, "potential", "-5", "must not be negative"),
    ])
    def test_values_out_of_range(self, tmp_path, table, row, column, text, fragment):
        p = problems_of(make_world(tmp_path, changes={(table, row, column): text}))
        assert_problem(p, f"{table}.csv", row + 2, column, text, fragment)

    def test_negative_quantity_with_positive_revenue_is_a_warning(self, tmp_path):
        folder = make_world(tmp_path, changes={("orders", 0, "quantity"): "-10"})
        p = problems_of(folder)
        assert_problem(p, "orders.csv", 2, "quantity", "-10", "negative quantity",
                       severity="warning")
        t = io.load_tables(folder, today=TODAY)  # a warning does not stop loading
        assert len(t.warnings) == 1

    def test_all_problems_are_collected_and_load_raises(self, tmp_path):
        folder = make_world(tmp_path, changes={
            ("orders", 0, "net_revenue"): "n/a", ("orders", 1, "order_date"): "31.02.2024",
            ("contacts", 0, "channel"): "fax", ("customers", 1, "customer_id"): "C1",
        })
        with pytest.raises(DataValidationError) as exc:
            io.load_tables(folder, today=TODAY)
        p = exc.value.problems
        assert list(p.columns) == io.PROBLEM_COLUMNS
        assert (p["severity"] == "error").sum() >= 4
        # Customer C2 is gone (its row now says C1), so its orders and contacts are unknown too.
        assert len(only(p, message="unknown customer_id (not in customers)")) >= 2

    def test_line_numbers_survive_blank_lines(self, tmp_path):
        folder = make_world(tmp_path)
        header, rows = BASE["contacts"]
        (folder / "contacts.csv").write_text(
            ",".join(header) + "\n" + ",".join(rows[0]) + "\n\n" + "C2,2024-06-01,fax,B\n")
        p = problems_of(folder)
        assert_problem(p, "contacts.csv", 4, "channel", "fax", "must be one of")

    def test_today_defaults_to_now(self, tmp_path):
        folder = make_world(tmp_path, changes={("contacts", 0, "contact_date"): "2999-01-01"})
        p = io.validate(folder)
        assert_problem(p, "contacts.csv", 2, "contact_date", "2999-01-01", "future")


class TestParquetInput:
    def test_parquet_file_and_folder_of_parts(self, tmp_path):
        folder = make_world(tmp_path)
        t = io.load_tables(folder, today=TODAY)
        (folder / "orders.csv").unlink()
        (folder / "orders").mkdir()
        orders = t.orders.copy()
        orders.loc[1, "net_revenue"] = np.inf
        orders.iloc[:2].to_parquet(folder / "orders" / "part-0.parquet", index=False)
        orders.iloc[2:].to_parquet(folder / "orders" / "part-1.parquet", index=False)
        (folder / "customers.csv").unlink()
        t.customers.to_parquet(folder / "customers.parquet", index=False)
        p = problems_of(folder)
        assert_problem(p, "orders/part-0.parquet", 2, "net_revenue", "inf", "NaN or infinity")
        orders.loc[1, "net_revenue"] = 5.0
        orders.loc[2, "customer_id"] = "C99"
        orders.iloc[2:].to_parquet(folder / "orders" / "part-1.parquet", index=False)
        orders.iloc[:2].to_parquet(folder / "orders" / "part-0.parquet", index=False)
        p = problems_of(folder)
        assert_problem(p, "orders/part-1.parquet", 1, "customer_id", "C99", "unknown customer")

    def test_parquet_round_trip_of_typed_columns(self, tmp_path):
        folder = make_world(tmp_path)
        t = io.load_tables(folder, today=TODAY)
        (folder / "orders.csv").unlink()
        t.orders.to_parquet(folder / "orders.parquet", index=False)
        t2 = io.load_tables(folder, today=TODAY)
        pd.testing.assert_frame_equal(t.orders, t2.orders)
        assert t2.sources["orders"]["format"] == "parquet"


# ----------------------------------------------------------------------------------------------
# Tables: exclusion, cut, cache
# ----------------------------------------------------------------------------------------------


class TestTables:
    def test_zero_value_lines_are_excluded_and_counted(self, tmp_path):
        folder = make_world(tmp_path)
        t = io.load_tables(folder, today=TODAY)
        assert "O4" not in set(t.orders["order_id"])
        assert t.excluded.to_dict("records") == [{
            "table": "orders", "reason": io.ZERO_VALUE_REASON, "rows": 1, "net_revenue": 0.0}]
        kept = io.load_tables(folder, config={"data": {"exclude_zero_value_lines": False}},
                              today=TODAY)
        assert "O4" in set(kept.orders["order_id"])
        assert len(kept.excluded) == 0
        assert list(kept.excluded.columns) == io.EXCLUDED_COLUMNS

    def test_cut(self, tmp_path):
        t = io.load_tables(make_world(tmp_path), today=TODAY)
        c = t.cut(pd.Timestamp("2024-06-30"))
        assert c.orders["order_id"].tolist() == ["O1", "O2", "O3"]
        assert c.contacts["contact_date"].max() <= pd.Timestamp("2024-06-30")
        assert len(c.customers) == 3  # customers are kept
        assert len(c.complaints) == 1
        assert pd.isna(c.complaints["resolved_on"].iloc[0])  # resolved after the cut: open then
        assert len(c.excluded) == 0  # the zero-value line of 2024-07-01 lies after the cut
        assert c.max_date() == pd.Timestamp("2024-05-20")
        assert len(t.orders) == 4  # the original is unchanged
        assert int(t.cut("2024-12-31").excluded["rows"].sum()) == 1

    def test_parquet_cache_round_trip(self, tmp_path):
        t = io.load_tables(make_world(tmp_path, changes={("orders", 0, "quantity"): "-1"}),
                           today=TODAY)
        t.to_parquet(tmp_path / "cache")
        r = io.Tables.from_parquet(tmp_path / "cache")
        for table in schemas.TABLE_NAMES:
            if getattr(t, table) is None:  # actions_log is not in this world
                assert getattr(r, table) is None
                continue
            pd.testing.assert_frame_equal(getattr(t, table), getattr(r, table))
        pd.testing.assert_frame_equal(t.excluded, r.excluded)
        pd.testing.assert_frame_equal(t.warnings, r.warnings)
        assert r.sources == t.sources
        assert r.fingerprint == t.fingerprint
        assert int(r.cut("2024-12-31").excluded["rows"].sum()) == 1

    def test_cache_without_optional_surveys(self, tmp_path):
        t = io.load_tables(make_world(tmp_path, surveys=False), today=TODAY)
        r = io.Tables.from_parquet(t.to_parquet(tmp_path / "cache"))
        assert r.surveys is None
        with pytest.raises(BestandError):
            io.Tables.from_parquet(tmp_path)

    def test_fingerprint_follows_names_and_bytes(self, tmp_path):
        folder = make_world(tmp_path)
        before = io.fingerprint(folder)
        assert before == io.fingerprint(folder) and len(before) == 64
        (folder / "_notes.txt").write_text("ignored")
        assert io.fingerprint(folder) == before
        make_world(tmp_path, changes={("orders", 0, "quantity"): "11"})
        assert io.fingerprint(folder) != before
        assert io.load_tables(folder, today=TODAY).fingerprint == io.fingerprint(folder)


class TestFormatProblems:
    def test_table_and_cut_off(self, tmp_path):
        changes = {("orders", i, "net_revenue"): "x" for i in range(5)}
        p = problems_of(make_world(tmp_path, changes=changes))
        text = io.format_problems(p, max_rows=3)
        lines = text.splitlines()
        assert lines[0].split() == ["file", "line", "column", "value", "message"]
        assert "orders.csv     2  net_revenue  x" in text
        assert "... and 2 more" in text
        assert io.format_problems(p.iloc[:0]) == "No problems found."


# ----------------------------------------------------------------------------------------------
# Properties and speed
# ----------------------------------------------------------------------------------------------


def _german(x: float) -> str:
    return f"{x:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-1e9, 1e9, allow_nan=False).map(lambda v: round(v, 2)),
                min_size=1, max_size=30))
def test_german_numbers_parse_back(values):
    s = pd.Series([_german(v) for v in values], dtype=str)
    parsed, bad, non_finite = io._parse_numbers(s, ",", ".")
    assert not bad.any() and not non_finite.any()
    np.testing.assert_allclose(parsed.to_numpy(), values, rtol=0, atol=1e-6)


def test_german_csv_of_100k_lines_is_fast(tmp_path):
    folder = make_world(tmp_path)
    n = 100_000
    rng = np.random.default_rng(0)
    rev = rng.gamma(2, 800, n).round(2)
    dates = (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), "D"))
    orders = pd.DataFrame({
        "order_id": [f"A{i}" for i in range(n)],
        "customer_id": rng.choice(["C1", "C2", "C3"], n),
        "order_date": dates.strftime("%d.%m.%Y"),
        "product_id": "P1", "product_group": "G1", "quantity": "1",
        "net_revenue": [_german(v) for v in rev],
        "contribution_margin": [_german(v) for v in rev * 0.3],
    })
    orders.to_csv(folder / "orders.csv", sep=";", index=False, encoding="cp1252")
    start = time.process_time()  # CPU time: the machine is shared, wall time is noisy
    t = io.load_tables(folder, today=TODAY)
    elapsed = time.process_time() - start
    assert t.orders["net_revenue"].sum() == pytest.approx(rev.sum())
    # ~0.3 s measured; a per-row Python loop would take several seconds.
    assert elapsed < 5.0, elapsed


@settings(max_examples=10, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["C1", "C2", "C3"]),
                       st.integers(0, 1800),
                       st.integers(-5, 50),
                       st.sampled_from([0.0, 0.01, 99.9, -250.0, 1234.56, 1e6])),
             min_size=1, max_size=40),
    st.booleans(),
)
def test_random_valid_orders_load_and_conserve_revenue(tmp_path_factory, lines, german):
    folder = make_world(tmp_path_factory.mktemp("w"))
    rows = []
    for i, (cid, day, qty, rev) in enumerate(lines):
        date = pd.Timestamp("2020-01-01") + pd.Timedelta(days=day)
        margin = 0.0 if rev == 0 else round(rev * 0.3, 2)
        if german:
            rows.append([f"O{i}", cid, f"{date:%d.%m.%Y}", "P", "G", str(qty), _german(rev),
                         _german(margin)])
        else:
            rows.append([f"O{i}", cid, f"{date:%Y-%m-%d}", "P", "G", str(qty), f"{rev:.2f}",
                         f"{margin:.2f}"])
    write_csv(folder / "orders.csv", BASE["orders"][0], rows, sep=";" if german else ",")
    t = io.load_tables(folder, today=TODAY)
    total_in = sum(rev for *_, rev in lines)
    assert t.orders["net_revenue"].sum() + t.excluded["net_revenue"].sum() == pytest.approx(total_in)
    assert len(t.orders) + int(t.excluded["rows"].sum()) == len(lines)


# ----------------------------------------------------------------------------------------------
# Only customers and orders required; optional tables, columns and the actions log
# ----------------------------------------------------------------------------------------------

BARE_ORDERS = (["order_id", "customer_id", "order_date", "quantity", "net_revenue"], [
    ["O1", "C1", "2024-01-15", "10", "1234.56"],
    ["O2", "C2", "2024-05-20", "1", "0"],        # zero revenue, no margin column: no value
    ["O3", "C3", "2024-07-01", "-1", "-50"],
])

ACTIONS_HEADER = ["customer_id", "action", "planned_on", "done_on", "owner", "holdout", "outcome", "notes"]


def bare_world(tmp_path, orders=BARE_ORDERS, **files):
    """customers.csv with only customer_id, orders without margin and product columns, plus ``files``
    (table -> (header, rows))."""
    folder = tmp_path / "bare"
    folder.mkdir(exist_ok=True)
    write_csv(folder / "customers.csv", ["customer_id"], [["C1"], ["C2"], ["C3"]])
    write_csv(folder / "orders.csv", *orders)
    for table, (header, rows) in files.items():
        write_csv(folder / f"{table}.csv", header, rows)
    return folder


class TestOptionalTables:
    OPTIONAL = ("contacts", "complaints", "potentials")

    def test_absent_tables_are_empty_frames_with_the_canonical_columns(self, tmp_path):
        t = io.load_tables(make_world(tmp_path, drop=self.OPTIONAL, surveys=False), today=TODAY)
        for table in self.OPTIONAL:
            df = getattr(t, table)
            assert isinstance(df, pd.DataFrame) and len(df) == 0, table
            assert list(df.columns) == list(schemas.CONTRACT[table]["columns"]), table
            assert not t.has(table), table
            # typed like a loaded table: the analyses filter dates and sum money on them
            schemas.table_schema(table, today=TODAY).validate(df)
        assert t.contacts["contact_date"].dtype == "datetime64[ns]"
        assert t.surveys is None and t.actions_log is None
        assert not t.has("surveys") and not t.has("actions_log")
        assert t.has("customers") and t.has("orders")
        assert len(t.warnings) == 0

    def test_present_tables_are_had(self, tmp_path):
        t = io.load_tables(make_world(tmp_path), today=TODAY)
        for table in (*self.OPTIONAL, "surveys", "customers", "orders"):
            assert t.has(table), table
        assert not t.has("actions_log")

    def test_header_only_optional_table_is_not_had(self, tmp_path):
        folder = make_world(tmp_path)
        write_csv(folder / "potentials.csv", BASE["potentials"][0], [])
        t = io.load_tables(folder, today=TODAY)
        assert not t.has("potentials")
        assert len(t.potentials) == 0
        assert list(t.potentials.columns) == list(schemas.CONTRACT["potentials"]["columns"])
        assert_problem(problems_of(folder), "potentials.csv", None, "", "", "only a header",
                       severity="warning")

    @pytest.mark.parametrize("table", ["customers", "orders"])
    def test_customers_and_orders_are_still_required(self, tmp_path, table):
        folder = make_world(tmp_path, drop=(table,))
        assert_problem(problems_of(folder), f"{table}.csv", None, "", "", f"required table {table} is missing")
        with pytest.raises(DataValidationError):
            io.load_tables(folder, today=TODAY)

    def test_only_customers_and_orders_are_required_in_the_contract(self):
        assert schemas.REQUIRED_TABLES == ("customers", "orders")

    def test_cut_and_cache_keep_absent_tables_absent(self, tmp_path):
        t = io.load_tables(make_world(tmp_path, drop=self.OPTIONAL, surveys=False), today=TODAY)
        c = t.cut("2024-06-30")
        r = io.Tables.from_parquet(t.to_parquet(tmp_path / "cache"))
        for tables in (c, r):
            for table in self.OPTIONAL:
                df = getattr(tables, table)
                assert len(df) == 0 and list(df.columns) == list(schemas.CONTRACT[table]["columns"])
                assert not tables.has(table)
            assert tables.surveys is None and tables.actions_log is None
        for table in self.OPTIONAL:
            pd.testing.assert_frame_equal(getattr(r, table), getattr(t, table))


class TestBareExport:
    def test_customers_with_only_customer_id_validate(self, tmp_path):
        folder = make_world(tmp_path)
        write_csv(folder / "customers.csv", ["customer_id"], [["C1"], ["C2"], ["C3"]])
        assert len(problems_of(folder)) == 0
        t = io.load_tables(folder, today=TODAY)
        assert list(t.customers.columns) == list(schemas.CONTRACT["customers"]["columns"])
        assert t.customers["customer_id"].tolist() == ["C1", "C2", "C3"]
        assert t.customers["name"].isna().all() and t.customers["segment"].isna().all()
        assert t.sources["customers"]["columns"] == ["customer_id"]

    def test_customer_id_is_still_required(self, tmp_path):
        folder = make_world(tmp_path)
        write_csv(folder / "customers.csv", ["name"], [["A"]])
        assert_problem(problems_of(folder), "customers.csv", 1, "customer_id", "", "required column customer_id")

    def test_orders_without_margin_and_product_columns_validate(self, tmp_path):
        folder = bare_world(tmp_path)
        assert len(problems_of(folder)) == 0
        t = io.load_tables(folder, today=TODAY)
        assert list(t.orders.columns) == list(schemas.CONTRACT["orders"]["columns"])
        assert t.orders["contribution_margin"].isna().all()
        assert t.orders["contribution_margin"].dtype == "float64"
        cols = t.sources["orders"]["columns"]
        assert "contribution_margin" not in cols and "product_id" not in cols and "product_group" not in cols
        assert {"order_id", "customer_id", "order_date", "quantity", "net_revenue"} <= set(cols)

    def test_one_optional_order_column_missing(self, tmp_path):
        header, rows = BASE["orders"]
        keep = [i for i, c in enumerate(header) if c != "product_group"]
        folder = bare_world(tmp_path, orders=([header[i] for i in keep], [[r[i] for i in keep] for r in rows]))
        t = io.load_tables(folder, today=TODAY)
        cols = t.sources["orders"]["columns"]
        assert "product_group" not in cols and {"product_id", "contribution_margin"} <= set(cols)

    def test_given_margin_column_needs_every_value(self, tmp_path):
        p = problems_of(make_world(tmp_path, changes={("orders", 1, "contribution_margin"): ""}))
        assert_problem(p, "orders.csv", 3, "contribution_margin", "", "value missing")

    @pytest.mark.parametrize("column", ["net_revenue", "quantity", "order_date", "order_id"])
    def test_other_order_columns_are_still_required(self, tmp_path, column):
        header, rows = BARE_ORDERS
        keep = [i for i, c in enumerate(header) if c != column]
        folder = bare_world(tmp_path, orders=([header[i] for i in keep], [[r[i] for i in keep] for r in rows]))
        assert_problem(problems_of(folder), "orders.csv", 1, column, "", f"required column {column}")

    def test_zero_revenue_lines_excluded_without_margin(self, tmp_path):
        t = io.load_tables(bare_world(tmp_path), today=TODAY)
        assert t.orders["order_id"].tolist() == ["O1", "O3"]  # the credit note stays
        assert t.excluded.to_dict("records") == [{
            "table": "orders", "reason": io.ZERO_REVENUE_REASON, "rows": 1, "net_revenue": 0.0}]
        assert io.ZERO_REVENUE_REASON != io.ZERO_VALUE_REASON
        kept = io.load_tables(bare_world(tmp_path), config={"data": {"exclude_zero_value_lines": False}},
                              today=TODAY)
        assert kept.orders["order_id"].tolist() == ["O1", "O2", "O3"] and len(kept.excluded) == 0

    def test_zero_revenue_with_a_margin_is_kept(self, tmp_path):
        # with margins a zero-revenue line may still carry value (a margin correction): not left out
        t = io.load_tables(make_world(tmp_path, changes={("orders", 3, "contribution_margin"): "12"}),
                           today=TODAY)
        assert "O4" in set(t.orders["order_id"]) and len(t.excluded) == 0

    def test_parquet_orders_in_the_engine_without_margin(self, tmp_path):
        folder = bare_world(tmp_path)
        header, rows = BARE_ORDERS
        o = pd.DataFrame(rows, columns=header).astype({"quantity": float, "net_revenue": float})
        o["order_date"] = pd.to_datetime(o["order_date"])
        (folder / "orders.csv").unlink()
        o.to_parquet(folder / "orders.parquet", index=False)
        t = io.load_tables(folder, config={"data": {"engine_min_order_lines": 1}}, today=TODAY)
        assert t.orders_in_engine
        assert "contribution_margin" not in t.sources["orders"]["columns"]
        assert t.excluded.to_dict("records") == [{
            "table": "orders", "reason": io.ZERO_REVENUE_REASON, "rows": 1, "net_revenue": 0.0}]

    def test_large_csv_orders_in_the_engine_without_margin(self, tmp_path):
        folder = bare_world(tmp_path)
        t = io.load_tables(folder, config={"data": {"engine_min_order_lines": 1}}, today=TODAY)
        assert t.orders_in_engine
        assert t.excluded["reason"].tolist() == [io.ZERO_REVENUE_REASON]
        assert "contribution_margin" not in t.sources["orders"]["columns"]


class TestActionsLog:
    ROWS = [["C1", "executive_visit", "2024-01-10", "2024-02-01", "Anna", "", "order placed", "demo shown"],
            ["C2", "check_in_call", "2024-01-10", "", "Ben", "", "", ""]]  # planned, not done yet

    def test_loads_with_canonical_types(self, tmp_path):
        folder = make_world(tmp_path)
        write_csv(folder / "actions_log.csv", ACTIONS_HEADER, self.ROWS)
        assert len(problems_of(folder)) == 0
        t = io.load_tables(folder, today=TODAY)
        a = t.actions_log
        assert list(a.columns) == ACTIONS_HEADER == list(schemas.CONTRACT["actions_log"]["columns"])
        assert a["done_on"].dtype == "datetime64[ns]" and a["planned_on"].dtype == "datetime64[ns]"
        assert a.loc[0, "done_on"] == pd.Timestamp("2024-02-01") and pd.isna(a.loc[1, "done_on"])
        assert a["customer_id"].tolist() == ["C1", "C2"] and a.loc[0, "owner"] == "Anna"
        assert t.has("actions_log") and t.sources["actions_log"]["rows"] == 2
        schemas.table_schema("actions_log", today=TODAY).validate(a)

    def test_optional_columns_may_be_absent(self, tmp_path):
        folder = make_world(tmp_path)
        write_csv(folder / "actions_log.csv", ["customer_id", "action", "planned_on", "owner"],
                  [["C1", "executive_visit", "2024-02-01", "Anna"]])
        assert len(problems_of(folder)) == 0
        t = io.load_tables(folder, today=TODAY)
        assert t.actions_log["done_on"].isna().all() and t.actions_log["notes"].isna().all()
        assert t.sources["actions_log"]["columns"] == ["customer_id", "action", "planned_on", "owner"]

    def test_a_measure_outside_the_playbook_names_the_known_measures(self, tmp_path):
        folder = make_world(tmp_path)
        write_csv(folder / "actions_log.csv", ACTIONS_HEADER,
                  [*self.ROWS, ["C3", "executiv_visit", "2024-01-10", "", "Anna", "", "", ""]])
        p = problems_of(folder)
        assert_problem(p, "actions_log.csv", 4, "action", "executiv_visit", "not a measure of the playbook")
        assert "executive_visit" in p["message"].iloc[0] and "check_in_call" in p["message"].iloc[0]
        assert len(p) == 1

    def test_done_before_planned_is_located(self, tmp_path):
        folder = make_world(tmp_path)
        write_csv(folder / "actions_log.csv", ACTIONS_HEADER,
                  [["C1", "executive_visit", "2024-03-10", "2024-02-01", "Anna", "", "", ""]])
        assert_problem(problems_of(folder), "actions_log.csv", 2, "done_on", "2024-02-01", "done before it was planned")

    def test_unknown_customer_is_located(self, tmp_path):
        folder = make_world(tmp_path)
        write_csv(folder / "actions_log.csv", ACTIONS_HEADER,
                  [*self.ROWS, ["C9", "executive_visit", "2024-01-10", "2024-03-01", "Anna", "", "", ""]])
        p = problems_of(folder)
        assert_problem(p, "actions_log.csv", 4, "customer_id", "C9", "unknown customer_id")
        assert len(p) == 1

    def test_cell_problems_are_located(self, tmp_path):
        folder = make_world(tmp_path)
        write_csv(folder / "actions_log.csv", ACTIONS_HEADER, [
            ["C1", "", "2024-01-10", "2024-02-01", "Anna", "", "", ""],
            ["C2", "check_in_call", "2024-13-45", "2024-02-01", "Anna", "", "", ""],
            ["C3", "check_in_call", "2024-01-10", "2031-01-01", "Anna", "", "", ""],
            ["", "check_in_call", "2024-01-10", "2024-02-01", "Anna", "", "", ""],
        ])
        p = problems_of(folder)
        assert_problem(p, "actions_log.csv", 2, "action", "", "value missing")
        assert_problem(p, "actions_log.csv", 3, "planned_on", "2024-13-45", "impossible date")
        assert_problem(p, "actions_log.csv", 4, "done_on", "2031-01-01", "date in the future")
        assert_problem(p, "actions_log.csv", 5, "customer_id", "", "value missing")
        assert set(p["severity"]) == {"error"}
        with pytest.raises(DataValidationError):
            io.load_tables(folder, today=TODAY)

    def test_missing_required_columns(self, tmp_path):
        folder = make_world(tmp_path)
        write_csv(folder / "actions_log.csv", ["customer_id", "done_on"], [["C1", "2024-01-10"]])
        p = problems_of(folder)
        assert_problem(p, "actions_log.csv", 1, "action", "", "required column action")
        assert_problem(p, "actions_log.csv", 1, "planned_on", "", "required column planned_on")
        assert_problem(p, "actions_log.csv", 1, "owner", "", "required column owner")

    def test_cut_by_planned_on_and_cache(self, tmp_path):
        folder = make_world(tmp_path)
        write_csv(folder / "actions_log.csv", ACTIONS_HEADER, [
            self.ROWS[0], ["C2", "check_in_call", "2024-09-01", "", "Ben", "1", "", ""]])
        t = io.load_tables(folder, today=TODAY)
        assert t.cut("2024-06-30").actions_log["customer_id"].tolist() == ["C1"]
        assert t.actions_log["holdout"].tolist()[1] == 1
        r = io.Tables.from_parquet(t.to_parquet(tmp_path / "cache"))
        pd.testing.assert_frame_equal(r.actions_log, t.actions_log)
        assert r.has("actions_log")
