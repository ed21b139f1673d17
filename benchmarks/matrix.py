"""Benchmark: the robustness matrix - a report on every ``demo.SHAPES`` world, in German and English.

Run from the repository root::

    python benchmarks/matrix.py [--shapes years_1,two_tables] [--out DIR]

Every world of :data:`bestandlib.demo.SHAPES` (small worlds of about 200 customers with a different
*shape* than the demo: history length, business units, a bare customer master, missing tables and
columns, ...) is generated into ``<out>/worlds/<world>``; when the package ``lifetimes`` is installed,
the CDNOW purchase log is converted too (:func:`bestandlib.importers.cdnow`, reported at 1998Q2 with
the ``_bestand.yml`` the importer writes). Then each world is reported with the CLI
(``bestand report --data ... --out <out>/reports/<world>/<lang> --lang ...``), each in its own Python
process, timed by wall clock (process start included): German first, with an empty validated-data cache
(``BESTAND_CACHE=<out>/cache``, fresh for this run), then English, reusing that cache.

The table at the end has one row per world and language: the exit code (0 = published), wall seconds,
the number of sections not available with these data (``run.json`` "sections") and their keys. A
failed report names the notebook, cell and error below the table; the executed notebook is kept under
``<out>/reports/<world>/<lang>/_failed/<quarter>/``.

``--shapes`` picks worlds (comma-separated; ``cdnow`` is one of them). Without ``--out`` everything
goes to a temporary folder that is deleted afterwards, unless a report failed (it is then kept and
named). The exit code is 1 when any report failed.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CDNOW = "cdnow"
CDNOW_QUARTER = "1998Q2"
LANGS = ("de", "en")  # German first (empty cache), English reuses the cache


def _lifetimes_installed() -> bool:
    try:
        return importlib.util.find_spec("lifetimes") is not None
    except (ImportError, ValueError):
        return False


def _worlds(shapes_arg: str | None) -> list[str]:
    from bestandlib.demo import SHAPES

    known = [*SHAPES, CDNOW]
    if not shapes_arg:
        return [*SHAPES, *([CDNOW] if _lifetimes_installed() else [])]
    names = [s.strip() for s in shapes_arg.split(",") if s.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown shape(s): {', '.join(unknown)}; known: {', '.join(known)}")
    if CDNOW in names and not _lifetimes_installed():
        raise SystemExit('cdnow needs the package lifetimes: pip install "lifetimes==0.11.3"')
    return names


def generate(world: str, data_dir: Path) -> dict:
    """Write ``world`` into ``data_dir``; returns the extra report arguments (config, quarter)."""
    if world == CDNOW:
        from bestandlib import importers

        summary = importers.cdnow(data_dir, overwrite=True)
        return {"config": str(summary["config"]), "quarter": CDNOW_QUARTER}
    from bestandlib.demo import SHAPES, generate_demo

    if data_dir.exists():
        shutil.rmtree(data_dir)
    generate_demo(data_dir, **SHAPES[world])
    return {}


def _failure(stderr: str) -> str:
    """The CLI's error message (``bestand: error: Notebook ... failed in cell N: ...``), one line."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if line.startswith("bestand: error:") or line.startswith("Invalid input data"):
            return line
    return (lines[-1] if lines else "no output")[:500]


def render(world: str, data_dir: Path, out: Path, lang: str, cache: Path, extra: dict) -> dict:
    """One report with the CLI in a fresh process; returns a row of the table."""
    cmd = [sys.executable, "-m", "bestandlib.cli", "report", "--data", str(data_dir), "--out", str(out),
           "--lang", lang]
    if extra.get("config"):
        cmd += ["--config", extra["config"]]
    if extra.get("quarter"):
        cmd += ["--quarter", extra["quarter"]]
    env = {**os.environ, "BESTAND_CACHE": str(cache), "MPLBACKEND": "Agg"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    row = {"world": world, "lang": lang, "rc": proc.returncode, "seconds": seconds,
           "n_unavailable": None, "unavailable": [], "error": None, "quarter": None}
    if proc.returncode != 0:
        row["error"] = _failure(proc.stderr)
        return row
    index = Path(proc.stdout.strip().splitlines()[-1])
    run = json.loads((index.parent / "run.json").read_text(encoding="utf-8"))
    skipped = [s["section"] for s in run.get("sections", []) if not s["available"]]
    row.update(n_unavailable=len(skipped), unavailable=skipped, quarter=run.get("quarter"))
    return row


def table(rows: list[dict]) -> str:
    head = ["world", "lang", "quarter", "exit", "ok", "seconds", "n_na", "not available"]
    body = [[r["world"], r["lang"], r["quarter"] or "-", str(r["rc"]), "ok" if r["rc"] == 0 else "FAIL",
             f"{r['seconds']:.1f}", "-" if r["n_unavailable"] is None else str(r["n_unavailable"]),
             ", ".join(r["unavailable"]) if r["rc"] == 0 else "-"] for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *(fmt(b) for b in body)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", help="comma-separated worlds of demo.SHAPES (and 'cdnow'); default all")
    ap.add_argument("--out", help="working folder (worlds, reports, cache); default a temporary folder")
    args = ap.parse_args(argv)

    worlds = _worlds(args.shapes)
    keep = args.out is not None
    base = Path(args.out).resolve() if keep else Path(tempfile.mkdtemp(prefix="bestand-matrix-"))
    cache = base / "cache"
    if cache.exists():
        shutil.rmtree(cache)  # German renders with an empty cache
    cache.mkdir(parents=True)
    if not _lifetimes_installed() and not args.shapes:
        print("(lifetimes not installed: the CDNOW world is left out)", flush=True)

    rows: list[dict] = []
    started = time.perf_counter()
    for i, world in enumerate(worlds, 1):
        data_dir = base / "worlds" / world
        t0 = time.perf_counter()
        extra = generate(world, data_dir)
        progress = [f"[{i}/{len(worlds)}] {world:<16} generated {time.perf_counter() - t0:5.1f} s"]
        for lang in LANGS:
            out = base / "reports" / world / lang
            if out.exists():
                shutil.rmtree(out)
            row = render(world, data_dir, out, lang, cache, extra)
            rows.append(row)
            progress.append(f"{lang} {'ok' if row['rc'] == 0 else 'FAIL rc=' + str(row['rc'])} "
                            f"{row['seconds']:5.1f} s")
        print(" | ".join(progress), flush=True)
        for row in rows[-len(LANGS):]:
            if row["error"]:
                print(f"    {row['lang']}: {row['error']}", flush=True)

    print()
    print(table(rows))
    failed = [r for r in rows if r["rc"] != 0]
    ok = [r for r in rows if r["rc"] == 0]
    print(f"\n{len(rows)} reports, {len(ok)} ok, {len(failed)} failed; "
          f"total {time.perf_counter() - started:.0f} s")
    for lang in LANGS:
        secs = [r["seconds"] for r in ok if r["lang"] == lang]
        if secs:
            print(f"  {lang}: mean {sum(secs) / len(secs):.1f} s per report")
    if failed:
        print("\nFailures:")
        for r in failed:
            print(f"  {r['world']} ({r['lang']}): {r['error']}")
        print(f"\nWorking folder kept: {base}")
    elif not keep:
        shutil.rmtree(base, ignore_errors=True)
    else:
        print(f"\nWorking folder: {base}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
