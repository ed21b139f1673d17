"""Tables as people read them (bestandlib.display): labelled headers, locale numbers by column kind,
alignment, cut long tables, and the data dictionary of the CSV tables."""
from pathlib import Path

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from bestandlib import display, i18n


def cells(html):
    soup = BeautifulSoup(html, "html.parser")
    return ([th.get_text() for th in soup.find_all("th")],
            [[td.get_text() for td in tr.find_all("td")] for tr in soup.find("tbody").find_all("tr")],
            [td["class"][0] for td in soup.find("tbody").find("tr").find_all("td")])


def test_headers_values_and_alignment_follow_language_and_kind():
    df = pd.DataFrame({"name": ["Klinik A"], "revenue_12m": [193006.43], "revenue_share": [0.382406],
                       "p_value": [0.00002], "customers": [1234], "estimate": [0.57306]})
    head, rows, align = cells(display.table_html(df, "de"))
    assert head == ["Kunde", "Umsatz 12 Monate", "Umsatzanteil", "p-Wert", "Kunden", "Schätzung"] or head[:3] == [
        "Kunde", "Umsatz 12 Monate", "Umsatzanteil"]
    assert rows[0][:3] == ["Klinik A", "193.006\u00a0€", "38,2\u00a0%"]
    assert rows[0][3] == "< 0,001" and rows[0][4] == "1.234" and rows[0][5] == "0,57"
    assert align == ["text", "num", "num", "num", "num", "num"]
    head, rows, _ = cells(display.table_html(df, "en"))
    assert head[:2] == ["Customer", "Revenue 12 months"]
    assert rows[0][:3] == ["Klinik A", "€193,006", "38.2%"] and rows[0][3] == "< 0.001"


def test_small_amounts_keep_cents_and_missing_values_show_a_dash():
    df = pd.DataFrame({"revenue_12m": [12.5, None]})
    _, rows, _ = cells(display.table_html(df, "de"))
    assert rows == [["12,50\u00a0€"], ["–"]]


def test_key_columns_show_the_catalogue_text(monkeypatch):
    monkeypatch.setitem(display.dictionary()["columns"], "_k", {"kind": "key", "values": "_v"})
    for lang, text in (("de", "ja-Wert"), ("en", "yes value")):
        monkeypatch.setitem(i18n.catalogue(lang), "_v_x", text)
    _, rows, align = cells(display.table_html(pd.DataFrame({"_k": ["x", "unknown"]}), "en"))
    assert rows == [["yes value"], ["unknown"]] and align == ["text"]


def test_a_meaningful_index_becomes_a_column():
    df = pd.DataFrame({"customers": [3]}, index=pd.Index(["A"], name="table"))
    head, rows, _ = cells(display.table_html(df, "de"))
    assert head == ["Tabelle", "Kunden"] and rows == [["A", "3"]]


def test_long_tables_are_cut_with_a_note_linking_the_csv():
    df = pd.DataFrame({"customers": range(40)})
    df.attrs.update(bestand_csv="tables/x.csv", bestand_rows=40)
    html = display.table_html(df.head(10), "de", max_rows=5)
    _, rows, _ = cells(html)
    assert len(rows) == 5
    assert "5 von 40 Zeilen gezeigt." in html and '<a href="tables/x.csv">' in html


def test_preformatted_numbers_align_right_and_stay():
    _, rows, align = cells(display.table_html(pd.DataFrame({"x_text": ["1.234 €", "12,3 %"]}), "de"))
    assert rows == [["1.234 €"], ["12,3 %"]] and align == ["num"]


@pytest.mark.parametrize("p,de,en", [(0.0004, "< 0,001", "< 0.001"), (0.0123, "0,012", "0.012"), (None, "–", "–")])
def test_pvalues(p, de, en):
    assert display.fmt_pvalue(p, "de") == de and display.fmt_pvalue(p, "en") == en


def test_every_column_has_a_known_kind_a_doc_and_headers_in_both_languages():
    for name, spec in display.dictionary()["columns"].items():
        assert spec["kind"] in display.KINDS, name
        assert str(spec.get("doc", "")).strip(), f"{name} has no doc"
        for lang in ("de", "en"):
            assert i18n.has(name, lang), f"{name}: no header in the {lang} catalogue"
        if spec.get("values"):
            assert any(k.startswith(spec["values"] + "_") for k in i18n.catalogue("de")), name


def test_documented_tables_list_documented_columns():
    d = display.dictionary()
    for table, spec in d["tables"].items():
        assert spec.get("doc"), table
        missing = [c for c in spec["columns"] if c not in d["columns"]]
        assert missing == [], f"{table}: {missing}"


def test_docs_tables_md_is_current():
    path = Path(__file__).resolve().parents[1] / "docs" / "tables.md"
    assert path.read_text(encoding="utf-8") == display.tables_doc(), \
        "regenerate: .venv/bin/python -m bestandlib.display > docs/tables.md"
