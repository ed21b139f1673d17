"""Benchmark: the kit's panel build against idiomatic pandas and lifetimes, on N generated order lines.

Run from the repository root::

    python benchmarks/panel.py --lines 10000000 [--repeats 3] [--engine duckdb|ibis|pyspark]

Generates N order lines (seeded; customers 20k at 1M, 100k at 10M, 200k at 50M, 400k above; five
years 2021-2025; about three lines per order; 3 % credit notes) and streams them to a Parquet file in
chunks of one million lines, so generation never holds the whole log in memory; the file is kept in
``benchmarks/_data/`` (git-ignored) and reused by later runs of the same size (``--fresh`` regenerates,
``--workdir`` puts it elsewhere). Then each contender runs in a fresh Python process (start, imports,
read, compute, write the result to Parquet), timed by wall clock; peak memory is the child's maximum
resident set size (``os.wait4``):

* ``kit``: :func:`bestandlib.panel.build_panel_and_rfm` (panel and RFM summary from one scan) on the
  Parquet file (the engine reads it itself; ``--engine ibis``: the Ibis expressions on DuckDB);
* ``pandas``: the same panel and RFM summary with idiomatic pandas (groupby/agg/merge, no apply),
  skipped when it would not fit in memory (about 300 bytes per line);
* ``lifetimes``: ``summary_data_from_transaction_data`` (RFM only), skipped likewise.
* ``check``: :func:`bestandlib.engine.check_orders`, the validation of the lines in the engine (every
  check of the data contract, unknown customers included, in one scan; ``--skip-check`` leaves it out).
  Shown for information; the ratios compare the panel builds.

At every size the kit's and pandas' results are compared (same panel, same RFM table). The last line
is ``speedup_vs_pandas=<x> memory_ratio_vs_pandas=<y>`` (pandas time / kit time, pandas peak / kit
peak; medians over ``--repeats``), or ``pandas=skipped``. The ``load`` column is the machine's 1-minute
load average when the contender started: on a shared machine, compare only runs at similar load.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GROUPS = np.array(["Implantate", "Orthesen", "Bandagen", "Verbrauchsmaterial", "Instrumente",
                   "Geräte", "Service", "Ersatzteile"])
CHUNK = 1_000_000
BYTES_PER_LINE_PANDAS = 300  # measured peak of the pandas contender (13.9 to 14.2 GiB at 50M lines)
BYTES_PER_LINE_LIFETIMES = 130


def default_customers(n_lines: int) -> int:
    for limit, customers in ((1_000_000, 20_000), (10_000_000, 100_000), (50_000_000, 200_000)):
        if n_lines <= limit:
            return customers
    return 400_000


# --- generation ----------------------------------------------------------------------------------

def generate(path: Path, n_lines: int, n_customers: int, seed: int = 7) -> None:
    """Stream ``n_lines`` order lines to ``path`` in chunks (never more than a chunk in memory)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    start = np.datetime64("2021-01-01", "D")
    span = 5 * 365
    # customers: first order day, activity weight (a few big customers buy most), home product groups
    first_day = rng.integers(0, span - 30, n_customers)
    weight = rng.gamma(0.8, 1.0, n_customers)
    weight /= weight.sum()
    cum_weight = np.cumsum(weight)
    cust_ids = pa.array([f"K{i:07d}" for i in range(n_customers)])
    n_products = 400
    product_ids = pa.array([f"P{i:04d}" for i in range(n_products)])
    product_group = rng.integers(0, len(GROUPS), n_products)
    group_names = pa.array(GROUPS.tolist())
    schema = pa.schema([("order_id", pa.string()), ("customer_id", pa.string()), ("order_date", pa.date32()),
                        ("product_id", pa.string()), ("product_group", pa.string()),
                        ("quantity", pa.float64()), ("net_revenue", pa.float64()),
                        ("contribution_margin", pa.float64())])
    written, next_order = 0, 0
    with pq.ParquetWriter(path, schema, compression="snappy") as writer:
        while written < n_lines:
            n = min(CHUNK, n_lines - written)
            # orders of 1-5 lines (mean 3); each order one customer and one day
            n_orders = n // 2 + 1  # more than needed; the lines of the first n are kept
            per_order = rng.integers(1, 6, n_orders)
            order_of_line = np.repeat(np.arange(n_orders), per_order)[:n]
            n_orders = int(order_of_line[-1]) + 1
            cust = np.minimum(np.searchsorted(cum_weight, rng.random(n_orders)), n_customers - 1)
            day = first_day[cust] + (rng.random(n_orders) * (span - first_day[cust])).astype(np.int64)
            cust, day = cust[order_of_line], day[order_of_line]
            product = rng.integers(0, n_products, n)
            credit = rng.random(n) < 0.03
            quantity = np.where(credit, -1.0, rng.integers(1, 20, n).astype(float))
            revenue = np.round(rng.gamma(2.0, 150.0, n), 2)
            revenue[credit] *= -0.5
            margin = np.round(revenue * rng.uniform(0.1, 0.5, n), 2)
            order_no = pa.array(order_of_line + next_order)
            table = pa.table({
                "order_id": pc.binary_join_element_wise("A", pc.cast(order_no, pa.string()), ""),
                "customer_id": cust_ids.take(pa.array(cust)),
                "order_date": pa.array((start + day).astype("datetime64[D]"), pa.date32()),
                "product_id": product_ids.take(pa.array(product)),
                "product_group": group_names.take(pa.array(product_group[product])),
                "quantity": quantity, "net_revenue": revenue, "contribution_margin": margin,
            }, schema=schema)
            writer.write_table(table, row_group_size=CHUNK)
            written += n
            next_order += n_orders


# --- contenders (each runs in its own process) ---------------------------------------------------

def run_kit(data: Path, out: Path, engine: str) -> None:
    from bestandlib import panel

    if engine == "ibis":
        from bestandlib import engine as eng

        con = eng.connect("duckdb")
        panel_df = panel._finish(panel._panel_ibis(data, None, con))
        rfm = panel.rfm_summary(data, engine=con)
    else:
        # one scan of the lines for both (on DuckDB; other engines run the two expressions)
        panel_df, rfm = panel.build_panel_and_rfm(data, engine=engine)
    panel_df.to_parquet(out / "panel.parquet", index=False)
    rfm.to_parquet(out / "rfm.parquet", index=False)


def run_check(data: Path, out: Path) -> None:
    """The kit's validation of the lines in the engine (what ``bestand validate`` runs above
    ``data.engine_min_order_lines``): every check of the data contract in one scan, rows counted."""
    import json

    from bestandlib import engine as eng

    customers = [f"K{i:07d}" for i in range(int(data.stem.split("_")[-1]))]
    check = eng.check_orders(data, customers=customers, today="2026-01-01")
    (out / "check.json").write_text(json.dumps({"rows_in": check.rows_in, "rows_out": check.rows_out}))


def pandas_panel_and_rfm(o):
    """Panel and RFM summary with idiomatic pandas: vectorised groupby/agg/merge, no per-customer code.

    Computes every panel column the kit does (including purchase-day gaps and trailing-year product
    groups), so that both do the same work and their results can be compared.
    """
    import pandas as pd

    d = o["order_date"]
    o["qi"] = d.dt.year * 4 + d.dt.quarter - 1
    cq = o.groupby(["customer_id", "qi"], sort=False).agg(
        revenue=("net_revenue", "sum"), margin=("contribution_margin", "sum"),
        lines=("net_revenue", "size"), quantity=("quantity", "sum"))
    sale = o[o["net_revenue"] >= 0]
    cqs = sale.groupby(["customer_id", "qi"], sort=False).agg(
        orders=("order_id", "nunique"), product_groups=("product_group", "nunique"),
        first_d=("order_date", "min"), last_d=("order_date", "max"))
    first_group = sale.groupby(["customer_id", "product_group"], sort=False)["qi"].min()
    new_groups = first_group.reset_index().groupby(["customer_id", "qi"]).size().rename("new_product_groups")
    # purchase days: the gap to the customer's previous one counts in the quarter of the later day
    days = (sale[["customer_id", "order_date", "qi"]].drop_duplicates()
            .sort_values(["customer_id", "order_date"]))
    by_cust = days.groupby("customer_id", sort=False)
    days["gap"] = by_cust["order_date"].diff().dt.days.astype("float64")
    days["gap_sq"] = days["gap"] ** 2
    days["first_gap"] = days["gap"].where(by_cust["qi"].shift() != days["qi"])
    gaps = days.groupby(["customer_id", "qi"], sort=False).agg(
        order_days=("gap", "size"), gap_days_sum=("gap", "sum"), gap_days_sumsq=("gap_sq", "sum"),
        first_gap_days=("first_gap", "max"))
    del days
    cq = cq.join(cqs).join(new_groups).join(gaps).reset_index()
    cust = cq.groupby("customer_id").agg(first_qi=("qi", "min"), first_order_date=("first_d", "min"))
    last_qi = int(cq["qi"].max())
    n = last_qi - cust["first_qi"].to_numpy() + 1
    grid = pd.DataFrame({"customer_id": np.repeat(cust.index.to_numpy(), n),
                         "qi": np.concatenate([np.arange(f, last_qi + 1) for f in cust["first_qi"]])})
    # product groups of the trailing year: each (group, quarter) bought also counts in the next 3 quarters
    gq = sale[["customer_id", "product_group", "qi"]].drop_duplicates()
    spread = pd.concat([gq.assign(qi=gq["qi"] + k) for k in range(4)], ignore_index=True)
    groups_4q = spread.groupby(["customer_id", "qi"], sort=False)["product_group"].nunique().rename(
        "product_groups_4q")
    del gq, spread
    p = (grid.merge(cq, on=["customer_id", "qi"], how="left")
         .merge(groups_4q.reset_index(), on=["customer_id", "qi"], how="left")
         .sort_values(["customer_id", "qi"]))
    counts = ["orders", "lines", "product_groups", "new_product_groups", "order_days", "product_groups_4q"]
    p[counts] = p[counts].fillna(0).astype("int64")
    sums = ["revenue", "margin", "quantity", "gap_days_sum", "gap_days_sumsq"]
    p[sums] = p[sums].fillna(0.0)
    p = p.join(cust, on="customer_id")
    # running maximum; cummax leaves quarters without orders empty, so carry it forward
    p["last_order_date"] = p.groupby("customer_id")["last_d"].cummax()
    p["last_order_date"] = p.groupby("customer_id")["last_order_date"].ffill()
    period = pd.PeriodIndex.from_fields(year=(p["qi"] // 4).to_numpy(), quarter=(p["qi"] % 4 + 1).to_numpy(),
                                        freq="Q-DEC")
    p["quarter"] = period.astype(str)
    p["quarter_end"] = period.end_time.normalize().astype("datetime64[ns]")
    p["days_since_last_order"] = (p["quarter_end"] - p["last_order_date"]).dt.days.astype(float)
    p["tenure_quarters"] = p["qi"] - p["first_qi"]
    # RFM: purchase days, value per day, then first/last/total per customer
    days = o.groupby(["customer_id", "order_date"])["net_revenue"].sum().reset_index()
    g = days.groupby("customer_id")
    rfm = g.agg(n=("order_date", "size"), first=("order_date", "first"), last=("order_date", "last"),
                total=("net_revenue", "sum"), first_value=("net_revenue", "first"))
    end = days["order_date"].max()
    rfm["frequency"] = rfm["n"] - 1
    rfm["recency"] = (rfm["last"] - rfm["first"]).dt.days / 7.0
    rfm["T"] = (end - rfm["first"]).dt.days / 7.0
    rfm["monetary_value"] = np.where(rfm["frequency"] > 0,
                                     (rfm["total"] - rfm["first_value"]) / rfm["frequency"].clip(lower=1), 0.0)
    return p, rfm.reset_index()[["customer_id", "frequency", "recency", "T", "monetary_value"]]


def run_pandas(data: Path, out: Path) -> None:
    import pyarrow.parquet as pq

    cols = ["customer_id", "order_date", "order_id", "product_group", "quantity", "net_revenue",
            "contribution_margin"]
    # date32 -> datetime64 directly (as objects, dates are 7x slower)
    o = pq.read_table(data, columns=cols).to_pandas(date_as_object=False)
    o["order_date"] = o["order_date"].astype("datetime64[ns]")
    from bestandlib.panel import PANEL_COLUMNS

    p, rfm = pandas_panel_and_rfm(o)
    p[PANEL_COLUMNS].to_parquet(out / "panel.parquet", index=False)
    rfm.to_parquet(out / "rfm.parquet", index=False)


def run_lifetimes(data: Path, out: Path) -> None:
    warnings.filterwarnings("ignore")
    import pyarrow.parquet as pq
    from lifetimes.utils import summary_data_from_transaction_data

    o = pq.read_table(data, columns=["customer_id", "order_date", "net_revenue"]).to_pandas(date_as_object=False)
    rfm = summary_data_from_transaction_data(o, "customer_id", "order_date", monetary_value_col="net_revenue",
                                             freq="D")
    rfm.reset_index().to_parquet(out / "rfm.parquet", index=False)


# --- driver ----------------------------------------------------------------------------------------

def measure(contender: str, data: Path, out: Path, engine: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one contender in a fresh process."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, "--run", contender, "--data", str(data), "--out", str(out),
           "--engine", engine]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{contender} failed with exit code {proc.returncode}")
    return wall, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def same_results(a: Path, b: Path) -> bool:
    import pandas as pd

    for name in ("panel.parquet", "rfm.parquet"):
        x, y = pd.read_parquet(a / name), pd.read_parquet(b / name)
        y = y[x.columns].astype(x.dtypes.to_dict())
        try:
            pd.testing.assert_frame_equal(x.reset_index(drop=True), y.reset_index(drop=True),
                                          check_exact=False, rtol=1e-9, atol=1e-6)
        except AssertionError as exc:
            print(f"  {name} differs: {str(exc)[:300]}")
            return False
    return True


def available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--customers", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--engine", default="duckdb", help="duckdb (default), ibis (Ibis on DuckDB), pyspark")
    ap.add_argument("--skip-pandas", action="store_true")
    ap.add_argument("--skip-lifetimes", action="store_true")
    ap.add_argument("--skip-check", action="store_true", help="do not time the validation in the engine")
    ap.add_argument("--workdir", default=str(ROOT / "benchmarks" / "_data"),
                    help="where the generated data is kept and reused (default: benchmarks/_data)")
    ap.add_argument("--fresh", action="store_true", help="generate the data even if it exists")
    ap.add_argument("--run", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.run:  # child process: one contender
        sys.path.insert(0, str(ROOT))
        runner = {"kit": lambda d, o: run_kit(d, o, args.engine), "pandas": run_pandas,
                  "lifetimes": run_lifetimes, "check": run_check}[args.run]
        runner(Path(args.data), Path(args.out))
        return

    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    tmp = tempfile.TemporaryDirectory(prefix="bestand-bench-", dir=args.workdir)  # results only
    work = Path(tmp.name)
    customers = args.customers or default_customers(args.lines)
    data = Path(args.workdir) / f"orders_{args.lines}_{customers}.parquet"
    if args.fresh or not data.exists():
        t0 = time.perf_counter()
        partial = data.with_suffix(".partial")
        generate(partial, args.lines, customers)
        partial.replace(data)  # an interrupted run leaves no truncated file behind
        how = f"generated in {time.perf_counter() - t0:.1f} s"
    else:
        how = "reused"
    print(f"lines={args.lines:,} customers={customers:,} parquet={data.stat().st_size / 2**20:.0f} MiB "
          f"{how}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    fits = available_bytes()
    contenders = [("kit", f"kit ({args.engine})")]
    skipped = []
    for name, per_line, flag in (("pandas", BYTES_PER_LINE_PANDAS, args.skip_pandas),
                                 ("lifetimes", BYTES_PER_LINE_LIFETIMES, args.skip_lifetimes)):
        # the measured need plus 10 % headroom must fit into what the machine has available now
        if flag or args.lines * per_line * 1.1 > fits:
            skipped.append(name)
        else:
            contenders.append((name, name))
    results, load = {}, {}
    for name, label in contenders:
        load[name] = os.getloadavg()[0]
        runs = [measure(name, data, work / name, args.engine) for _ in range(args.repeats)]
        results[name] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
    kit_t, kit_m = results["kit"]
    print(f"{'contender':<16}{'wall s':>10}{'peak MiB':>11}{'time/kit':>10}{'mem/kit':>9}{'load':>7}")
    for name, label in contenders:
        t, m = results[name]
        print(f"{label:<16}{t:>10.1f}{m:>11.0f}{t / kit_t:>10.2f}{m / kit_m:>9.2f}{load[name]:>7.1f}")
    for name in skipped:
        print(f"{name:<16}{'skipped (would not fit in memory, or --skip)':>40}")
    if args.engine == "duckdb" and not args.skip_check:
        # validation is a separate step of a report run: measured, not part of the ratios
        wall, peak = measure("check", data, work / "check", args.engine)
        import json

        counts = json.loads((work / "check" / "check.json").read_text())
        print(f"{'check (duckdb)':<16}{wall:>10.1f}{peak:>11.0f}{wall / kit_t:>10.2f}{peak / kit_m:>9.2f}"
              f"{'':>7}  validation in the engine: {counts['rows_in']:,} rows in, {counts['rows_out']:,} valid")
    if "pandas" in results:
        print(f"kit and pandas give the same panel and RFM table: {same_results(work / 'kit', work / 'pandas')}")
        pt, pm = results["pandas"]
        print(f"speedup_vs_pandas={pt / kit_t:.2f} memory_ratio_vs_pandas={pm / kit_m:.2f}")
    else:
        print("pandas=skipped")
    tmp.cleanup()


if __name__ == "__main__":
    main()
