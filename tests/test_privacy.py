"""Privacy: pseudonymous reports (keyed, stable pseudonyms; action lists keep real names), notebooks
stripped of outputs, customer data and reports ignored by git."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from bestandlib import pipeline, privacy, session
from bestandlib.cli import main
from bestandlib.errors import ConfigError
from tests.conftest import write_notebook

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).parent / "bad_inputs"
DATA = CORPUS / "cp1252_umlauts" / "data"
KEY = "a-test-key-of-32-characters-0123"
REAL = ["Sanitätshaus Krause GmbH", "Klinikum Bonn-Süd", "Orthopädie Weiß", "Reha-Zentrum Nord",
        "Praxis Dr. Öztürk"]

NAMES_CELL = """from bestandlib import session
s = session.open(quarter=quarter, data_dir=data_dir, config=config, lang=lang, output_dir=output_dir)
names = s.tables.customers[["customer_id", "name", "account_manager"]]
s.save_table(names, "customers")
s.highlight("Kunden", table=names)
import pathlib
acts = s.real_names(names)  # per-manager lists keep real names
(pathlib.Path(output_dir) / "actions").mkdir(exist_ok=True)
acts.to_csv(pathlib.Path(output_dir) / "actions" / "stefan_kuepper.csv", index=False)
names
"""


def names_notebook(path: Path) -> Path:
    return write_notebook(path, "Kunden", NAMES_CELL)


# --- pseudonyms ---------------------------------------------------------------------------------

def test_pseudonym_is_stable_keyed_and_readable():
    k = KEY.encode()
    p = privacy.pseudonym("K001", k)
    assert re.fullmatch(r"Kunde [0-9A-F]{6}", p)
    assert p == privacy.pseudonym("K001", k)  # stable
    assert p != privacy.pseudonym("K002", k)
    assert p != privacy.pseudonym("K001", b"another-key-of-enough-length")  # keyed
    assert privacy.pseudonym("K001", k, lang="en").startswith("Customer ")


def test_colliding_pseudonyms_get_longer_and_stay_unique():
    ids = [f"K{i:05d}" for i in range(300)]
    out = privacy.pseudonyms(ids, KEY.encode(), digits=1)  # 16 values for 300 customers: collisions
    assert out.is_unique and len(out) == 300
    assert out.str.len().max() > len("Kunde ") + 1


def test_key_from_environment_wins_and_a_missing_or_short_key_is_refused(monkeypatch):
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match="BESTAND_PSEUDONYM_KEY"):
        privacy.pseudonym_key(None)
    cfg_key = "config-key-with-more-than-16"
    assert privacy.pseudonym_key({"privacy": {"pseudonym_key": cfg_key}, "data": {}, "report": {}}) \
        == cfg_key.encode()
    monkeypatch.setenv(privacy.KEY_ENV, KEY)
    assert privacy.pseudonym_key({"privacy": {"pseudonym_key": cfg_key}, "data": {}, "report": {}}) \
        == KEY.encode()
    monkeypatch.setenv(privacy.KEY_ENV, "short")
    with pytest.raises(ConfigError, match="too short"):
        privacy.pseudonym_key(None)


def test_pseudonymize_tables_replaces_names_also_in_free_text():
    from bestandlib.io import load_tables

    tables = load_tables(DATA)
    pseudo, real = privacy.pseudonymize_tables(tables, KEY.encode())
    assert not set(REAL) & set(pseudo.customers["name"])
    assert pseudo.customers["name"].str.fullmatch(r"Kunde [0-9A-F]{6}").all()
    assert real.loc["K005"] == "Praxis Dr. Öztürk"
    refer = pseudo.surveys["would_refer_to"].iloc[0]  # "Praxis Dr. Öztürk" in the answer
    assert "Öztürk" not in refer and refer == pseudo.customers.set_index("customer_id").loc["K005", "name"]
    pd.testing.assert_frame_equal(pseudo.orders, tables.orders)  # the numbers do not change


def test_session_pseudonymizes_and_gives_back_real_names(monkeypatch):
    monkeypatch.setenv(privacy.KEY_ENV, KEY)
    s = session.open(quarter="2025Q1", data_dir=DATA, pseudonymize=True)
    assert s.pseudonymized and not set(REAL) & set(s.tables.customers["name"])
    assert not set(REAL) & set(s.all_tables.customers["name"])
    back = s.real_names(s.tables.customers)
    assert set(back["name"]) == set(REAL)
    plain = session.open(quarter="2025Q1", data_dir=DATA)
    assert set(plain.tables.customers["name"]) == set(REAL) and plain.real_names(plain.tables.customers) \
        is plain.tables.customers


# --- the report -----------------------------------------------------------------------------------

def _files_containing(folder: Path, needles) -> set[str]:
    hits = set()
    for p in folder.rglob("*"):
        if p.is_file():
            text = p.read_bytes().decode("utf-8", errors="replace")
            if any(n in text for n in needles):
                hits.add(p.relative_to(folder).as_posix())
    return hits


def test_pseudonymized_report_has_no_real_names_outside_the_action_lists(tmp_path, monkeypatch):
    monkeypatch.setenv(privacy.KEY_ENV, KEY)
    nb = names_notebook(tmp_path / "01_names.ipynb")
    final = pipeline.run_report(quarter="2025Q1", data_dir=DATA, reports_root=tmp_path / "reports",
                                notebooks=[nb], log=lambda m: None, pseudonymize=True)
    assert _files_containing(final, REAL) == {"actions/stefan_kuepper.csv"}
    assert _files_containing(final, [KEY]) == set()  # the key never lands in the report
    table = pd.read_csv(final / "tables" / "customers.csv")
    expected = privacy.pseudonyms(table["customer_id"], KEY.encode())
    assert table["name"].tolist() == table["customer_id"].map(expected).tolist()
    page = (final / "01_names.html").read_text(encoding="utf-8")
    assert expected.iloc[0] in page  # the notebook's table output shows pseudonyms
    assert '"pseudonymize": true' in (final / "run.json").read_text()


def test_cli_pseudonymize_without_key_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    code = main(["report", "--pseudonymize", "--data", str(DATA), "--out", str(tmp_path / "r"),
                 "--quarter", "2025Q1"])
    err = capsys.readouterr().err
    assert code == 2 and "BESTAND_PSEUDONYM_KEY" in err and "Traceback" not in err
    assert not (tmp_path / "r" / "2025Q1").exists()


# --- git ------------------------------------------------------------------------------------------

def _git(*args) -> subprocess.CompletedProcess:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)


@pytest.mark.parametrize("path", ["data/raw/demo/customers.csv", "data/raw/mycompany/orders.parquet",
                                  "data/interim/abc/tables/orders.parquet", "reports/2025Q4/index.html",
                                  "reports/_failed/2025Q4/01_x.ipynb", "reports/index.html"])
def test_customer_data_and_reports_are_ignored_by_git(path):
    assert _git("check-ignore", "-q", "--no-index", path).returncode == 0, f"{path} is not ignored"


def test_no_customer_data_is_tracked():
    tracked = _git("ls-files", "data", "reports").stdout.split()
    assert set(tracked) <= {"data/raw/.gitkeep", "data/raw/README.md", "reports/.gitkeep"}, tracked


def test_committed_notebooks_pass_nbstripout_verify():
    exe = shutil.which("nbstripout") or str(Path(__import__("sys").executable).with_name("nbstripout"))
    if not Path(exe).exists():
        pytest.skip("nbstripout not installed")
    notebooks = [str(p) for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]
    # --keep-id: nbstripout 0.9 would renumber the random cell ids, which carry no data; outputs,
    # execution counts and papermill's metadata are what must not be committed.
    result = subprocess.run([exe, "--verify", "--keep-id", "--extra-keys",
                             "metadata.papermill cell.metadata.papermill cell.metadata.execution",
                             *notebooks], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_says_how_to_set_up_nbstripout_and_what_is_read_and_written():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "nbstripout --install --attributes .gitattributes" in readme
    assert "--pseudonymize" in readme and "BESTAND_PSEUDONYM_KEY" in readme
    assert "What the kit reads and writes" in readme
