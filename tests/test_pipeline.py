"""The report pipeline: publish, failure handling, locking and recovery (with tiny fixture notebooks)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from bestandlib import pipeline
from bestandlib.cli import main
from tests.conftest import FIXTURES, write_notebook

OK = sorted((FIXTURES / "notebooks_ok").glob("*.ipynb"))
FAIL = sorted((FIXTURES / "notebooks_fail").glob("*.ipynb"))

EXTERNAL = re.compile(
    r"<script[^>]+src=[\"']?(https?:)?//|<link[^>]+href=[\"']?(https?:)?//|<img[^>]+src=[\"']?(https?:)?//"
    r"|url\([\"']?https?://|@import\s+[\"']?https?://",
    re.I,
)


def external_references(html: str) -> list[str]:
    return [m.group(0) for m in EXTERNAL.finditer(html)]


@pytest.fixture(scope="module")
def rendered(small_world, tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline") / "reports"
    root.mkdir()
    # a stale lock of a run that died must not block this one
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (root / ".lock-2025Q3").write_text(str(dead.pid))
    final = pipeline.run_report(quarter="2025Q3", data_dir=small_world, reports_root=root, notebooks=OK,
                                log=lambda m: None)
    return root, final


def test_publishes_the_quarter_folder(rendered):
    root, final = rendered
    assert final == root / "2025Q3"
    for name in ["index.html", "01_fixture.html", "run.json", "tables/fixture.csv",
                 "notebooks/01_fixture.ipynb"]:
        assert (final / name).is_file(), name
    assert (root / "index.html").is_file()
    assert "2025Q3/index.html" in (root / "index.html").read_text()
    assert not list(root.glob(".build-*")) and not list(root.glob(".lock-*"))


def test_run_json_records_parameters_versions_and_timings(rendered):
    run = json.loads((rendered[1] / "run.json").read_text())
    assert run["quarter"] == "2025Q3"
    assert run["parameters"]["lang"] == "de"
    assert run["data_until"] == "2025-09-30"
    assert run["versions"]["pandas"] and run["versions"]["papermill"]
    assert run["input_fingerprint"]
    assert [n["notebook"] for n in run["notebooks"]] == ["01_fixture.ipynb"]
    assert run["notebooks"][0]["seconds"] > 0


def test_run_json_records_every_step_with_its_seconds(rendered):
    run = json.loads((rendered[1] / "run.json").read_text())
    steps = run["steps"]
    assert [s["step"] for s in steps] == ["validate/load", "panel", "notebooks", "01_fixture.ipynb",
                                          "export HTML", "briefings", "index", "publish"]
    assert all(isinstance(s["seconds"], (int, float)) and s["seconds"] >= 0 for s in steps)
    by_name = {s["step"]: s for s in steps}
    assert by_name["01_fixture.ipynb"]["seconds"] == run["notebooks"][0]["seconds"] > 0
    assert by_name["notebooks"]["parallel"] == 1
    # the notebooks ran inside the run: its total covers every sequential step
    sequential = sum(s["seconds"] for s in steps if s["step"] != "01_fixture.ipynb")
    assert run["seconds_total"] >= sequential - 0.05
    assert not list(rendered[0].glob(".run-*"))  # the publish timing was renamed into place


def test_console_shows_one_line_per_notebook_and_the_result(small_world, tmp_path):
    """A real run (worker process, kernel, papermill) as the CLI does it, stdout and stderr not a
    terminal: one line per notebook and the summary; no kernel WARNING/ERROR, no warnings, no bars."""
    code = ("from pathlib import Path; from bestandlib import pipeline; "
            f"pipeline.run_report(quarter='2025Q3', data_dir={str(small_world)!r}, "
            f"reports_root={str(tmp_path / 'reports')!r}, notebooks=[Path({str(OK[0])!r})])")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env={**os.environ, "TMPDIR": str(tmp)})
    assert proc.returncode == 0, proc.stderr
    lines = (proc.stdout + proc.stderr).splitlines()
    assert not [ln for ln in lines if re.search(r"WARNING|ERROR|Warning|\r|it/s|\[IPKernelApp\]", ln)], lines
    assert len(lines) == 2, lines
    assert re.fullmatch(r"  01 Fixture.* \.{3,} +\d+\.\d s", lines[0]), lines[0]
    assert re.fullmatch(r"Report 2025Q3 published in \d+\.\d s \(slowest step: .+, \d+\.\d s(; .+)?\): "
                        r".+/2025Q3/index\.html", lines[1]), lines[1]
    # the kernel talked over a private IPC folder (in TMPDIR), removed with the kernel
    assert not list(tmp.glob("bestand-kernel-*"))


def test_kernel_manager_uses_ipc_and_cleans_up(tmp_path):
    import asyncio

    km = pipeline._kernel_manager_class()(kernel_name="python3")
    if os.name == "posix":
        assert km.transport == "ipc" and km.connection_file.startswith(km._ipc_dir)
        folder = km._ipc_dir
        assert oct(os.stat(folder).st_mode & 0o777) == oct(0o700)
        asyncio.run(km.cleanup_resources())
        assert not os.path.exists(folder)
    else:
        assert km.transport == "tcp" and km.transport_encryption == "auto"


def test_done_line_has_dot_leaders_and_seconds():
    line = pipeline._done_line("03 Umsatz und Potenzial", 12.34)
    assert re.fullmatch(r"  03 Umsatz und Potenzial \.{3,} +12\.3 s", line)
    assert len(pipeline._done_line("01 Kurz", 1)) == len(pipeline._done_line("02 Etwas länger", 1))


def test_report_uses_only_data_up_to_the_quarter_end(rendered):
    table = (rendered[1] / "tables" / "fixture.csv").read_text().splitlines()
    assert table[-1].startswith("2025Q3,")


def test_pages_are_offline_and_hide_code_and_parameters(rendered):
    final = rendered[1]
    for page in ["index.html", "01_fixture.html"]:
        html = (final / page).read_text()
        assert external_references(html) == [], page
    page = (final / "01_fixture.html").read_text()
    assert "session.open" not in page  # code cells hidden
    assert "output_dir = None" not in page  # parameter cells removed
    index = (final / "index.html").read_text()
    assert "Fixture-Abschnitt" in index and "01_fixture.html" in index


def test_failing_notebook_keeps_previous_report(rendered):
    root, final = rendered
    before = {p.relative_to(final): p.read_bytes() for p in final.rglob("*") if p.is_file()}
    with pytest.raises(pipeline.NotebookFailed) as info:
        pipeline.run_report(quarter="2025Q3", data_dir=_data_dir_of(final), reports_root=root,
                            notebooks=FAIL, log=lambda m: None)
    err = info.value
    assert err.notebook == "02_broken.ipynb" and err.ename == "ValueError" and "planted failure" in err.evalue
    after = {p.relative_to(final): p.read_bytes() for p in final.rglob("*") if p.is_file()}
    assert after == before
    assert (root / "_failed" / "2025Q3" / "02_broken.ipynb").is_file()
    assert not list(root.glob(".build-*")) and not list(root.glob(".lock-*"))


def _one_worker():
    from bestandlib.config import load_config

    cfg = load_config()
    cfg["report"]["parallel_notebooks"] = 1
    return cfg


SETS = """import os, pathlib, json
import matplotlib.pyplot as plt
leaked_from_01 = 42
fig = plt.figure()
(pathlib.Path(output_dir) / 'tables').mkdir(exist_ok=True)
(pathlib.Path(output_dir) / 'tables' / 'pid_01.csv').write_text(f'pid\\n{os.getpid()}\\n')"""

CHECKS = """import os, pathlib, sys
import matplotlib.pyplot as plt
assert 'leaked_from_01' not in globals() and 'fig' not in globals() and 'json' not in globals()
assert plt.get_fignums() == []
assert 'json' in sys.modules  # imported modules stay loaded
(pathlib.Path(output_dir) / 'tables' / 'pid_02.csv').write_text(f'pid\\n{os.getpid()}\\n')"""


def test_notebooks_in_one_kernel_do_not_see_each_others_variables(small_world, tmp_path):
    nbs = [write_notebook(tmp_path / "01_sets.ipynb", "Sets", SETS),
           write_notebook(tmp_path / "02_checks.ipynb", "Checks", CHECKS)]
    final = pipeline.run_report(quarter="2025Q3", data_dir=small_world, reports_root=tmp_path / "reports",
                                notebooks=nbs, config=_one_worker(), log=lambda m: None)
    pids = [(final / "tables" / f"pid_0{i}.csv").read_text().split()[1] for i in (1, 2)]
    assert pids[0] == pids[1]  # one kernel ran both notebooks
    run = json.loads((final / "run.json").read_text())
    assert next(s for s in run["steps"] if s["step"] == "notebooks")["parallel"] == 1
    if sys.platform.startswith("linux"):
        assert all(n["peak_mib"] > 0 for n in run["notebooks"])


def test_a_failing_notebook_does_not_poison_the_next_run(small_world, tmp_path):
    root = tmp_path / "reports"
    poison = write_notebook(tmp_path / "01_poison.ipynb", "Poison",
                            "import sys\nleaked_from_01 = 1\nsys.modules['pandas'] = None  # broken on purpose",
                            "raise ValueError('planted failure')")
    with pytest.raises(pipeline.NotebookFailed) as info:
        pipeline.run_report(quarter="2025Q3", data_dir=small_world, reports_root=root,
                            notebooks=[poison, *OK], config=_one_worker(), log=lambda m: None)
    assert info.value.notebook == "01_poison.ipynb" and info.value.ename == "ValueError"
    assert not (root / "2025Q3").exists() and not list(root.glob(".build-*"))
    final = pipeline.run_report(quarter="2025Q3", data_dir=small_world, reports_root=root,
                                notebooks=[*OK, write_notebook(tmp_path / "02_checks.ipynb", "Checks",
                                                               CHECKS.replace("pid_02", "pid_01"))],
                                config=_one_worker(), log=lambda m: None)
    assert (final / "01_fixture.html").is_file() and (final / "tables" / "fixture.csv").is_file()


def test_warm_up_imports_what_the_notebooks_import():
    code = pipeline._warm_code(OK)
    assert "from bestandlib import session" in code and "reset" in code
    assert "leaked" not in code


def _data_dir_of(final):
    return json.loads((final / "run.json").read_text())["parameters"]["data_dir"]


def test_concurrent_run_is_refused(small_world, tmp_path):
    root = tmp_path / "reports"
    root.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (root / ".lock-2025Q3").write_text(str(other.pid))
        with pytest.raises(pipeline.RunLocked, match="in progress"):
            pipeline.run_report(quarter="2025Q3", data_dir=small_world, reports_root=root, notebooks=OK,
                                log=lambda m: None)
    finally:
        other.kill()
        other.wait()


def test_stale_lock_of_a_dead_run_is_taken_over(rendered):
    root, final = rendered
    assert (final / "index.html").exists() and not (root / ".lock-2025Q3").exists()


def test_recover_restores_report_after_kill_between_renames(tmp_path):
    root = tmp_path
    (root / ".old-2025Q3").mkdir()
    (root / ".old-2025Q3" / "index.html").write_text("old")
    pipeline.recover(root, "2025Q3")
    assert (root / "2025Q3" / "index.html").read_text() == "old"
    # a new report that made it wins over a leftover old one
    (root / ".old-2025Q3").mkdir()
    pipeline.recover(root, "2025Q3")
    assert not (root / ".old-2025Q3").exists()


def test_cli_report_on_invalid_data_exits_nonzero_without_traceback(small_world, tmp_path, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(small_world, bad)
    os.remove(bad / "customers.csv")
    code = main(["report", "--data", str(bad), "--out", str(tmp_path / "r"), "--quarter", "2025Q3"])
    err = capsys.readouterr().err
    assert code != 0
    assert "customers" in err and "Traceback" not in err
    assert not (tmp_path / "r" / "2025Q3").exists()


def test_cli_validate_names_file_line_column_value(small_world, tmp_path, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(small_world, bad)
    raw = (bad / "potentials.csv").read_bytes().decode("cp1252").splitlines(keepends=True)
    header = raw[0].rstrip("\r\n").split(";")
    col = header.index("potential")
    fields = raw[2].rstrip("\r\n").split(";")
    fields[col] = "viel"
    raw[2] = ";".join(fields) + "\r\n" if raw[2].endswith("\r\n") else ";".join(fields) + "\n"
    (bad / "potentials.csv").write_bytes("".join(raw).encode("cp1252"))
    code = main(["validate", str(bad)])
    out = capsys.readouterr().out
    assert code == 3
    line = next(ln for ln in out.splitlines() if "viel" in ln)
    assert "potentials" in line and "3" in line.split() and "potential" in line
