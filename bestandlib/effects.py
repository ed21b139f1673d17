"""Did our measures work? Outcomes of planned measures, a randomized hold-out and its uplift, and the
observational comparison with similar untreated customers.

The seed article promises that the process lets the company "learn faster from experience". Two ways
to learn, in the order of their evidence:

* **randomized hold-out** (``actions.holdout_share``): each quarter a stable, seeded share of the
  customers the plan would treat is left untreated on purpose (:func:`in_holdout`, a hash of customer id,
  quarter and seed, so reruns agree). Treated and held-out customers differ only by chance, so the
  difference of their outcomes is the measure's effect (intention to treat: every planned customer
  counts as treated, done or not);
* **observational comparison**: treated customers against untreated ones who looked the same when the
  measure was planned (same phase, quadrant, risk band and size band: coarsened exact matching). This
  is observational: whoever chose the treated customers may have seen more than the data.

The outcome of a measure planned in quarter q is the churn target of q (``churn.target``: no order in the
next quarters or revenue falling below a share of the last four), known once its window has passed.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from bestandlib import periods

OUTCOME_COLUMNS = ["customer_id", "action", "quarter", "holdout", "done", "churn", "kept", "revenue_change"]


def in_holdout(customer_ids, quarter, share: float, seed: int = 0) -> np.ndarray:
    """Whether each customer is held out in ``quarter``: ``sha256(seed:customer:quarter)`` read as a
    number in [0, 1) below ``share``. Stable across runs, machines and the order of the customers."""
    q = str(periods.quarter_label(quarter)) if not isinstance(quarter, str) else quarter
    if share <= 0:
        return np.zeros(len(customer_ids), dtype=bool)
    u = [int.from_bytes(hashlib.sha256(f"{seed}:{c}:{q}".encode()).digest()[:8], "big") / 2.0 ** 64
         for c in customer_ids]
    return np.asarray(u) < share


def outcomes(log: pd.DataFrame, panel: pd.DataFrame, config=None) -> pd.DataFrame:
    """One row per planned measure with its outcome: ``OUTCOME_COLUMNS``.

    ``quarter`` is the quarter of ``planned_on``; ``churn`` (1/0) the churn target of that quarter
    (NaN while its window is not over), ``kept`` = 1 − churn, ``revenue_change`` the relative change of
    the revenue of the four quarters after against the four quarters up to the planning quarter.
    """
    from bestandlib import churn as churn_mod

    if log is None or log.empty:
        return pd.DataFrame(columns=OUTCOME_COLUMNS)
    rows = log.dropna(subset=["planned_on"]).copy()
    rows["quarter"] = rows["planned_on"].dt.to_period("Q").astype(str)
    holdout = rows["holdout"] if "holdout" in rows else pd.Series(0, index=rows.index)
    rows["holdout"] = holdout.fillna(0).astype(int)
    rows["done"] = rows["done_on"].notna() if "done_on" in rows else False
    targets = churn_mod.churn_targets(panel, config)[["customer_id", "quarter", "churn"]]
    f = panel[["customer_id", "quarter", "revenue"]].sort_values(["customer_id", "quarter"], ignore_index=True)
    g = f.groupby("customer_id", sort=False)["revenue"]
    last4 = g.rolling(4, min_periods=4).sum().reset_index(level=0, drop=True)
    cs = g.cumsum()
    next4 = cs.groupby(f["customer_id"], sort=False).shift(-4) - cs
    change = ((next4 - last4) / last4.where(last4 > 0)).rename("revenue_change")
    f = pd.concat([f[["customer_id", "quarter"]], change], axis=1)
    out = (rows.merge(targets, on=["customer_id", "quarter"], how="left")
           .merge(f, on=["customer_id", "quarter"], how="left"))
    out["kept"] = 1.0 - out["churn"]
    return out[OUTCOME_COLUMNS].reset_index(drop=True)


def _diff_of_proportions(k1: int, n1: int, k0: int, n0: int, alpha: float) -> tuple[float, float, float]:
    """Difference k1/n1 − k0/n0 with Newcombe's hybrid score interval (statsmodels)."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    low, high = confint_proportions_2indep(k1, n1, k0, n0, method="newcomb", compare="diff", alpha=alpha)
    return k1 / n1 - k0 / n0, float(low), float(high)


def holdout_effects(out: pd.DataFrame, min_n: int = 10, alpha: float = 0.05) -> pd.DataFrame:
    """Per measure: kept rate of the planned (treated, intention to treat) against the held-out
    customers with a known outcome, their difference (the uplift) and its interval.

    Columns ``action, n_treated, n_holdout, kept_treated, kept_holdout, uplift, uplift_low, uplift_high,
    revenue_change_treated, revenue_change_holdout, enough``; ``enough`` is False (and the estimate
    empty) for measures with fewer than ``min_n`` customers with a known outcome in either group.
    """
    known = out[out["kept"].notna()]
    rows = []
    for action, g in known.groupby("action", sort=True):
        t, h = g[g["holdout"] == 0], g[g["holdout"] == 1]
        row = {"action": action, "n_treated": len(t), "n_holdout": len(h),
               "kept_treated": t["kept"].mean() if len(t) else np.nan,
               "kept_holdout": h["kept"].mean() if len(h) else np.nan,
               "revenue_change_treated": t["revenue_change"].median() if len(t) else np.nan,
               "revenue_change_holdout": h["revenue_change"].median() if len(h) else np.nan,
               "uplift": np.nan, "uplift_low": np.nan, "uplift_high": np.nan,
               "enough": len(t) >= min_n and len(h) >= min_n}
        if row["enough"]:
            row["uplift"], row["uplift_low"], row["uplift_high"] = _diff_of_proportions(
                int(t["kept"].sum()), len(t), int(h["kept"].sum()), len(h), alpha)
        rows.append(row)
    cols = ["action", "n_treated", "n_holdout", "kept_treated", "kept_holdout", "uplift", "uplift_low", "uplift_high",
            "revenue_change_treated", "revenue_change_holdout", "enough"]
    return pd.DataFrame(rows, columns=cols)


def _bands(x: pd.Series, n: int = 3) -> pd.Series:
    """Tercile bands of a covariate within its quarter (ties share a band; missing = own band)."""
    ranks = x.rank(method="average", pct=True)
    return np.ceil(ranks * n).clip(1, n).fillna(0).astype(int)


def matched_effects(out: pd.DataFrame, covariates: pd.DataFrame, min_n: int = 10, alpha: float = 0.05,
                    n_boot: int = 500, seed: int = 0) -> pd.DataFrame:
    """Observational estimate per measure: treated customers (planned, not held out) against untreated
    customers who looked the same in the planning quarter (coarsened exact matching).

    ``covariates``: one row per customer-quarter with ``customer_id, quarter, churn`` (the outcome, see
    :func:`outcomes`) and the matching variables: categorical columns (e.g. ``phase``, ``quadrant``)
    are matched exactly, numeric ones (e.g. ``risk``, ``revenue_12m``) in tercile bands within the
    quarter. Untreated = not in the log that quarter. The estimate is the treated customers' kept rate
    minus their matched controls' kept rate (weighted by treated per stratum, the effect on the
    treated), with a bootstrap interval over the treated customers (the controls' stratum means are
    taken as known: controls far outnumber the treated). Columns ``action, n_treated, n_matched,
    n_controls, kept_treated, kept_controls, effect, effect_low, effect_high, enough``.
    """
    cov = covariates[covariates["churn"].notna()].copy()
    match_cols = [c for c in cov.columns if c not in ("customer_id", "quarter", "churn")]
    for c in match_cols:
        if pd.api.types.is_numeric_dtype(cov[c]):
            cov[c] = cov.groupby("quarter")[c].transform(_bands)
        else:
            cov[c] = cov[c].astype(str)
    cov["stratum"] = cov[["quarter", *match_cols]].astype(str).agg("|".join, axis=1)
    in_log = out[["customer_id", "quarter"]].drop_duplicates().assign(_logged=True)
    cov = cov.merge(in_log, on=["customer_id", "quarter"], how="left")
    controls = cov[cov["_logged"].isna()]
    control_kept = (1.0 - controls["churn"]).groupby(controls["stratum"]).agg(["mean", "size"])
    treated_all = out[(out["holdout"] == 0)].merge(cov[["customer_id", "quarter", "stratum"]],
                                                   on=["customer_id", "quarter"], how="inner")
    rng = np.random.default_rng(seed)
    rows = []
    for action, t in treated_all.groupby("action", sort=True):
        t = t[t["kept"].notna()]
        m = t[t["stratum"].isin(control_kept.index)]
        row = {"action": action, "n_treated": len(t), "n_matched": len(m),
               "n_controls": int(control_kept.loc[m["stratum"].unique(), "size"].sum()) if len(m) else 0,
               "kept_treated": m["kept"].mean() if len(m) else np.nan, "kept_controls": np.nan,
               "effect": np.nan, "effect_low": np.nan, "effect_high": np.nan, "enough": len(m) >= min_n}
        if len(m):
            ctrl = control_kept.loc[m["stratum"], "mean"].to_numpy()
            row["kept_controls"] = float(ctrl.mean())
            diff = m["kept"].to_numpy() - ctrl
            row["effect"] = float(diff.mean())
            if row["enough"]:
                boots = diff[rng.integers(0, len(diff), (n_boot, len(diff)))].mean(axis=1)
                row["effect_low"], row["effect_high"] = np.quantile(boots, [alpha / 2, 1 - alpha / 2]).tolist()
        rows.append(row)
    cols = ["action", "n_treated", "n_matched", "n_controls", "kept_treated", "kept_controls", "effect",
            "effect_low", "effect_high", "enough"]
    return pd.DataFrame(rows, columns=cols)


def covariates(panel: pd.DataFrame, phase_history: pd.DataFrame | None = None, risk: pd.DataFrame | None = None,
               quadrants: pd.DataFrame | None = None, quarters=None, config=None) -> pd.DataFrame:
    """What a customer looked like in each planning quarter, for :func:`matched_effects`.

    One row per customer-quarter of ``quarters`` (default: all) with the churn target (the outcome),
    ``revenue_12m`` (size: revenue of the last four quarters) and, when given, ``phase`` (from
    :func:`bestandlib.phases.assign_phases`), ``risk`` (a frame ``customer_id, quarter, risk``, e.g.
    the out-of-sample scores of the churn backtest) and ``quadrant`` (``customer_id, quarter,
    quadrant``). Only customers active in the quarter (an order in the last four quarters) are kept.
    """
    from bestandlib import churn as churn_mod

    f = panel[["customer_id", "quarter", "revenue", "orders"]].sort_values(["customer_id", "quarter"],
                                                                           ignore_index=True)
    g = f.groupby("customer_id", sort=False)
    f["revenue_12m"] = g["revenue"].rolling(4, min_periods=1).sum().reset_index(level=0, drop=True)
    active = g["orders"].rolling(4, min_periods=1).sum().reset_index(level=0, drop=True) > 0
    f = f[active.to_numpy()]
    if quarters is not None:
        f = f[f["quarter"].isin(list(quarters))]
    out = f[["customer_id", "quarter", "revenue_12m"]].merge(
        churn_mod.churn_targets(panel, config)[["customer_id", "quarter", "churn"]],
        on=["customer_id", "quarter"], how="left")
    for extra, cols in ((phase_history, ["phase"]), (risk, ["risk"]), (quadrants, ["quadrant"])):
        if extra is not None:
            out = out.merge(extra[["customer_id", "quarter", *cols]], on=["customer_id", "quarter"], how="left")
    return out


def effect_report(log: pd.DataFrame | None, panel: pd.DataFrame, config, features: pd.DataFrame | None = None,
                  risk: pd.DataFrame | None = None) -> dict:
    """Everything page 06 shows under "Did the measures work?".

    Returns ``{"reason": key or None, "outcomes", "holdout", "matched"}``: ``reason`` is the catalogue
    key of why nothing (or no randomized estimate) can be shown yet (no actions_log, no outcome known,
    no held-out customers); ``holdout`` the per-measure uplift against held-out customers (None
    without a hold-out); ``matched`` the observational comparison on phase (from ``features``), size
    and, when given, the risk score (``customer_id, quarter, risk``).
    """
    from bestandlib import phases

    min_n = int((config.get("actions") or {}).get("min_effect_n", 10))
    if log is None or log.empty:
        return {"reason": "effects_no_log", "outcomes": None, "holdout": None, "matched": None}
    out = outcomes(log, panel, config)
    if out["kept"].notna().sum() == 0:
        return {"reason": "effects_no_outcome", "outcomes": out, "holdout": None, "matched": None}
    hold = holdout_effects(out, min_n=min_n) if (out["holdout"] == 1).any() else None
    history = phases.assign_phases(features, config) if features is not None else None
    cov = covariates(panel, history, risk=risk, quarters=out["quarter"].unique(), config=config)
    matched = matched_effects(out, cov, min_n=min_n)
    return {"reason": None if hold is not None else "effects_no_holdout", "outcomes": out, "holdout": hold,
            "matched": matched}


def mark_holdout(plan: pd.DataFrame, quarter, config) -> pd.DataFrame:
    """The action plan with the randomized hold-out applied: planned rows of customers that
    :func:`in_holdout` picks for this quarter (``actions.holdout_share``, ``actions.holdout_seed``) get
    the status ``holdout`` - listed, never carried out, and compared later."""
    st = config.get("actions") or {}
    share = float(st.get("holdout_share") or 0)
    if share <= 0 or plan.empty:
        return plan
    planned = plan["status"].eq("planned")
    held = in_holdout(plan["customer_id"].astype(str).tolist(), quarter, share, int(st.get("holdout_seed") or 0))
    return plan.assign(status=plan["status"].mask(planned & held, "holdout"))


def page_blocks(report: dict, config) -> list[tuple[str, dict, pd.DataFrame | None]]:
    """What page 06 shows of :func:`effect_report`, in order: ``(catalogue key, fields, table or None)``."""
    min_n = int((config.get("actions") or {}).get("min_effect_n", 10))
    blocks = []
    if report["reason"] is not None:
        blocks.append((report["reason"], {}, None))
    for part, intro, estimate in (("holdout", "effects_holdout_intro", "uplift"),
                                  ("matched", "effects_matched_intro", "effect")):
        table = report.get(part)
        if table is None or table.empty:
            continue
        blocks.append((intro, {}, table))
        short = int((~table["enough"]).sum())
        if short:
            blocks.append(("effects_not_enough", {"count": short, "min_n": min_n}, None))
    return blocks
