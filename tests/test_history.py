"""Customer history: flows, cohorts, ABC and KPIs on small hand-computable fixtures."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bestandlib import history, i18n
from bestandlib.errors import BestandError, ConfigError
from bestandlib.panel import build_panel, customer_summary


def make_orders(rows) -> pd.DataFrame:
    """Orders from (customer, date, revenue) tuples; margin is a quarter of revenue."""
    df = pd.DataFrame(rows, columns=["customer_id", "order_date", "net_revenue"])
    df["order_date"] = pd.to_datetime(df["order_date"]).astype("datetime64[ns]")
    df["order_id"] = [f"O{i}" for i in range(len(df))]
    df["product_group"] = "g"
    df["product_id"] = "p"
    df["quantity"] = np.sign(df["net_revenue"]).astype(float)
    df["net_revenue"] = df["net_revenue"].astype(float)
    df["contribution_margin"] = df["net_revenue"] * 0.25
    return df.astype({"customer_id": "str"})


@pytest.fixture
def flow_panel() -> pd.DataFrame:
    """Four customers, 2023Q1..2024Q4 (the expected flows are worked out in the tests)."""
    orders = make_orders([
        ("A", "2023-02-01", 100), ("A", "2023-05-01", 200), ("A", "2024-08-01", 50),
        ("B", "2023-03-01", 300),
        ("C", "2023-08-01", 400), ("C", "2024-11-01", 10),
        ("D", "2023-06-01", 500), ("D", "2023-11-01", -100),   # a credit note is not an order
    ])
    return build_panel(orders, until="2024Q4")


class TestQuarterlyOverview:
    def test_flows_by_hand(self, flow_panel):
        ov = history.quarterly_overview(flow_panel).set_index("quarter")
        assert ov.index.tolist() == ["2023Q1", "2023Q2", "2023Q3", "2023Q4",
                                     "2024Q1", "2024Q2", "2024Q3", "2024Q4"]
        assert ov["new_customers"].tolist() == [2, 1, 1, 0, 0, 0, 0, 0]
        assert ov["active_customers"].tolist() == [2, 2, 1, 0, 0, 0, 1, 1]
        # B lost in 2024Q1 (last order 2023Q1); A and D in 2024Q2; C in 2024Q3
        assert ov["lost_customers"].tolist() == [0, 0, 0, 0, 1, 2, 1, 0]
        # A comes back in 2024Q3, C in 2024Q4
        assert ov["reactivated_customers"].tolist() == [0, 0, 0, 0, 0, 0, 1, 1]
        assert ov["customer_base"].tolist() == [2, 3, 4, 4, 3, 1, 1, 2]
        # revenue of the lost customers in the year up to their last order
        assert ov["lost_revenue"].tolist() == [0, 0, 0, 0, 300, 800, 400, 0]
        assert ov["revenue"].tolist() == [400, 700, 400, -100, 0, 0, 50, 10]
        assert ov.loc["2023Q2", "margin_rate"] == pytest.approx(0.25)
        assert np.isnan(ov.loc["2024Q1", "margin_rate"])  # no revenue, no rate

    def test_base_identity(self, flow_panel):
        ov = history.quarterly_overview(flow_panel)
        a = ov["customer_base"]
        flows = ov["new_customers"] + ov["reactivated_customers"] - ov["lost_customers"]
        assert (a.diff().iloc[1:] == flows.iloc[1:]).all()

    def test_quarter_selection_does_not_change_numbers(self, flow_panel):
        full = history.quarterly_overview(flow_panel)
        last2 = history.quarterly_overview(flow_panel, quarters=2)
        assert last2["quarter"].tolist() == ["2024Q3", "2024Q4"]
        pd.testing.assert_frame_equal(last2, full.tail(2).reset_index(drop=True))
        picked = history.quarterly_overview(flow_panel, quarters=["2024Q2", pd.Period("2023Q1", "Q-DEC")])
        assert picked["quarter"].tolist() == ["2023Q1", "2024Q2"]
        assert picked["lost_customers"].tolist() == [0, 2]


class TestCohorts:
    def test_by_year(self):
        orders = make_orders([
            ("A", "2023-02-01", 1), ("A", "2024-08-01", 1),
            ("B", "2023-03-01", 1),
            ("C", "2023-08-01", 1), ("C", "2024-11-01", 1), ("C", "2024-12-01", 1),
            ("D", "2023-06-01", 1), ("D", "2024-01-10", -1),  # only a credit note in 2024
            ("E", "2024-05-01", 1),
        ])
        coh = history.cohort_retention(build_panel(orders, until="2024Q4"), by="year")
        assert coh["cohort"].tolist() == ["2023", "2023", "2024"]
        assert coh["period"].tolist() == [0, 1, 0]
        assert coh["customers"].tolist() == [4, 4, 1]
        assert coh["active"].tolist() == [4, 2, 1]
        assert coh["retention"].tolist() == [1.0, 0.5, 1.0]
        assert coh["complete"].all()
        partial = history.cohort_retention(build_panel(orders, until="2024Q3"), by="year")
        assert partial["complete"].tolist() == [True, False, False]

    def test_by_quarter(self, flow_panel):
        coh = history.cohort_retention(flow_panel, by="quarter")
        q1 = coh[coh["cohort"] == "2023Q1"].set_index("period")
        assert q1["customers"].eq(2).all()
        assert q1.loc[0, "retention"] == 1.0
        assert q1.loc[1, "retention"] == 0.5   # A ordered in 2023Q2, B not
        assert q1.loc[2, "retention"] == 0.0
        assert q1.loc[6, "retention"] == 0.5   # A back in 2024Q3
        assert q1.index.max() == 7
        assert coh[coh["cohort"] == "2023Q3"]["period"].max() == 5

    def test_bad_by(self, flow_panel):
        with pytest.raises(BestandError):
            history.cohort_retention(flow_panel, by="month")

    def test_heatmap(self, flow_panel):
        ax = history.plot_cohort_heatmap(history.cohort_retention(flow_panel, by="quarter"), lang="en")
        assert ax.get_xlabel() == "Quarters since first order"
        ax = history.plot_cohort_heatmap(history.cohort_retention(flow_panel))
        assert ax.get_xlabel() == "Jahre seit Erstkauf"


def summary_of(revenues: dict) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": list(revenues), "revenue_12m": list(revenues.values())})


class TestABC:
    REVENUES = {"c1": 50.0, "c2": 30.0, "c3": 10.0, "c5": 5.0, "c4": 5.0, "z": 0.0, "neg": -10.0}

    def test_classes_boundaries_and_ties(self):
        abc = history.abc_analysis(summary_of(self.REVENUES))
        assert abc["customer_id"].tolist() == ["c1", "c2", "c3", "c4", "c5", "z", "neg"]
        assert abc["cum_share"].iloc[:5].tolist() == pytest.approx([0.5, 0.8, 0.9, 0.95, 1.0])
        # c2 ends exactly on 80 %: A; c3 starts at 80 %: B. c5 starts at 95 % but ties with c4: B too
        assert abc["abc_class"].astype(object).iloc[:5].tolist() == ["A", "A", "B", "B", "B"]
        assert abc["rank"].iloc[:5].tolist() == [1, 2, 3, 4, 4]
        assert abc.attrs["abc_cutoffs"] == {"A": 0.8, "B": 0.95}

    def test_zero_and_negative_revenue_are_not_classified(self):
        abc = history.abc_analysis(summary_of(self.REVENUES)).set_index("customer_id")
        assert abc.loc[["z", "neg"], "abc_class"].isna().all()
        assert abc.loc[["z", "neg"], "rank"].isna().all()
        assert abc.loc["neg", "share"] == pytest.approx(-0.1)
        assert abc["share"].iloc[:5].sum() == pytest.approx(1.0)

    def test_crossing_customer_and_tie_at_the_top(self):
        abc = history.abc_analysis(summary_of({"a": 90.0, "b": 6.0, "c": 4.0}))
        # one customer with 90 %: A is never empty
        assert abc["abc_class"].astype(object).tolist() == ["A", "B", "C"]
        abc = history.abc_analysis(summary_of({"x": 40.0, "y": 40.0, "z": 20.0}))
        assert abc["abc_class"].astype(object).tolist() == ["A", "A", "B"]
        assert abc["customer_id"].tolist() == ["x", "y", "z"]  # ties ordered by id

    def test_cutoffs_from_config(self):
        cfg = {"history": {"abc_cutoffs": {"A": 0.5, "B": 0.9}}}
        abc = history.abc_analysis(summary_of(self.REVENUES), config=cfg)
        assert abc["abc_class"].astype(object).iloc[:5].tolist() == ["A", "B", "B", "C", "C"]
        with pytest.raises(ConfigError, match="abc_cutoffs"):
            history.abc_analysis(summary_of(self.REVENUES),
                                 config={"history": {"abc_cutoffs": {"A": 0.9, "B": 0.8}}})

    def test_table(self):
        table = history.abc_table(history.abc_analysis(summary_of(self.REVENUES)))
        assert table["abc_class"].tolist() == ["A", "B", "C"]
        assert table["customers"].tolist() == [2, 3, 0]
        assert table["customer_share"].tolist() == pytest.approx([0.4, 0.6, 0.0])
        assert table["revenue_12m"].tolist() == pytest.approx([80.0, 20.0, 0.0])
        assert table["revenue_share"].tolist() == pytest.approx([0.8, 0.2, 0.0])

    def test_from_customer_summary(self, flow_panel):
        abc = history.abc_analysis(customer_summary(flow_panel, "2024Q1"))
        # 12 months 2023Q2..2024Q1: A 200, B 0, C 400, D 500 - 100 = 400 -> C and D tie at the top
        assert abc["customer_id"].tolist() == ["C", "D", "A", "B"]
        assert abc["abc_class"].astype(object).iloc[:3].tolist() == ["A", "A", "B"]

    def test_pareto_plot(self):
        abc = history.abc_analysis(summary_of(self.REVENUES))
        ax = history.plot_pareto(abc, lang="en")
        x, y = ax.lines[0].get_data()
        assert x.tolist() == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        assert y.tolist() == pytest.approx([0, 0.5, 0.8, 0.9, 0.95, 1.0])
        hlines = [line.get_ydata()[0] for line in ax.lines[2:] if line.get_ydata()[0] == line.get_ydata()[1]
                  and line.get_xdata()[0] == 0]
        assert sorted(hlines) == [0.8, 0.95]
        assert "revenue" in ax.get_ylabel().lower()


class TestKPISummary:
    def test_values_and_changes(self, flow_panel):
        k = history.kpi_summary(flow_panel, "2024Q2").set_index("kpi")
        assert list(k.columns) == ["value", "prev_quarter", "change_vs_prev_quarter",
                                   "year_ago", "change_vs_year_ago", "unit"]
        assert k.loc["active_customers", ["value", "prev_quarter", "year_ago"]].tolist() == [1, 3, 3]
        assert k.loc["active_customers", "change_vs_prev_quarter"] == pytest.approx(1 / 3 - 1)
        assert k.loc["revenue_quarter", ["value", "prev_quarter", "year_ago"]].tolist() == [0, 0, 700]
        assert np.isnan(k.loc["revenue_quarter", "change_vs_prev_quarter"])  # from 0: no relative change
        assert k.loc["revenue_quarter", "change_vs_year_ago"] == -1.0
        assert k.loc["revenue_12m", "value"] == 300.0   # 2023Q3..2024Q2: 400 - 100
        assert k.loc["margin_12m", "value"] == 75.0
        assert k.loc["margin_per_active_customer", "value"] == 75.0
        # the year-ago base (A, B, D) is all gone; a year before that the panel had not started
        assert k.loc["retention_rate", "value"] == 0.0
        assert np.isnan(k.loc["retention_rate", "year_ago"])
        assert k.loc["lost_customers", ["value", "prev_quarter"]].tolist() == [2, 1]
        assert k.loc["lost_customers", "change_vs_prev_quarter"] == 1.0
        assert k.loc["lost_revenue", ["value", "prev_quarter"]].tolist() == [800.0, 300.0]
        # top 10 % of 1 customer (C) = everything; one quarter earlier C (400) of 200 + 400 + 400
        assert k.loc["top10_revenue_share", ["value", "prev_quarter"]].tolist() == pytest.approx([1.0, 0.4])
        # shares change in points, not relative
        assert k.loc["top10_revenue_share", "change_vs_prev_quarter"] == pytest.approx(0.6)
        assert k.loc["retention_rate", "unit"] == "share" and k.loc["lost_revenue", "unit"] == "EUR"
        for lang in ("de", "en"):
            assert all(i18n.has(f"kpi_{key}", lang) for key in k.index)

    def test_restricted_to_customers(self, flow_panel):
        k = history.kpi_summary(flow_panel, "2024Q3", customers=pd.DataFrame({"customer_id": ["A", "B"]}))
        k = k.set_index("kpi")
        assert k.loc["active_customers", "value"] == 1       # A is back
        assert k.loc["revenue_quarter", "value"] == 50.0
        assert k.loc["lost_customers", "prev_quarter"] == 1  # A lost in 2024Q2; D not counted
        assert k.loc["retention_rate", "value"] == 0.5       # a year ago A and B; A active again

    def test_quarter_outside_panel(self, flow_panel):
        with pytest.raises(BestandError):
            history.kpi_summary(flow_panel, "2025Q1")


class TestPlots:
    def test_revenue_history(self, flow_panel):
        ov = history.quarterly_overview(flow_panel)
        ax = history.plot_revenue_history(ov, lang="en")
        assert len(ax.patches) == 2 * len(ov)
        assert ax.get_title() == "Revenue and contribution margin per quarter"
        assert [t.get_text() for t in ax.get_xticklabels()] == ov["quarter"].tolist()
        ax = history.plot_revenue_history(ov)
        assert "Umsatz" in ax.get_title()

    def test_customer_flows(self, flow_panel):
        ov = history.quarterly_overview(flow_panel)
        ax = history.plot_customer_flows(ov)
        heights = [p.get_height() for p in ax.patches]
        # new, reactivated, lost (drawn downwards)
        assert heights[2 * len(ov):] == [-v for v in ov["lost_customers"].tolist()]
        twin = [a for a in ax.figure.axes if a is not ax][0]
        assert twin.lines[0].get_ydata().tolist() == ov["customer_base"].tolist()
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend[:3] == ["Neukunden", "Reaktivierte Kunden", "Verlorene Kunden"]
        with pytest.raises(BestandError):
            history.plot_customer_flows(ov, lang="fr")


class TestFormatKPIs:
    def test_languages(self, flow_panel):
        k = history.kpi_summary(flow_panel, "2024Q2")
        de = history.format_kpis(k).set_index("kpi")
        assert list(de.columns) == ["kpi_value", "kpi_vs_prev_quarter", "kpi_vs_year_ago"]
        assert de.loc["lost_revenue", "kpi_value"] == "800\u00a0€"
        assert de.loc["lost_customers", "kpi_vs_prev_quarter"] == "+100,0\u00a0%"
        assert de.loc["top10_revenue_share", "kpi_vs_prev_quarter"] == "+60,0\u00a0Pp"
        assert de.loc["revenue_quarter", "kpi_vs_prev_quarter"] == "–"
        en = history.format_kpis(k, lang="en").set_index("kpi")
        assert en.loc["lost_revenue", "kpi_value"] == "€800"
        assert en.loc["retention_rate", "kpi_value"] == "0.0%"

    def test_summary_paragraphs(self, flow_panel):
        k = history.kpi_summary(flow_panel, "2024Q2")
        abc = pd.DataFrame({"abc_class": ["A", "B", "C"], "customers": [1, 1, 1],
                            "customer_share": [0.2, 0.3, 0.5], "revenue_12m": [800.0, 150.0, 50.0],
                            "revenue_share": [0.8, 0.15, 0.05]})
        de, en = history.summary_paragraphs(k, abc), history.summary_paragraphs(k, abc, "en")
        assert de[0].startswith("1 aktive Kunden") and "800\u00a0€" in de[0]
        assert en[1].startswith("20%") and "80%" in en[1]


def test_flows_plot_cuts_off_the_first_quarter_stock():
    ov = pd.DataFrame({"quarter": ["2020Q1", "2020Q2", "2020Q3", "2020Q4"], "new_customers": [500, 6, 4, 5],
                       "reactivated_customers": [0, 1, 0, 2], "lost_customers": [0, 0, 3, 1],
                       "active_customers": [400, 300, 320, 310],
                       "customer_base": [500, 507, 508, 514]})
    ax = history.plot_customer_flows(ov, lang="en")
    assert ax.get_ylim()[1] == pytest.approx(1.3 * 7)
    assert ax.get_ylim()[0] < -3
    assert "500" in [t.get_text() for t in ax.texts]
