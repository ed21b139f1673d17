"""Tests of bestandlib.needs: what each section needs, the reasons in words, readiness and coverage.

Facts are built by hand for the rules (:func:`needs.check` only reads a :class:`needs.Facts`), and from
a tiny data folder written into ``tmp_path`` where the facts of real tables matter.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bestandlib import churn, i18n, io, needs, schemas
from bestandlib.config import load_config
from bestandlib.panel import build_panel, customer_summary

TODAY = pd.Timestamp("2025-06-30")
CONFIG = load_config()

# every optional table with rows, every column with values, a long history and many customers:
# every section can run
ALL_TABLES = frozenset(schemas.TABLE_NAMES)
ALL_COLUMNS = frozenset(f"{t}.{c}" for t, spec in schemas.CONTRACT.items() for c in spec["columns"])
RICH = needs.Facts(ALL_TABLES, ALL_COLUMNS, quarters=40, customers=500)


def rich(**changes) -> needs.Facts:
    """:data:`RICH` with some fields replaced."""
    fields = {"tables": RICH.tables, "columns": RICH.columns, "quarters": RICH.quarters,
              "customers": RICH.customers, **changes}
    return needs.Facts(**fields)


def without(table: str | None = None, column: str | None = None, **changes) -> needs.Facts:
    """:data:`RICH` without one table (and its columns) or one ``table.column``."""
    tables, columns = set(RICH.tables), set(RICH.columns)
    if table:
        tables.discard(table)
        columns = {c for c in columns if not c.startswith(table + ".")}
    if column:
        columns.discard(column)
    return rich(tables=frozenset(tables), columns=frozenset(columns), **changes)


def kinds(reasons) -> list[str]:
    return [r.kind for r in reasons]


# --- a tiny data folder -------------------------------------------------------------------------

CUSTOMERS = "customer_id\nC1\nC2\nC3\nC4\n"
# first order 2023Q2; at 2024Q4 C1 and C2 are active, C3 has only a credit note in the last four
# quarters, C4 last ordered in 2023
ORDERS = (
    "order_id,customer_id,order_date,quantity,net_revenue\n"
    "O1,C1,2023-05-10,1,100\n"
    "O2,C1,2024-11-02,2,250\n"
    "O3,C2,2023-08-01,1,80\n"
    "O4,C2,2024-03-15,1,120\n"
    "O5,C3,2023-07-01,3,300\n"
    "O6,C3,2024-02-01,-1,-100\n"
    "O7,C4,2023-06-20,1,50\n"
    "O8,C1,2025-03-01,1,70\n"
)
POTENTIALS = "customer_id,assessed_on,potential\nC1,2024-01-01,5000\nC2,2024-01-01,2000\n"


def folder(tmp_path, **files) -> Path:
    """A data folder with customers.csv and orders.csv (bare) plus ``files`` (table -> CSV text)."""
    d = tmp_path / "data"
    d.mkdir(exist_ok=True)
    for table, text in {"customers": CUSTOMERS, "orders": ORDERS, **files}.items():
        (d / f"{table}.csv").write_text(text, encoding="utf-8")
    return d


def loaded(tmp_path, **files):
    t = io.load_tables(folder(tmp_path, **files), today=TODAY)
    return t, build_panel(t.orders, until="2025Q1")


# ------------------------------------------------------------------------------------------------
# the declarations themselves
# ------------------------------------------------------------------------------------------------


class TestSections:
    def test_every_section_has_a_title_in_both_languages(self):
        for section in needs.SECTIONS:
            key = "section_" + section.replace(".", "_")
            assert key in i18n.LABELS, key
            de, en = i18n.LABELS[key]["de"], i18n.LABELS[key]["en"]
            assert de.strip() and en.strip(), key
            assert needs.section_title(section, "de") == de
            assert needs.section_title(section, "en") == en

    def test_tables_and_columns_exist_in_the_contract(self):
        for section, need in needs.SECTIONS.items():
            for table in need.tables:
                assert table in schemas.CONTRACT, (section, table)
                # a required table is always there: a need for it would be no need at all
                assert not schemas.CONTRACT[table]["required"], (section, table)
            for tc in need.columns:
                table, _, column = tc.partition(".")
                assert table in schemas.CONTRACT and column in schemas.CONTRACT[table]["columns"], \
                    (section, tc)

    def test_keys_name_a_page_and_a_section(self):
        for section in needs.SECTIONS:
            page, _, name = section.partition(".")
            assert page and name and "." not in name, section

    def test_every_minimum_resolves_in_the_default_config(self):
        for section, need in needs.SECTIONS.items():
            for minimum in (need.min_quarters, need.min_customers):
                value = needs._value(minimum, CONFIG)
                assert isinstance(value, int) and value >= 0, section

    def test_reason_labels_exist_in_both_languages(self):
        for kind in ("table", "column", "quarters", "customers", "not_available"):
            key = kind if kind == "not_available" else f"needs_{kind}"
            assert {"de", "en"} <= set(i18n.LABELS[key]), key


# ------------------------------------------------------------------------------------------------
# check: each kind of reason
# ------------------------------------------------------------------------------------------------


class TestCheck:
    def test_everything_there_means_no_reason(self):
        for section in needs.SECTIONS:
            assert needs.check(section, RICH, CONFIG) == [], section

    def test_missing_table(self):
        reasons = needs.check("value.matrix", without("potentials"), CONFIG)
        assert reasons == [needs.Reason("table", table="potentials")]
        assert needs.check("voice.surveys", without("surveys"), CONFIG) == [
            needs.Reason("table", table="surveys")]
        assert needs.check("actions.log", without("actions_log"), CONFIG) == [
            needs.Reason("table", table="actions_log")]
        # a table other sections need leaves this one alone
        assert needs.check("value.score", without("potentials"), CONFIG) == []

    def test_missing_column_when_its_table_is_present(self):
        facts = without(column="orders.contribution_margin")
        assert needs.check("history.margin", facts, CONFIG) == [
            needs.Reason("column", table="orders", column="contribution_margin")]
        assert kinds(needs.check("loyalty.kept_vs_new", facts, CONFIG)) == ["column"]
        assert needs.check("history.cohorts", facts, CONFIG) == []

    def test_no_column_reason_when_the_table_is_absent(self):
        # without the table itself the column cannot be asked for (the table reason covers it)
        facts = without("orders")
        assert needs.check("history.margin", facts, CONFIG) == []

    def test_too_few_quarters_gives_need_and_have(self):
        need = int(CONFIG["needs"]["cohort_quarters"])
        reasons = needs.check("history.cohorts", rich(quarters=need - 1), CONFIG)
        assert reasons == [needs.Reason("quarters", need=need, have=need - 1)]
        assert needs.check("history.cohorts", rich(quarters=need), CONFIG) == []  # inclusive

    def test_too_few_customers_gives_need_and_have(self):
        need = int(CONFIG["needs"]["min_customers"])
        reasons = needs.check("value.score", rich(customers=need - 1), CONFIG)
        assert reasons == [needs.Reason("customers", need=need, have=need - 1)]
        assert needs.check("value.score", rich(customers=need), CONFIG) == []

    def test_several_reasons_in_order_table_column_quarters_customers(self):
        facts = needs.Facts(frozenset({"customers", "orders"}), frozenset({"orders.net_revenue"}), 1, 1)
        assert kinds(needs.check("value.matrix", facts, CONFIG)) == ["table", "customers"]
        assert kinds(needs.check("loyalty.kept_vs_new", facts, CONFIG)) == ["column", "quarters"]
        assert kinds(needs.check("potential.over_time", facts, CONFIG)) == ["table", "quarters"]

    def test_unknown_section_is_a_key_error(self):
        with pytest.raises(KeyError, match="history.margins"):
            needs.check("history.margins", RICH, CONFIG)


class TestMinimumsFromConfig:
    @pytest.mark.parametrize("section, field", [
        (s, f) for s, n in needs.SECTIONS.items() for f in ("min_quarters", "min_customers")
        if hasattr(getattr(n, f), "path")])
    def test_a_changed_setting_changes_the_need(self, section, field):
        path = getattr(needs.SECTIONS[section], field).path.split(".")
        override: dict = {}
        node = override
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = 977
        cfg = load_config(overrides=override)
        kind = "quarters" if field == "min_quarters" else "customers"
        assert needs.check(section, RICH, CONFIG) == []
        assert needs.check(section, RICH, cfg) == [needs.Reason(kind, need=977, have=getattr(RICH, kind))]

    def test_a_dict_copy_works_like_overrides(self):
        cfg = copy.deepcopy(CONFIG)
        cfg["needs"]["min_customers"] = 3
        facts = rich(customers=5)
        assert needs.check("value.score", facts, CONFIG) == [needs.Reason("customers", need=10, have=5)]
        assert needs.check("value.score", facts, cfg) == []

    def test_churn_model_quarters_follow_the_backtest_settings(self):
        # training quarters (of customers old enough to score) + two outcome windows: the training
        # rows' and the scored quarter's own
        st = CONFIG["churn"]
        train = max(int(st["backtest"]["min_train_quarters"]), int(st["population"]["min_tenure_quarters"]) + 1)
        default = train + 2 * 4  # target "either": 4 quarters
        assert default == 13
        assert needs.check("churn.model", rich(quarters=default - 1), CONFIG) == [
            needs.Reason("quarters", need=default, have=default - 1)]
        cfg = load_config(overrides={"churn": {"backtest": {"min_train_quarters": 10},
                                               "target": {"kind": "full"}}})
        assert needs.check("churn.model", rich(quarters=12), cfg) == [
            needs.Reason("quarters", need=10 + 2 * 2, have=12)]

    def test_loyalty_claims_quarters_follow_the_loyal_tenure(self):
        cfg = load_config(overrides={"loyalty": {"compare": {"loyal_min_quarters": 9}}})
        assert needs.check("loyalty.claims", rich(quarters=9), cfg) == [
            needs.Reason("quarters", need=10, have=9)]
        assert needs.check("loyalty.claims", rich(quarters=10), cfg) == []


def test_a_history_meeting_the_churn_model_need_has_a_backtest_split():
    """Where the section says "available", the notebook's backtest must not fail with "too short"."""
    need = needs._value(needs.SECTIONS["churn.model"].min_quarters, CONFIG)
    h = churn._horizon(churn.churn_settings(CONFIG)["target"])
    first = 2021 * 4
    qi = np.arange(first, first + need)
    frame = pd.DataFrame({"quarter_index": qi, "observed": qi + h <= qi.max()})
    assert needs.check("churn.model", rich(quarters=need), CONFIG) == []
    assert len(churn.backtest_splits(frame, CONFIG)) >= 1


# ------------------------------------------------------------------------------------------------
# words
# ------------------------------------------------------------------------------------------------


class TestReasonText:
    def test_each_kind_in_both_languages(self):
        table = needs.Reason("table", table="potentials")
        column = needs.Reason("column", table="orders", column="contribution_margin")
        quarters = needs.Reason("quarters", need=8, have=3)
        customers = needs.Reason("customers", need=20, have=7)
        assert needs.reason_text(table, "de") == "braucht potentials.csv"
        assert needs.reason_text(table, "en") == "needs potentials.csv"
        assert needs.reason_text(column, "de") == "braucht die Spalte contribution_margin in orders"
        assert needs.reason_text(column, "en") == "needs the column contribution_margin in orders"
        assert needs.reason_text(quarters, "de") == "braucht mindestens 8 Quartale Historie, die Daten haben 3"
        assert needs.reason_text(quarters, "en") == "needs at least 8 quarters of history, the data have 3"
        assert needs.reason_text(customers, "de") == "braucht mindestens 20 aktive Kunden, die Daten haben 7"
        assert needs.reason_text(customers, "en") == "needs at least 20 active customers, the data have 7"

    def test_default_language_is_german(self):
        assert needs.reason_text(needs.Reason("table", table="surveys")) == "braucht surveys.csv"


class TestNote:
    def test_one_reason(self):
        reasons = needs.check("value.migration", without("potentials"), CONFIG)
        assert needs.note(reasons, "de") == "Nicht verfügbar: braucht potentials.csv."
        assert needs.note(reasons, "en") == "Not available: needs potentials.csv."

    def test_several_reasons_joined(self):
        reasons = needs.check("value.matrix", without("potentials", customers=4), CONFIG)
        assert needs.note(reasons, "en") == (
            "Not available: needs potentials.csv; needs at least 10 active customers, the data have 4.")
        assert needs.note(reasons, "de").startswith("Nicht verfügbar: braucht potentials.csv; braucht ")


# ------------------------------------------------------------------------------------------------
# facts of real tables
# ------------------------------------------------------------------------------------------------


class TestFacts:
    def test_quarters_from_first_order_to_report_quarter(self, tmp_path):
        t, panel = loaded(tmp_path)
        assert needs.facts(t, panel, "2024Q4").quarters == 7   # 2023Q2 .. 2024Q4
        assert needs.facts(t, panel, "2023Q2").quarters == 1   # the first quarter itself counts
        assert needs.facts(t, panel, "2025Q1").quarters == 8

    def test_active_customers_as_customer_summary(self, tmp_path):
        t, panel = loaded(tmp_path)
        for q in ("2023Q2", "2023Q4", "2024Q4", "2025Q1"):
            expected = int(customer_summary(panel, q)["active"].sum())
            assert needs.facts(t, panel, q).customers == expected, q
        # C1 and C2 ordered in 2024; C3 only has a credit note, C4 stopped in 2023
        assert needs.facts(t, panel, "2024Q4").customers == 2

    def test_empty_panel_has_no_quarters_and_no_customers(self, tmp_path):
        t, panel = loaded(tmp_path)
        f = needs.facts(t, panel.iloc[:0], "2024Q4")
        assert (f.quarters, f.customers) == (0, 0)

    def test_tables_with_rows_and_columns_with_values(self, tmp_path):
        t, panel = loaded(tmp_path, potentials=POTENTIALS,
                          contacts="customer_id,contact_date,channel,account_manager\n")  # header only
        f = needs.facts(t, panel, "2024Q4")
        assert {"customers", "orders", "potentials"} <= f.tables
        assert "contacts" not in f.tables and "complaints" not in f.tables and "surveys" not in f.tables
        assert {"orders.net_revenue", "potentials.potential", "customers.customer_id"} <= f.columns
        # optional columns absent from the files, or empty in every row, hold no values
        assert "orders.contribution_margin" not in f.columns
        assert "orders.product_group" not in f.columns
        assert "customers.segment" not in f.columns
        assert "potentials.competitive_intensity" not in f.columns

    def test_margin_column_given(self, tmp_path):
        orders = ORDERS.replace("net_revenue\n", "net_revenue,contribution_margin\n", 1)
        orders = "\n".join(line + ",1" if i else line for i, line in enumerate(orders.strip().split("\n")))
        t, panel = loaded(tmp_path, orders=orders + "\n")
        f = needs.facts(t, panel, "2024Q4")
        assert "orders.contribution_margin" in f.columns
        assert needs.check("history.margin", f, CONFIG) == []

    def test_a_table_with_rows_only_after_the_quarter_is_absent_at_it(self, tmp_path):
        t, _ = loaded(tmp_path, potentials=POTENTIALS)   # assessed on 2024-01-01
        cut = t.cut(pd.Timestamp("2023-12-31"))
        assert len(cut.potentials) == 0
        f = needs.facts(cut, build_panel(cut.orders, until="2023Q4"), "2023Q4")
        assert "potentials" not in f.tables

    def test_facts_drive_check(self, tmp_path):
        t, panel = loaded(tmp_path)
        f = needs.facts(t, panel, "2024Q4")
        assert needs.check("value.matrix", f, CONFIG) == [
            needs.Reason("table", table="potentials"), needs.Reason("customers", need=10, have=2)]
        assert needs.check("history.margin", f, CONFIG) == [
            needs.Reason("column", table="orders", column="contribution_margin")]


# ------------------------------------------------------------------------------------------------
# readiness and coverage
# ------------------------------------------------------------------------------------------------


class TestReadiness:
    def test_one_row_per_section(self):
        r = needs.readiness(RICH, CONFIG)
        assert list(r.columns) == ["page", "section", "available", "reasons"]
        assert r["section"].tolist() == list(needs.SECTIONS)
        assert r["page"].tolist() == [s.split(".")[0] for s in needs.SECTIONS]
        assert r["available"].all()

    def test_available_means_no_reasons(self):
        facts = without("potentials", column="orders.contribution_margin", quarters=3, customers=4)
        r = needs.readiness(facts, CONFIG).set_index("section")
        for section, row in r.iterrows():
            assert row["available"] == (row["reasons"] == []), section
            assert row["reasons"] == needs.check(section, facts, CONFIG)
        assert not r.loc["value.matrix", "available"] and not r.loc["history.margin", "available"]
        assert r.loc["actions.log", "available"]


class TestCoverage:
    def test_unlocks_only_for_missing_tables(self, tmp_path):
        t, panel = loaded(tmp_path, potentials=POTENTIALS)
        cov = needs.coverage(t, needs.facts(t, panel, "2024Q4")).set_index("table")
        assert list(cov.columns) == ["required", "present", "rows", "unlocks"]
        assert cov.loc["potentials", "present"] and cov.loc["potentials", "unlocks"] == []
        assert cov.loc["potentials", "rows"] == 2
        assert not cov.loc["contacts", "present"]
        assert cov.loc["contacts", "unlocks"] == ["phases.habituation"]
        assert cov.loc["surveys", "unlocks"] == ["voice.surveys"]
        assert cov.loc["actions_log", "unlocks"] == ["actions.log"]
        assert cov.loc["customers", "required"] and cov.loc["customers", "present"]
        assert cov.loc["orders", "unlocks"] == [] and cov.loc["orders", "rows"] == 8
        assert not cov.loc["surveys", "required"]

    def test_missing_table_lists_every_section_that_needs_it(self, tmp_path):
        t, panel = loaded(tmp_path)
        cov = needs.coverage(t, needs.facts(t, panel, "2024Q4")).set_index("table")
        expected = [s for s, n in needs.SECTIONS.items() if "potentials" in n.tables]
        assert cov.loc["potentials", "unlocks"] == expected and len(expected) >= 4

    def test_missing_column_of_a_present_table_is_a_row(self, tmp_path):
        t, panel = loaded(tmp_path)
        cov = needs.coverage(t, needs.facts(t, panel, "2024Q4")).set_index("table")
        row = cov.loc["orders.contribution_margin"]
        assert not row["present"] and not row["required"]
        assert row["unlocks"] == [s for s, n in needs.SECTIONS.items()
                                  if "orders.contribution_margin" in n.columns]
        assert cov.index.is_unique  # two sections need the column: one row

    def test_no_column_row_when_the_column_is_there(self):
        class _Tables:
            sources = {"customers": {"rows": 3}, "orders": {"rows": 10}}

        facts = needs.Facts(frozenset({"customers", "orders"}),
                            frozenset({"orders.contribution_margin"}), 10, 3)
        cov = needs.coverage(_Tables(), facts)
        assert cov["table"].tolist() == list(schemas.CONTRACT)


class TestCoverageView:
    @pytest.mark.parametrize("lang", ["de", "en"])
    def test_labelled_tables(self, tmp_path, lang):
        t, panel = loaded(tmp_path)
        facts = needs.facts(t, panel, "2024Q4")
        data, sections = needs.coverage_view(t, facts, CONFIG, lang)
        assert list(data.columns) == [i18n.t(k, lang) for k in ("table", "present", "rows", "would_unlock")]
        data = data.set_index(i18n.t("table", lang))
        yes, no = i18n.t("yes", lang), i18n.t("no", lang)
        assert data.loc["orders", i18n.t("present", lang)] == yes
        assert data.loc["potentials", i18n.t("present", lang)] == no
        assert data.loc["potentials", i18n.t("rows", lang)] == "–"
        assert needs.section_title("value.matrix", lang) in data.loc["potentials", i18n.t("would_unlock", lang)]
        assert data.loc["orders", i18n.t("would_unlock", lang)] == ""
        ready = needs.readiness(facts, CONFIG)
        assert list(sections.columns) == [i18n.t("section", lang), i18n.t("reason", lang)]
        assert len(sections) == int((~ready["available"]).sum())
        assert set(sections[i18n.t("section", lang)]) == {
            needs.section_title(s, lang) for s in ready.loc[~ready["available"], "section"]}
        reason = sections.set_index(i18n.t("section", lang)).loc[
            needs.section_title("value.matrix", lang), i18n.t("reason", lang)]
        assert reason.startswith(needs.reason_text(needs.Reason("table", table="potentials"), lang) + "; ")
