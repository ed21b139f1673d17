"""Writes the bad-input corpus: one folder per case, a small data folder plus ``expected.yml``.

The folders are committed; this script documents how each was made and rewrites them all
(``python tests/bad_inputs/make_corpus.py``). Every case starts from the same tiny valid world
(German export dialect: ``;``, decimal comma, ``31.12.2024``) and changes one thing.

``expected.yml`` holds either

* ``exit`` (2 = usage/configuration, 3 = invalid data) and ``problems``: a list of ``file, line,
  column, message`` fragments that must appear together on one line of the output; or
* ``valid: true`` with ``limitation`` (text the report's data notes must show; empty when the
  case has nothing to declare) and ``report`` (render it through a report, or only validate).

Optional keys: ``command`` (``validate`` default, or ``report``), ``quarter``, ``config`` (a file
in the case folder, named with a leading ``_``), ``data_dir`` (instead of
``data/``, e.g. a folder that does not exist), ``output`` (further text fragments).

The data files live in ``<case>/data/``, a config file next to ``expected.yml`` in ``<case>/``.
"""
from __future__ import annotations

import io
import shutil
import struct
import zlib
from pathlib import Path

import yaml

HERE = Path(__file__).parent

CUSTOMERS = [
    ["customer_id", "name", "segment", "region", "business_unit", "account_manager"],
    ["K001", "Sanitätshaus Krause GmbH", "Sanitätshaus", "West", "Bandagen", "Stefan Küpper"],
    ["K002", "Klinikum Bonn-Süd", "Klinik", "West", "Orthesen", "Markus Hövelmann"],
    ["K003", "Orthopädie Weiß", "Orthopädietechnik", "Süd", "Orthesen", "Stefan Küpper"],
    ["K004", "Reha-Zentrum Nord", "Reha", "Nord", "Bandagen", "Markus Hövelmann"],
    ["K005", "Praxis Dr. Öztürk", "Praxis", "Ost", "Orthesen", "Stefan Küpper"],
]
_ORDERS = []
_n = 0
for q, (month, day) in enumerate([(1, 15), (4, 10), (7, 8), (10, 14), (1, 20), (4, 22)]):
    year = 2024 if q < 4 else 2025
    for c in range(1, 6):
        _n += 1
        rev = 1000 + 250 * c + 100 * q
        _ORDERS.append([f"A{_n:04d}", f"K00{c}", f"{day + c:02d}.{month:02d}.{year}", f"P{c % 3 + 1}",
                        ["Bandagen", "Orthesen", "Einlagen"][c % 3], str(c % 4 + 1),
                        f"{rev:.2f}".replace(".", ","), f"{rev * 0.4:.2f}".replace(".", ",")])
ORDERS = [["order_id", "customer_id", "order_date", "product_id", "product_group", "quantity",
           "net_revenue", "contribution_margin"]] + _ORDERS
CONTACTS = [["customer_id", "contact_date", "channel", "account_manager"],
            ["K001", "05.02.2024", "visit", "Stefan Küpper"],
            ["K002", "12.03.2024", "call", "Markus Hövelmann"],
            ["K003", "20.06.2024", "email", "Stefan Küpper"],
            ["K004", "03.09.2024", "event", "Markus Hövelmann"],
            ["K005", "15.01.2025", "training", "Stefan Küpper"]]
COMPLAINTS = [["customer_id", "complaint_date", "kind", "severity", "value", "resolved_on"],
              ["K002", "10.05.2024", "complaint", "2", "120,00", "20.05.2024"],
              ["K004", "11.11.2024", "return", "1", "80,50", ""],
              ["K005", "02.02.2025", "delivery", "3", "1.250,00", "10.02.2025"]]
POTENTIALS = [["customer_id", "assessed_on", "potential", "competitive_intensity"],
              ["K001", "01.01.2024", "12.000,00", "2"],
              ["K002", "01.01.2024", "48.000,00", "4"],
              ["K003", "01.01.2024", "9.500,00", "3"],
              ["K004", "01.01.2024", "20.000,00", ""],
              ["K005", "01.01.2024", "15.000,00", "5"]]
SURVEYS = [["customer_id", "survey_date", "satisfaction", "would_recommend", "reason_chosen",
            "initial_hesitation", "would_miss", "would_refer_to"],
           ["K001", "15.03.2024", "9", "10", "Schnelle Lieferung", "Preis", "Den Außendienst", "Praxis Dr. Öztürk"],
           ["K003", "20.03.2024", "6", "5", "Passform", "Service", "Wenig", ""]]

BASE = {"customers.csv": CUSTOMERS, "orders.csv": ORDERS, "contacts.csv": CONTACTS,
        "complaints.csv": COMPLAINTS, "potentials.csv": POTENTIALS, "surveys.csv": SURVEYS}


def csv_bytes(rows, sep=";", encoding="utf-8", bom=False, newline="\n") -> bytes:
    text = newline.join(sep.join(r) for r in rows) + newline
    data = text.encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def world(**changes):
    """The base world as {file name: bytes}, with files replaced (bytes/rows) or removed (None)."""
    files = {name: csv_bytes(rows) for name, rows in BASE.items()}
    for name, value in changes.items():
        name = name.replace("__", ".")
        if value is None:
            files.pop(name, None)
        elif isinstance(value, bytes):
            files[name] = value
        else:
            files[name] = csv_bytes(value)
    return files


def rows(table, edit):
    """A deep copy of a base table with ``edit(rows)`` applied (returns the rows)."""
    out = [list(r) for r in BASE[f"{table}.csv"]]
    return edit(out) or out


def setcell(table, line, column, value):
    """Base ``table`` with the cell at file line ``line`` (header = 1) in ``column`` replaced."""
    def edit(r):
        r[line - 1][r[0].index(column)] = value
    return rows(table, edit)


def _xlsx_bytes() -> bytes:
    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame([r for r in ORDERS[1:]], columns=ORDERS[0]).to_excel(buf, index=False)
    return buf.getvalue()


def _parquet_bytes() -> bytes:
    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame([r for r in ORDERS[1:]], columns=ORDERS[0]).to_parquet(buf, index=False)
    return buf.getvalue()


def _png_bytes() -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))


def P(file, line, column, message):
    return {"file": file, "line": line, "column": column, "message": message}


CASES: dict[str, tuple[dict, dict]] = {}


def case(name, files, **expected):
    CASES[name] = (files, expected)


def bad(name, files, *problems, exit=3, **extra):
    case(name, files, exit=exit, problems=list(problems), **extra)


def ok(name, files, limitation="", report=False, **extra):
    case(name, files, valid=True, limitation=limitation, report=report, **extra)


# --- separators and number formats ---------------------------------------------------------------
bad("wrong_separator_colon", world(customers__csv=csv_bytes(CUSTOMERS, sep=":")),
    P("customers.csv", 1, "customer_id", "is the separator right?"),
    description="customers.csv separated by ':' (not a separator the kit knows)")
bad("wrong_separator_pinned", world(_config__yml=b"data:\n  dialect:\n    orders: {sep: ','}\n"),
    P("orders.csv", 1, "order_id", "required column order_id is missing"),
    config="_config.yml", description="the config pins ',' but the export uses ';'")
bad("decimal_comma_but_point_pinned",
    world(_config__yml=b"data:\n  dialect:\n    orders: {decimal: '.'}\n"),
    P("orders.csv", 2, "net_revenue", "not a number"),
    config="_config.yml", description="decimal comma in the file, decimal point pinned in the config")
bad("thousands_bad_grouping", world(orders__csv=setcell("orders", 4, "net_revenue", "1.23,40")),
    P("orders.csv", 4, "net_revenue", "not a number"),
    description="a thousands group of two digits (1.23,40) is a typo, not 123.40")
ok("thousands_separators_german",
   world(orders__csv=setcell("orders", 3, "net_revenue", "1.234.567,89")),
   description="1.234.567,89 with thousands dots is read as 1234567.89")
ok("thousands_separators_english",
   world(orders__csv=csv_bytes(rows("orders", lambda r: [
       [c.replace(",", ".") if i in (6, 7) else c for i, c in enumerate(x)] for x in r
   ]), sep=",")),
   description="an English export (',' separated, decimal point) loads as well")
bad("revenue_na", world(orders__csv=setcell("orders", 5, "net_revenue", "n/a")),
    P("orders.csv", 5, "net_revenue", "not a number"), output=["n/a"],
    description="revenue given as text 'n/a'")
bad("revenue_dash", world(orders__csv=setcell("orders", 6, "net_revenue", "-")),
    P("orders.csv", 6, "net_revenue", "not a number"), description="revenue given as '-'")
bad("revenue_nan", world(orders__csv=setcell("orders", 7, "contribution_margin", "NaN")),
    P("orders.csv", 7, "contribution_margin", "NaN or infinity"), description="NaN as a value")
bad("revenue_inf", world(orders__csv=setcell("orders", 8, "net_revenue", "inf")),
    P("orders.csv", 8, "net_revenue", "NaN or infinity"), description="inf as a value")
bad("severity_not_whole", world(complaints__csv=setcell("complaints", 3, "severity", "1,5")),
    P("complaints.csv", 3, "severity", "whole number"), description="severity 1,5")
ok("sap_trailing_minus",
   world(orders__csv=rows("orders", lambda r: r.append(
       ["A9999", "K001", "23.04.2025", "P1", "Bandagen", "-1", "250,00-", "80,00-"]))),
   description="SAP's trailing minus (250,00-) is a credit note of -250.00")

# --- dates ---------------------------------------------------------------------------------------
ok("dates_iso", world(orders__csv=csv_bytes(rows("orders", lambda r: [
    r[0]] + [x[:2] + ["-".join(reversed(x[2].split(".")))] + x[3:] for x in r[1:]]))),
   description="ISO dates 2024-01-16")
ok("dates_slash_day_first", world(orders__csv=csv_bytes(rows("orders", lambda r: [
    r[0]] + [x[:2] + [x[2].replace(".", "/")] + x[3:] for x in r[1:]]))),
   description="31/12/2024 style dates (days > 12 make the order unambiguous)")
bad("dates_ambiguous", world(contacts__csv=csv_bytes(rows("contacts", lambda r: [
    r[0]] + [x[:1] + [f"0{i}/0{i + 1}/2024"] + x[2:] for i, x in enumerate(r[1:], start=1)]))),
    P("contacts.csv", None, "contact_date", "ambiguous date format"),
    description="01/02/2024 could be 1 February or 2 January")
bad("date_impossible", world(orders__csv=setcell("orders", 3, "order_date", "31.02.2024")),
    P("orders.csv", 3, "order_date", "impossible date"), description="31 February")
bad("date_wrong_format", world(orders__csv=setcell("orders", 9, "order_date", "2024/13/45")),
    P("orders.csv", 9, "order_date", "not a date in the format DD.MM.YYYY"),
    description="one date in another, unparseable format")
bad("date_in_future", world(orders__csv=setcell("orders", 10, "order_date", "01.01.2099")),
    P("orders.csv", 10, "order_date", "date in the future"), description="an order in 2099")
bad("date_before_1900", world(potentials__csv=setcell("potentials", 4, "assessed_on", "01.01.1024")),
    P("potentials.csv", 4, "assessed_on", "before 1900"), description="a typo: year 1024")

# --- encodings -----------------------------------------------------------------------------------
ok("cp1252_umlauts", world(customers__csv=csv_bytes(CUSTOMERS, encoding="cp1252"),
                           contacts__csv=csv_bytes(CONTACTS, encoding="cp1252")),
   report=True, description="customers.csv in cp1252 with umlauts (Sanitätshaus, Öztürk)",
   output=["Sanitätshaus Krause GmbH"])
ok("utf8_bom", world(**{f"{n.split('.')[0]}__csv": csv_bytes(r, bom=True) for n, r in BASE.items()}),
   report=True, description="every file UTF-8 with BOM (Excel's 'CSV UTF-8')")
ok("utf16_excel_unicode_text",
   world(customers__csv=b"\xff\xfe" + "\r\n".join("\t".join(r) for r in CUSTOMERS).encode("utf-16-le")),
   description="Excel 'Unicode text': UTF-16 with BOM, tab separated")

# --- file level ----------------------------------------------------------------------------------
bad("empty_file", world(customers__csv=b""), P("customers.csv", None, "", "file is empty"))
bad("header_only", world(orders__csv=csv_bytes(ORDERS[:1])),
    P("orders.csv", None, "", "only a header"))
bad("binary_file", world(complaints__csv=_png_bytes()), P("complaints.csv", None, "", "binary file"),
    description="an image saved as complaints.csv")
bad("excel_instead_of_csv", world(orders__csv=None, orders__xlsx=_xlsx_bytes()),
    P("orders.xlsx", None, "", "Excel file given, export it as CSV"))
bad("excel_named_csv", world(orders__csv=_xlsx_bytes()),
    P("orders.csv", None, "", "Excel file given"), description="an .xlsx renamed to orders.csv")
bad("parquet_named_csv", world(orders__csv=_parquet_bytes()),
    P("orders.csv", None, "", "Parquet file with a CSV name"))
bad("two_files_one_table", world(orders__parquet=_parquet_bytes()),
    P("orders.csv", None, "", "several files for table orders"))
bad("data_folder_missing", {}, exit=2, data_dir="does-not-exist",
    output=["does not exist"])
bad("config_key_typo", world(_config__yml=b"data:\n  exclude_zero_value_line: false\n"),
    exit=2, config="_config.yml",
    output=["unknown config key 'data.exclude_zero_value_line'"])
bad("config_dialect_key_typo", world(_config__yml=b"data:\n  dialect:\n    orders: {separator: ';'}\n"),
    exit=2, config="_config.yml", output=["data.dialect.orders.separator: unknown key"])
bad("config_not_yaml", world(_config__yml=b"data: [unclosed\n"), exit=2, config="_config.yml",
    output=["not valid YAML"])

# --- columns and rows ----------------------------------------------------------------------------
bad("missing_required_column", world(orders__csv=rows("orders", lambda r: [x[:6] + x[7:] for x in r])),
    P("orders.csv", 1, "net_revenue", "required column net_revenue is missing"))
ok("extra_columns", world(customers__csv=rows("customers", lambda r: [
    x + (["Umsatzsteuer-ID"] if i == 0 else [f"DE12345678{i}"]) for i, x in enumerate(r)])),
   limitation="extra column, ignored", report=True,
   description="an extra column (VAT id) is accepted and named in the report's data notes")
bad("more_fields_than_header", world(contacts__csv=rows("contacts", lambda r: r[3].append("extra"))),
    P("contacts.csv", 4, "", "line has 5 fields, the header has 4"))
bad("duplicate_customer_id", world(customers__csv=rows("customers", lambda r: r.append(
    ["K002", "Klinikum Bonn-Süd (alt)", "Klinik", "West", "Orthesen", "Markus Hövelmann"]))),
    P("customers.csv", 7, "customer_id", "duplicate customer_id (first on line 3)"))
bad("unknown_customer_in_orders", world(orders__csv=setcell("orders", 12, "customer_id", "K999")),
    P("orders.csv", 12, "customer_id", "unknown customer_id"))
bad("customer_id_missing_value", world(orders__csv=setcell("orders", 2, "customer_id", "")),
    P("orders.csv", 2, "customer_id", "value missing"))
ok("negative_quantity_positive_revenue",
   world(orders__csv=setcell("orders", 11, "quantity", "-2")),
   limitation="negative quantity with positive net_revenue",
   description="price corrections produce this legitimately: a warning, not an error")
bad("channel_not_allowed", world(contacts__csv=setcell("contacts", 3, "channel", "Fax")),
    P("contacts.csv", 3, "channel", "must be one of: visit"))
bad("severity_out_of_range", world(complaints__csv=setcell("complaints", 2, "severity", "7")),
    P("complaints.csv", 2, "severity", "between 1 and 3"))
bad("potential_negative", world(potentials__csv=setcell("potentials", 3, "potential", "-5.000,00")),
    P("potentials.csv", 3, "potential", "must not be negative"))
bad("satisfaction_out_of_range", world(surveys__csv=setcell("surveys", 2, "satisfaction", "11")),
    P("surveys.csv", 2, "satisfaction", "between 0 and 10"))

# --- valid but unusual: the report states the limitation -------------------------------------------
ok("gap_quarter_without_orders", world(orders__csv=rows("orders", lambda r: [
    x for x in r if not x[2].endswith(".07.2024")])),
   limitation="", report=False, description="no orders at all in 2024Q3 (panel zero-fills it)")
bad("quarter_before_any_order", world(), exit=2, command="report", quarter="2019Q4",
    output=["no orders up to 2019Q4"], description="a report for a quarter with no data yet")
ok("single_order_customer", world(orders__csv=rows("orders", lambda r: r.append(
    ["A8888", "K006", "05.03.2025", "P1", "Bandagen", "1", "300,00", "90,00"])),
    customers__csv=rows("customers", lambda r: r.append(
        ["K006", "Neukunde Schäfer", "Praxis", "Ost", "Bandagen", "Stefan Küpper"]))),
   limitation="nur einer Bestellung", report=True,
   description="a customer with a single order: repeat-purchase models cannot learn from it")
ok("one_business_unit", world(customers__csv=rows("customers", lambda r: [
    x[:4] + (["Orthesen"] if i else [x[4]]) + x[5:] for i, x in enumerate(r)])),
   limitation="Alle Kunden gehören zum Geschäftsbereich Orthesen", report=True,
   description="all customers in one business unit: no comparison between units")
ok("zero_potential", world(potentials__csv=setcell("potentials", 4, "potential", "0,00")),
   limitation="Potenzial von 0", report=True, description="a potential of zero")
ok("no_surveys_table", world(surveys__csv=None), limitation="Kundenstimme (Befragungen)", report=True,
   description="the optional surveys table is absent: the data coverage names what it would unlock")
ok("no_potentials_table", world(potentials__csv=None), limitation="Vier-Felder-Matrix", report=True,
   description="the optional potentials table is absent: the data coverage names what it would unlock")
ok("surveys_header_only", world(surveys__csv=csv_bytes(SURVEYS[:1])),
   limitation="only a header", description="surveys with only a header count as absent")
ok("zero_value_lines_excluded", world(orders__csv=rows("orders", lambda r: r.append(
    ["A7777", "K003", "05.05.2025", "P9", "Muster", "1", "0,00", "0,00"]))),
   limitation="", description="a free sample (0 revenue, 0 margin) is excluded and counted")


def write_all() -> None:
    for old in HERE.iterdir():
        if old.is_dir() and (old / "expected.yml").exists():
            shutil.rmtree(old)
    for name, (files, expected) in CASES.items():
        folder = HERE / name
        (folder / "data").mkdir(parents=True)
        for fname, data in files.items():
            target = folder / fname if fname.startswith("_") else folder / "data" / fname
            target.write_bytes(data)
        (folder / "expected.yml").write_text(
            yaml.safe_dump(expected, allow_unicode=True, sort_keys=False, width=100), encoding="utf-8")
    print(f"{len(CASES)} cases written to {HERE}")


if __name__ == "__main__":
    write_all()
