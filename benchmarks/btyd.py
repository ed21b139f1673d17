"""Benchmark: bestandlib.btyd against lifetimes 0.11.3 (fit time, RFM-summary time, same results).

Run from the repository root::

    python benchmarks/btyd.py [--repeats 3] [--summary-repeats 7]

Two data sets: the CDNOW master file shipped with lifetimes (69,659 lines, 23,570 customers,
1997-01-01..1998-06-30) and a generated log of 1,000,000 order lines in date order (20,000
customers, five years, seeded). For each: the RFM summary (weeks = days / 7, same-day purchases
merged, mean repeat spend) with both libraries, then BG/NBD, Pareto/NBD and Gamma-Gamma fits with
both libraries on the same summary. Both data sets have fixed-width string customer ids, which
the kit codes as integers; an extra, uncounted line shows the generated log with variable-width
ids (pandas' string factorize). Times are the best of ``--summary-repeats`` (7) resp.
``--repeats`` (3) runs; kit and lifetimes runs alternate, so both see the same load on a shared
machine, and lifetimes runs with BLAS limited to one thread like the kit's optimiser (its best
case). "same" compares the summaries exactly (1e-9 relative). Fitted parameters agree to about
1e-4 (lifetimes' optimisers stop earlier); ``ll_kit_minus_lifetimes`` >= 0 means the kit's
optimum is at least as high as lifetimes', both evaluated with the same likelihood.

The last line is ``fit_speedup=<x> summary_speedup=<y>``: total lifetimes time divided by total
kit time over all fits (resp. summaries) of both data sets.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

warnings.filterwarnings("ignore")  # lifetimes emits deprecation and runtime warnings on pandas 3

import lifetimes  # noqa: E402
from lifetimes.utils import summary_data_from_transaction_data  # noqa: E402

from bestandlib import btyd  # noqa: E402

DATASETS = Path(lifetimes.__file__).with_name("datasets")


def load_cdnow_master() -> pd.DataFrame:
    raw = pd.read_csv(
        DATASETS / "CDNOW_master.txt", sep=r"\s+", header=0,
        names=["customer_id", "date", "cds", "net_revenue"], dtype={"customer_id": str, "date": str},
    )
    raw["order_date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    return raw[["customer_id", "order_date", "net_revenue"]]


def generate_order_log(n_lines=1_000_000, n_customers=20_000, seed=7) -> pd.DataFrame:
    """A BG/NBD-like order log in date order: gamma purchase rates, beta drop-out, several lines per order."""
    rng = np.random.default_rng(seed)
    start, end = np.datetime64("2021-01-01"), np.datetime64("2025-12-31")
    span = int((end - start).astype(int))
    first = rng.integers(0, span - 90, n_customers)
    rate = rng.gamma(1.5, 1 / 45, n_customers)  # purchases per day while alive (mean one a month)
    repeats_before_dropout = rng.geometric(rng.beta(1.0, 12.0, n_customers)) - 1
    k_max = 200
    gaps = rng.exponential(1.0, (n_customers, k_max)) / rate[:, None]
    days = first[:, None] + np.concatenate([np.zeros((n_customers, 1)), np.cumsum(gaps, axis=1)[:, :-1]], axis=1)
    alive = (np.arange(k_max)[None, :] <= repeats_before_dropout[:, None]) & (days <= span)
    cust, order_day = np.nonzero(alive)[0], days[alive].astype(np.int64)
    lines_per_order = 1 + rng.poisson(max(n_lines / len(cust) * 1.1 - 1, 0.0), len(cust))
    line_cust = np.repeat(cust, lines_per_order)
    line_day = np.repeat(order_day, lines_per_order)
    pick = rng.choice(len(line_cust), n_lines, replace=False)
    pick = pick[np.argsort(line_day[pick], kind="stable")]  # an ERP export: lines in date order
    ids = np.char.add("K", np.char.zfill(np.arange(n_customers).astype(str), 6))
    return pd.DataFrame(
        {
            "customer_id": ids[line_cust[pick]],
            "order_date": start + line_day[pick].astype("timedelta64[D]"),
            "net_revenue": np.round(rng.lognormal(5.0, 1.0, n_lines), 2),
        }
    ).astype({"customer_id": str, "order_date": "datetime64[ns]"})


def timed_pair(kit_fn, lifetimes_fn, repeats):
    """Best-of-n times of both functions, run alternately so both see the same machine load.

    On a shared machine the minimum is the least disturbed run (timeit's advice). lifetimes runs
    with BLAS limited to one thread, like the kit's optimiser: idle BLAS threads on a busy 2-core
    machine slow its fits down several-fold, which would flatter the comparison.
    """
    kit_times, lt_times, kit_result, lt_result = [], [], None, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        kit_result = kit_fn()
        kit_times.append(time.perf_counter() - t0)
        with threadpool_limits(limits=1, user_api="blas"):
            t0 = time.perf_counter()
            lt_result = lifetimes_fn()
            lt_times.append(time.perf_counter() - t0)
    return min(kit_times), kit_result, min(lt_times), lt_result


def kit_summary(orders):
    return btyd.rfm_summary(orders, time_unit="W")


def lifetimes_summary(orders):
    # freq="D" merges same-day purchases; freq_multiplier=7 turns days into weeks (days / 7)
    return summary_data_from_transaction_data(
        orders, "customer_id", "order_date", monetary_value_col="net_revenue", freq="D", freq_multiplier=7
    )


def same_summary(kit, lt) -> bool:
    lt = lt.loc[kit["customer_id"].to_numpy()]
    return all(
        np.allclose(kit[c].to_numpy(float), lt[c].to_numpy(float), rtol=1e-9, atol=1e-9)
        for c in ("frequency", "recency", "T", "monetary_value")
    )


def lifetimes_gamma_gamma(frequency, monetary_value):
    """lifetimes' Gamma-Gamma fit; its BFGS (tol=1e-7) sometimes stops with "precision loss" at the
    optimum and raises ConvergenceError - then it is refitted with tol=1e-6 (the time includes both)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # lifetimes prints the optimiser result on failure
            return lifetimes.GammaGammaFitter().fit(frequency, monetary_value)
    except lifetimes.utils.ConvergenceError:
        return lifetimes.GammaGammaFitter().fit(frequency, monetary_value, tol=1e-6)


def run_fits(rfm, repeats):
    """Fit the three models with both libraries; yield one result row per model."""
    x, tx, T = (rfm[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    rep = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]  # spend model needs positive spend
    xm, mv = rep["frequency"].to_numpy(float), rep["monetary_value"].to_numpy(float)
    specs = [
        ("BG/NBD", btyd.BetaGeoModel, lambda: btyd.BetaGeoModel().fit(x, tx, T),
         lambda: lifetimes.BetaGeoFitter().fit(x, tx, T), ("r", "alpha", "a", "b"), {}),
        ("Pareto/NBD", btyd.ParetoNBDModel, lambda: btyd.ParetoNBDModel().fit(x, tx, T),
         lambda: lifetimes.ParetoNBDFitter().fit(x, tx, T), ("r", "alpha", "s", "beta"), {}),
        ("Gamma-Gamma", btyd.GammaGammaModel, lambda: btyd.GammaGammaModel().fit(xm, mv),
         lambda: lifetimes_gamma_gamma(xm, mv), ("p", "q", "v"), {"v": "gamma"}),
    ]
    for name, cls, kit_fit, lt_fit, lt_names, rename in specs:
        t_kit, kit, t_lt, lt = timed_pair(kit_fit, lt_fit, repeats)
        lt_params = np.array([lt.params_[k] for k in lt_names])
        kit_params = np.array([kit.params_[rename.get(k, k)] for k in lt_names])
        # log-likelihood of lifetimes' estimate, in the kit's units
        if cls is btyd.GammaGammaModel:
            ll_lt = float(cls._loglik(lt_params, xm, mv)[0].sum())
        else:
            ll_lt = float(cls._loglik(lt_params, x, tx, T)[0].sum())
        yield {
            "model": name, "kit_s": t_kit, "lifetimes_s": t_lt, "speedup": t_lt / t_kit,
            "max_rel_param_diff": float(np.max(np.abs(kit_params - lt_params) / np.abs(lt_params))),
            "ll_kit": kit.log_likelihood_, "ll_kit_minus_lifetimes": kit.log_likelihood_ - ll_lt,
        }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per fit (best is reported)")
    parser.add_argument("--summary-repeats", type=int, default=7, help="runs per RFM summary")
    args = parser.parse_args(argv)

    datasets = {"CDNOW master": load_cdnow_master(), "generated 1M lines": generate_order_log()}
    summary_rows, fit_rows = [], []
    for label, orders in datasets.items():
        t_kit, kit, t_lt, lt = timed_pair(lambda: kit_summary(orders), lambda: lifetimes_summary(orders), args.summary_repeats)
        summary_rows.append({
            "data": label, "lines": len(orders), "customers": len(kit), "kit_s": t_kit, "lifetimes_s": t_lt,
            "speedup": t_lt / t_kit, "same": same_summary(kit, lt),
        })
        for row in run_fits(kit, args.repeats):
            fit_rows.append({"data": label, "customers": len(kit), **row})

    # Both data sets have fixed-width string ids (CDNOW "00001", generated "K000123"), which the kit
    # codes as integers; variable-width ids take pandas' string factorize. Shown for information,
    # not counted in summary_speedup.
    generated = datasets["generated 1M lines"]
    variable = generated.assign(customer_id=generated["customer_id"].str.replace(r"^K0+", "K", regex=True))
    t_var_kit, kit_var, t_var_lt, lt_var = timed_pair(
        lambda: kit_summary(variable), lambda: lifetimes_summary(variable), max(args.summary_repeats // 2, 1)
    )

    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    summaries, fits = pd.DataFrame(summary_rows), pd.DataFrame(fit_rows)
    print(
        f"bestandlib.btyd vs lifetimes {lifetimes.__version__}, seconds, best of {args.summary_repeats} runs "
        f"(summaries) and {args.repeats} runs (fits)\n"
    )
    print("RFM summary")
    print(summaries.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(
        f"(not counted) generated 1M lines with variable-width ids: kit {t_var_kit:.4g} s, lifetimes "
        f"{t_var_lt:.4g} s, speedup {t_var_lt / t_var_kit:.1f}, same {same_summary(kit_var, lt_var)}"
    )
    print("\nFits (same RFM summary for both libraries)")
    print(fits.to_string(index=False, formatters={
        "ll_kit": "{:.2f}".format, "ll_kit_minus_lifetimes": "{:+.2e}".format, "max_rel_param_diff": "{:.1e}".format,
    }, float_format=lambda v: f"{v:.4g}"))
    fit_speedup = fits["lifetimes_s"].sum() / fits["kit_s"].sum()
    summary_speedup = summaries["lifetimes_s"].sum() / summaries["kit_s"].sum()
    print(f"\nslowest single fit speedup: {fits['speedup'].min():.1f}x ({fits.loc[fits['speedup'].idxmin(), 'model']})")
    print(f"fit_speedup={fit_speedup:.1f} summary_speedup={summary_speedup:.1f}")


if __name__ == "__main__":
    main()
