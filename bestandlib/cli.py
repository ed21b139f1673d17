"""The ``bestand`` console script.

    bestand demo [--customers N] [--out DIR]
    bestand validate DATA_DIR [--config FILE]
    bestand report [--quarter 2025Q4] [--data DIR] [--out DIR] [--config FILE] [--lang de|en] [--pseudonymize]

User errors (bad data, bad config, a locked quarter, a failing notebook) print a clear message and exit
non-zero without a traceback; ``--debug`` shows it.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bestandlib import paths
from bestandlib.errors import BestandError, DataValidationError

EXIT_USER_ERROR = 2
EXIT_INVALID_DATA = 3
EXIT_NOTEBOOK_FAILED = 4


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bestand", description="Existing-customer management: demo data, "
                                "validation and quarterly reports.")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="write the deterministic demo world")
    d.add_argument("--out", default=str(paths.DEMO_DIR), help="target folder (default data/raw/demo)")
    d.add_argument("--customers", type=int, default=2000, help="number of customers (default 2000)")
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--force", action="store_true", help="overwrite an existing demo world")

    v = sub.add_parser("validate", help="check a data folder against the data contract")
    v.add_argument("data_dir")
    v.add_argument("--config", default=None)
    v.add_argument("--max-rows", type=int, default=50, help="problems to list (default 50)")

    r = sub.add_parser("report", help="render the quarterly report")
    r.add_argument("--quarter", default=None, help="e.g. 2025Q4 (default: latest complete quarter)")
    r.add_argument("--data", default=str(paths.DEMO_DIR), help="data folder (default: demo data)")
    r.add_argument("--out", default=str(paths.REPORTS_DIR), help="reports folder (default reports/)")
    r.add_argument("--config", default=None, help="YAML file overriding bestandlib/bestand.yml")
    r.add_argument("--lang", default="de", choices=["de", "en"])
    r.add_argument("--pseudonymize", action="store_true",
                   help="replace customer names by stable pseudonyms (key: $BESTAND_PSEUDONYM_KEY or "
                        "privacy.pseudonym_key), for sharing outside the sales team; the per-manager "
                        "action lists keep real names")
    return p


def cmd_demo(args) -> int:
    from bestandlib import demo

    out = Path(args.out)
    if (out / "customers.csv").exists() and not args.force:
        print(f"Demo data already in {out} (use --force to regenerate).")
        return 0
    t0 = time.perf_counter()
    summary = demo.generate_demo(out, customers=args.customers, seed=args.seed, progress=True)
    print(f"Demo world written to {out} in {time.perf_counter() - t0:.1f} s: {summary}")
    return 0


def cmd_validate(args) -> int:
    from bestandlib import io
    from bestandlib.config import load_config

    cfg = load_config(args.config)
    data_dir = Path(args.data_dir)
    t0 = time.perf_counter()
    tables, problems = io.inspect(data_dir, cfg)
    errors = problems[problems["severity"] == "error"] if len(problems) else problems
    if len(problems):
        print(io.format_problems(problems, max_rows=args.max_rows))
    if len(errors):
        print(f"\n{data_dir}: {len(errors)} error(s). Fix them and run `bestand validate` again.",
              file=sys.stderr)
        return EXIT_INVALID_DATA
    if tables is not None:
        # rows in and out per table: every row read is used or counted as excluded
        counts = io.row_counts(tables)
        print(counts.to_string(index=False, formatters={c: "{:,}".format for c in
                                                         ("rows_read", "rows_excluded", "rows_used")}))
    print(f"{data_dir}: valid ({len(problems)} warning(s), {time.perf_counter() - t0:.1f} s).")
    return 0


def cmd_report(args) -> int:
    from bestandlib import pipeline

    final = pipeline.run_report(quarter=args.quarter, data_dir=args.data, reports_root=args.out,
                                config=args.config, lang=args.lang, pseudonymize=args.pseudonymize)
    print(final / "index.html")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"demo": cmd_demo, "validate": cmd_validate, "report": cmd_report}
    try:
        return handlers[args.command](args)
    except DataValidationError as exc:
        if args.debug:
            raise
        from bestandlib import io

        print(io.format_problems(exc.problems), file=sys.stderr)
        print(f"\nInvalid input data: {exc}", file=sys.stderr)
        return EXIT_INVALID_DATA
    except BestandError as exc:
        if args.debug:
            raise
        print(f"bestand: error: {exc}", file=sys.stderr)
        from bestandlib.pipeline import NotebookFailed

        return EXIT_NOTEBOOK_FAILED if isinstance(exc, NotebookFailed) else EXIT_USER_ERROR
    except BrokenPipeError:  # `bestand validate DIR | head`: the reader left, not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("bestand: interrupted; the previous report is unchanged.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
