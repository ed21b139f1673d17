"""Tests for the retention playbook and next-best actions (bestandlib.actions)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bestandlib import actions as A
from bestandlib import i18n
from bestandlib.config import load_config
from bestandlib.errors import BestandError, ConfigError
from bestandlib.panel import build_panel


def _config(**actions_overrides):
    return load_config(overrides={"actions": actions_overrides} if actions_overrides else None)


def _frame(n=40, seed=0, managers=("Anna Müller", "Bernd Öz")):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "customer_id": [f"K{i:03d}" for i in range(n)],
        "name": [f"Klinik {i}" for i in range(n)],
        "business_unit": rng.choice(["Therapie", "Diagnostik"], n),
        "account_manager": rng.choice(list(managers), n),
        "quadrant_key": rng.choice(A.QUADRANTS, n),
        "phase": rng.choice(A.PHASES, n),
        "churn_probability": rng.uniform(0, 0.6, n),
        "habituation_flag": rng.random(n) < 0.2,
        "reason_1": "Bestellabstand +40 %", "reason_2": None, "reason_3": None,
        "margin_at_risk": rng.uniform(0, 10_000, n).round(2),
    })


def _one(cid, mgr, quadrant, phase, p, mar, routine=0.0):
    return {"customer_id": cid, "account_manager": mgr, "quadrant_key": quadrant, "phase": phase,
            "churn_probability": p, "margin_at_risk": mar, "routine_units": routine}


class TestPlaybook:
    def test_default_covers_every_combination(self):
        pb = A.load_playbook()
        assert len(pb) == len(A.QUADRANTS) * len(A.PHASES) * len(A.RISK_LEVELS) == 105
        assert not pb.duplicated(["quadrant_key", "phase", "risk_level"]).any()
        assert set(pb["action"]) <= set(A.measure_table()["action"])

    def test_most_specific_rule_wins_and_quadrant_breaks_ties(self):
        pb = A.load_playbook().set_index(["quadrant_key", "phase", "risk_level"])
        # premium/habituating/high (3 fields) beats premium/*/high and */habituating/high
        assert pb.loc[("premium", "habituating", "high"), "rule"] == "premium/habituating/high"
        # top/*/high vs */habituating/high: both 2 fields, the quadrant rule wins
        assert pb.loc[("top", "habituating", "high"), "action"] == "executive_visit"
        # */lost/* (phase) beats */*/low (risk) at equal specificity
        assert pb.loc[("development", "lost", "low"), "action"] == "win_back_visit"
        assert pb.loc[("small", "established", "low"), "rule"] == "*/*/*"

    def test_gap_is_a_config_error_naming_the_combination(self):
        cfg = _config()
        cfg["actions"]["playbook"] = {"*/*/low": "low_touch_newsletter", "*/*/medium": "check_in_call",
                                      "top/*/high": "executive_visit"}
        with pytest.raises(ConfigError, match=r"premium/new/high"):
            A.load_playbook(cfg)

    @pytest.mark.parametrize("change, match", [
        ({"playbook": {"*/*/*": "coffee_with_ceo"}}, "unknown measure 'coffee_with_ceo'"),
        ({"playbook": {"vip/*/*": "check_in_call"}}, "unknown quadrant 'vip'"),
        ({"playbook": {"*/sleeping/*": "check_in_call"}}, "unknown phase 'sleeping'"),
        ({"playbook": {"*/*": "check_in_call"}}, "quadrant/phase/risk"),
        ({"measures": {"check_in_call": {"cots": 5}}}, "check_in_call.cots"),
        ({"measures": {"check_in_call": {"owner_role": "intern"}}}, "unknown role 'intern'"),
        ({"measures": {"check_in_call": {"cadence": "daily"}}}, "unknown cadence 'daily'"),
        ({"risk_levels": {"medium": 0.5, "high": 0.2}}, "medium <= high"),
        ({"contact_budget": {"vip": 3}}, "unknown quadrant 'vip'"),
    ])
    def test_invalid_settings_name_the_key(self, change, match):
        cfg = _config()
        for key, value in change.items():
            sec = cfg["actions"]
            if key == "measures":
                for m, fields in value.items():
                    sec["measures"][m] = {**sec["measures"][m], **fields}
            else:
                sec[key] = value
        with pytest.raises(ConfigError, match=match):
            A.load_playbook(cfg)

    def test_unknown_section_key(self):
        cfg = _config()
        cfg["actions"]["capacitty"] = 3
        with pytest.raises(ConfigError, match="actions.capacitty"):
            A.actions_settings(cfg)

    def test_user_file_replaces_the_playbook_as_a_whole(self, tmp_path):
        user = tmp_path / "my.yml"
        user.write_text('actions:\n  playbook:\n    "*/*/*": check_in_call\n    "top/*/*": executive_visit\n',
                        encoding="utf-8")
        pb = A.load_playbook(load_config(user))
        assert set(pb["rule"]) == {"*/*/*", "top/*/*"}  # no default rule survives
        assert (pb.loc[pb["quadrant_key"] == "top", "action"] == "executive_visit").all()
        assert (pb.loc[pb["quadrant_key"] != "top", "action"] == "check_in_call").all()

    def test_measure_table_per_quarter(self):
        m = A.measure_table(lang="en").set_index("action")
        assert m.loc["low_touch_newsletter", "cost_per_quarter"] == pytest.approx(3 * 2)  # monthly
        assert m.loc["executive_visit", "owner_role"] == "sales_director"  # a key: translated on display
        assert i18n.t("role_sales_director", "en") == "Sales director"


class TestRisk:
    def test_levels_and_unknown(self):
        p = pd.Series([0.0, 0.119, 0.12, 0.299, 0.30, np.nan])
        assert list(A.risk_level(p)) == ["low", "low", "medium", "medium", "high", "medium"]
        assert A.risk_level(p, _config(unknown_risk="high")).iloc[-1] == "high"


class TestAssign:
    def test_one_row_per_customer_by_margin_at_risk(self):
        f = _frame()
        acts = A.assign_actions(f)
        assert len(acts) == len(f) and set(acts["customer_id"]) == set(f["customer_id"])
        assert acts["priority"].tolist() == list(range(1, len(f) + 1))
        assert acts["margin_at_risk"].is_monotonic_decreasing
        assert A.actions_table(acts).columns[:6].tolist() == [
            "customer_id", "account_manager", "action", "priority", "margin_at_risk", "reason"]

    def test_capacity_overflow_is_reported_not_dropped(self):
        # three top/high customers of one manager; executive visit = 3 units, capacity 4
        f = pd.DataFrame([_one(f"K{i}", "Anna", "top", "established", 0.5, 1000 - i) for i in range(3)])
        acts = A.assign_actions(f, _config(capacity=4)).set_index("customer_id")
        assert acts.loc["K0", "action"] == "executive_visit" and acts.loc["K0", "status"] == "planned"
        # 1 unit left: the next customer gets the lighter check-in call from the rule's list
        assert acts.loc["K1", "action"] == "check_in_call" and acts.loc["K1", "status"] == "planned"
        assert acts.loc["K2", "status"] == "overflow"
        assert acts.loc["K2", "action"] == "executive_visit"  # the best measure fitting the customer
        summary = A.action_summary(acts.reset_index(), "account_manager", _config(capacity=4))
        assert summary.loc[0, "attention_units"] == pytest.approx(4.0)
        assert summary.loc[0, "utilisation"] == pytest.approx(1.0)

    def test_contact_budget_protects_the_customer(self):
        f = pd.DataFrame([
            _one("K1", "Anna", "top", "established", 0.5, 900, routine=0.0),
            _one("K2", "Anna", "top", "established", 0.5, 800, routine=2.5),  # 1.5 left: call only
            _one("K3", "Anna", "top", "established", 0.5, 700, routine=6.0),  # nothing left
            _one("K4", "Anna", "small", "established", 0.05, 10, routine=9.0),  # newsletter is automated
        ])
        acts = A.assign_actions(f, _config(contact_budget=4, capacity=100)).set_index("customer_id")
        assert acts.loc["K1", "action"] == "executive_visit"
        assert acts.loc["K2", ["action", "status"]].tolist() == ["check_in_call", "planned"]
        assert acts.loc["K2", "preferred_action"] == "executive_visit"
        assert acts.loc["K3", "status"] == "over_budget"
        assert acts.loc["K4", ["action", "status"]].tolist() == ["low_touch_newsletter", "planned"]
        assert (acts["attention_units"] + acts["routine_units"] <= acts["contact_budget"]
                )[acts["status"] == "planned"].drop("K4").all()

    def test_budget_by_quadrant(self):
        f = pd.DataFrame([_one("K1", "Anna", "top", "established", 0.5, 900, routine=2.5)])
        acts = A.assign_actions(f, _config(contact_budget={"top": 6, "default": 4}, capacity=100))
        assert acts.loc[0, "action"] == "executive_visit" and acts.loc[0, "contact_budget"] == 6

    def test_capacity_per_manager_and_unknown_manager(self):
        f = pd.DataFrame([_one("K1", "Anna", "top", "established", 0.5, 900),
                          _one("K2", "Bernd", "top", "established", 0.5, 800)])
        acts = A.assign_actions(f, _config(capacity={"default": 10, "Bernd": 0})).set_index("customer_id")
        assert acts.loc["K1", "status"] == "planned" and acts.loc["K2", "status"] == "overflow"
        with pytest.raises(ConfigError, match="Bernhard"):
            A.assign_actions(f, _config(capacity={"default": 10, "Bernhard": 5}))

    def test_customer_without_manager_overflows_personal_measures(self):
        f = pd.DataFrame([_one("K1", None, "top", "declining", 0.5, 900),
                          _one("K2", None, "small", "established", 0.01, 1)])
        acts = A.assign_actions(f, lang="en").set_index("customer_id")
        assert acts.loc["K1", "account_manager"] == "(no account manager)"
        assert acts.loc["K1", "status"] == "overflow"
        assert acts.loc["K2", "status"] == "planned"  # the newsletter needs nobody

    def test_reasons_and_missing_probability(self):
        f = pd.DataFrame([
            {**_one("K1", "Anna", "premium", "habituating", 0.4, 500), "habituation_flag": True,
             "reason_1": "Bestellabstand +40 %", "reason_2": "keine neuen Produktgruppen", "reason_3": None},
            {**_one("K2", "Anna", "small", "new", np.nan, np.nan), "habituation_flag": False,
             "reason_1": None, "reason_2": None, "reason_3": None},
        ])
        acts = A.assign_actions(f).set_index("customer_id")
        assert acts.loc["K1", "reason"] == "Gewöhnungsrisiko; Bestellabstand +40 %; keine neuen Produktgruppen"
        assert acts.loc["K2", "risk_level"] == "medium"  # unknown_risk
        assert acts.loc["K2", "reason"] == "Phase neu, Risiko mittel"
        assert acts.loc["K2", "priority"] == 2  # missing margin at risk comes last

    def test_bad_frame(self):
        f = _frame(5)
        f.loc[0, "phase"] = "sleepy"
        with pytest.raises(BestandError, match="sleepy"):
            A.assign_actions(f)
        with pytest.raises(BestandError, match="margin_at_risk"):
            A.assign_actions(_frame(5).drop(columns="margin_at_risk"))


class TestContactLoad:
    def test_units_in_quarter(self):
        c = pd.DataFrame({"customer_id": ["K1", "K1", "K1", "K2"],
                          "contact_date": pd.to_datetime(["2025-10-02", "2025-11-02", "2025-06-30", "2025-12-31"]),
                          "channel": ["visit", "email", "visit", "fax"]})
        load = A.contact_load(c, "2025Q4").set_index("customer_id")["routine_units"]
        assert load.to_dict() == {"K1": 2.5, "K2": 1.0}


class TestManagerLists:
    def test_write_csv_and_excel(self, tmp_path):
        acts = A.assign_actions(_frame(30))
        files = A.write_action_lists(acts, tmp_path / "actions")
        assert set(files["csv"]) == {"anna_mueller.csv", "bernd_oez.csv"}
        assert files["rows"].sum() == 30
        for _, row in files.iterrows():
            csv = pd.read_csv(tmp_path / "actions" / row["csv"], sep=";", decimal=",", encoding="utf-8-sig")
            xl = pd.read_excel(tmp_path / "actions" / row["xlsx"], engine="openpyxl")
            assert len(csv) == len(xl) == row["rows"]
            assert csv["Priorität"].is_monotonic_increasing
            assert "Maßnahme" in xl.columns and xl["Rang"].tolist() == list(range(1, row["rows"] + 1))

    def test_english_headers(self):
        lists = A.manager_lists(A.assign_actions(_frame(10), lang="en"), lang="en")
        assert all("Measure" in t.columns and "Reason" in t.columns for t in lists.values())


def _panel(spec: dict, first: str, last: str) -> pd.DataFrame:
    """Dense hand-built panel: {customer: (first quarter, [margin per quarter from then on])}."""
    rows = []
    for cid, (start, margins) in spec.items():
        qs = pd.period_range(start, last, freq="Q-DEC")
        last_order = None
        for i, q in enumerate(qs):
            m = margins[i] if i < len(margins) else 0.0
            end = q.end_time.normalize()
            if m > 0:
                last_order = end - pd.Timedelta(days=10)
            rows.append({"customer_id": cid, "quarter": str(q), "quarter_end": end, "revenue": 3 * m,
                         "margin": float(m), "orders": int(m > 0), "tenure_quarters": i,
                         "days_since_last_order": (end - last_order).days})
    return pd.DataFrame(rows)


class TestKeptVsNew:
    def test_ratio_from_hand_built_panel(self):
        spec = {
            "K1": ("2022Q1", [100] * 16),             # kept: 400 in the last 12 months
            "K2": ("2022Q1", [200] * 16),             # kept: 800
            "L1": ("2022Q1", [300] * 4),              # lapsed in 2022: neither
            "N1": ("2024Q1", [50] * 4),               # new, first year 200, gone in 2025: not kept
            "N2": ("2025Q1", [100]),                  # new (last complete cohort), first year 100
            "N3": ("2025Q2", [999] * 3),              # first year incomplete: left out
            "O1": ("2023Q1", [10, 0, 0, 0]),          # cohort 2023Q1 is older than the 8-quarter window
        }
        panel = _panel(spec, "2022Q1", "2025Q4")
        r = A.kept_vs_new_ratio(panel, "2025Q4", margin_at_risk=1500.0)
        assert (r["kept_customers"], r["new_customers"]) == (2, 2)
        assert r["kept_margin"] == pytest.approx(600.0)
        assert r["new_first_year_margin"] == pytest.approx(150.0)
        assert r["ratio"] == pytest.approx(4.0)
        assert r["new_customers_needed"] == pytest.approx(10.0)
        assert (r["cohort_from"], r["cohort_to"]) == ("2023Q2", "2025Q1")
        assert "1 gehaltener Kunde = 4,0 neue" in A.kept_vs_new_sentence(r, "de")
        assert "equals 10 new customers" in A.kept_vs_new_sentence(r, "en")

    def test_no_new_customers(self):
        panel = _panel({"K1": ("2022Q1", [100] * 16)}, "2022Q1", "2025Q4")
        r = A.kept_vs_new_ratio(panel, "2025Q4")
        assert np.isnan(r["ratio"]) and r["new_customers"] == 0
        assert "Zu wenige Neukunden" in A.kept_vs_new_sentence(r)


class TestActionsLog:
    def test_log_status(self):
        acts = A.assign_actions(pd.DataFrame([_one("K1", "Anna", "top", "established", 0.5, 900),
                                              _one("K2", "Anna", "small", "established", 0.01, 5)]))
        log = pd.DataFrame({"customer_id": ["K1", "K1", "K2"],
                            "action": ["executive_visit", "executive_visit", "check_in_call"],
                            "done_on": ["2026-02-10", "2026-01-15", "2026-01-20"]})
        out = A.log_status(acts, log, start="2026-01-01", end="2026-03-31").set_index("customer_id")
        assert out.loc["K1", "done"] and out.loc["K1", "done_on"] == pd.Timestamp("2026-01-15")
        assert not out.loc["K2", "done"]  # another measure than the planned one was logged

    def test_treated_vs_untreated_standardised(self):
        # 2024Q3: three margin bands, one treated (never churns) and two untreated (one churns) per band
        spec = {}
        for band, m in enumerate((10, 100, 1000)):
            spec[f"T{band}"] = ("2024Q1", [m + 1] * 6)
            spec[f"U{band}"] = ("2024Q1", [m] * 6)
            spec[f"V{band}"] = ("2024Q1", [m + 2] * 3)        # no order after 2024Q3: churned
        panel = _panel(spec, "2024Q1", "2025Q2")
        log = pd.DataFrame({"customer_id": ["T0", "T1", "T2", "T0"],
                            "action": ["service_review", "service_review", "check_in_call", "check_in_call"],
                            "done_on": ["2024-08-01", "2024-09-01", "2024-07-15", "2025-11-01"]})
        out = A.treated_vs_untreated(log, panel, horizon=2).set_index("action")
        assert out.loc["*", "treated"] == 3  # the 2025Q4 treatment has no observable outcome yet
        assert out.loc["*", "treated_churn_rate"] == 0.0
        assert out.loc["*", "comparison_churn_rate"] == pytest.approx(0.5)
        assert out.loc["*", "difference"] == pytest.approx(-0.5)
        assert out.loc["service_review", "treated"] == 2
        assert "randomis" in i18n.t("actions_not_randomised", "en")


class TestPlots:
    def test_plots_return_axes(self):
        acts = A.assign_actions(_frame(30), _config(capacity=5))
        ax = A.plot_manager_load(acts, _config(capacity=5))
        assert len(ax.get_yticklabels()) == 2 and ax.get_title()
        ax2 = A.plot_margin_by_action(acts, lang="en")
        assert ax2.get_xlabel() == "Margin at risk (EUR)"


class TestFallbacks:
    def test_simple_phases(self):
        spec = {"G": ("2023Q1", [100] * 8 + [200] * 4), "D": ("2023Q1", [100] * 8 + [50] * 4),
                "E": ("2023Q1", [100] * 12), "N": ("2025Q2", [10] * 3), "L": ("2023Q1", [100] * 6)}
        ph = A.simple_phases(_panel(spec, "2023Q1", "2025Q4"), "2025Q4").set_index("customer_id")["phase"]
        assert ph.to_dict() == {"D": "declining", "E": "established", "G": "growing", "L": "lost", "N": "new"}

    def test_recency_risk(self):
        orders = pd.DataFrame({"customer_id": ["A"] * 4 + ["B"] * 4, "order_date": pd.to_datetime(
            ["2025-01-01", "2025-03-02", "2025-05-01", "2025-12-01",     # gap 60, last 30 days ago
             "2025-01-01", "2025-02-01", "2025-03-03", "2025-04-02"])})  # gap ~30, 273 days ago
        orders = orders.assign(order_id=[str(i) for i in range(8)], product_group="G", quantity=1.0,
                               net_revenue=100.0, contribution_margin=30.0)
        # a credit note is no purchase: it moves neither the last purchase nor the rhythm
        orders.loc[len(orders)] = ["B", pd.Timestamp("2025-12-20"), "9", "G", -1.0, -100.0, -30.0]
        r = A.recency_risk(build_panel(orders, until="2025Q4"), "2025Q4").set_index("customer_id")
        assert r.loc["A", "risk_score"] == 0.0
        assert r.loc["B", "risk_score"] == 1.0 and r.loc["B", "overdue"] > 4


class TestPlanFrame:
    """The planning frame: a model's probability, else a recency score that is never called one."""

    @staticmethod
    def _value():
        return pd.DataFrame({"customer_id": ["K1", "K2", "K3"], "name": ["A", "B", "C"],
                             "business_unit": "T", "account_manager": ["Anna", "Anna", None],
                             "quadrant_key": ["top", "small", "premium"],
                             "margin_12m": [1000.0, 500.0, -50.0], "revenue_12m": [4000.0, 2000.0, 800.0]})

    @staticmethod
    def _recency():
        return pd.DataFrame({"customer_id": ["K1", "K2", "K3"], "risk_score": [0.9, 0.1, 0.5],
                             "overdue": [3.7, 1.3, 2.5]})

    def test_model_probability_and_money_at_risk(self):
        phase = pd.DataFrame({"customer_id": ["K1", "K2"], "phase": ["habituating", "new"]})
        risk = pd.DataFrame({"customer_id": ["K1", "K2", "K3"], "churn_probability": [0.5, 0.2, 0.9],
                             "segment_model": ["established", "onboarding", "recency"]})
        f = A.plan_frame(self._value(), phase, risk, "model", self._recency()).set_index("customer_id")
        assert f["risk_source"].to_dict() == {"K1": "model", "K2": "onboarding", "K3": "recency"}
        assert f.loc["K1", "margin_at_risk"] == pytest.approx(500.0)
        assert f.loc["K3", "phase"] == "established"  # no phase known
        # the churn table's recency row holds a score: no probability and no money at risk
        assert np.isnan(f.loc["K3", "churn_probability"]) and np.isnan(f.loc["K3", "margin_at_risk"])
        assert f.loc["K3", "risk_score"] == pytest.approx(0.9)
        assert f[["risk_score"]].loc[["K1", "K2"]].isna().all().all()

    def test_recency_only_is_no_probability(self):
        f = A.plan_frame(self._value(), pd.DataFrame({"customer_id": [], "phase": []}), None, "recency",
                         self._recency(), has_margin=False)
        assert f["risk_source"].eq("recency").all()
        assert f["churn_probability"].isna().all() and f["margin_at_risk"].isna().all()
        assert f["risk_score"].tolist() == [0.9, 0.1, 0.5]
        assert f["value_12m"].tolist() == [4000.0, 2000.0, 800.0]  # revenue without margins
        acts = A.assign_actions(f).set_index("customer_id")
        # ranked by the score only; the level from the score with the same cut-offs (0.12 / 0.30)
        assert acts["priority"].to_dict() == {"K1": 1, "K3": 2, "K2": 3}
        assert acts["risk_level"].to_dict() == {"K1": "high", "K2": "low", "K3": "high"}
        table = A.actions_table(acts.reset_index(), has_margin=False)
        assert list(table.columns) == [c if c != "margin_at_risk" else "revenue_at_risk" for c in A.ACTIONS_COLUMNS]
        shown = A.for_display(table, has_margin=False)
        assert "margin_at_risk" not in shown and "revenue_at_risk" not in shown and "action" not in shown
        assert "risk_score" in shown

    def test_btyd_source_and_unscored(self):
        risk = pd.DataFrame({"customer_id": ["K1"], "churn_probability": [0.4]})
        f = A.plan_frame(self._value(), pd.DataFrame({"customer_id": [], "phase": []}), risk, "btyd",
                         self._recency()).set_index("customer_id")
        assert f["risk_source"].to_dict() == {"K1": "btyd", "K2": "recency", "K3": "recency"}
        assert f.loc["K3", "margin_at_risk"] != f.loc["K3", "margin_at_risk"]  # NaN
        with pytest.raises(BestandError, match="risk source"):
            A.plan_frame(self._value(), pd.DataFrame({"customer_id": [], "phase": []}), None, "guess",
                         self._recency())

    def test_notes_and_counts(self):
        f = pd.DataFrame({"risk_source": ["model", "recency", "onboarding", "model"]})
        assert A.risk_source_counts(f).to_dict("list") == {"risk_source": ["model", "onboarding", "recency"],
                                                           "customers": [2, 1, 1]}
        assert A.plan_notes(f, "model", "en") == [("actions_recency_customers", {"count": 1})]
        (key, fields), = A.plan_notes(f.assign(risk_source="recency"), "recency", "en", "needs 13 quarters")
        assert key == "actions_note_recency" and "not a probability" in i18n.t(key, "en", **fields)
        assert A.plan_notes(f.assign(risk_source="btyd"), "btyd", "de")[0][0] == "actions_note_btyd"

    def test_plan_inputs_without_models(self):
        """A session that can run neither model: the recency score, chosen without any exception."""
        orders = pd.DataFrame({"customer_id": ["A", "A", "A", "B", "B"], "order_date": pd.to_datetime(
            ["2025-02-01", "2025-06-01", "2025-11-01", "2024-03-01", "2024-09-01"])})
        orders = orders.assign(order_id=[str(i) for i in range(5)], product_group="G", quantity=1.0,
                               net_revenue=100.0, contribution_margin=30.0)
        pnl = build_panel(orders, until="2025Q4")

        class S:
            panel, quarter, config, lang, has_margin = pnl, "2025Q4", _config(), "en", True
            tables = type("T", (), {"contacts": None, "customers": None})()

            def available(self, section):
                return False

        value = pd.DataFrame({"customer_id": ["A", "B"], "name": ["a", "b"], "business_unit": "T",
                              "account_manager": "Anna", "quadrant_key": "top", "margin_12m": [300.0, 0.0],
                              "revenue_12m": [400.0, 0.0]})
        frame, source = A.plan_inputs(S(), value, pd.DataFrame({"customer_id": ["A"], "phase": ["growing"]}))
        assert source == "recency" and frame["risk_source"].eq("recency").all()
        assert frame["risk_score"].notna().all() and frame["churn_probability"].isna().all()

    def test_display_helpers(self):
        pb = A.playbook_matrix(A.load_playbook(lang="en"))
        assert list(pb.columns) == ["quadrant_key", "phase", "action_risk_low", "action_risk_medium",
                                    "action_risk_high"] and len(pb) == len(A.QUADRANTS) * len(A.PHASES)
        log = pd.DataFrame({"action": ["*", "executive_visit", "gone"]})
        lab = A.label_actions(log, A.measure_table(lang="en"), "en")
        assert lab["action_label"].tolist()[0] == "all measures" and lab["action_label"].tolist()[2] == "gone"
        s = A.action_summary(A.assign_actions(_frame(10)), "action")
        assert "revenue_at_risk" in A.for_display(s, has_margin=False).columns

    def test_kept_vs_new_frame(self):
        r = {"kept_customers": 10, "kept_margin": 900.0, "new_customers": 4, "new_first_year_margin": 300.0,
             "cohort_from": "2024Q1", "cohort_to": "2024Q4", "ratio": 3.0, "margin_at_risk": np.nan,
             "new_customers_needed": np.nan}
        f = A.kept_vs_new_frame(r)
        assert "margin_at_risk" not in f and f.loc[0, "kept_vs_new_ratio"] == 3.0
        assert A.kept_vs_new_sentence(r, "en").startswith("1 kept customer = 3.0 new ones")
