"""Crash-safe publishing: a run killed (SIGKILL) during a notebook, during export or during the move
into place leaves ``reports/<quarter>/`` either the old report or the complete new one, never a mix,
and the next run succeeds. The pipeline pauses at a named point when ``BESTAND_TEST_PAUSE_AT`` asks
(see ``pipeline._pause_for_test``); the notebook pauses itself, so the kill lands mid-execution.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bestandlib import pipeline
from tests.conftest import write_notebook

QUARTER = "2025Q1"
CORPUS = Path(__file__).parent / "bad_inputs"

PAUSING_CELL = """import os, pathlib, time
if os.environ.get("BESTAND_TEST_PAUSE_AT") == "notebook":
    pathlib.Path(os.environ["BESTAND_TEST_PAUSE_MARKER"]).write_text("notebook")
    time.sleep(60)
"""


def _notebook(path: Path) -> Path:
    return write_notebook(path, "Crash", PAUSING_CELL,
                          "import pathlib\n(pathlib.Path(output_dir) / 'tables').mkdir("
                          "exist_ok=True)\n(pathlib.Path(output_dir) / 'tables' / 'lang.csv')"
                          ".write_text('lang\\n' + lang + '\\n')")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("crash")
    data = base / "data"
    shutil.copytree(CORPUS / "extra_columns" / "data", data)
    nb = _notebook(base / "01_crash.ipynb")
    return base, data, nb


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _state(final: Path, old: dict) -> str:
    """"old", "new" (complete, English), "missing" or "mix"."""
    if not final.exists():
        return "missing"
    now = _snapshot(final)
    if now == old:
        return "old"
    need = {"index.html", "01_crash.html", "run.json", "tables/lang.csv", "notebooks/01_crash.ipynb"}
    if need <= set(now) and json.loads(now["run.json"])["lang"] == "en" \
            and now["tables/lang.csv"] == b"lang\nen\n" and b'lang="en"' in now["index.html"]:
        return "new"
    return "mix"


def _start(data, root, nb, point, marker) -> subprocess.Popen:
    code = (f"from pathlib import Path; from bestandlib import pipeline; pipeline.run_report(quarter={QUARTER!r}, data_dir={str(data)!r}, "
            f"reports_root={str(root)!r}, lang='en', notebooks=[Path({str(nb)!r})], log=lambda m: None)")
    env = {**os.environ, "BESTAND_TEST_PAUSE_AT": point, "BESTAND_TEST_PAUSE_MARKER": str(marker)}
    # A session of its own, so the kill takes the run and its worker processes at once.
    return subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(marker: Path, proc: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"run ended before pausing: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("run did not reach the pause point")
        time.sleep(0.1)


@pytest.mark.parametrize("point", ["notebook", "export", "publish"])
def test_kill_leaves_old_or_complete_new_report_and_rerun_succeeds(setup, tmp_path, point):
    base, data, nb = setup
    root = tmp_path / "reports"
    final = root / QUARTER
    pipeline.run_report(quarter=QUARTER, data_dir=data, reports_root=root, lang="de", notebooks=[nb],
                        log=lambda m: None)
    old = _snapshot(final)
    marker = tmp_path / "paused"
    proc = _start(data, root, nb, point, marker)
    try:
        _wait_for(marker, proc)
        if point == "export":  # while it holds the lock, a second run for the quarter is refused
            with pytest.raises(pipeline.RunLocked, match="in progress"):
                pipeline.run_report(quarter=QUARTER, data_dir=data, reports_root=root, notebooks=[nb],
                                    log=lambda m: None)
        # nothing visible changed while the run was busy; at the publish point the swap is done
        assert _state(final, old) == (_after_swap(tmp_path) if point == "publish" else "old")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    assert _state(final, old) == (_after_swap(tmp_path) if point == "publish" else "old")
    pipeline.recover(root, QUARTER)  # what the next run does first
    assert _state(final, old) in {"old", "new"}
    rerun = pipeline.run_report(quarter=QUARTER, data_dir=data, reports_root=root, lang="en",
                                notebooks=[nb], log=lambda m: None)
    assert _state(rerun, old) == "new"
    leftovers = [p.name for p in root.iterdir() if p.name.startswith((".build-", ".old-", ".lock-"))]
    assert leftovers == []


def _after_swap(tmp: Path) -> str:
    """Swapped in one step, the new report is in place; without renameat2 the old one waits in
    ``.old-<quarter>`` between the two renames (missing until recover() puts it back)."""
    return "new" if _can_exchange(tmp) else "missing"


def _can_exchange(tmp: Path) -> bool:
    a, b = tmp / "probe-a", tmp / "probe-b"
    a.mkdir(), b.mkdir()
    try:
        return pipeline._exchange(a, b)
    finally:
        a.rmdir(), b.rmdir()


def test_publish_swaps_atomically_where_the_kernel_can(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "x").write_text("a"), (b / "x").write_text("b")
    if not pipeline._exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) not available here; publish uses two renames")
    assert (a / "x").read_text() == "b" and (b / "x").read_text() == "a"
