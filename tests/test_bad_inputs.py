"""The bad-input corpus (tests/bad_inputs/<case>/expected.yml): every case through the real CLI.

Invalid data must give the documented exit code, no traceback, and for each expected problem one
output line naming file, line, column and message. Valid-but-unusual data must validate (exit 0) and,
where the case says ``report: true``, render a report (with the tiny fixture notebook, to stay fast)
whose data notes state the limitation.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from bestandlib.cli import main
from tests.conftest import FIXTURES
from tests.conftest import write_notebook

CORPUS = Path(__file__).parent / "bad_inputs"
CASES = sorted(p.parent for p in CORPUS.glob("*/expected.yml"))
OK_NOTEBOOKS = sorted((FIXTURES / "notebooks_ok").glob("*.ipynb"))


def _expected(case: Path) -> dict:
    return yaml.safe_load((case / "expected.yml").read_text(encoding="utf-8"))


def test_corpus_has_at_least_30_cases_of_both_kinds():
    kinds = [bool(_expected(c).get("valid")) for c in CASES]
    assert len(CASES) >= 30
    assert kinds.count(False) >= 25 and kinds.count(True) >= 7


def _argv(case: Path, exp: dict, out: Path) -> list[str]:
    data = str(case / exp["data_dir"]) if exp.get("data_dir") else str(case / "data")
    if exp.get("command") == "report":
        argv = ["report", "--data", data, "--out", str(out), "--quarter", exp.get("quarter", "2025Q1")]
    else:
        argv = ["validate", data, "--max-rows", "200"]
    if exp.get("config"):
        argv += ["--config", str(case / exp["config"])]
    return argv


def _line_matches(text: str, problem: dict) -> bool:
    """One printed problem row carries file, line number, column and the message fragment."""
    for row in text.splitlines():
        if problem["file"] not in row or problem["message"] not in row:
            continue
        tokens = row.split()
        if problem.get("line") is not None and str(problem["line"]) not in tokens:
            continue
        if problem.get("column") and not re.search(rf"(^|\s){re.escape(problem['column'])}(\s|$)", row):
            continue
        return True
    return False


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_case(case, tmp_path, capsys, monkeypatch):
    exp = _expected(case)
    monkeypatch.chdir(tmp_path)  # a relative data_dir such as "does-not-exist" must stay missing
    code = main(_argv(case, exp, tmp_path / "reports"))
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text
    if exp.get("valid"):
        assert code == 0, text
        if exp.get("limitation") and not exp.get("report"):  # a warning of the loader
            assert exp["limitation"] in text, text
    else:
        assert code == exp["exit"], text
        for problem in exp.get("problems") or []:
            assert _line_matches(text, problem), f"{problem} not found in:\n{text}"
        if code == 3:  # the closing line tells what to do
            assert "error(s)" in text
    for fragment in exp.get("output") or []:
        if exp.get("valid") and exp.get("report"):
            continue  # checked on the loaded tables below
        assert fragment in text, text


REPORT_CASES = [c for c in CASES if _expected(c).get("valid") and _expected(c).get("report")]


@pytest.fixture(scope="module")
def quick_notebook(tmp_path_factory):
    """A notebook with the standard parameters and one trivial cell: a kernel start (~2 s) instead of
    the fixture notebook's imports, so every valid case can run through the pipeline quickly."""
    return write_notebook(tmp_path_factory.mktemp("nb") / "01_check.ipynb", "Check", "quarter")


def _render(case: Path, root: Path, notebooks) -> tuple[Path, str]:
    from bestandlib import pipeline

    final = pipeline.run_report(quarter="2025Q1", data_dir=case / "data", reports_root=root,
                                notebooks=notebooks, log=lambda m: None)
    index = (final / "index.html").read_text(encoding="utf-8")
    notes = re.search(r'<section[^>]*id="data-notes".*?</section>', index, re.S)
    assert notes, "the index page has no data-notes section"
    coverage = re.search(r'<section[^>]*id="data-coverage".*?</section>', index, re.S)
    assert coverage, "the index page has no data-coverage section"
    return final, coverage.group(0) + notes.group(0)


@pytest.mark.parametrize("case", REPORT_CASES, ids=lambda p: p.name)
def test_valid_case_renders_a_report_stating_the_limitation(case, tmp_path, quick_notebook):
    exp = _expected(case)
    final, notes = _render(case, tmp_path / "reports", [quick_notebook])
    assert exp.get("limitation", "") in notes, notes
    assert (final / "01_check.html").is_file() and (final / "run.json").is_file()
    if exp.get("output"):  # e.g. the umlauts of a cp1252 export survive loading
        from bestandlib.io import load_tables

        names = " ".join(load_tables(case / "data").customers["name"])
        assert all(fragment in names for fragment in exp["output"])


@pytest.mark.slow
@pytest.mark.parametrize("case", REPORT_CASES, ids=lambda p: p.name)
def test_valid_case_through_the_fixture_notebook(case, tmp_path):
    exp = _expected(case)
    final, notes = _render(case, tmp_path / "reports", OK_NOTEBOOKS)
    assert exp.get("limitation", "") in notes, notes
    assert (final / "tables" / "fixture.csv").read_text().splitlines()[-1].startswith("2025Q1,")


@pytest.mark.slow
def test_unusual_data_through_the_real_notebooks(tmp_path):
    """One business unit, a single-order customer and a zero potential at once, real analyses."""
    from bestandlib import pipeline

    data = tmp_path / "data"
    shutil.copytree(CORPUS / "one_business_unit" / "data", data)
    for name in ("orders.csv", "customers.csv"):
        shutil.copy(CORPUS / "single_order_customer" / "data" / name, data / name)
    text = (data / "customers.csv").read_text(encoding="utf-8").replace("Bandagen", "Orthesen")
    (data / "customers.csv").write_text(text, encoding="utf-8")
    shutil.copy(CORPUS / "zero_potential" / "data" / "potentials.csv", data / "potentials.csv")
    final = pipeline.run_report(quarter="2025Q1", data_dir=data, reports_root=tmp_path / "reports",
                                log=lambda m: None)
    index = (final / "index.html").read_text(encoding="utf-8")
    for fragment in ("nur einer Bestellung", "Geschäftsbereich Orthesen", "Potenzial von 0"):
        assert fragment in index


@pytest.mark.parametrize("case", [CORPUS / "revenue_na"], ids=lambda p: p.name)
def test_debug_shows_the_traceback(case):
    with pytest.raises(Exception) as info:
        main(["--debug", "report", "--data", str(case / "data"), "--out", "/nonexistent-never-written"])
    assert type(info.value).__name__ == "DataValidationError"
