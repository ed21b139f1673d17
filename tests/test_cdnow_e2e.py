"""A real public order log end to end: the CDNOW purchases shipped in ``lifetimes``, as a company's first
export would look (two tables, 18 months, no margins, no products, no master data, amounts in USD).

The report renders in German and English; history, ABC, phases, the churn risk and the purchase model
(BG/NBD) are there, and the sections that need potentials, contacts and surveys say why they are absent.
"""
from __future__ import annotations

import json
import re

import pytest

from bestandlib import importers, pipeline
from bestandlib.cli import main

pytest.importorskip("lifetimes")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory):
    return importers.cdnow(tmp_path_factory.mktemp("cdnow") / "data")


@pytest.fixture(scope="module")
def reports(cdnow, tmp_path_factory):
    root = tmp_path_factory.mktemp("reports")
    out = {}
    for lang in ("de", "en"):  # the second language reuses the validated tables and the panel
        out[lang] = pipeline.run_report(quarter="1998Q2", data_dir=cdnow["out_dir"],
                                        reports_root=root / lang, config=str(cdnow["config"]),
                                        lang=lang, log=lambda m: None)
    return out


def _text(path):
    html = path.read_text(encoding="utf-8")
    html = re.sub(r"<style.*?</style>|<script.*?</script>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_validate_passes_and_prints_the_readiness_table(cdnow, capsys):
    assert main(["validate", str(cdnow["out_dir"])]) == 0
    out = capsys.readouterr().out
    assert "Readiness at 1998Q2 (6 quarters of history" in out
    assert re.search(r"potentials\s+no\s+–\s+Four-field matrix", out), out
    assert "Tested churn model" in out and "needs at least 13 quarters of history, the data have 6" in out
    assert "Purchase model" not in out.split("Sections not available:")[1]  # the BTYD model runs


@pytest.mark.parametrize("lang", ["de", "en"])
def test_report_has_history_abc_phases_churn_and_btyd(reports, lang):
    final = reports[lang]
    run = json.loads((final / "run.json").read_text(encoding="utf-8"))
    sections = {s["section"]: s for s in run["sections"]}
    for available in ("churn.btyd",):
        assert sections[available]["available"], sections[available]
    for missing, reason in [("value.matrix", "needs potentials.csv"),
                            ("phases.habituation", "needs contacts.csv"),
                            ("voice.surveys", "needs surveys.csv"),
                            ("churn.model", "needs at least 13 quarters of history, the data have 6")]:
        assert not sections[missing]["available"] and reason in sections[missing]["reasons"], sections[missing]
    history = _text(final / "01_customer_history.html")
    assert ("ABC-Analyse" if lang == "de" else "ABC analysis") in history
    phases = _text(final / "04_relationship_phases.html")
    assert ("Nicht verfügbar: braucht contacts.csv" if lang == "de" else "Not available: needs contacts.csv") in phases
    churn = _text(final / "05_churn_risk.html")
    assert "BG/NBD" in churn and "P(" in churn
    value = _text(final / "02_customer_value.html")
    assert ("Nicht verfügbar: braucht potentials.csv" if lang == "de" else "Not available: needs potentials.csv") in value
    voice = _text(final / "07_voice_and_loyalty.html")
    assert ("braucht surveys.csv" if lang == "de" else "needs surveys.csv") in voice
    # every active customer has a risk from the purchase model, in dollars
    risk = (final / "tables" / "churn_risk.csv").read_text(encoding="utf-8").splitlines()
    assert risk[0].startswith("customer_id,") and "risk_source" in risk[0]
    assert len(risk) - 1 == 8332  # customers with a purchase in the four quarters up to 1998Q2
    index = _text(final / "index.html")
    assert ("Datenlage" if lang == "de" else "Data coverage") in index
    assert ("$" in index) and ("€" not in index)
