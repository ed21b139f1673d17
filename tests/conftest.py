"""Shared fixtures: small generated worlds (fast), and the full demo world where it matters."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Keep the test suite's validated-table caches out of the project's data/interim (set before the
# package is imported; notebook kernels started by the tests inherit it).
os.environ.setdefault("BESTAND_CACHE", tempfile.mkdtemp(prefix="bestand-test-cache-"))
os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

PROJ_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


PARAMETERS = ('quarter = None\ndata_dir = "../data/raw/demo"\nconfig = None\n'
              'lang = "de"\noutput_dir = None')


def write_notebook(path: Path, title: str, *code_cells: str) -> Path:
    """A small analysis notebook for pipeline tests: a heading, the standard parameters cell (tagged
    ``parameters``) and ``code_cells``."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}"), params,
                *(nbformat.v4.new_code_cell(src) for src in code_cells)]
    nbformat.write(nb, str(path))
    return Path(path)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(autouse=True)
def _default_currency():
    """The currency is set per process from the run's config (a report in USD sets it in the test
    process): every test starts and ends with the default."""
    from bestandlib import i18n

    i18n.set_currency("EUR")
    yield
    i18n.set_currency("EUR")


@pytest.fixture(scope="session")
def small_world(tmp_path_factory) -> Path:
    """A generated world of 150 customers (data folder; its truth lies beside it)."""
    from bestandlib.demo import generate_demo

    out = tmp_path_factory.mktemp("world") / "small"
    generate_demo(out, customers=150, seed=11)
    return out
