"""Tests for bestandlib.sheets: fill-in templates for the optional tables.

The data folder is a small German export written in code: ``;``-separated, cp1252, CRLF line ends,
decimal commas and DD.MM.YYYY dates, five customers (one name with the separator in it).
"""
from __future__ import annotations

import csv
import io as _stdio

import pandas as pd
import pytest

from bestandlib import io, schemas, sheets
from bestandlib.cli import main
from bestandlib.errors import BestandError, DataValidationError

TODAY = pd.Timestamp("2025-06-30")
CUSTOMERS = [
    ("00001", "Müller GmbH"),
    ("00002", "Bäckerei Weiß"),
    ("00003", "Praxis Dr. Özdemir"),
    ("00004", "Schulz; Söhne KG"),  # the separator inside a name: quoted
    ("00005", ""),  # no name
]


def write_german(path, header, rows):
    buf = _stdio.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode("cp1252"))


@pytest.fixture
def german(tmp_path):
    data = tmp_path / "firma"
    data.mkdir()
    write_german(data / "customers.csv", ["Kundennummer", "Name"], CUSTOMERS)
    write_german(data / "orders.csv",
                 ["order_id", "customer_id", "order_date", "quantity", "net_revenue"],
                 [["A1", "00001", "15.01.2025", "2", "1.234,50"],
                  ["A2", "00002", "03.02.2025", "1", "99,90"],
                  ["A3", "00004", "28.03.2025", "5", "500,00"]])
    return data


CONFIG = {"data": {"columns": {"customers": {"Kundennummer": "customer_id"}}}}


def read_template(path, encoding="cp1252"):
    return pd.read_csv(path, sep=";", dtype=str, keep_default_na=False, encoding=encoding)


def test_fixture_is_valid(german):
    problems = io.validate(german, CONFIG, today=TODAY)
    assert problems.empty, io.format_problems(problems)


def test_contacts_template_columns_rows_and_dialect(german):
    path = sheets.write_template("contacts", german, config=CONFIG)
    assert path == german / "templates" / "contacts.csv"
    raw = path.read_bytes()
    # same dialect as customers.csv: cp1252, ';', CRLF
    assert "Müller GmbH".encode("cp1252") in raw
    assert raw.count(b"\r\n") == len(CUSTOMERS) + 1 and raw.replace(b"\r\n", b"").count(b"\n") == 0
    assert raw.splitlines()[0] == b"customer_id;name;contact_date;channel;account_manager"
    assert b'"Schulz; S\xf6hne KG"' in raw
    frame = read_template(path)
    assert frame.columns.tolist() == ["customer_id", "name", "contact_date", "channel", "account_manager"]
    assert list(zip(frame["customer_id"], frame["name"])) == CUSTOMERS  # ids keep leading zeros
    assert (frame[["contact_date", "channel", "account_manager"]] == "").all().all()


@pytest.mark.parametrize("table", sheets.optional_tables())
def test_every_optional_table_gets_its_canonical_columns(german, table):
    path = sheets.write_template(table, german, config=CONFIG)
    assert path == german / "templates" / f"{table}.csv"
    columns = read_template(path).columns.tolist()
    expected = list(schemas.CONTRACT[table]["columns"])
    expected.insert(expected.index("customer_id") + 1, "name")
    assert columns == expected
    no_name = sheets.write_template(table, german, out=german / "templates" / f"{table}_plain.csv",
                                    config=CONFIG, with_name=False)
    assert read_template(no_name).columns.tolist() == list(schemas.CONTRACT[table]["columns"])


def test_optional_tables_follow_the_contract():
    assert sheets.optional_tables() == [t for t, s in schemas.CONTRACT.items() if not s["required"]]
    assert "customers" not in sheets.optional_tables() and "orders" not in sheets.optional_tables()


@pytest.mark.parametrize("table", ["customers", "orders", "invoices"])
def test_refuses_required_and_unknown_tables(german, table):
    with pytest.raises(BestandError) as info:
        sheets.write_template(table, german, config=CONFIG)
    assert ", ".join(sheets.optional_tables()) in str(info.value)
    assert not (german / "templates").exists()


def test_never_overwrites(german):
    existing = german / "templates" / "complaints.csv"
    existing.parent.mkdir()
    existing.write_bytes(b"filled in already")
    with pytest.raises(BestandError, match="complaints.csv exists already"):
        sheets.write_template("complaints", german, config=CONFIG)
    assert existing.read_bytes() == b"filled in already"
    own = german / "potentials_for_sales.csv"
    own.write_bytes(b"mine")
    with pytest.raises(BestandError, match="never overwritten"):
        sheets.write_template("potentials", german, out=own, config=CONFIG)
    assert own.read_bytes() == b"mine"


def test_out_file_and_out_folder(german, tmp_path):
    path = sheets.write_template("surveys", german, out=tmp_path / "s.csv", config=CONFIG)
    assert path == tmp_path / "s.csv" and path.is_file()
    folder = tmp_path / "sheets"
    folder.mkdir()
    assert sheets.write_template("surveys", german, out=folder, config=CONFIG) == folder / "surveys.csv"


def test_data_folder_still_validates_with_templates(german):
    for table in sheets.optional_tables():
        sheets.write_template(table, german, config=CONFIG)
    problems = io.validate(german, CONFIG, today=TODAY)
    assert (problems["severity"] == "warning").all(), io.format_problems(problems)
    # the subfolder is named once as ignored, its files are not read as tables
    assert problems["file"].tolist() == ["templates"]
    assert "ignored" in problems["message"].iloc[0]
    tables = io.load_tables(german, CONFIG, today=TODAY)
    assert not any(t in tables.sources for t in sheets.optional_tables())


def test_unfilled_template_in_the_data_folder_is_not_valid(german):
    # why the template does not go into the data folder itself
    sheets.write_template("contacts", german, out=german / "contacts.csv", config=CONFIG)
    problems = io.validate(german, CONFIG, today=TODAY)
    errors = problems[problems["severity"] == "error"]
    assert set(errors["message"]) == {"value missing"}
    assert set(errors["column"]) == {"contact_date", "channel"}


def test_filled_in_template_moved_into_the_data_folder_validates(german):
    path = sheets.write_template("contacts", german, config=CONFIG)
    frame = read_template(path)
    # the team's work: customer 00001 contacted twice (line copied), 00003 once, the rest deleted
    filled = frame.iloc[[0, 0, 2]].reset_index(drop=True)
    filled["contact_date"] = ["10.03.2025", "11.04.2025", "11.04.2025"]
    filled["channel"] = ["visit", "call", "call"]
    filled["account_manager"] = ["Anna", "", ""]
    write_german(german / "contacts.csv", filled.columns.tolist(), filled.values.tolist())
    path.unlink()  # moved

    tables, problems = io.inspect(german, CONFIG, today=TODAY)
    assert (problems["severity"] == "warning").all(), io.format_problems(problems)
    # the remarks: the (now empty) templates folder, and the name column read as an extra column
    assert sorted(zip(problems["file"], problems["column"])) == [("contacts.csv", "name"),
                                                                  ("templates", "")]
    assert "extra column, ignored" in problems["message"].tolist()
    contacts = tables.contacts
    assert contacts["customer_id"].tolist() == ["00001", "00001", "00003"]
    assert contacts["channel"].tolist() == ["visit", "call", "call"]
    assert contacts["contact_date"].tolist() == [pd.Timestamp("2025-03-10"), pd.Timestamp("2025-04-11"),
                                                 pd.Timestamp("2025-04-11")]


def test_data_folder_with_errors_gets_no_template(german):
    (german / "orders.csv").write_bytes(b"order_id;customer_id;order_date;quantity;net_revenue\r\n"
                                        b"A1;99999;15.01.2025;1;5,00\r\n")
    with pytest.raises(DataValidationError, match="has errors"):
        sheets.write_template("contacts", german, config=CONFIG)
    assert not (german / "templates").exists()


def test_parquet_customers_fall_back_to_plain_csv(tmp_path):
    data = tmp_path / "pq"
    data.mkdir()
    pd.DataFrame({"customer_id": ["K1", "K2"], "name": ["Ä", None]}).to_parquet(data / "customers.parquet")
    pd.DataFrame({"order_id": ["O1"], "customer_id": ["K1"], "order_date": [pd.Timestamp("2025-01-02")],
                  "quantity": [1.0], "net_revenue": [10.0]}).to_parquet(data / "orders.parquet")
    path = sheets.write_template("potentials", data)
    assert path.read_bytes().decode("utf-8") == (
        "customer_id,name,assessed_on,potential,competitive_intensity\nK1,Ä,,,\nK2,,,,\n")


def test_cli_template(german, capsys, tmp_path):
    cfg = tmp_path / "firma.yml"
    cfg.write_text("data:\n  columns:\n    customers:\n      Kundennummer: customer_id\n", encoding="utf-8")
    args = ["template", "actions_log", "--data", str(german), "--config", str(cfg)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert str(german / "templates" / "actions_log.csv") in out
    assert str(german / "actions_log.csv") in out and "bestand validate" in out
    assert main(args) == 2  # never overwritten
    assert "exists already" in capsys.readouterr().err
    assert main(["template", "orders", "--data", str(german), "--config", str(cfg)]) == 2
    assert "contacts, complaints" in capsys.readouterr().err
    plain = tmp_path / "plain.csv"
    assert main(["template", "contacts", "--data", str(german), "--config", str(cfg),
                 "--out", str(plain), "--no-name"]) == 0
    assert read_template(plain).columns.tolist() == list(schemas.CONTRACT["contacts"]["columns"])
