"""One definition per concept (bestandlib.concepts): every page counts the same customers.

Notebooks 01 (history), 02 (valuation) and 04 (phases) must report the same number of active and
lost customers for the same quarter. What is compared:

* active: ``history.kpi_summary`` "active_customers" (the customer base) == the rows of
  ``valuation.customer_frame`` == the customers of ``phases.phase_table`` in any phase but "lost"
  == ``panel.customer_summary(...).active``.
* lost: the phase "lost" is a *state* (no order in the last ``phases.lost_quarters`` quarters);
  history's "lost customers" is a *flow* (the customers who became lost in the quarter). So the lost
  state of the phases == the customers who ever ordered minus the active ones, and history's flow ==
  the phase-"lost" customers whose lost run started in the quarter (``phase_since`` == quarter).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bestandlib import (actions, btyd, churn, concepts, engine, features, history, loyalty, panel,
                        phases, valuation)
from bestandlib.config import default_config, load_config
from bestandlib.io import load_tables
from bestandlib.paths import DEMO_DIR

QUARTER = "2025Q4"
# P(alive) does not touch active or lost; leaving it out keeps the phases fast
FAST = load_config(overrides={"churn": {"features": {"p_alive": False}}})


def _counts(tables, quarter=QUARTER, config=FAST) -> dict:
    p = panel.build_panel(tables.orders, until=quarter)
    kpis = history.kpi_summary(p, quarter, config=config).set_index("kpi")["value"]
    frame = valuation.customer_frame(p, tables.customers, tables.potentials, quarter, tables.complaints,
                                     config=config)
    feats = features.habituation_features(p, tables, config=config)
    table = phases.phase_table(phases.assign_phases(feats, config=config), quarter)
    summary = panel.customer_summary(p, quarter, config)
    ever = int(summary["last_order_date"].notna().sum())
    return {
        "history_active": int(kpis["active_customers"]),
        "valuation_active": int(len(frame)),
        "phases_active": int((table["phase"] != "lost").sum()),
        "summary_active": int(summary["active"].sum()),
        "concepts_active": int(len(concepts.active_customers(p, quarter, config))),
        "phases_lost": int((table["phase"] == "lost").sum()),
        "lost_by_summary": ever - int(summary["active"].sum()),
        "history_lost_flow": int(kpis["lost_customers"]),
        "phases_lost_since_quarter": int(((table["phase"] == "lost") & (table["phase_since"] == quarter)).sum()),
        "valuation_ids": set(frame["customer_id"].astype(str)),
        "phases_ids": set(table.loc[table["phase"] != "lost", "customer_id"].astype(str)),
    }


def _assert_agree(c: dict) -> None:
    active = {k: v for k, v in c.items() if k.endswith("_active")}
    assert len(set(active.values())) == 1, active
    assert c["valuation_ids"] == c["phases_ids"]
    assert c["phases_lost"] == c["lost_by_summary"]
    assert c["history_lost_flow"] == c["phases_lost_since_quarter"]


@pytest.fixture(scope="module")
def demo_tables():
    if not (DEMO_DIR / "orders.parquet").exists():
        pytest.skip("demo data not generated")
    return load_tables(DEMO_DIR)


@pytest.fixture(scope="module")
def generated_tables(tmp_path_factory):
    from bestandlib.demo import generate_demo

    out = tmp_path_factory.mktemp("concepts") / "world"
    generate_demo(out, customers=200, start="2022-01-01", end="2025-12-31")
    return load_tables(out)


class TestSameCountsOnEveryPage:
    def test_demo_world(self, demo_tables):
        c = _counts(demo_tables)
        _assert_agree(c)
        assert c["history_active"] > 0 and c["phases_lost"] > 0 and c["history_lost_flow"] > 0

    def test_demo_world_a_year_earlier(self, demo_tables):
        _assert_agree(_counts(demo_tables, "2024Q4"))

    def test_generated_world(self, generated_tables):
        c = _counts(generated_tables)
        _assert_agree(c)
        assert c["history_active"] > 0

    def test_windows_follow_the_config(self, generated_tables):
        cfg = load_config(overrides={"phases": {"lost_quarters": 2},
                                     "churn": {"features": {"p_alive": False}}})
        c = _counts(generated_tables, config=cfg)
        _assert_agree(c)
        assert c["history_active"] < _counts(generated_tables)["history_active"]


class TestDefinitions:
    def _panel(self):
        # A orders in 2024Q1 and 2025Q3; B only in 2023Q1 (lost since 2024Q1); C new in 2025Q4
        rows = []
        for cid, start, ordered in [("A", "2023Q1", {"2023Q1", "2024Q1", "2025Q3"}),
                                    ("B", "2023Q1", {"2023Q1"}), ("C", "2025Q4", {"2025Q4"})]:
            for q in pd.period_range(start, "2025Q4", freq="Q"):
                rows.append({"customer_id": cid, "quarter": str(q), "orders": int(str(q) in ordered),
                             "tenure_quarters": (q - pd.Period(start, freq="Q")).n})
        return pd.DataFrame(rows)

    def test_states_and_flows(self):
        p = self._panel()
        st = pd.concat([p, concepts.customer_states(p)], axis=1).set_index(["customer_id", "quarter"])
        assert st.loc[("B", "2024Q1"), "became_lost"] and st.loc[("B", "2025Q4"), "lost"]
        assert not st.loc[("B", "2025Q4"), "became_lost"]
        assert st.loc[("A", "2025Q1"), "became_lost"]  # last order 2024Q1, four quarters back
        assert st.loc[("A", "2025Q3"), "returned"] and st.loc[("A", "2025Q4"), "reactivated"]
        assert st.loc[("C", "2025Q4"), "acquired"] and st.loc[("C", "2025Q4"), "new"]
        now = concepts.status_at(p, "2025Q4").set_index("customer_id")
        assert now["active"].to_dict() == {"A": True, "B": False, "C": True}
        assert now["lost"].to_dict() == {"A": False, "B": True, "C": False}
        assert list(concepts.active_customers(p, "2025Q4")) == ["A", "C"]

    def test_quarter_index_is_one_function(self):
        s = pd.Series(["2025Q4", "2020Q1"])
        assert concepts.quarter_index("2025Q4") == 2025 * 4 + 3
        assert concepts.quarter_index(s).tolist() == [8103, 8080]
        assert panel.quarter_index(s).tolist() == [8103, 8080]
        assert actions._qi is concepts.quarter_index
        assert features.quarter_index is concepts.quarter_index
        assert history.quarter_index is concepts.quarter_index
        assert loyalty.quarter_index is concepts.quarter_index
        assert concepts.quarter_from_index(8103) == "2025Q4"


class TestKeptVsNew:
    def test_one_number_on_both_pages(self, demo_tables):
        p = panel.build_panel(demo_tables.orders, until=QUARTER)
        one = concepts.kept_vs_new(p, QUARTER)
        assert pd.Series(actions.kept_vs_new_ratio(p, QUARTER)).equals(pd.Series(one))
        lf = loyalty.loyalty_frame(p, QUARTER, demo_tables.contacts, demo_tables.complaints)
        claim = loyalty.claims(lf, loyalty.first_year_margins(p, QUARTER),
                               config=load_config(overrides={"loyalty": {"n_resamples": 2000}}))
        row = claim.set_index("claim").loc["kept_vs_new"]
        assert row["estimate"] == pytest.approx(one["ratio"])
        assert row["n_loyal"] == one["kept_customers"] and row["n_young"] == one["new_customers"]
        both = concepts.kept_and_new_margins(p, QUARTER)
        again = loyalty.claims(lf, both).set_index("claim").loc["kept_vs_new"]
        assert again["estimate"] == pytest.approx(one["ratio"])


class TestRFMFromPanel:
    def test_matches_rfm_of_order_lines(self, generated_tables):
        orders = generated_tables.orders
        p = panel.build_panel(orders, until="2024Q4")
        end = pd.Timestamp("2024-12-31")
        from_panel = btyd.rfm_from_panel(p, "2024Q4")
        sales = orders[orders["net_revenue"] > 0]
        lines = btyd.rfm_summary(sales, observation_end=end, value_col=None).set_index("customer_id")
        lines.index = lines.index.astype(str)
        from_panel.index = from_panel.index.astype(str)
        lines = lines.reindex(from_panel.index)
        assert from_panel["frequency"].tolist() == lines["frequency"].tolist()
        np.testing.assert_allclose(from_panel["recency"], lines["recency"])
        np.testing.assert_allclose(from_panel["T"], lines["T"])


class TestDefaultsOnlyInTheYml:
    """No module keeps a dict of defaults that duplicates bestand.yml (they drifted before)."""

    def test_no_duplicate_default_dicts(self):
        for mod in (btyd, engine, features, phases):
            assert not hasattr(mod, "_DEFAULTS"), mod.__name__
        yml = default_config()
        # churn keeps the name for its merge loop, but the values are the yml's
        assert churn._DEFAULTS == {k: v for k, v in yml["churn"].items() if k != "features"}

    def test_settings_equal_the_yml(self):
        yml = default_config()
        assert features.feature_settings() == yml["churn"]["features"]
        assert phases.phase_settings() == yml["phases"]
        assert engine.engine_settings() == yml["engine"]
        assert btyd._settings(None) == yml["btyd"]
        assert btyd._settings({}) == yml["btyd"]
        cs = churn.churn_settings()
        for key in churn._DEFAULTS:
            assert cs[key] == yml["churn"][key], key
        # a full config that lacks a section still gets the yml values, not stale copies
        partial = {k: v for k, v in yml.items() if k not in ("phases",)}
        assert phases.phase_settings(partial) == yml["phases"]
