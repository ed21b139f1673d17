"""The demo report read like a sales director reads it: every page in both languages is scanned for text
of the other language, snake_case headers and numbers that were never formatted."""
from __future__ import annotations

import dataclasses
import re

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from bestandlib import briefing, i18n, paths, pipeline
from tests import chromium

pytestmark = pytest.mark.slow

# Words that mark a sentence as German or English (frequent, and never the same in the other language).
MARKERS = {
    "de": {"und", "der", "die", "das", "nicht", "mit", "von", "sind", "ist", "ein", "eine", "einer", "werden",
           "für", "im", "auf", "oder", "kein", "keine", "je", "zu", "den", "dem", "des", "wird", "nach", "aus",
           "kunden", "umsatz", "quartal", "quartale", "gegenüber", "bisher", "noch", "weil", "wenn"},
    "en": {"the", "and", "of", "with", "are", "is", "not", "for", "from", "which", "per", "than", "by", "a",
           "an", "their", "customers", "revenue", "quarter", "quarters", "no", "or", "to", "when", "where"},
}
WORD = re.compile(r"[A-Za-zÄÖÜäöüß]+")
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
NUMERIC = re.compile(r"^[−+\-]?[\d.,]+$")


def other(lang: str) -> str:
    return "en" if lang == "de" else "de"


def language_leak(text: str, lang: str) -> bool:
    """Whether ``text`` reads as the other language: at least two distinct marker words of it and more
    of them than of the page's language."""
    words = [w.lower() for w in WORD.findall(text)]
    mine = {w for w in words if w in MARKERS[lang]} - MARKERS[other(lang)]
    theirs = {w for w in words if w in MARKERS[other(lang)]} - MARKERS[lang]
    return len(theirs) >= 2 and len(theirs) > len(mine)


def unformatted(cell: str, lang: str) -> bool:
    """A number as Python prints it rather than as the page's locale writes it."""
    s = cell.strip().replace("\u202f", "").replace("\u00a0", "")
    if not NUMERIC.match(s):
        return False
    digits = s.lstrip("−+-")
    if re.fullmatch(r"\d{2}\.\d{2}\.\d{4}", digits):  # a German date (01.01.2020)
        return False
    if re.fullmatch(r"\d{5,}", digits):  # 12345 without a thousands separator
        return True
    thousands, decimal = (".", ",") if lang == "de" else (",", ".")
    if re.fullmatch(rf"\d{{1,3}}(\{thousands}\d{{3}})+(\{decimal}\d+)?", digits):
        return False
    if thousands in digits:  # "0.382" on a German page, "0,38" on an English one
        return True
    return bool(re.search(rf"\{decimal}\d{{4,}}$", digits))  # 0,382406


@pytest.fixture(scope="module")
def demo_reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_reports")
    out = {}
    for lang in ("de", "en"):
        out[lang] = pipeline.run_report(data_dir=paths.DEMO_DIR, reports_root=root / lang, lang=lang,
                                        log=lambda m: None)
    return out


def pages(folder):
    return sorted(folder.glob("*.html"))


def texts(soup, *tags):
    for tag in soup.find_all(tags):
        text = " ".join(tag.get_text(" ").split())
        if text:
            yield tag.name, text


@pytest.mark.parametrize("lang", ["de", "en"])
def test_every_page_speaks_one_language(demo_reports, lang):
    leaks = []
    foreign = {v for k, v in i18n.catalogue(other(lang)).items()
               if isinstance(v, str) and v != i18n.catalogue(lang).get(k) and len(v) > 3}
    for page in pages(demo_reports[lang]):
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        for name, text in texts(soup, "h1", "h2", "h3", "h4", "p", "li", "th", "pre", "dt", "dd", "caption"):
            if language_leak(text, lang) or (name == "th" and text in foreign):
                leaks.append(f"{page.name} <{name}> {text[:120]}")
    assert leaks == [], "\n".join(leaks[:40]) + f"\n({len(leaks)} in all)"


@pytest.mark.parametrize("lang", ["de", "en"])
def test_every_table_is_labelled_and_formatted(demo_reports, lang):
    problems = []
    for page in pages(demo_reports[lang]):
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        for table in soup.find_all("table"):
            for th in table.find_all("th"):
                text = th.get_text(" ").strip()
                if SNAKE.match(text):
                    problems.append(f"{page.name}: header {text}")
            for td in table.find_all("td"):
                text = td.get_text(" ").strip()
                if unformatted(text, lang):
                    problems.append(f"{page.name}: cell {text}")
    assert problems == [], "\n".join(problems[:40]) + f"\n({len(problems)} in all)"


def test_the_scanner_finds_what_it_looks_for():
    assert language_leak("Verlorene Kunden sind ausgeblendet; die Balken zeigen die Anteile.", "en")
    assert language_leak("How stable is the top 50 when each weight moves?", "de")
    assert not language_leak("Kunden je Quadrant und Phase", "de")
    assert not language_leak("ROC AUC 0,67", "en")
    assert unformatted("193006.43", "de") and unformatted("0.382406", "de") and unformatted("3.0", "de")
    assert unformatted("11698.931718", "en") and unformatted("0,38", "en") and unformatted("193006", "en")
    assert not unformatted("1.234", "de") and not unformatted("0,38", "de") and not unformatted("12,3 %", "de")
    assert not unformatted("01.01.2020", "de")
    assert not unformatted("1,234.5", "en") and not unformatted("2025", "de") and not unformatted("K00123", "de")


# --- the account manager's briefings (bestandlib.briefing), rendered with the same demo reports ----

@pytest.fixture(scope="module")
def briefings(demo_reports):
    """The briefing pages of the demo reports (the pipeline renders them after the notebooks)."""
    import json

    from bestandlib import briefing, session

    out = {}
    for lang in LANGS:
        report = demo_reports[lang]
        s = session.open(report.name, data_dir=paths.DEMO_DIR, lang=lang, pseudonymize=False)
        folder = report / briefing.FOLDER
        pages = sorted(p for p in folder.glob("*.html") if p.name != "index.html") + [folder / "index.html"]
        steps = {st["step"]: st["seconds"] for st in json.loads((report / "run.json").read_text())["steps"]}
        out[lang] = {"report": report, "pages": pages, "seconds": steps.get("briefings"), "session": s}
    return out


LANGS = ("de", "en")


def _expected_ids(report) -> set[str]:
    actions = pd.read_csv(report / "tables" / "actions.csv", dtype={"customer_id": str})
    value = pd.read_csv(report / "tables" / "customer_value.csv", dtype={"customer_id": str})
    # automated measures (0 attention units, e.g. the newsletter) need no briefing
    briefed = (actions["status"] == "planned") & (actions["attention_units"] > 0)
    return set(actions.loc[briefed, "customer_id"]) | set(
        value.loc[value["quadrant_key"] == "top", "customer_id"])


def _customer_pages(b) -> list:
    return [p for p in b["pages"] if p.name != "index.html"]


@pytest.mark.parametrize("lang", LANGS)
def test_one_page_per_planned_customer_and_topkunde(briefings, lang):
    b = briefings[lang]
    expected = {briefing.page_name(c) for c in _expected_ids(b["report"])}
    folder = b["report"] / briefing.FOLDER
    on_disk = {p.name for p in folder.glob("*.html")} - {"index.html"}
    assert expected and on_disk == expected
    assert {p.name for p in _customer_pages(b)} == expected
    assert b["pages"][-1] == folder / "index.html"
    print(f"\n{lang}: {len(expected)} briefing pages in {b['seconds']:.1f} s")


@pytest.mark.parametrize("lang", LANGS)
def test_index_lists_every_page_per_manager_in_priority_order(briefings, lang):
    b = briefings[lang]
    folder = b["report"] / briefing.FOLDER
    soup = BeautifulSoup((folder / "index.html").read_text(encoding="utf-8"), "html.parser")
    links = [a["href"] for sec in soup.select("section.bf-manager") for a in sec.select("td a")]
    assert sorted(links) == sorted(p.name for p in _customer_pages(b))
    assert all((folder / href).exists() for href in links)
    # within a manager's section: planned measures by the manager's rank, then the other Topkunden
    actions = pd.read_csv(b["report"] / "tables" / "actions.csv", dtype={"customer_id": str})
    planned = actions[(actions["status"] == "planned") & (actions["attention_units"] > 0)].set_index("customer_id")
    for sec in soup.select("section.bf-manager"):
        ids = [a["href"][:-len(".html")] for a in sec.select("td a")]
        ranks = [planned.loc[c, "manager_rank"] for c in ids if c in planned.index]
        assert ranks == sorted(ranks)
        n_planned = len(ranks)
        assert all(c in planned.index for c in ids[:n_planned])


@pytest.mark.parametrize("lang", LANGS)
def test_pages_speak_one_language(briefings, lang):
    b = briefings[lang]
    foreign = {v for k, v in i18n.catalogue(other(lang)).items()
               if isinstance(v, str) and v != i18n.catalogue(lang).get(k) and len(v) > 3}
    leaks = []
    for page in b["pages"]:
        html_text = page.read_text(encoding="utf-8")
        assert "brief_" not in html_text, f"{page.name}: a catalogue key without text"
        soup = BeautifulSoup(html_text, "html.parser")
        # survey answers are the customer's own words (in <blockquote>), not page text
        for name, text in texts(soup, "h1", "h2", "h3", "p", "li", "th", "td", "dt", "dd", "caption", "span"):
            if language_leak(text, lang) or (name in ("th", "h2", "h3") and text in foreign):
                leaks.append(f"{page.name} <{name}> {text[:120]}")
    assert leaks == [], "\n".join(leaks[:40]) + f"\n({len(leaks)} in all)"


@pytest.mark.parametrize("lang", LANGS)
def test_page_fits_one_a4_page_and_opens_offline(briefings, lang, tmp_path):
    chromium.require_chromium()
    b = briefings[lang]
    # the page with the most to say (largest file): quotes, reasons, many phase changes
    page = max(_customer_pages(b), key=lambda p: p.stat().st_size)
    pdf = chromium.print_pdf(page, tmp_path / f"{lang}.pdf")
    assert chromium.pdf_pages(pdf) == 1, f"{page.name} prints on {chromium.pdf_pages(pdf)} pages"
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf.read_bytes())
    assert box and abs(float(box.group(1)) - 595.3) < 2 and abs(float(box.group(2)) - 841.9) < 2  # A4
    visit = chromium.visit(page)
    assert chromium.network_requests(visit) == []
    assert "<svg" in visit.dom


def test_last_measure_from_actions_log(briefings, tmp_path):
    """With an actions_log the page names the last measure done and its outcome; hold-outs never count."""
    b = briefings["de"]
    s = b["session"]
    cid = _customer_pages(b)[0].name[:-len(".html")]
    log = pd.DataFrame({"customer_id": [cid, cid, cid], "action": ["check_in_call", "service_review", "executive_visit"],
                        "planned_on": pd.to_datetime(["2025-01-10", "2025-04-01", "2025-07-01"]),
                        "done_on": pd.to_datetime(["2025-02-01", "2025-05-02", None]),
                        "owner": ["Anna", "Ben", "Cem"], "holdout": [0, 0, 0],
                        "outcome": ["kept", "Auftrag erhalten", None], "notes": [None, "Neue Ansprechpartnerin", None]})
    tables = dataclasses.replace(s.all_tables, actions_log=log)
    out = tmp_path / "report"
    (out / "tables").mkdir(parents=True)
    for f in (b["report"] / "tables").glob("*.csv"):
        (out / "tables" / f.name).write_bytes(f.read_bytes())
    briefing.render_briefings(out, tables=tables, panel=s.panel, quarter=s.quarter, config=s.config, lang="de")
    page = (out / briefing.FOLDER / f"{cid}.html").read_text(encoding="utf-8")
    assert "Service-Review" in page and "Auftrag erhalten" in page and "Neue Ansprechpartnerin" in page
    assert i18n.t("brief_no_log", "de") not in page


def test_pages_of_a_quarter_without_customers_to_brief(tmp_path, briefings):
    """No planned measure and no Topkunde: only the index, which says so."""
    s = briefings["en"]["session"]
    (tmp_path / "tables").mkdir()
    written = briefing.render_briefings(tmp_path, tables=s.all_tables, panel=s.panel, quarter=s.quarter,
                                        config=s.config, lang="en")
    assert [p.name for p in written] == ["index.html"]
    assert i18n.t("brief_index_none", "en") in written[0].read_text(encoding="utf-8")
