"""End to end: the real notebooks render a small world's quarter; the pages are checked as text and in
a real headless browser (rendered headings, no console errors, no network requests)."""
from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from bestandlib import pipeline
from tests import chromium
from tests.test_pipeline import external_references

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reports_root(small_world, tmp_path_factory):
    """Two quarters of the small world: 2025Q3 in English, then 2025Q4 in German.

    The English run leaves the order lines to the engine (``data.engine_min_order_lines: 0``, as for a
    log of 100 million lines), so every notebook also runs without order lines in pandas.
    """
    root = tmp_path_factory.mktemp("reports")
    engine_config = tmp_path_factory.mktemp("config") / "engine.yml"
    engine_config.write_text("data:\n  engine_min_order_lines: 0\n", encoding="utf-8")
    pipeline.run_report(quarter="2025Q3", data_dir=small_world, reports_root=root, lang="en",
                        config=str(engine_config), log=lambda m: None)
    pipeline.run_report(quarter="2025Q4", data_dir=small_world, reports_root=root, lang="de",
                        log=lambda m: None)
    return root


@pytest.fixture(scope="module")
def report_de(reports_root):
    return reports_root / "2025Q4"


@pytest.fixture(scope="module")
def report_en(reports_root):
    return reports_root / "2025Q3"


SECTIONS = {
    "de": ["Management-Zusammenfassung", "Hinweise zu den Daten", "Methodik", "Tabellen (CSV)",
           "Laufinformationen"],
    "en": ["Executive summary", "Notes on the data", "Method", "Tables (CSV)", "Run information"],
}


def test_every_notebook_has_a_page_and_the_index_links_it(report_de):
    index = (report_de / "index.html").read_text()
    for nb in pipeline.discover_notebooks():
        page = report_de / (nb.stem + ".html")
        assert page.is_file(), page.name
        assert f'href="{page.name}"' in index
        assert external_references(page.read_text()) == [], page.name
    assert external_references(index) == []
    run = json.loads((report_de / "run.json").read_text())
    assert len(run["notebooks"]) == len(pipeline.discover_notebooks())


def test_customer_level_tables_are_written(report_de):
    tables = sorted(p.name for p in (report_de / "tables").glob("*.csv"))
    assert tables, "no tables written"
    for p in (report_de / "tables").glob("*.csv"):
        header = p.read_text().splitlines()[0]
        assert header, p.name


@pytest.mark.parametrize("lang", ["de", "en"])
def test_index_renders_in_headless_chromium(reports_root, lang, tmp_path):
    quarter = "2025Q4" if lang == "de" else "2025Q3"
    title = "Bestandskundenmanagement" if lang == "de" else "Existing-customer management"
    shot = tmp_path / f"index_{lang}.png"
    visit = chromium.visit(reports_root / quarter / "index.html", screenshot=shot)
    assert f"<h1>{title} {quarter}</h1>" in visit.dom
    for heading in SECTIONS[lang]:
        assert f"<h2>{heading}</h2>" in visit.dom, heading
    assert chromium.network_requests(visit) == []
    errors = [c for c in visit.console if "error" in c.lower()]
    assert errors == []
    assert visit.screenshot is not None and visit.screenshot.stat().st_size > 10_000
    artifacts = os.environ.get("BESTAND_TEST_ARTIFACTS")
    if artifacts:
        shutil.copy(shot, os.path.join(artifacts, shot.name))
    print(f"screenshot of the rendered index: {shot}")


def test_run_records_rows_and_who_read_them(report_de, report_en):
    rows = {r["table"]: r for r in json.loads((report_en / "run.json").read_text())["rows"]}
    assert rows["orders"]["read_by"] == "duckdb" and rows["customers"]["read_by"] == "pandas"
    assert rows["orders"]["rows_read"] == rows["orders"]["rows_excluded"] + rows["orders"]["rows_used"]
    german = {r["table"]: r for r in json.loads((report_de / "run.json").read_text())["rows"]}
    assert german["orders"]["read_by"] == "pandas"
    assert german["orders"]["rows_used"] == rows["orders"]["rows_used"] > 0


def test_numbers_are_formatted_for_the_language(report_de, report_en):
    de = (report_de / "index.html").read_text()
    en = (report_en / "index.html").read_text()
    assert re.search(r"\d{1,3}(\.\d{3})+(\xa0|&nbsp;| )€", de), "German amounts look like 1.234 €"
    assert re.search(r"€\d{1,3}(,\d{3})+", en), "English amounts look like €1,234"


def test_quarters_link_to_each_other(reports_root, report_de, report_en):
    assert 'href="../2025Q3/index.html"' in (report_de / "index.html").read_text()
    listing = (reports_root / "index.html").read_text()
    assert "2025Q4/index.html" in listing and "2025Q3/index.html" in listing


def test_english_pages_carry_english_headings(report_en):
    page = (report_en / "01_customer_history.html").read_text()
    assert "Customer history" in page and "Kundenhistorie |" not in page


def test_analysis_pages_render_without_network(report_de):
    for nb in pipeline.discover_notebooks():
        visit = chromium.visit(report_de / (nb.stem + ".html"))
        assert chromium.network_requests(visit) == [], nb.name
        assert 'class="bestand-nav"' in visit.dom


def test_the_browser_check_does_see_external_requests(tmp_path):
    # guards the checks above: a page that loads from the network must be caught
    page = tmp_path / "external.html"
    page.write_text('<html><body><h1>x</h1><img src="http://example.com/x.png">'
                    '<script src="https://cdn.example.org/a.js"></script></body></html>')
    visit = chromium.visit(page)
    assert chromium.network_requests(visit) == ["http://example.com/x.png", "https://cdn.example.org/a.js"]


def test_index_prints_to_pdf(report_de, tmp_path):
    pdf = chromium.print_pdf(report_de / "index.html", tmp_path / "index.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert chromium.pdf_pages(pdf) >= 2  # the whole page, not a cut-off first screen
