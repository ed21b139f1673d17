"""Tests of bestandlib.valuation on hand-computable fixtures built in code."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from bestandlib import i18n, valuation as v  # noqa: E402
from bestandlib.config import default_config  # noqa: E402
from bestandlib.errors import ConfigError  # noqa: E402
from bestandlib.periods import parse_quarter, quarter_end  # noqa: E402

Q = "2025Q4"
YEAR = ["2025Q1", "2025Q2", "2025Q3", "2025Q4"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --- fixture builders ------------------------------------------------------------------------------
def make_panel(spec: dict, until: str = Q) -> pd.DataFrame:
    """Panel with the documented columns. ``spec``: {customer: {quarter: (revenue, margin, orders)}},
    dense from the customer's first quarter in ``spec`` to ``until``, zero-filled."""
    rows = []
    end = parse_quarter(until)
    for cid, quarters in spec.items():
        first = min(parse_quarter(k) for k in quarters)
        last_order = pd.NaT
        q = first
        while q <= end:
            rev, mar, n = quarters.get(str(q), (0.0, 0.0, 0))
            if n:
                last_order = q.start_time.normalize()
            rows.append({"customer_id": cid, "quarter": str(q), "quarter_end": quarter_end(q),
                         "revenue": float(rev), "margin": float(mar), "orders": int(n),
                         "product_groups": int(n > 0), "first_order_date": first.start_time.normalize(),
                         "last_order_date": last_order, "tenure_quarters": q.ordinal - first.ordinal})
            q += 1
    return pd.DataFrame(rows)


def yearly(revenue: float, margin_rate: float = 0.4, quarters=YEAR) -> dict:
    """``revenue`` spread evenly over ``quarters`` with one order each."""
    per = revenue / len(quarters)
    return {q: (per, per * margin_rate, 1) for q in quarters}


def make_customers(ids, unit="X") -> pd.DataFrame:
    units = unit if isinstance(unit, dict) else {c: unit for c in ids}
    return pd.DataFrame({"customer_id": list(ids), "name": [f"Kunde {c}" for c in ids],
                         "segment": "Klinik", "region": "Nord", "business_unit": [units[c] for c in ids],
                         "account_manager": "AM1"})


def make_potentials(values: dict, assessed_on="2025-06-30") -> pd.DataFrame:
    return pd.DataFrame({"customer_id": list(values), "assessed_on": pd.Timestamp(assessed_on),
                         "potential": [float(x) for x in values.values()], "competitive_intensity": 3.0})


def config_with(**changes) -> dict:
    """Default config with ``valuation`` keys replaced (dotted paths as keyword names with __)."""
    cfg = default_config()
    for path, value in changes.items():
        node = cfg["valuation"]
        *parents, last = path.split("__")
        for p in parents:
            node = node[p]
        node[last] = value
    return cfg


@pytest.fixture
def world():
    """Six customers of one business unit, hand-computable (revenue_12m / potential):
    A 100/1000, B 200/500, C 300/2000, D 400/0, E -50/3000 (credit notes), F 250/no assessment."""
    revenue = {"A": 100, "B": 200, "C": 300, "D": 400, "F": 250}
    spec = {c: yearly(r) for c, r in revenue.items()}
    spec["E"] = {"2024Q4": (200.0, 80.0, 1), "2025Q2": (-50.0, -20.0, 1)}
    panel = make_panel(spec)
    customers = make_customers("ABCDEF")
    potentials = make_potentials({"A": 1000, "B": 500, "C": 2000, "D": 0, "E": 3000})
    return panel, customers, potentials


# --- customer frame ----------------------------------------------------------------------------------
class TestCustomerFrame:
    def test_revenue_potential_share_of_wallet(self, world):
        frame = v.customer_frame(*world, Q).set_index("customer_id")
        assert list(frame.index) == list("ABCDEF")
        assert frame["revenue_12m"].to_dict() == pytest.approx(
            {"A": 100, "B": 200, "C": 300, "D": 400, "E": -50, "F": 250})
        assert frame.loc["A", "share_of_wallet"] == pytest.approx(0.1)
        assert frame.loc["E", "share_of_wallet"] == pytest.approx(-50 / 3000)
        assert np.isnan(frame.loc["D", "share_of_wallet"])  # potential 0: no share
        assert np.isnan(frame.loc["F", "share_of_wallet"])  # no assessment
        assert np.isnan(frame.loc["F", "potential"])
        assert frame.loc["D", "remaining_potential"] == pytest.approx(-400)
        assert frame.loc["A", "margin_rate"] == pytest.approx(0.4)
        assert np.isnan(frame.loc["E", "margin_rate"])  # negative revenue: no margin rate
        assert frame.loc["E", "tenure_quarters"] == 4
        assert frame.loc["A", "business_unit"] == "X"

    def test_growth_regularity_and_activity(self):
        spec = {
            "G": {**yearly(100, quarters=["2024Q1", "2024Q2", "2024Q3", "2024Q4"]), **yearly(150)},
            "H": {"2023Q1": (10.0, 1.0, 1), "2025Q3": (30.0, 3.0, 1)},
            "I": {"2023Q1": (10.0, 1.0, 1), "2024Q3": (30.0, 3.0, 1)},  # nothing in the last 12 months
        }
        frame = v.customer_frame(make_panel(spec), make_customers("GHI"), None, Q).set_index("customer_id")
        assert list(frame.index) == ["G", "H"]
        assert frame.loc["G", "revenue_growth"] == pytest.approx(0.5)
        assert np.isnan(frame.loc["H", "revenue_growth"])  # nothing the year before
        assert frame.loc["G", "purchase_regularity"] == pytest.approx(1.0)
        assert frame.loc["H", "purchase_regularity"] == pytest.approx(1 / 8)
        assert frame.loc["H", "tenure_quarters"] == 11
        assert frame["potential"].isna().all()  # no potentials table at all

    def test_latest_assessment_up_to_quarter_end(self, world):
        panel, customers, _ = world
        pots = pd.concat([
            make_potentials({"A": 1000}, "2024-06-30"),
            make_potentials({"A": 1500}, "2025-12-31"),   # on the quarter end: counts
            make_potentials({"A": 9999}, "2026-01-01"),   # after the quarter: ignored
        ])
        frame = v.customer_frame(panel, customers, pots, Q).set_index("customer_id")
        assert frame.loc["A", "potential"] == 1500
        earlier = v.customer_frame(panel, customers, pots, "2025Q3").set_index("customer_id")
        assert earlier.loc["A", "potential"] == 1000

    def test_complaint_rate_per_100k_revenue(self, world):
        complaints = pd.DataFrame({"customer_id": ["A", "A", "B", "C"],
                                   "complaint_date": pd.to_datetime(["2025-02-01", "2025-11-30", "2025-05-05",
                                                                     "2024-12-31"])})
        frame = v.customer_frame(*world, Q, complaints=complaints).set_index("customer_id")
        assert frame.loc["A", "complaints_12m"] == 2
        assert frame.loc["A", "complaint_rate"] == pytest.approx(2 / 100 * 100_000)
        assert frame.loc["C", "complaints_12m"] == 0  # outside the 12 months
        assert np.isnan(frame.loc["E", "complaint_rate"])


# --- four-field matrix -------------------------------------------------------------------------------
class TestFourFieldMatrix:
    def test_quadrants_with_median_thresholds(self, world):
        cfg = config_with(thresholds={"revenue": {"method": "median", "value": None, "scope": "global"},
                                      "potential": {"method": "median", "value": None, "scope": "global"}})
        m = v.four_field_matrix(v.customer_frame(*world, Q), cfg).set_index("customer_id")
        # revenue median of all six = (200 + 250) / 2; potential median of the five assessed = 1000
        assert (m["revenue_threshold"] == 225).all()
        assert (m["potential_threshold"] == 1000).all()
        assert m["quadrant_key"].to_dict() == {
            "A": "development",   # potential exactly at the threshold counts as high
            "B": "small", "C": "top",
            "D": "premium",       # potential 0 is an assessment: low potential
            "E": "development",   # negative revenue after credit notes: low revenue
            "F": "unassessed"}
        assert m.loc["C", "quadrant"] == "Topkunde"
        assert m.loc["F", "quadrant"] == "nicht bewertet"
        assert pd.isna(m.loc["F", "potential_high"])

    def test_absolute_tie_is_high_and_english_names(self, world):
        cfg = config_with(thresholds={"revenue": {"method": "absolute", "value": 200, "scope": "global"},
                                      "potential": {"method": "absolute", "value": 2000, "scope": "global"}})
        m = v.four_field_matrix(v.customer_frame(*world, Q), cfg, lang="en").set_index("customer_id")
        assert m.loc["B", "quadrant_key"] == "premium"   # revenue 200 == threshold: high
        assert m.loc["C", "quadrant_key"] == "top"        # potential 2000 == threshold: high
        assert m.loc["A", "quadrant"] == "Small customer"
        assert m.loc["F", "quadrant"] == "not assessed"

    def test_per_business_unit_thresholds(self):
        revenue = {"a": 10, "b": 20, "c": 30, "x": 1000, "y": 2000, "z": 3000}
        units = {"a": "S", "b": "S", "c": "S", "x": "L", "y": "L", "z": "L"}
        panel = make_panel({c: yearly(r) for c, r in revenue.items()})
        pots = make_potentials({"a": 100, "b": 50, "c": 10, "x": 10, "y": 50, "z": 100})
        frame = v.customer_frame(panel, make_customers(list(revenue), units), pots, Q)
        by_unit = v.four_field_matrix(frame).set_index("customer_id")  # default scope business_unit
        assert by_unit.loc["a", "revenue_threshold"] == 20
        assert by_unit.loc["z", "revenue_threshold"] == 2000
        assert by_unit["quadrant_key"].to_dict() == {"a": "development", "b": "top", "c": "premium",
                                                     "x": "small", "y": "top", "z": "top"}
        glob = config_with(thresholds={"revenue": {"method": "median", "value": None, "scope": "global"},
                                       "potential": {"method": "median", "value": None, "scope": "global"}})
        g = v.four_field_matrix(frame, glob).set_index("customer_id")
        assert set(g.loc[["a", "b", "c"], "quadrant_key"]) <= {"small", "development"}  # all low revenue

    def test_quantile_and_absolute_per_unit(self):
        revenue = {"a": 10, "b": 20, "c": 30, "d": 40, "x": 1000}
        units = {**{c: "S" for c in "abcd"}, "x": "L"}
        panel = make_panel({c: yearly(r) for c, r in revenue.items()})
        pots = make_potentials({c: 100 for c in revenue})
        frame = v.customer_frame(panel, make_customers(list(revenue), units), pots, Q)
        cfg = config_with(thresholds={
            "revenue": {"method": "quantile", "value": 0.75, "scope": "business_unit"},
            "potential": {"method": "absolute", "value": {"S": 100, "default": 500}, "scope": "business_unit"}})
        m = v.four_field_matrix(frame, cfg).set_index("customer_id")
        assert m.loc["a", "revenue_threshold"] == pytest.approx(32.5)  # linear interpolation
        assert m.loc["d", "quadrant_key"] == "top"
        assert m.loc["c", "quadrant_key"] == "development"
        assert m.loc["x", "potential_threshold"] == 500
        assert m.loc["x", "quadrant_key"] == "premium"

    def test_remaining_potential_axis(self, world):
        cfg = config_with(use_remaining_potential=True,
                          thresholds={"revenue": {"method": "absolute", "value": 250, "scope": "global"},
                                      "potential": {"method": "absolute", "value": 1000, "scope": "global"}})
        m = v.four_field_matrix(v.customer_frame(*world, Q), cfg).set_index("customer_id")
        assert m.loc["A", "matrix_potential"] == 900      # 1000 - 100: now below 1000
        assert m.loc["A", "quadrant_key"] == "small"
        assert m.loc["C", "quadrant_key"] == "top"       # 2000 - 300
        assert m.loc["F", "quadrant_key"] == "unassessed"

    def test_summary_counts_unassessed(self, world):
        m = v.four_field_matrix(v.customer_frame(*world, Q))
        s = v.quadrant_summary(m).set_index("quadrant")
        assert list(s.index) == ["top", "premium", "development", "small", "unassessed"]
        assert s["customers"].sum() == 6
        assert s.loc["unassessed", "customers"] == 1
        assert s.loc["unassessed", "revenue_12m"] == pytest.approx(250)
        assert s["revenue_12m"].sum() == pytest.approx(1200)
        assert s["customer_share"].sum() == pytest.approx(1)
        d = v.quadrant_definition()
        assert d.shape == (5, 4) and d["quadrant"].tolist() == list(s.index)
        for lang in ("de", "en"):
            assert all(i18n.has(f"advice_{k}", lang) and i18n.has(f"quadrant_{k}", lang) for k in s.index)

    @pytest.mark.parametrize("key, bad, name", [
        ("method", "mean", "valuation.thresholds.revenue.method"),
        ("scope", "region", "valuation.thresholds.revenue.scope"),
        ("value", 1.5, "valuation.thresholds.revenue.value"),
    ])
    def test_threshold_config_errors_name_the_key(self, world, key, bad, name):
        spec = {"method": "quantile", "value": 0.5, "scope": "global", key: bad}
        cfg = config_with(thresholds__revenue=spec)
        with pytest.raises(ConfigError, match=name.replace(".", r"\.")):
            v.four_field_matrix(v.customer_frame(*world, Q), cfg)


# --- customer score ----------------------------------------------------------------------------------
def score_frame():
    return pd.DataFrame({
        "customer_id": ["a", "b", "c", "x", "y"],
        "business_unit": ["S", "S", "S", "L", "L"],
        "revenue_12m": [10.0, 20.0, 40.0, 5.0, 7.0],
        "complaint_rate": [0.0, 1.0, 2.0, 3.0, np.nan],
    })


def score_config(weights, normalisation="rank", **kw):
    return config_with(score={"indicators": {"revenue_12m": "higher", "complaint_rate": "lower"},
                              "normalisation": normalisation, "normalise_within": "business_unit",
                              "weights": weights, **kw})


class TestCustomerScore:
    def test_rank_normalisation_and_weights(self):
        cfg = score_config({"default": {"revenue_12m": 0.75, "complaint_rate": 0.25}})
        s = v.customer_score(score_frame(), cfg).set_index("customer_id")
        # within S: revenue points 0/50/100; complaints (lower is better) 100/50/0
        assert s.loc[["a", "b", "c"], "points_revenue_12m"].tolist() == [0, 50, 100]
        assert s.loc[["a", "b", "c"], "points_complaint_rate"].tolist() == [100, 50, 0]
        assert s.loc[["a", "b", "c"], "score"].tolist() == pytest.approx([25, 50, 75])
        # within L: y's complaint rate is missing -> neutral 50; x alone has it -> 50 as well
        assert s.loc["y", "score"] == pytest.approx(0.75 * 100 + 0.25 * 50)
        assert s.loc["y", "missing_indicators"] == 1
        assert s.loc["y", "score_rank"] == 1 and s.loc["c", "score_rank"] == 2
        assert s.loc["c", "score_rank_bu"] == 1 and s.loc["x", "score_rank_bu"] == 2

    def test_minmax_and_unit_weights(self):
        cfg = score_config({"default": {"revenue_12m": 1.0},
                            "L": {"revenue_12m": 0.0, "complaint_rate": 1.0}}, normalisation="minmax")
        s = v.customer_score(score_frame(), cfg).set_index("customer_id")
        assert s.loc[["a", "b", "c"], "score"].tolist() == pytest.approx([0, 100 / 3, 100])
        assert s.loc["x", "score"] == 50  # a single value has no spread: neutral
        assert s["score"].between(0, 100).all()

    def test_ties_share_rank(self):
        f = score_frame().assign(revenue_12m=[10.0, 10.0, 30.0, 5.0, 7.0])
        s = v.customer_score(f, score_config({"default": {"revenue_12m": 1.0}})).set_index("customer_id")
        assert s.loc[["a", "b"], "score"].tolist() == [25, 25]
        assert s.loc["a", "score_rank_bu"] == s.loc["b", "score_rank_bu"] == 2

    def test_score_bounds_random(self):
        rng = np.random.default_rng(7)
        frame = pd.DataFrame({"customer_id": [f"k{i}" for i in range(200)],
                              "business_unit": rng.choice(["S", "L", "M"], 200),
                              "revenue_12m": rng.lognormal(8, 2, 200) * rng.choice([1, -1], 200, p=[.95, .05]),
                              "complaint_rate": np.where(rng.random(200) < 0.2, np.nan, rng.exponential(1, 200))})
        for norm in ("rank", "minmax"):
            s = v.customer_score(frame, score_config({"default": {"revenue_12m": 0.6, "complaint_rate": 0.4}}, norm))
            assert s["score"].between(0, 100).all()
            assert sorted(s["score_rank"]) == sorted(s["score"].rank(method="min", ascending=False).astype(int))

    @pytest.mark.parametrize("weights, indicators, name", [
        ({"default": {"revenue_12m": 0.5, "complaint_rate": 0.4}}, None, "valuation.score.weights.default"),
        ({"default": {"revenue_12m": 0.5, "foo": 0.5}}, None, "valuation.score.weights.default.foo"),
        ({"default": {"revenue_12m": 1.0}, "Mars": {"revenue_12m": 1.0}}, None, "valuation.score.weights.Mars"),
        ({"S": {"revenue_12m": 1.0}}, None, "valuation.score.weights.default"),
        ({"default": {"revenue_12m": 1.5, "complaint_rate": -0.5}}, None,
         "valuation.score.weights.default.complaint_rate"),
        ({"default": {"revenue_12m": 1.0}}, {"revenue_12m": "higher", "nps": "higher"},
         "valuation.score.indicators.nps"),
        ({"default": {"revenue_12m": 1.0}}, {"revenue_12m": "up"}, "valuation.score.indicators.revenue_12m"),
    ])
    def test_config_errors_name_the_key(self, weights, indicators, name):
        cfg = score_config(weights)
        if indicators:
            cfg["valuation"]["score"]["indicators"] = indicators
        with pytest.raises(ConfigError, match=name.replace(".", r"\.")):
            v.customer_score(score_frame(), cfg)

    def test_weights_within_tolerance_and_units_outside_frame(self):
        cfg = score_config({"default": {"revenue_12m": 0.3333333, "complaint_rate": 0.6666667},
                            "Mars": {"revenue_12m": 1.0}})
        v.customer_score(score_frame(), cfg, business_units=["S", "L", "Mars"])  # no error

    def test_default_config_scores_customer_frame(self, world):
        s = v.customer_score(v.customer_frame(*world, Q))
        assert len(s) == 6 and s["score"].between(0, 100).all()
        assert {"points_potential", "points_complaint_rate", "score_rank"} <= set(s.columns)


class TestSensitivity:
    def test_shape_and_values(self):
        rng = np.random.default_rng(3)
        frame = pd.DataFrame({"customer_id": [f"k{i:03d}" for i in range(120)], "business_unit": "S",
                              "revenue_12m": rng.normal(100, 30, 120), "complaint_rate": rng.normal(1, .3, 120)})
        cfg = score_config({"default": {"revenue_12m": 0.5, "complaint_rate": 0.5}})
        out = v.score_sensitivity(frame, cfg)
        assert list(out.columns) == ["indicator", "change", "top", "overlap", "overlap_share", "spearman"]
        assert len(out) == 4
        assert sorted(out["change"].unique()) == [-0.2, 0.2]
        assert (out["top"] == 50).all()
        assert out["overlap"].between(0, 50).all() and out["overlap"].lt(50).any()
        assert out["spearman"].between(0.8, 1).all()

    def test_single_indicator_is_perfectly_stable(self):
        cfg = score_config({"default": {"revenue_12m": 1.0}})
        out = v.score_sensitivity(score_frame(), cfg, top=50)
        assert len(out) == 2  # complaint_rate weighs 0 everywhere: not moved
        assert (out["top"] == 5).all() and (out["overlap"] == 5).all()
        assert out["spearman"].tolist() == pytest.approx([1, 1])


# --- migration ---------------------------------------------------------------------------------------
def qmatrix(pairs: dict) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": list(pairs), "quadrant_key": [p[0] for p in pairs.values()],
                         "revenue_12m": [float(p[1]) for p in pairs.values()]})


class TestMigration:
    def test_counts_sum_to_both_quarters(self):
        before = qmatrix({"a": ("top", 10), "b": ("small", 1), "c": ("premium", 5), "d": ("unassessed", 2),
                          "e": ("small", 3)})
        now = qmatrix({"a": ("top", 12), "b": ("development", 2), "c": ("top", 6), "d": ("small", 1),
                       "f": ("top", 9)})
        t = v.migration(now, before)
        cell = t.set_index(["from_key", "to_key"])
        assert cell.loc[("new", "top"), "customers"] == 1
        assert cell.loc[("small", "lost"), "customers"] == 1
        assert cell.loc[("small", "lost"), "revenue_before"] == 3
        assert cell.loc[("premium", "top"), "revenue_now"] == 6
        assert ("new", "lost") not in cell.index
        rows = t.groupby("from_key")["customers"].sum()
        cols = t.groupby("to_key")["customers"].sum()
        assert rows.drop("new").to_dict() == {"top": 1, "premium": 1, "development": 0, "small": 2, "unassessed": 1}
        assert rows["new"] == 1
        assert cols.drop("lost").to_dict() == {"top": 3, "premium": 0, "development": 1, "small": 1, "unassessed": 0}
        assert cols["lost"] == 1
        assert t["revenue_now"].sum() == pytest.approx(30)
        wide = v.migration_matrix(t)
        assert wide.loc["neu", "Topkunde"] == 1 and wide.loc["Kleinkunde", "verloren"] == 1
        assert wide.to_numpy().sum() == 6

    def test_quarterly_migration_from_panel(self, world):
        panel, customers, potentials = world
        spec_new = make_panel({"N": {"2025Q4": (500.0, 100.0, 1)}})
        panel = pd.concat([panel, spec_new], ignore_index=True)
        customers = make_customers("ABCDEFN")
        t = v.quarterly_migration(panel, customers, potentials, Q, lang="en")
        assert set(t["compared_with"]) == {"2025Q3", "2024Q4"}
        for before_q, block in t.groupby("compared_with"):
            before = v.matrix_at(panel, customers, potentials, before_q)
            now = v.matrix_at(panel, customers, potentials, Q)
            rows = block.groupby("from_key")["customers"].sum()
            assert rows.drop("new").sum() == len(before)
            assert block.groupby("to_key")["customers"].sum().drop("lost").sum() == len(now)
        prev = t[t["compared_with"] == "2025Q3"].set_index(["from_key", "to_key"])
        assert prev.loc[("new", "unassessed"), "customers"] == 1  # N is new and has no assessment
        assert prev.loc[("new", "unassessed"), "from_quadrant"] == "new"

    def test_movers(self):
        before = qmatrix({"a": ("top", 10), "b": ("small", 1), "e": ("small", 30)})
        now = qmatrix({"a": ("top", 50), "b": ("top", 20), "f": ("top", 9)})
        m = v.movers(now, before, n=2)
        assert m["customer_id"].tolist() == ["e", "b"]  # a kept its quadrant
        assert m.loc[0, "quadrant"] == "lost"


class TestCustomerValueTable:
    def test_columns_and_previous_quadrant(self, world, tmp_path):
        panel, customers, potentials = world
        panel = pd.concat([panel, make_panel({"N": {"2025Q4": (500.0, 100.0, 1)}})], ignore_index=True)
        table = v.customer_value_table(panel, make_customers("ABCDEFN"), potentials, Q)
        required = ["customer_id", "business_unit", "revenue_12m", "potential", "share_of_wallet", "quadrant_key",
                    "score", "score_rank", "quadrant_prev_quarter"]
        assert set(required) <= set(table.columns)
        assert table["customer_id"].is_unique and len(table) == 7
        t = table.set_index("customer_id")
        assert t.loc["N", "quadrant_prev_quarter"] == "new"
        assert t.loc["F", "quadrant_key"] == "unassessed"
        assert table["score_rank"].is_monotonic_increasing
        path = tmp_path / "customer_value.csv"
        table.to_csv(path, index=False)
        back = pd.read_csv(path, dtype={"customer_id": str})
        assert back["quadrant_key"].tolist() == table["quadrant_key"].tolist()
        assert np.allclose(back["score"], table["score"])


# --- plots -------------------------------------------------------------------------------------------
class TestPlots:
    def test_portfolio(self, world):
        m = v.four_field_matrix(v.customer_frame(*world, Q))
        ax = v.plot_portfolio(m)
        texts = [t.get_text() for t in ax.texts]
        assert {"Topkunde", "Premiumkunde", "Entwicklungskunde", "Kleinkunde"} <= set(texts)
        assert ax.get_xscale() == "symlog"
        assert len(ax.lines) == 2  # one revenue and one potential threshold
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "nicht bewertet (nicht dargestellt): 1 Kunden, 250\u00a0€" in legend
        _, ax2 = plt.subplots()
        assert v.plot_portfolio(m, ax=ax2, log=False, lang="en") is ax2
        assert ax2.get_xscale() == "linear" and "Top customer" in [t.get_text() for t in ax2.texts]
        positive = m[m["revenue_12m"] > 0]
        _, ax3 = plt.subplots()
        assert v.plot_portfolio(positive, ax=ax3).get_xscale() == "log"

    def test_migration_heatmap(self):
        before = qmatrix({"a": ("top", 10), "b": ("small", 1)})
        now = qmatrix({"a": ("top", 12), "c": ("top", 6)})
        ax = v.plot_migration(v.migration(now, before, lang="en"), lang="en")
        assert "new" in [t.get_text() for t in ax.get_yticklabels()]
        assert "lost" in [t.get_text() for t in ax.get_xticklabels()]
        assert len(ax.texts) == 6 * 6 - 1
        t = v.migration(now, before)
        lost = t.set_index(["from_key", "to_key"]).loc[("small", "lost")]
        assert lost["revenue"] == 1 and lost["revenue_now"] == 0  # the revenue lost
        ax = v.plot_migration(t, value="revenue")
        assert ax.get_title() == "Wanderung zwischen den Quadranten (Umsatz, Tsd. EUR)"

    def test_score_distribution(self):
        s = v.customer_score(score_frame(), score_config({"default": {"revenue_12m": 1.0}}))
        ax = v.plot_score_distribution(s, lang="en")
        assert [t.get_text() for t in ax.get_xticklabels()] == ["L", "S"]
        assert ax.get_ylim() == (0, 100)


def test_customer_frame_before_the_first_order_is_empty_not_an_error():
    import pandas as pd

    from bestandlib.valuation import customer_frame

    panel = pd.DataFrame({"customer_id": ["K1"], "quarter": ["2025Q1"], "revenue": [100.0], "margin": [30.0],
                          "orders": [1], "first_order_date": [pd.Timestamp("2025-02-01")]})
    customers = pd.DataFrame({"customer_id": ["K1"], "name": ["A"], "segment": ["Klinik"], "region": ["Nord"],
                              "business_unit": ["X"], "account_manager": ["M"]})
    potentials = pd.DataFrame({"customer_id": ["K1"], "assessed_on": [pd.Timestamp("2025-01-15")],
                               "potential": [1000.0], "competitive_intensity": [3.0]})
    frame = customer_frame(panel, customers, potentials, "2024Q3")
    assert len(frame) == 0 and "tenure_quarters" in frame


def test_money_ticks_are_readable():
    assert v.money_tick(10_000, "de") == "10 Tsd."
    assert v.money_tick(-10_000, "en") == "−10k"
    assert v.money_tick(2_500_000, "en") == "2.5m"
    assert v.money_tick(0, "en") == "0"
    assert v._decade_ticks(-20_000, 3e6, True, 1_000) == [-10_000, 0, 10_000, 1_000_000]
    assert v._decade_ticks(50, 3e6, False, 1) == [100, 10_000, 1_000_000]
    assert v._decade_ticks(5, 3e5, False, 1) == [10, 1_000, 100_000]


def test_portfolio_and_migration_grids(world):
    panel, customers, potentials = world
    m = v.four_field_matrix(v.customer_frame(panel, customers, potentials, Q))
    fig = v.plot_portfolios(m, sorted(m["business_unit"].dropna().unique()), lang="en")
    assert len(fig.axes) == m["business_unit"].nunique()
    fig.canvas.draw()  # E has negative revenue: a symlog axis, with amounts as tick labels
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks and all("^" not in t and "e+" not in t for t in ticks)
    assert all("^" not in t.get_text() for ax in fig.axes for t in ax.get_xticklabels())
    t = v.quarterly_migration(panel, customers, potentials, Q, lags=(1, 4))
    assert len(v.plot_migrations(t, lang="en").axes) == 2
    plt.close("all")
