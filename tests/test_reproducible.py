"""Two runs on the same inputs and config give byte-identical tables and identical figures; the pages
differ only in the run's timestamp and timings."""
from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from bestandlib import pipeline
from tests.conftest import write_notebook

CORPUS = Path(__file__).parent / "bad_inputs"
DATA = CORPUS / "extra_columns" / "data"

PLOT_CELL = """from bestandlib import session
import matplotlib.pyplot as plt
s = session.open(quarter=quarter, data_dir=data_dir, config=config, lang=lang, output_dir=output_dir)
t = s.panel.groupby("quarter", as_index=False)[["revenue", "margin"]].sum()
s.save_table(t, "revenue")
s.save_table(s.tables.customers.merge(s.panel.groupby("customer_id", as_index=False)["revenue"].sum()),
             "customers")
fig, ax = plt.subplots()
ax.bar(t["quarter"], t["revenue"])
ax.set_title("Umsatz je Quartal")
s.highlight("Umsatz", "Umsatz je Quartal", figure=fig)
plt.show()
"""


def _notebook(path: Path) -> Path:
    return write_notebook(path, "Umsatz", PLOT_CELL)


IMAGES = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=\s]+)")
# What may differ between two runs: the time of the run and how long it took.
VOLATILE = [
    re.compile(r"\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?([+-]\d{2}:\d{2})?"),
    re.compile(r"\d+[.,]\d+\s?s\b"),
    re.compile(r"<td( class=\"num\")?>\d+[.,]\d+</td>"),  # the seconds per notebook in the run table
]


def _normalise(html: str) -> str:
    html = IMAGES.sub("IMG", html)
    for pattern in VOLATILE:
        html = pattern.sub("<volatile>", html)
    return html


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("repro")
    nb = _notebook(base / "01_umsatz.ipynb")
    out = []
    for i in (1, 2):
        final = pipeline.run_report(quarter="2025Q1", data_dir=DATA, reports_root=base / f"reports{i}",
                                    notebooks=[nb], log=lambda m: None)
        out.append(final)
    return out


def test_tables_are_byte_identical(two_runs):
    a, b = two_runs
    names = sorted(p.name for p in (a / "tables").glob("*.csv"))
    assert names == ["customers.csv", "revenue.csv"]
    for name in names:
        assert (a / "tables" / name).read_bytes() == (b / "tables" / name).read_bytes(), name


def test_figures_are_identical(two_runs):
    a, b = two_runs
    for page in ("index.html", "01_umsatz.html"):
        imgs_a = [re.sub(r"\s", "", m) for m in IMAGES.findall((a / page).read_text(encoding="utf-8"))]
        imgs_b = [re.sub(r"\s", "", m) for m in IMAGES.findall((b / page).read_text(encoding="utf-8"))]
        assert imgs_a and imgs_a == imgs_b, page
        for img in imgs_a:  # matplotlib's PNGs carry no version or time stamp
            raw = base64.b64decode(img)
            assert b"Software" not in raw and b"tIME" not in raw


def test_pages_differ_only_in_timestamp_and_timings(two_runs):
    a, b = two_runs
    for page in ("index.html", "01_umsatz.html"):
        ta, tb = (a / page).read_text(encoding="utf-8"), (b / page).read_text(encoding="utf-8")
        assert _normalise(ta) == _normalise(tb), page
