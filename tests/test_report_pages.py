"""The demo report read like a sales director reads it: every page in both languages is scanned for text
of the other language, snake_case headers and numbers that were never formatted."""
from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup

from bestandlib import i18n, paths, pipeline

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
