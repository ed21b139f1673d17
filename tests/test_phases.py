"""Relationship phases: the documented rules, the phase table, transitions and dwell times."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bestandlib import phases
from bestandlib.config import load_config
from bestandlib.errors import ConfigError

QUARTERS = [str(q) for q in pd.period_range("2021Q1", "2023Q4", freq="Q-DEC")]


def _frame(customer, orders, revenue_4q=None, revenue_prev_4q=None, **signals):
    """A feature frame for one customer over 12 quarters; ``signals`` override habituation columns."""
    n = len(orders)
    f = pd.DataFrame({"customer_id": customer, "quarter": QUARTERS[:n], "quarter_index": np.arange(n),
                      "orders": orders, "tenure_quarters": np.arange(n),
                      "revenue_4q": revenue_4q if revenue_4q is not None else 1000.0,
                      "revenue_prev_4q": revenue_prev_4q if revenue_prev_4q is not None else 1000.0,
                      "contact_change": 0.0, "quarters_since_new_group": 0.0, "order_interval_change": 0.0,
                      "complaint_change": 0.0, "share_of_wallet_change": 0.0, "satisfaction_change": np.nan})
    for k, v in signals.items():
        f[k] = v
    return f


class TestRules:
    def test_new_then_established(self):
        p = phases.assign_phases(_frame("A", [1] * 12))
        assert list(p["phase"][:4]) == ["new"] * 4
        assert set(p["phase"][4:]) == {"established"}

    def test_growing_and_declining_by_revenue_change(self):
        up = phases.assign_phases(_frame("A", [1] * 12, revenue_4q=1300.0))
        down = phases.assign_phases(_frame("B", [1] * 12, revenue_4q=700.0))
        assert up["phase"].iloc[-1] == "growing"
        assert down["phase"].iloc[-1] == "declining"

    def test_habituating_needs_tenure_and_enough_signals(self):
        sig = dict(contact_change=-0.6, quarters_since_new_group=9.0, order_interval_change=0.8)
        p = phases.assign_phases(_frame("A", [1] * 12, **sig))
        assert p["phase"].iloc[-1] == "habituating"
        assert p["signals"].iloc[-1] == 3
        assert p["phase"].iloc[7] == "established"  # tenure 7 < 8: not yet a long relationship
        two = phases.assign_phases(_frame("B", [1] * 12, contact_change=-0.6, quarters_since_new_group=9.0))
        assert two["phase"].iloc[-1] == "established"
        # once revenue falls, the customer is declining, no longer habituating
        falling = phases.assign_phases(_frame("C", [1] * 12, revenue_4q=600.0, **sig))
        assert falling["phase"].iloc[-1] == "declining"

    def test_lost_and_reactivated(self):
        orders = [1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0]
        p = phases.assign_phases(_frame("A", orders))
        assert list(p["phase"]) == ["new"] * 4 + ["established"] * 4 + ["lost"] + ["reactivated"] * 3

    def test_rules_are_configurable(self):
        cfg = load_config(overrides={"phases": {"new_quarters": 2}})
        p = phases.assign_phases(_frame("A", [1] * 12), config=cfg)
        assert list(p["phase"][:3]) == ["new", "new", "established"]
        with pytest.raises(ConfigError):
            phases.phase_settings({"phases": {"lost_quarterz": 3}, "data": {}, "report": {}})


class TestTables:
    @pytest.fixture()
    def history(self):
        orders = [1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0]
        return pd.concat([phases.assign_phases(_frame("A", orders)),
                          phases.assign_phases(_frame("B", [1] * 12, revenue_4q=1300.0))], ignore_index=True)

    def test_phase_table_since_and_previous(self, history):
        t = phases.phase_table(history, "2023Q4").set_index("customer_id")
        assert list(t.columns) == ["phase", "phase_since", "previous_phase"]
        assert t.loc["A", "phase"] == "reactivated" and t.loc["A", "phase_since"] == "2023Q2"
        assert t.loc["A", "previous_phase"] == "lost"
        assert t.loc["B", "phase_since"] == "2022Q1" and t.loc["B", "previous_phase"] == "new"
        past = phases.phase_table(history, "2022Q3").set_index("customer_id")
        assert past.loc["A", "phase"] == "established" and past.loc["A", "phase_since"] == "2022Q1"

    def test_transition_matrix_rows_sum_to_one(self, history):
        m = phases.transition_matrix(history)
        np.testing.assert_allclose(m.sum(axis=1), 1.0)
        counts = phases.transition_matrix(history, normalize=False)
        assert counts.to_numpy().sum() == 2 * 11
        assert counts.loc["lost", "reactivated"] == 1

    def test_dwell_times(self, history):
        d = phases.dwell_times(history).set_index("phase")
        assert d.loc["new", "completed"] == 2 and d.loc["new", "median_quarters"] == 4
        assert d.loc["established", "mean_quarters"] == 4
        assert d.loc["growing", "ongoing"] == 1

    def test_distribution_and_plots(self, history):
        t = phases.phase_table(history, "2023Q4").assign(business_unit=["Orthesen", "Bandagen"])
        dist = phases.phase_distribution(t, by="business_unit")
        assert dist.groupby("business_unit")["share"].sum().tolist() == [1.0, 1.0]
        ax = phases.plot_phase_distribution(t, by="business_unit", lang="en")
        assert ax.get_title() == "Relationship phases"
        assert phases.plot_transitions(phases.transition_matrix(history)).get_title().startswith("Phasenwechsel")
        assert phases.plot_dwell_times(phases.dwell_times(history)) is not None
        assert phases.phase_label("habituating", "de") == "Gewöhnung"


class TestPageHelpers:
    """What page 04 shows: counts for the key sentence, the view of the phase mix, texts by key."""

    def _table(self):
        return pd.DataFrame({"customer_id": list("ABCDEF"),
                             "phase": ["habituating", "new", "declining", "lost", "established", "habituating"]})

    def test_phase_summary(self):
        s = phases.phase_summary(self._table())
        assert s == {"active": 5, "habituating": 2, "new": 1, "declining": 1, "habituating_share": 0.4}
        empty = phases.phase_summary(pd.DataFrame({"phase": ["lost"]}))
        assert empty["active"] == 0 and empty["habituating_share"] == 0.0

    def test_phase_view_and_overview(self):
        t = self._table()
        customers = pd.DataFrame({"customer_id": list("ABCDEF"), "business_unit": ["X", "Y"] * 3})
        view = phases.phase_view(t, customers)
        assert "quadrant" not in view and view["business_unit"].tolist() == ["X", "Y"] * 3
        fig = phases.plot_phase_overview(view, lang="en")
        assert len(fig.axes) == 1
        matrix = pd.DataFrame({"customer_id": list("ABCDE"), "quadrant": ["top", "small"] * 2 + ["top"]})
        fig = phases.plot_phase_overview(phases.phase_view(t, customers, matrix), lang="de")
        assert len(fig.axes) == 2

    def test_labels_from_the_catalogue(self):
        from bestandlib import i18n

        assert not hasattr(phases, "_LABELS")
        for p in phases.PHASES:
            for lang in ("de", "en"):
                assert i18n.has(f"phase_{p}", lang)
        assert phases.phase_label("habituating", "en") == "habituating"
        assert phases.phase_distribution(self._table())["phase"].isin(phases.PHASES).all()
