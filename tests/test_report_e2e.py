"""End to end: the real notebooks render a small world's quarter; the pages are checked as text and in
a real headless browser (rendered headings, no console errors, no network requests)."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from bestandlib import pipeline
from tests import chromium
from tests.test_pipeline import external_references

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report_de(small_world, tmp_path_factory):
    root = tmp_path_factory.mktemp("reports")
    final = pipeline.run_report(quarter="2025Q4", data_dir=small_world, reports_root=root, lang="de",
                                log=lambda m: None)
    return final


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


def test_index_renders_in_headless_chromium(report_de, tmp_path):
    shot = tmp_path / "index.png"
    visit = chromium.visit(report_de / "index.html", screenshot=shot)
    assert "<h1>Bestandskundenmanagement 2025Q4</h1>" in visit.dom
    for heading in ["Hinweise zu den Daten", "Tabellen (CSV)", "Laufinformationen"]:
        assert f"<h2>{heading}</h2>" in visit.dom, heading
    assert chromium.network_requests(visit) == []
    errors = [c for c in visit.console if "error" in c.lower()]
    assert errors == []
    assert visit.screenshot is not None and visit.screenshot.stat().st_size > 10_000
    artifacts = os.environ.get("BESTAND_TEST_ARTIFACTS")
    if artifacts:
        shutil.copy(shot, os.path.join(artifacts, "index_de.png"))
    print(f"screenshot of the rendered index: {shot}")


def test_analysis_pages_render_without_network(report_de):
    for nb in pipeline.discover_notebooks():
        visit = chromium.visit(report_de / (nb.stem + ".html"))
        assert chromium.network_requests(visit) == [], nb.name
        assert 'class="bestand-nav"' in visit.dom
