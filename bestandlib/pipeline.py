"""The quarterly run: validate, execute every analysis notebook with Papermill, export HTML, publish.

Publishing is all-or-nothing. Everything is rendered into ``reports/.build-<quarter>-<pid>/``; only
when every notebook ran and every page was written is the old report moved aside and the new one
renamed into place (two renames on one file system). A run that dies between the two renames leaves
``reports/.old-<quarter>``, which the next run restores before it starts. A failing notebook leaves
the previous report untouched and keeps the executed notebook, with its error, under
``reports/_failed/<quarter>/``.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pandas as pd

from bestandlib import i18n, io, needs, paths, periods, report, session
from bestandlib.config import ensure_config
from bestandlib.errors import BestandError


class NotebookFailed(BestandError):
    """A notebook cell raised; the message names notebook, cell and error."""

    def __init__(self, notebook: str, cell: int | None, ename: str, evalue: str, kept: Path):
        self.notebook, self.cell, self.ename, self.evalue, self.kept = notebook, cell, ename, evalue, kept
        where = f"cell {cell}" if cell is not None else "a cell"
        super().__init__(f"Notebook {notebook} failed in {where}: {ename}: {evalue}\n"
                         f"The executed notebook with the error is kept at {kept}.\n"
                         f"The previous report (if any) is unchanged.")


class RunLocked(BestandError):
    pass


@dataclass
class Step:
    notebook: Path
    href: str
    title: str


def discover_notebooks(notebooks_dir: Path = paths.NOTEBOOKS_DIR) -> list[Path]:
    """The analysis notebooks in run order: ``NN_name.ipynb``, sorted by number."""
    found = sorted(p for p in Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise BestandError(f"No analysis notebooks (NN_name.ipynb) found in {notebooks_dir}")
    return found


# --- locking and recovery -----------------------------------------------------------------------

def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class QuarterLock:
    """Refuses a second concurrent run for the same quarter (a lock file holding the owner's pid)."""

    def __init__(self, reports_root: Path, quarter: str):
        self.path = Path(reports_root) / f".lock-{quarter}"
        self.quarter = quarter

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and _pid_alive(pid) and pid != os.getpid():
                    raise RunLocked(f"Another report run for {self.quarter} is in progress (pid {pid}). "
                                    f"Wait for it to finish; if it is gone, delete {self.path}.") from None
                self.path.unlink(missing_ok=True)  # stale lock of a run that died
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            return self
        raise RunLocked(f"Could not take the lock {self.path}")

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)
        return False


def recover(reports_root: Path, quarter: str) -> None:
    """Undo what a run killed mid-publish or mid-render left behind."""
    root = Path(reports_root)
    final, old = root / quarter, root / f".old-{quarter}"
    if old.exists():
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)  # the new report made it; the old one is garbage
        else:
            os.rename(old, final)  # killed between the two renames: the old report comes back
    for build in root.glob(f".build-{quarter}-*"):
        try:
            pid = int(build.name.rsplit("-", 1)[1])
        except ValueError:
            pid = 0
        if not pid or not _pid_alive(pid) or pid == os.getpid():
            shutil.rmtree(build, ignore_errors=True)


def _pause_for_test(point: str) -> None:
    """Crash tests only: sleep at ``point`` when ``BESTAND_TEST_PAUSE_AT`` names it, after touching
    the file ``BESTAND_TEST_PAUSE_MARKER``, so a test can kill the run at a known moment."""
    if os.environ.get("BESTAND_TEST_PAUSE_AT") != point:
        return
    marker = os.environ.get("BESTAND_TEST_PAUSE_MARKER")
    if marker:
        Path(marker).write_text(point)
    time.sleep(float(os.environ.get("BESTAND_TEST_PAUSE_SECONDS", "60")))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # glibc < 2.28, musl
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def publish(build: Path, reports_root: Path, quarter: str) -> Path:
    """Move the finished ``build`` folder to ``reports_root/<quarter>``.

    Where the kernel can swap two folders atomically the quarter folder is never missing, not even
    for a moment: afterwards ``build`` holds the old report, which is deleted (a run killed before
    that leaves it as a ``.build-`` folder of a dead pid, removed by :func:`recover`). Elsewhere two
    renames, with ``.old-<quarter>`` in between (restored by :func:`recover`).
    """
    root = Path(reports_root)
    final, old = root / quarter, root / f".old-{quarter}"
    if final.exists() and _exchange(build, final):
        _pause_for_test("publish")
        shutil.rmtree(build, ignore_errors=True)
        return final
    if final.exists():
        os.rename(final, old)
    _pause_for_test("publish")
    os.rename(build, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


# --- the run ------------------------------------------------------------------------------------

def _versions() -> dict:
    names = ["bestand", "pandas", "numpy", "scikit-learn", "scipy", "duckdb", "papermill", "nbconvert",
             "pandera", "matplotlib", "seaborn"]
    out = {"python": sys.version.split()[0]}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


def _kernel_env() -> None:
    # The kernel is started as "python" from PATH by some kernelspecs; make it this interpreter, so
    # the notebooks see the same bestandlib and packages as the CLI.
    bindir = str(Path(sys.executable).parent)
    if not os.environ.get("PATH", "").startswith(bindir + os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def stderr_log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _quiet(msg: str) -> None:
    pass


def _step_label(notebook: Path, title: str) -> str:
    """``03 Umsatz und Potenzial`` for ``03_revenue_potential.ipynb``."""
    return f"{notebook.name[:2]} {title}"


def _done_line(label: str, seconds: float, width: int = 44) -> str:
    """``  03 Umsatz und Potenzial ............ 12.3 s``: one finished notebook."""
    return f"  {label} {'.' * max(3, width - len(label))} {seconds:6.1f} s"


class _Status:
    """One updating line on a terminal (``\\r``, erased before every log line): the notebooks running
    and their elapsed time. Off unless ``enabled`` (the CLI's own stderr logger on a TTY), so logs,
    pipes and CI get exactly one line per notebook."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.shown = False

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        width = shutil.get_terminal_size((100, 20)).columns - 1
        sys.stderr.write("\r\x1b[K" + text[:width])
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False


def run_report(quarter=None, data_dir=paths.DEMO_DIR, reports_root=paths.REPORTS_DIR, config=None,
               lang: str = "de", notebooks: list[Path] | None = None, today=None,
               log=stderr_log, pseudonymize: bool = False, detail=_quiet) -> Path:
    """Render the quarterly report and publish it to ``reports_root/<quarter>/``. Returns that folder.

    ``log`` gets one line per finished notebook (with its seconds) and the closing summary (seconds,
    slowest step); ``detail`` the steps in between (data valid, panel, sections not available, export,
    index, publish), quiet by default (``bestand report --verbose``). With the default ``log`` on a
    terminal, the running notebooks and their elapsed time show on one updating line.
    ``run.json`` records every step's seconds (``steps``).

    ``pseudonymize=True`` replaces customer names by stable pseudonyms in every page and table
    (:mod:`bestandlib.privacy`; needs ``BESTAND_PSEUDONYM_KEY`` or ``privacy.pseudonym_key``).

    Raises :class:`DataValidationError` on invalid input (nothing is rendered), :class:`NotebookFailed`
    when a notebook fails, :class:`RunLocked` when the quarter is being rendered by another run.
    """
    started = time.perf_counter()
    timeline: list[dict] = []  # run.json "steps": [{"step": ..., "seconds": ...}, ...]

    def done(step: str, t0: float, **extra) -> float:
        seconds = time.perf_counter() - t0
        timeline.append({"step": step, "seconds": round(seconds, 2), **extra})
        return seconds

    i18n.check_lang(lang)
    cfg = ensure_config(config)
    i18n.set_currency(cfg)
    config_path = None if config is None or isinstance(config, dict) else str(Path(config).resolve())
    data_dir = paths.resolve_data_dir(data_dir)
    reports_root = Path(reports_root).resolve()
    if not data_dir.exists():
        raise BestandError(f"Data folder not found: {data_dir}")

    # One kernel per worker, started and warmed (the notebooks' imports) while the data are validated.
    nbs = list(notebooks or discover_notebooks())
    _kernel_env()
    kernels = _KernelPool(max(1, min(int(cfg["report"].get("parallel_notebooks", 2)), len(nbs))), nbs)
    try:
        return _run_report(kernels, nbs, started, timeline, done, quarter=quarter, data_dir=data_dir,
                           reports_root=reports_root, cfg=cfg, config_path=config_path, lang=lang,
                           today=today, log=log, pseudonymize=pseudonymize, detail=detail)
    finally:
        kernels.close()


def _run_report(kernels, nbs, started, timeline, done, *, quarter, data_dir, reports_root, cfg, config_path,
                lang, today, log, pseudonymize, detail) -> Path:
    """:func:`run_report` from the validation on, with the ``kernels`` already starting."""
    t0 = time.perf_counter()
    session.ensure_demo(data_dir)
    data_key = session.cache_key(data_dir, cfg)
    tables = session.load_tables_cached(data_dir, cfg, today=today, key=data_key)  # raises on bad data
    today_ts = dt.date.today() if today is None else today
    first, last = tables.order_date_range()  # one query when the engine holds the lines
    q = periods.latest_complete_quarter(last, today=today_ts) if quarter is None \
        else periods.parse_quarter(quarter)
    qlabel = str(q)
    if pd.isna(first) or first > periods.quarter_end(q):
        since = "" if pd.isna(first) else f" (the first order is dated {first:%Y-%m-%d})"
        raise BestandError(f"There are no orders up to {qlabel}{since}: nothing to report. "
                           "Choose a later quarter with --quarter.")
    if pseudonymize:
        from bestandlib import privacy

        privacy.pseudonym_key(cfg)  # no key: refuse now, not in every notebook
    seconds = done("validate/load", t0)
    detail(f"Data {data_dir} valid ({seconds:.1f} s); rendering {qlabel} ({lang})")
    # The panel once, before the notebooks: two notebooks starting together would otherwise both
    # aggregate the order lines (at 100 million lines: twice the time and twice the memory).
    t0 = time.perf_counter()
    cut = tables.cut(periods.quarter_end(q))
    pnl = session.panel_cached(cut, q, data_key=data_key, config=cfg)
    # what the data allow: every section's declared needs, checked before any notebook runs
    facts = needs.facts(cut, pnl, q)
    ready = needs.readiness(facts, cfg)
    seconds = done("panel", t0)
    detail(f"Customer-quarter panel up to {qlabel} ready ({seconds:.1f} s)")
    skipped = ready[~ready["available"]]
    if len(skipped):
        detail(f"{len(skipped)} section(s) not available with these data (see the entry page's data coverage):")
        for _, row in skipped.iterrows():
            detail(f"  {row['section']:<22} {'; '.join(needs.reason_text(r, 'en') for r in row['reasons'])}")

    steps = [Step(nb, nb.stem + ".html", report.page_title(nb, lang))
             for nb in nbs]
    status = _Status(log is stderr_log and sys.stderr.isatty())
    with QuarterLock(reports_root, qlabel):
        recover(reports_root, qlabel)
        build = reports_root / f".build-{qlabel}-{os.getpid()}"
        shutil.rmtree(build, ignore_errors=True)
        (build / "notebooks").mkdir(parents=True)
        try:
            t0 = time.perf_counter()
            timings, highlight_order, workers = _execute_all(steps, build, reports_root, qlabel, data_dir,
                                                             config_path, cfg, lang, log, pseudonymize,
                                                             status=status, kernels=kernels)
            # wall time of all notebooks together; seconds to start and warm each worker's kernel
            # (overlapping the validation, so only partly on the critical path)
            done("notebooks", t0, parallel=workers, kernel_start=kernels.start_seconds())
            timeline += [{"step": n["notebook"], "seconds": n["seconds"], "peak_mib": n.get("peak_mib")}
                         for n in timings]
            run = _run_info(qlabel, q, lang, data_dir, config_path, tables, timings, started)
            run["parameters"]["pseudonymize"] = bool(pseudonymize)
            run["sections"] = [{"section": r["section"], "available": bool(r["available"]),
                                "reasons": [needs.reason_text(x, "en") for x in r["reasons"]]}
                               for _, r in ready.iterrows()]
            t0 = time.perf_counter()
            _render_pages(steps, build, lang, run)
            detail(f"HTML pages written ({done('export HTML', t0):.1f} s)")
            t0 = time.perf_counter()
            notes = _data_notes(tables.cut(periods.quarter_end(q)), lang)
            t0 = time.perf_counter()
            from bestandlib import briefing

            briefing.render_briefings(build, tables=tables, panel=pnl, quarter=qlabel, config=cfg, lang=lang,
                                      pseudonymized=pseudonymize)
            detail(f"Customer briefings written ({done('briefings', t0):.1f} s)")
            t0 = time.perf_counter()
            report.render_index(build, quarter=qlabel, lang=lang, config=cfg,
                                pages=[{"href": s.href, "title": s.title} for s in steps],
                                sections=report.load_highlights(build, highlight_order), run=run,
                                excluded=getattr(tables, "excluded", None), notes=notes,
                                reports_root=reports_root,
                                coverage=needs.coverage_view(cut, facts, cfg, lang))
            detail(f"Entry page written ({done('index', t0):.1f} s)")
            run["steps"] = timeline
            run["seconds_total"] = round(time.perf_counter() - started, 2)
            (build / "run.json").write_text(_dump(run), encoding="utf-8")
            t0 = time.perf_counter()
            final = publish(build, reports_root, qlabel)
        except BaseException:
            status.clear()
            shutil.rmtree(build, ignore_errors=True)
            raise
    report.render_quarters_index(reports_root, lang)
    done("publish", t0)
    total = time.perf_counter() - started
    run["seconds_total"] = round(total, 2)
    _update_run_json(final, run, reports_root)
    labels = {s.notebook.name: _step_label(s.notebook, s.title) for s in steps}
    slow = max((t for t in timeline if t["step"] != "notebooks"), key=lambda t: t["seconds"])
    detail(f"Published ({timeline[-1]['seconds']:.1f} s)")
    unavailable = f"; {len(skipped)} section(s) not available with these data" if len(skipped) else ""
    log(f"Report {qlabel} published in {total:.1f} s (slowest step: {labels.get(slow['step'], slow['step'])}, "
        f"{slow['seconds']:.1f} s{unavailable}): {final / 'index.html'}")
    return final


def _dump(run: dict) -> str:
    return json.dumps(run, indent=1, ensure_ascii=False, default=str)


def _update_run_json(final: Path, run: dict, reports_root: Path) -> None:
    """Rewrite the published ``run.json`` with the publish step, in one rename (never half written).

    The report is complete without it: a failure here only loses the publish timing."""
    tmp = Path(reports_root) / f".run-{final.name}-{os.getpid()}.json"
    try:
        tmp.write_text(_dump(run), encoding="utf-8")
        os.replace(tmp, final / "run.json")
    except OSError:
        tmp.unlink(missing_ok=True)


def _kernel_manager_class():
    """The kernel manager for the notebooks: a kernel that talks over local sockets and stops quietly.

    * IPC transport (Unix domain sockets in a private 0700 folder) where available: no TCP ports, so
      ipykernel (>= 7.3) has no reason to log "Kernel is running over TCP without encryption", and two
      kernels starting together cannot race for a port. Elsewhere (Windows, a socket path that would be
      too long) TCP with CurveZMQ keys provisioned by jupyter_client (``transport_encryption="auto"``;
      ipykernel's kernelspec declares ``supported_encryption: curve``), which silences it as well.
    * No SIGINT before the shutdown request: jupyter_client interrupts the kernel first, and when the
      signal lands while the (idle) kernel is still answering papermill's last ``kernel_info`` request
      it logs "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel." A kernel papermill shuts down
      has finished its last cell; one that does not stop is still killed after ``shutdown_wait_time``.
    """
    import tempfile

    import zmq
    from jupyter_client.manager import AsyncKernelManager, KernelManager

    class BestandKernelManager(AsyncKernelManager):
        _ipc_dir: str | None = None

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            if os.name == "posix" and zmq.has("ipc"):
                folder = tempfile.mkdtemp(prefix="bestand-kernel-")  # mode 0700: only this user connects
                if len(folder) + 16 < 100:  # AF_UNIX paths: at most 107 bytes
                    self._ipc_dir = folder
                    self.transport = "ipc"
                    self.connection_file = os.path.join(folder, "kernel.json")
                    self.ip = os.path.join(folder, "kernel")  # sockets kernel-1 ... kernel-5
                    return
                os.rmdir(folder)
            if zmq.has("curve"):
                self.transport_encryption = "auto"

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:  # called by shutdown_kernel only; see the docstring above
                return
            await super()._async_interrupt_kernel()

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart and self._ipc_dir:
                shutil.rmtree(self._ipc_dir, ignore_errors=True)

        cleanup_resources = _async_cleanup_resources
        interrupt_kernel = KernelManager._async_interrupt_kernel  # an explicit interrupt still interrupts

    return BestandKernelManager


# --- kernels: one per worker process, reused by its notebooks ------------------------------------

# Between two notebooks in one kernel: close the figures, empty the user namespace (variables,
# ``Out``, ``_``), collect the garbage. Imported modules stay loaded (that is the point); nothing of
# the previous notebook stays reachable by name.
_RESET = ("__import__('sys').modules.get('matplotlib.pyplot') and "
          "__import__('sys').modules['matplotlib.pyplot'].close('all')\n"
          "get_ipython().run_line_magic('reset', '-f')\n"
          "__import__('gc').collect()\n")


def _import_lines(notebooks: list[Path]) -> list[str]:
    """The one-line ``import``/``from ... import`` statements of the notebooks' code cells."""
    found: dict[str, None] = {}
    for nb in notebooks:
        try:
            cells = json.loads(Path(nb).read_text(encoding="utf-8"))["cells"]
        except (OSError, ValueError, KeyError):
            continue
        for cell in cells:
            if cell.get("cell_type") != "code":
                continue
            src = cell.get("source", "")
            for line in (src if isinstance(src, str) else "".join(src)).splitlines():
                line = line.strip()
                if line.startswith(("import ", "from ")) and not line.endswith(("(", "\\", ",")):
                    found[line] = None
    return list(found)


def _warm_code(notebooks: list[Path]) -> str:
    """Import what the notebooks import (errors ignored: a notebook reports its own), then reset."""
    body = "".join(f"try:\n    {line}\nexcept Exception:\n    pass\n" for line in _import_lines(notebooks))
    return body + _RESET


def _kernel_peak_reset(pid: int | None) -> None:
    """Reset the kernel's peak resident memory (Linux ``clear_refs``), so the next reading is one notebook's."""
    if pid:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            pass


def _kernel_peak_mib(pid: int | None) -> float | None:
    """The kernel's peak resident memory since the last reset (``VmHWM``), MiB; None where unknown."""
    if not pid:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


class _Kernel:
    """A started kernel (in a worker process): the manager papermill is handed, and a client of our own
    for the warm-up and the reset between notebooks."""

    def __init__(self, cwd: str):
        from jupyter_client.blocking import BlockingKernelClient
        from jupyter_core.utils import run_sync

        self._run_sync = run_sync
        self.km = _kernel_manager_class()(kernel_name="python3")
        # as nbclient starts its kernels: no SQLite history file shared by concurrent kernels
        run_sync(self.km.start_kernel)(cwd=cwd, extra_arguments=["--HistoryManager.hist_file=:memory:"])
        # parent=km: "alive" is the kernel process running (as for nbclient's client), not a heartbeat
        # answered within a second, which a kernel busy importing on a loaded machine can miss. A
        # session of its own: papermill's client (left connected, the kernel not being its own) uses
        # the manager's, and the kernel routes replies by session identity.
        self.kc = BlockingKernelClient(parent=self.km)
        self.kc.load_connection_info(self.km.get_connection_info())
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    @property
    def pid(self) -> int | None:
        proc = getattr(getattr(self.km, "provisioner", None), "process", None)
        return getattr(proc, "pid", None)

    def alive(self) -> bool:
        try:
            return bool(self._run_sync(self.km.is_alive)())
        except Exception:
            return False

    def run(self, code: str, timeout: float = 120) -> bool:
        """Execute ``code`` silently; True when it ran without error."""
        try:
            reply = self.kc.execute_interactive(code, silent=True, store_history=False, timeout=timeout,
                                                output_hook=lambda msg: None)
        except Exception:
            return False
        return reply.get("content", {}).get("status") == "ok"

    def shutdown(self) -> None:
        pid = self.pid
        try:
            self.kc.stop_channels()
        except Exception:
            pass
        try:
            self._run_sync(self.km.shutdown_kernel)(now=False)
        except Exception:
            pass
        if pid and _pid_alive(pid):  # the manager could not stop it: no kernel outlives its worker
            import signal

            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _run_one(notebook: str, out_nb: str, parameters: dict, km=None) -> tuple[float, dict | None]:
    """Execute one notebook (in a worker process), in the kernel of ``km`` when given (left running)
    or in a kernel of its own. Returns seconds and, on failure, the error."""
    import logging

    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    class _QuietSection(logging.Filter):
        # ``bestand_section`` / ``bestand_pseudonymize`` are injected on purpose (see Session), not typos.
        def filter(self, record):
            return "bestand_" not in record.getMessage()

    logging.getLogger("papermill").addFilter(_QuietSection())
    kernel = {"km": km} if km is not None else {"kernel_manager_class": _kernel_manager_class()}
    t0 = time.perf_counter()
    try:
        # progress_bar=False: the pipeline prints its own line per notebook
        pm.execute_notebook(notebook, out_nb, parameters=parameters, kernel_name="python3",
                            cwd=str(Path(notebook).parent), progress_bar=False, log_output=False, **kernel)
    except PapermillExecutionError as exc:
        return time.perf_counter() - t0, {"cell": exc.cell_index, "ename": exc.ename, "evalue": exc.evalue}
    except Exception as exc:  # kernel died, notebook unreadable, ...
        return time.perf_counter() - t0, {"cell": None, "ename": type(exc).__name__, "evalue": str(exc)}
    return time.perf_counter() - t0, None


def _worker(wid: int, inbox, outbox, warm: str, cwd: str, parent: int) -> None:
    """A worker process: start a kernel, warm it, then run the notebooks handed to it one after another
    in that kernel (namespace reset before each), until ``None`` arrives or the parent is gone."""
    import queue as _queue

    t0 = time.perf_counter()
    kernel = None
    try:
        try:
            kernel = _Kernel(cwd)
            kernel.run(warm)  # the imports, while the CLI validates the data
            outbox.put(("ready", wid, kernel.pid, round(time.perf_counter() - t0, 2)))
        except Exception as exc:  # no kernel: every notebook then gets one of its own (and its error)
            if kernel is not None:
                kernel.shutdown()
            kernel = None
            outbox.put(("ready", wid, None, f"{type(exc).__name__}: {exc}"))
        fresh = True  # the warm-up ended with a reset
        while True:
            try:
                task = inbox.get(timeout=1.0)
            except _queue.Empty:
                if os.getppid() != parent:  # the CLI is gone (killed): stop the kernel, exit
                    return
                continue
            if task is None:
                return
            name, notebook, out_nb, parameters = task
            if kernel is not None and not (kernel.alive() and (fresh or kernel.run(_RESET))):
                kernel.shutdown()  # died or cannot be reset: a new one for the rest
                try:
                    kernel = _Kernel(cwd)
                except Exception:
                    kernel = None
            pid = kernel.pid if kernel is not None else None
            _kernel_peak_reset(pid)
            seconds, error = _run_one(notebook, out_nb, parameters, km=kernel.km if kernel else None)
            fresh = False
            outbox.put(("done", wid, name, seconds, error, _kernel_peak_mib(pid)))
    except KeyboardInterrupt:
        pass
    finally:
        if kernel is not None:
            kernel.shutdown()


@contextlib.contextmanager
def _main_not_reimported():
    """Spawned workers need only this module: keep them from re-running the caller's ``__main__``
    (a script calling :func:`run_report` without an ``if __name__ == "__main__"`` guard would start
    its run again in every worker), as for an interactive session."""
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__.pop(k) for k in ("__file__", "__spec__") if main is not None and k in main.__dict__}
    if main is not None:
        main.__spec__ = None
    try:
        yield
    finally:
        if main is not None:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)


class _KernelPool:
    """``n`` worker processes, each with one kernel it reuses for the notebooks handed to it."""

    def __init__(self, n: int, notebooks: list[Path]):
        import multiprocessing

        # spawn, not fork: a kernel started in a forked copy of the CLI (pandas, DuckDB loaded) died
        # before answering; a fresh interpreter imports only this module
        mp = multiprocessing.get_context("spawn")
        self.n = n
        self.outbox = mp.Queue()
        self.inboxes = [mp.Queue() for _ in range(n)]
        warm = _warm_code(notebooks)
        cwd = str(Path(notebooks[0]).parent) if notebooks else str(paths.NOTEBOOKS_DIR)
        self.procs = [mp.Process(target=_worker, args=(i, self.inboxes[i], self.outbox, warm, cwd, os.getpid()),
                                 daemon=False, name=f"bestand-kernel-{i}") for i in range(n)]
        with _main_not_reimported():
            for p in self.procs:
                p.start()
        self.kernel_pids: dict[int, int | None] = {}
        self.started: dict[int, float | str] = {}
        self.closed = False

    def start_seconds(self) -> list:
        return [self.started.get(i) for i in range(self.n)]

    def assign(self, wid: int, task) -> None:
        self.inboxes[wid].put(task)

    def event(self, timeout: float):
        """The next ``("done", ...)`` message, or None after ``timeout`` s (``ready`` messages are noted)."""
        import queue as _queue

        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.outbox.get(timeout=max(0.0, deadline - time.monotonic()))
            except _queue.Empty:
                return None
            if msg[0] == "ready":
                self.kernel_pids[msg[1]] = msg[2]
                self.started[msg[1]] = msg[3]
                continue
            return msg

    def exitcode(self, wid: int) -> int | None:
        p = self.procs[wid]
        return None if p.is_alive() else p.exitcode

    def close(self, interrupt: bool = False) -> None:
        """Stop the workers and their kernels (``interrupt``: a running notebook is interrupted first)."""
        import signal

        if self.closed:
            return
        self.closed = True
        if interrupt:
            self.event(0)  # kernel pids of workers that reported since
            for pid in self.kernel_pids.values():
                if pid:
                    try:
                        os.kill(pid, signal.SIGINT)
                    except OSError:
                        pass
        for q in self.inboxes:
            q.put(None)
        deadline = time.monotonic() + 20
        for p in self.procs:
            p.join(max(0.1, deadline - time.monotonic()))
        for wid, p in enumerate(self.procs):
            if p.is_alive():
                p.terminate()
                p.join(5)
                pid = self.kernel_pids.get(wid)
                if pid:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        for q in [self.outbox, *self.inboxes]:
            q.cancel_join_thread()
            q.close()


def _execute_all(steps, build, reports_root, qlabel, data_dir, config_path, cfg, lang, log,
                 pseudonymize=False, status: _Status | None = None, kernels: _KernelPool | None = None):
    """Run the notebooks, ``report.parallel_notebooks`` at a time (they only share read-only inputs).

    Each worker process starts one kernel and runs the notebooks handed to it in that kernel, one
    after another (the user namespace emptied in between, the imported modules kept warm), so a crash
    cannot take the CLI down; the first failure stops the run (a notebook still running elsewhere is
    interrupted) and is reported with notebook, cell and error. A notebook is handed to a worker only
    when it is free, so its start time is known: ``status`` shows the running notebooks with their
    elapsed time. Returns the per-notebook timings (report order, with the kernel's peak memory in
    MiB where known), the highlight order and the number of workers.
    """
    status = status or _Status(False)
    own = kernels is None
    if own:
        workers = max(1, min(int(cfg["report"].get("parallel_notebooks", 2)), len(steps)))
        kernels = _KernelPool(workers, [s.notebook for s in steps])
    workers = kernels.n
    base = {"quarter": qlabel, "data_dir": str(data_dir), "config": config_path, "lang": lang,
            "output_dir": str(build)}
    if pseudonymize:  # read by session.open; the key itself never goes into a notebook
        base["bestand_pseudonymize"] = True
    timings: dict[str, float] = {}
    peaks: dict[str, float | None] = {}
    queue = list(_longest_first(steps, reports_root))
    t_all = time.perf_counter()
    failed = True
    try:
        pending: dict[int, tuple] = {}  # worker -> (step, executed notebook, start time)

        def submit_next():
            for wid in range(workers):
                if queue and wid not in pending:
                    step = queue.pop(0)
                    out_nb = build / "notebooks" / step.notebook.name
                    kernels.assign(wid, (step.notebook.name, str(step.notebook), str(out_nb),
                                         {**base, "bestand_section": step.notebook.stem}))
                    pending[wid] = (step, out_nb, time.perf_counter())

        submit_next()
        while pending:
            msg = kernels.event(1.0)
            if msg is None:
                for wid, (step, out_nb, _t) in list(pending.items()):
                    code = kernels.exitcode(wid)
                    if code is not None:  # the worker died (killed, out of memory) with its notebook
                        status.clear()
                        kept = _keep_failed(out_nb, reports_root, qlabel)
                        raise NotebookFailed(step.notebook.name, None, "WorkerDied",
                                             f"the process running it exited with code {code}", kept)
            else:
                _kind, wid, _name, seconds, error, peak = msg
                step, out_nb, _t = pending.pop(wid)
                if error is not None:
                    queue.clear()
                    status.clear()
                    kept = _keep_failed(out_nb, reports_root, qlabel)
                    raise NotebookFailed(step.notebook.name, error["cell"], error["ename"],
                                         error["evalue"], kept)
                timings[step.notebook.name] = seconds
                peaks[step.notebook.name] = peak
                status.clear()
                log(_done_line(_step_label(step.notebook, step.title), round(seconds, 2)))
                submit_next()
            if pending and status.enabled:
                now = time.perf_counter()
                running = ", ".join(f"{_step_label(s.notebook, s.title)} {now - t:.0f} s"
                                    for s, _o, t in pending.values())
                status.show(f"  {running}  [{len(timings)}/{len(steps)} done, {now - t_all:.0f} s]")
        failed = False
    finally:
        status.clear()
        kernels.close(interrupt=failed)  # the kernels' memory is free before the pages are exported
    hdir = build / "highlights"
    names = sorted(p.name for p in hdir.glob("*.json")) if hdir.exists() else []
    highlight_order = [(s.href, [n for n in names if n.startswith(s.notebook.stem + "__")]) for s in steps]
    return ([{"notebook": s.notebook.name, "title": s.title, "seconds": round(timings[s.notebook.name], 2),
              "peak_mib": peaks.get(s.notebook.name)} for s in steps], highlight_order, workers)


def _longest_first(steps, reports_root: Path):
    """The steps, slowest first by the newest earlier run's timings (so two workers finish together).

    Without earlier timings the notebook order is kept. The report order does not depend on this.
    """
    runs = sorted(Path(reports_root).glob("*/run.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for run_json in runs[:1]:
        try:
            seconds = {n["notebook"]: n["seconds"] for n in json.loads(run_json.read_text())["notebooks"]}
        except (OSError, ValueError, KeyError, TypeError):
            return steps
        return sorted(steps, key=lambda s: -seconds.get(s.notebook.name, 0.0))
    return steps


def _keep_failed(out_nb: Path, reports_root: Path, qlabel: str) -> Path:
    target_dir = reports_root / "_failed" / qlabel
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / out_nb.name
    if out_nb.exists():
        shutil.copy2(out_nb, target)
    return target


def _render_pages(steps, build, lang, run):
    pages = [{"href": s.href, "title": s.title} for s in steps]
    footer = report.footer_text(run, lang)
    _pause_for_test("export")
    for s in steps:
        report.export_notebook_html(build / "notebooks" / s.notebook.name, build / s.href,
                                    nav=report.nav_html(pages, s.href, lang), footer=footer, lang=lang)


def _run_info(qlabel, q, lang, data_dir, config_path, tables, timings, started) -> dict:
    now = dt.datetime.now().astimezone()
    return {
        "quarter": qlabel,
        "lang": lang,
        "parameters": {"quarter": qlabel, "data_dir": str(data_dir), "config": config_path, "lang": lang},
        "data_until": str(periods.quarter_end(q).date()),
        "input_fingerprint": getattr(tables, "fingerprint", None),
        # rows read, excluded and used per table, and who read them (pandas or the engine)
        "rows": io.row_counts(tables).to_dict(orient="records") if hasattr(tables, "sources") else None,
        "generated_at": now.isoformat(timespec="seconds"),
        "generated_at_display": now.strftime("%d.%m.%Y %H:%M") if lang == "de" else now.strftime("%Y-%m-%d %H:%M"),
        "versions": _versions(),
        "notebooks": timings,
        "seconds_total": round(time.perf_counter() - started, 2),
    }


def _data_notes(tables, lang) -> list[str]:
    notes = []
    warnings = getattr(tables, "warnings", None)
    if warnings is not None and len(warnings):
        for _, w in warnings.head(20).iterrows():
            notes.append(i18n.t("note_load_warning", lang, file=w["file"], column=w["column"], message=w["message"]))
    return notes + _limitations(tables, lang)


def _single_order_customers(orders) -> int:
    """Customers with exactly one distinct order id (in the engine when the lines stay in their files)."""
    from bestandlib.engine import OrderLines

    if isinstance(orders, OrderLines):
        t = orders.ibis_table(orders.ibis_connection())
        per = t.group_by("customer_id").aggregate(n=t.order_id.nunique())
        return int(per.filter(per.n == 1).count().to_pandas())
    n_orders = orders.groupby("customer_id")["order_id"].nunique()
    return int((n_orders == 1).sum())


def _limitations(tables, lang) -> list[str]:
    """What the data cannot tell, in words: valid but unusual data must not pass unremarked."""
    notes = []
    orders = getattr(tables, "orders", None)
    if orders is not None and len(orders):
        single = _single_order_customers(orders)
        if single:
            notes.append(i18n.t("note_single_order", lang, count=single))
    customers = getattr(tables, "customers", None)
    if customers is not None and len(customers):
        units = customers["business_unit"].dropna()
        units = units[units.str.strip() != ""].unique()
        if len(units) == 1:
            notes.append(i18n.t("note_one_business_unit", lang, unit=units[0]))
    potentials = getattr(tables, "potentials", None)
    if potentials is not None and len(potentials):
        zero = int(potentials.loc[potentials["potential"] == 0, "customer_id"].nunique())
        if zero:
            notes.append(i18n.t("note_zero_potential", lang, count=zero))
    return notes
