"""The ``bestand`` console script.

    bestand demo [--customers N] [--out DIR] [--shape NAME]
    bestand validate DATA_DIR [--config FILE]
    bestand import cdnow [--out DIR] [--source FILE] [--force]
    bestand template TABLE --data DIR [--out FILE] [--config FILE] [--no-name]
    bestand report [--quarter 2025Q4] [--data DIR] [--out DIR] [--config FILE] [--lang de|en] [--pseudonymize]
                   [--verbose]

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

    from bestandlib.demo import SHAPES

    d = sub.add_parser("demo", help="write the deterministic demo world")
    d.add_argument("--out", default=None, help="target folder (default data/raw/demo, with --shape "
                   "data/raw/demo_<shape>)")
    d.add_argument("--customers", type=int, default=None,
                   help="number of customers (default 2000, or the shape's)")
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--shape", default=None, choices=sorted(SHAPES),
                   help="a world of another shape from the robustness matrix (bestandlib.demo.SHAPES)")
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
    r.add_argument("-v", "--verbose", action="store_true",
                   help="also show the steps between the notebooks (data valid, panel, sections not "
                        "available, export, index, publish) with their seconds")

    im = sub.add_parser("import", help="convert a public data set into a data folder (cdnow: the "
                        "CDNOW purchase log shipped with the lifetimes package)")
    im.add_argument("dataset", choices=["cdnow"])
    im.add_argument("--out", default=str(paths.RAW_DIR / "cdnow"),
                    help="data folder to write (default data/raw/cdnow)")
    im.add_argument("--source", default=None,
                    help="a file in the CDNOW master format instead of lifetimes' copy")
    im.add_argument("--force", action="store_true", help="overwrite customers.csv/orders.csv in --out")

    t = sub.add_parser("template", help="write a fill-in CSV for an optional table (contacts, "
                       "complaints, ...), one row per known customer")
    t.add_argument("table", help="an optional table of the data contract, e.g. contacts")
    t.add_argument("--data", required=True, help="the data folder (must validate)")
    t.add_argument("--out", default=None, help="file to write (default <data>/templates/<table>.csv; "
                   "never overwritten)")
    t.add_argument("--config", default=None, help="YAML file the data folder is read with")
    t.add_argument("--no-name", action="store_true", help="leave out the name column")
    return p


def cmd_demo(args) -> int:
    from bestandlib import demo

    kwargs = dict(demo.SHAPES[args.shape]) if args.shape else {}
    if args.customers is not None:          # an explicit --customers wins over the shape's
        kwargs["customers"] = args.customers
    kwargs.setdefault("customers", 2000)
    default_out = paths.DEMO_DIR.parent / f"demo_{args.shape}" if args.shape else paths.DEMO_DIR
    out = Path(args.out) if args.out is not None else default_out
    if (out / "customers.csv").exists() and not args.force:
        print(f"Demo data already in {out} (use --force to regenerate).")
        return 0
    t0 = time.perf_counter()
    summary = demo.generate_demo(out, seed=args.seed, progress=True, **kwargs)
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
        print()
        print(_readiness_text(tables, cfg, data_dir))
    print(f"{data_dir}: valid ({len(problems)} warning(s), {time.perf_counter() - t0:.1f} s).")
    return 0


def _readiness_text(tables, cfg, data_dir) -> str:
    """What the data allow at their latest complete quarter: the data coverage and every section
    that cannot run, with its reason (the entry page's "Data coverage" block, in English).

    The panel it needs is cached like a report's (same key), so the `bestand report` that usually
    follows does not aggregate the order lines again.
    """
    from bestandlib import needs, periods, session

    first, last = tables.order_date_range()
    if last is None or last != last:  # NaT: no orders
        return "Readiness: no orders, nothing to report."
    q = periods.latest_complete_quarter(last)
    if periods.quarter_end(q) < first:
        q = periods.parse_quarter(str(last.to_period("Q")))
    cut = tables.cut(periods.quarter_end(q))
    pnl = session.panel_cached(cut, q, data_key=session.cache_key(Path(data_dir).resolve(), cfg), config=cfg)
    facts = needs.facts(cut, pnl, q)
    data, skipped = needs.coverage_view(cut, facts, cfg, "en")
    lines = [f"Readiness at {q} ({facts.quarters} quarters of history, {facts.customers:,} active customers):",
             data.to_string(index=False)]
    if len(skipped):
        lines += ["", "Sections not available:", skipped.to_string(index=False)]
        lines += ["", "A fill-in sheet for a missing table: bestand template TABLE --data DIR"]
    else:
        lines.append("Every section can run.")
    return "\n".join(lines)


def cmd_report(args) -> int:
    from bestandlib import pipeline

    kwargs = {"detail": pipeline.stderr_log} if args.verbose else {}
    final = pipeline.run_report(quarter=args.quarter, data_dir=args.data, reports_root=args.out,
                                config=args.config, lang=args.lang, pseudonymize=args.pseudonymize, **kwargs)
    # On a terminal the closing line on stderr already names the entry page; a script reading
    # stdout (`page=$(bestand report)`) gets the bare path.
    if not sys.stdout.isatty():
        print(final / "index.html")
    return 0


def cmd_import(args) -> int:
    import shlex

    from bestandlib import importers, periods

    s = importers.cdnow(args.out, source=args.source, overwrite=args.force)
    out = shlex.quote(str(s["out_dir"]))
    quarter = periods.latest_complete_quarter(s["last_date"])  # 1998Q2 for the master log
    print(f"CDNOW purchase log ({s['source']}) written to {s['out_dir']}:")
    print(f"  customers.csv  {s['customers']:,} customers")
    print(f"  orders.csv     {s['orders']:,} order lines, {s['first_date']} .. {s['last_date']}, "
          f"amounts in USD ({s['zero_value_rows']:,} with amount 0); no margin, no products")
    print("Next:")
    print(f"  bestand validate {out}")
    print(f"  bestand report --data {out} --config {shlex.quote(str(s['config']))} "
          f"--quarter {periods.quarter_label(quarter)}")
    print(f"({s['config'].name} sets report.currency: USD, so amounts read $1,234.56.)")
    return 0


def cmd_template(args) -> int:
    from bestandlib import sheets

    path = sheets.write_template(args.table, args.data, out=args.out, config=args.config,
                                 with_name=not args.no_name)
    table = args.table.strip().lower()
    print(f"Template for {table} written to {path} (one row per customer).")
    print(f"Fill it in: one row per {table} entry (copy a customer's line for a second one, delete the "
          "lines of customers with nothing to record)"
          + ("; the name column is for reading only (bestand ignores it with a warning)."
             if not args.no_name else "."))
    print(f"Then move it into the data folder as {Path(args.data) / (table + '.csv')} and run "
          f"`bestand validate {args.data}`.")
    if args.out is None:
        print(f"(Until filled in its required cells are empty, so it is not valid data: it waits in "
              f"{path.parent.name}/, a subfolder bestand does not read.)")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"demo": cmd_demo, "validate": cmd_validate, "report": cmd_report,
                "import": cmd_import, "template": cmd_template}
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
