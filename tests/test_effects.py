"""Did the measures work (bestandlib.effects): a stable hold-out, outcomes of planned measures, the
hold-out uplift and the matched observational comparison."""
import numpy as np
import pandas as pd
import pytest

from bestandlib import effects


def test_holdout_is_stable_and_has_its_share():
    ids = [f"K{i:05d}" for i in range(20_000)]
    a = effects.in_holdout(ids, "2025Q1", 0.2, seed=0)
    assert abs(a.mean() - 0.2) < 0.01
    # the same customer in the same quarter: the same answer, in any order and any subset
    b = effects.in_holdout(ids[::-1], "2025Q1", 0.2, seed=0)[::-1]
    assert (a == b).all() and (effects.in_holdout(ids[:10], "2025Q1", 0.2)[:10] == a[:10]).all()
    # another quarter or seed draws anew; share 0 holds out nobody
    assert (effects.in_holdout(ids, "2025Q2", 0.2) != a).mean() > 0.2
    assert (effects.in_holdout(ids, "2025Q1", 0.2, seed=1) != a).mean() > 0.2
    assert not effects.in_holdout(ids, "2025Q1", 0.0).any()


def _panel(revenue: dict) -> pd.DataFrame:
    rows = [{"customer_id": c, "quarter": str(pd.Period("2023Q1", "Q") + i), "revenue": r,
             "orders": int(r > 0)} for c, rs in revenue.items() for i, r in enumerate(rs)]
    return pd.DataFrame(rows)


def test_outcomes_are_the_churn_target_of_the_planning_quarter():
    panel = _panel({"A": [100] * 10, "B": [100] * 5 + [0] * 5, "C": [100] * 10})
    log = pd.DataFrame({"customer_id": ["A", "B", "C"], "action": ["x", "x", "x"],
                        "planned_on": pd.to_datetime(["2024-02-01", "2024-02-01", "2025-05-01"]),
                        "done_on": pd.to_datetime(["2024-02-10", None, None]), "holdout": [0, 1, 0]})
    out = effects.outcomes(log, panel)
    assert out["quarter"].tolist() == ["2024Q1", "2024Q1", "2025Q2"]
    assert out["kept"].tolist()[:2] == [1.0, 0.0] and np.isnan(out["kept"].iloc[2])  # C: window not over
    assert out["done"].tolist() == [True, False, False] and out["holdout"].tolist() == [0, 1, 0]


def _trial(n: int, kept_t: float, kept_h: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hold = rng.random(n) < 0.3
    kept = np.where(hold, rng.random(n) < kept_h, rng.random(n) < kept_t).astype(float)
    return pd.DataFrame({"customer_id": [f"C{i}" for i in range(n)], "action": "visit", "quarter": "2024Q1",
                         "holdout": hold.astype(int), "done": ~hold, "churn": 1 - kept, "kept": kept,
                         "revenue_change": 0.0})


def test_holdout_uplift_covers_the_true_difference():
    covered = 0
    for seed in range(40):
        row = effects.holdout_effects(_trial(600, 0.7, 0.5, seed)).iloc[0]
        covered += row["uplift_low"] <= 0.2 <= row["uplift_high"]
    assert covered >= 35  # a 95 % interval: about 38 of 40
    row = effects.holdout_effects(_trial(600, 0.7, 0.5)).iloc[0]
    assert row["enough"] and 0.05 < row["uplift"] < 0.35


def test_too_few_held_out_customers_give_no_estimate():
    row = effects.holdout_effects(_trial(30, 0.7, 0.5), min_n=20).iloc[0]
    assert not row["enough"] and np.isnan(row["uplift"])


def test_matching_removes_the_bias_of_choosing_risky_customers():
    rng = np.random.default_rng(3)
    n = 6000
    risk = rng.random(n)
    churn = (rng.random(n) < 0.2 + 0.6 * risk).astype(float)
    treated = rng.random(n) < 0.05 + 0.4 * risk       # the risky ones are chosen more often
    churn[treated] = (rng.random(treated.sum()) < (0.2 + 0.6 * risk[treated]) - 0.15).astype(float)
    cov = pd.DataFrame({"customer_id": [f"C{i}" for i in range(n)], "quarter": "2024Q1", "churn": churn,
                        "risk": risk})
    out = pd.DataFrame({"customer_id": cov["customer_id"][treated], "action": "visit", "quarter": "2024Q1",
                        "holdout": 0, "kept": 1 - churn[treated]})
    naive = out["kept"].mean() - (1 - churn[~treated]).mean()
    row = effects.matched_effects(out, cov).iloc[0]
    assert naive < 0.1                                 # choosing risky customers hides the effect
    assert row["effect_low"] <= 0.15 <= row["effect_high"] and row["effect"] > 0.08
