"""Tests for bestandlib.importers: the CDNOW master log converted into a data folder.

Most tests convert a small fake file in the CDNOW format (``source=``); one converts the copy that
ships with lifetimes and checks the published shape (23,570 customers, 69,659 rows).
"""
from __future__ import annotations

import importlib.util

import pandas as pd
import pytest

from bestandlib import importers, io
from bestandlib.cli import main
from bestandlib.errors import BestandError

# lifetimes' copy: a header line, whitespace-aligned fields, CRLF line ends.
FAKE = (
    " customer_id  date number_of_cds  dollar_value\r\n"
    " 00001 19970101  1   11.77\r\n"
    " 00002 19970112  1   12.00\r\n"
    " 00002 19970112  5   77.00\r\n"
    " 00003 19970102  2   20.76\r\n"
    " 00003 19970330  1    0.00\r\n"
    " 00002 19980630  3   31.50\r\n"
)


@pytest.fixture
def fake_cdnow(tmp_path):
    path = tmp_path / "CDNOW_fake.txt"
    path.write_bytes(FAKE.encode("ascii"))
    return path


def read_text_frame(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_converts_fake_file(fake_cdnow, tmp_path):
    out = tmp_path / "cdnow"
    summary = importers.cdnow(out, source=fake_cdnow)

    assert summary == {"out_dir": out, "customers": 3, "orders": 6, "first_date": "1997-01-01",
                       "last_date": "1998-06-30", "zero_value_rows": 1, "source": fake_cdnow,
                       "config": out / "_bestand.yml"}
    from bestandlib.config import load_config

    assert load_config(summary["config"])["report"]["currency"] == "USD"  # a valid config in dollars
    customers = read_text_frame(out / "customers.csv")
    assert customers.columns.tolist() == ["customer_id", "name"]
    assert customers["customer_id"].tolist() == ["00001", "00002", "00003"]  # leading zeros kept
    assert (customers["name"] == "").all()

    orders = read_text_frame(out / "orders.csv")
    assert orders.columns.tolist() == ["order_id", "customer_id", "order_date", "quantity", "net_revenue"]
    assert orders.to_dict("records")[:3] == [
        {"order_id": "00001-19970101-1", "customer_id": "00001", "order_date": "1997-01-01",
         "quantity": "1", "net_revenue": "11.77"},
        {"order_id": "00002-19970112-1", "customer_id": "00002", "order_date": "1997-01-12",
         "quantity": "1", "net_revenue": "12.00"},
        # the second purchase row of the same customer and day: running number 2
        {"order_id": "00002-19970112-2", "customer_id": "00002", "order_date": "1997-01-12",
         "quantity": "5", "net_revenue": "77.00"},
    ]
    assert orders["order_id"].is_unique
    assert "0.00" in orders["net_revenue"].tolist()  # zero-amount rows are kept (io counts them)
    # plain CSV: UTF-8 text, comma, '\n'
    raw = (out / "orders.csv").read_bytes()
    assert b"\r" not in raw and b";" not in raw
    raw.decode("utf-8")


def test_order_ids_are_stable(fake_cdnow, tmp_path):
    importers.cdnow(tmp_path / "a", source=fake_cdnow)
    importers.cdnow(tmp_path / "b", source=fake_cdnow)
    for name in ("customers.csv", "orders.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_original_file_without_header(tmp_path):
    source = tmp_path / "CDNOW_master.txt"
    source.write_text("00007 19970105 2 23.98\n00007 19970105 1 11.99\n00008 19970301 1 9.99\n",
                      encoding="ascii")
    summary = importers.cdnow(tmp_path / "out", source=source)
    assert (summary["customers"], summary["orders"]) == (2, 3)
    orders = read_text_frame(tmp_path / "out" / "orders.csv")
    assert orders["order_id"].tolist() == ["00007-19970105-1", "00007-19970105-2", "00008-19970301-1"]


def test_converted_fake_folder_validates(fake_cdnow, tmp_path):
    # Needs contacts, complaints and potentials to be optional tables and product/margin columns
    # to be optional columns (schemas.CONTRACT).
    out = tmp_path / "cdnow"
    importers.cdnow(out, source=fake_cdnow)
    tables, problems = io.inspect(out, today=pd.Timestamp("2025-01-01"))
    assert problems.empty, io.format_problems(problems)
    assert len(tables.customers) == 3
    assert tables.customers["customer_id"].tolist() == ["00001", "00002", "00003"]
    assert tables.orders["net_revenue"].sum() == pytest.approx(11.77 + 12 + 77 + 20.76 + 31.5)


@pytest.mark.parametrize("line, message", [
    (" 00004 19970231  1   5.00", "line 2: not a date YYYYMMDD"),
    (" 00004 19970201  1", "line 2: expected 4 fields"),
    (" 00004 19970201  one   5.00", "line 2: the number of CDs must be a whole number"),
    (" 00004 19970201  1   5,00", "line 2: the dollar amount must be a number"),
    (" A0004 19970201  1   5.00", "line 2: a customer id must be digits"),
])
def test_malformed_source_line_is_named(tmp_path, line, message):
    source = tmp_path / "bad.txt"
    source.write_text(" 00001 19970101  1   11.77\n" + line + "\n", encoding="ascii")
    with pytest.raises(BestandError, match=message):
        importers.cdnow(tmp_path / "out", source=source)
    assert not (tmp_path / "out").exists()


def test_refuses_to_overwrite_unless_asked(fake_cdnow, tmp_path):
    out = tmp_path / "cdnow"
    out.mkdir()
    (out / "orders.csv").write_text("mine", encoding="utf-8")
    with pytest.raises(BestandError, match="orders.csv exists already"):
        importers.cdnow(out, source=fake_cdnow)
    assert (out / "orders.csv").read_text(encoding="utf-8") == "mine"
    assert not (out / "customers.csv").exists()
    importers.cdnow(out, source=fake_cdnow, overwrite=True)
    assert len(read_text_frame(out / "orders.csv")) == 6


def test_missing_lifetimes_names_the_install_command(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "lifetimes" else real(name, *a))
    with pytest.raises(BestandError, match=r"lifetimes, which is not installed.*pip install"):
        importers.cdnow(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_import_prints_files_and_next_commands(fake_cdnow, tmp_path, capsys):
    out = tmp_path / "cdnow"
    assert main(["import", "cdnow", "--out", str(out), "--source", str(fake_cdnow)]) == 0
    text = capsys.readouterr().out
    assert "3 customers" in text and "6 order lines" in text
    assert f"bestand validate {out}" in text
    assert f"bestand report --data {out} --config {out / '_bestand.yml'} --quarter 1998Q2" in text
    assert main(["import", "cdnow", "--out", str(out), "--source", str(fake_cdnow)]) == 2  # exists
    assert "exist already" in capsys.readouterr().err
    assert main(["import", "cdnow", "--out", str(out), "--source", str(fake_cdnow), "--force"]) == 0


def test_real_cdnow_master_log(tmp_path):
    pytest.importorskip("lifetimes")
    source = importers.cdnow_source()
    assert source.name == "CDNOW_master.txt"
    out = tmp_path / "cdnow"
    summary = importers.cdnow(out)
    assert (summary["customers"], summary["orders"]) == (23_570, 69_659)
    assert (summary["first_date"], summary["last_date"]) == ("1997-01-01", "1998-06-30")
    assert summary["zero_value_rows"] == 80
    customers = read_text_frame(out / "customers.csv")
    assert customers["customer_id"].iloc[0] == "00001" and customers["customer_id"].is_unique
    orders = read_text_frame(out / "orders.csv")
    assert len(orders) == 69_659 and orders["order_id"].is_unique

    # The converted folder is valid input. NOTE: this assertion needs contacts, complaints and
    # potentials to be optional tables (and product_id, product_group, contribution_margin optional
    # columns of orders); against a contract where they are required it fails with "required table
    # ... is missing" / "required column ... is missing" only.
    problems = io.validate(out)
    errors = problems[problems["severity"] == "error"]
    assert errors.empty, io.format_problems(errors)
