"""Tests of bestandlib.loyalty: measures, first-year margins, claims with known answers, skip."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bestandlib import loyalty
from bestandlib.config import load_config
from bestandlib.errors import ConfigError
from bestandlib.panel import build_panel

PROJ_ROOT = Path(__file__).resolve().parents[1]

FAST = load_config(overrides={"loyalty": {"n_resamples": 500, "min_n": 10}})


def _orders(rows):
    df = pd.DataFrame(rows, columns=["customer_id", "order_date", "product_group", "net_revenue",
                                     "contribution_margin"])
    df["order_date"] = pd.to_datetime(df["order_date"])
    df["order_id"] = [f"A{i}" for i in range(len(df))]
    df["product_id"] = df["product_group"]
    df["quantity"] = 1.0
    return df


class TestBands:
    def test_tenure_band(self):
        b = loyalty.tenure_band([0, 3, 4, 15, 16, 40, np.nan])
        assert b.astype(str).tolist()[:6] == ["unter 1 Jahr", "unter 1 Jahr", "1-2 Jahre", "2-4 Jahre",
                                              "4 Jahre und mehr", "4 Jahre und mehr"]
        assert pd.isna(b.iloc[6]) and b.cat.ordered
        assert loyalty.tenure_band([5], lang="en").iloc[0] == "1-2 years"

    def test_bad_config(self):
        with pytest.raises(ConfigError, match="edges"):
            loyalty.settings(load_config(overrides={"loyalty": {"tenure_bands": {"edges": [1, 4, 8, 16]}}}))
        with pytest.raises(ConfigError, match="compare"):
            loyalty.settings(load_config(overrides={"loyalty": {"compare": {"young_max_quarters": 20}}}))


class TestFrame:
    def test_measures_by_hand(self):
        # K1 orders since 2021 (loyal at 2025Q4), K2 since 2024Q1 (young: tenure 7 quarters).
        rows = [("K1", "2021-01-15", "A", 100, 40)]
        rows += [("K1", d, g, 250, 100) for d, g in [("2025-01-01", "A"), ("2025-01-11", "B"),
                                                      ("2025-01-31", "C"), ("2025-03-02", "A")]]
        rows += [("K2", "2024-02-01", "A", 100, 20), ("K2", "2025-06-01", "A", 500, 100)]
        # K3 starts inside the 8-quarter window: no gap reaches back before its first purchase; a credit
        # note is no purchase day
        rows += [("K3", d, "A", 100, 10) for d in ["2025-04-01", "2025-04-11", "2025-05-11", "2025-07-10"]]
        rows += [("K3", "2025-04-20", "A", -50, -5)]
        orders = _orders(rows)
        panel = build_panel(orders, until="2025Q4")
        contacts = pd.DataFrame({"customer_id": ["K1", "K1", "K2"],
                                 "contact_date": pd.to_datetime(["2025-02-01", "2023-01-01", "2025-07-01"])})
        complaints = pd.DataFrame({"customer_id": ["K2"], "complaint_date": pd.to_datetime(["2025-08-01"])})
        f = loyalty.loyalty_frame(panel, "2025Q4", contacts, complaints, config=FAST).set_index("customer_id")
        k1, k2 = f.loc["K1"], f.loc["K2"]
        assert k1["group"] == "loyal" and k2["group"] == "young"
        assert k1["tenure_quarters"] == 19 and k2["tenure_quarters"] == 7
        assert k1["revenue_12m"] == 1000 and k1["margin_rate"] == pytest.approx(0.4)
        gaps = np.array([10, 20, 30])
        assert k1["order_gap_cv"] == pytest.approx(gaps.std(ddof=1) / gaps.mean())
        assert np.isnan(k2["order_gap_cv"])  # two order days < min_order_days
        k3_gaps = np.array([10, 30, 60])
        assert f.loc["K3", "order_days"] == 4
        assert f.loc["K3", "order_gap_cv"] == pytest.approx(k3_gaps.std(ddof=1) / k3_gaps.mean())
        assert k1["product_groups_12m"] == 3 and k2["product_groups_12m"] == 1
        assert k1["cost_to_serve"] == pytest.approx(1.0)  # 1 contact in 12 months per 1,000 EUR
        assert k2["contacts_per_keur"] == pytest.approx(2.0) and k2["cost_to_serve"] == pytest.approx(4.0)

    def test_first_year_margins(self):
        rows = [("OLD", "2020-01-10", "A", 100, 10), ("OLD", "2020-06-01", "A", 100, 10),
                ("NEW", "2021-02-01", "A", 100, 30), ("NEW", "2021-12-01", "A", 100, 30),
                ("NEW", "2022-02-01", "A", 100, 99),      # second year: not counted
                ("LATE", "2022-09-01", "A", 100, 50)]      # first year not complete by 2022Q4
        panel = build_panel(_orders(rows), until="2025Q4")
        fy = loyalty.first_year_margins(panel, "2022Q4")
        assert fy["customer_id"].tolist() == ["NEW"]
        assert fy["first_year_margin"].iloc[0] == 60 and fy["first_quarter"].iloc[0] == "2021Q1"
        # the one definition of "1 kept = N new": new = acquired in the last actions.new_cohort_quarters
        # (8) quarters with a complete first year, so at 2025Q4 NEW (2021Q1) is too old to count
        assert loyalty.first_year_margins(panel, "2025Q4").empty


def _claims_frame(seed=0, n=200, shift=True):
    """Customer frame where loyal customers are more regular, cheaper, pricier and broader (if shift)."""
    rng = np.random.default_rng(seed)
    d = 1.0 if shift else 0.0
    rows = []
    for group, k in (("loyal", 1), ("young", 0)):
        s = d * k
        rows.append(pd.DataFrame({
            "customer_id": [f"{group}{i}" for i in range(n)], "group": group,
            "order_gap_cv": rng.normal(0.9 - 0.3 * s, 0.1, n),
            "cost_to_serve": rng.lognormal(np.log(1.0) - 0.7 * s, 0.3, n),
            "margin_rate": rng.normal(0.35 + 0.05 * s, 0.02, n),
            "product_groups_12m": rng.poisson(3 + 3 * s, n),
            "margin_12m": rng.normal(3000.0, 300.0, n), "kept": group == "loyal"}))
    return pd.concat(rows, ignore_index=True)


class TestClaims:
    def test_known_answers(self):
        f = _claims_frame()
        first_year = pd.DataFrame({"customer_id": [f"n{i}" for i in range(150)],
                                   "first_year_margin": np.random.default_rng(1).normal(1000.0, 100.0, 150)})
        rec = pd.DataFrame({"customer_id": f["customer_id"],
                            "nps_score": np.where(f["group"] == "loyal", 100.0, -100.0)})
        table = loyalty.claims(f, first_year, rec, config=FAST)
        c = table.set_index("claim")
        assert list(c.reset_index().columns) == loyalty.TABLE_COLUMNS
        assert not {"sentence_de", "sentence_en", "verdict_key"} & set(table.columns)
        assert c.loc[["regularity", "cost_to_serve", "margin", "breadth", "recommendation", "kept_vs_new"],
                     "verdict"].eq("supported").all()
        assert c.loc["regularity", "estimate"] == pytest.approx(0.6 / 0.9 - 1, abs=0.04)
        assert c.loc["cost_to_serve", "ci_high"] < 0 and c.loc["cost_to_serve", "effect_size"] < -0.5
        means = f.groupby("group")["product_groups_12m"].mean()
        assert c.loc["breadth", "estimate"] == pytest.approx(means["loyal"] / means["young"] - 1)
        assert c.loc["breadth", "value_loyal"] == pytest.approx(means["loyal"])
        assert c.loc["recommendation", "estimate"] == pytest.approx(200.0)
        kept = c.loc["kept_vs_new"]
        assert kept["ci_low"] < 3 < kept["ci_high"] and kept["estimate"] == pytest.approx(3.0, abs=0.1)
        assert kept["verdict"] == "supported"
        en, de = loyalty.sentences(table, "en", FAST), loyalty.sentences(table, "de", FAST)
        assert len(en) == len(de) == 6
        assert "1 kept customer = 3.0 new – supported" in en[-1] and "€" in en[-1]
        assert "1 gehaltener Kunde = 3,0 neue – bestätigt" in de[-1]
        margin = table.index[table["claim"] == "margin"][0]
        assert de[margin].startswith("Treue Kunden zahlen bessere Preise – bestätigt: Deckungsbeitragsquote (Median)")
        assert "supported" in en[margin] and "95% CI" in en[margin] and "95-%-KI" in de[margin]
        rec_line = en[table.index[table["claim"] == "recommendation"][0]]
        assert "+200 points" in rec_line and "()" not in rec_line
        assert loyalty.sentences(table, "en", FAST, skip=["kept_vs_new"]) == en[:-1]

    def test_no_difference_and_contradiction(self):
        same = loyalty.claims(_claims_frame(shift=False), config=FAST).set_index("claim")
        assert same["verdict"].eq("not_shown").all()
        assert "nicht belegt" in loyalty.sentence(same.reset_index().iloc[0], "de", FAST)
        f = _claims_frame()
        f["group"] = f["group"].map({"loyal": "young", "young": "loyal"})  # the claims reversed
        rev = loyalty.claims(f, config=FAST).set_index("claim")
        assert rev["verdict"].eq("contradicted").all()

    def test_too_few(self):
        f = _claims_frame(n=5)
        c = loyalty.claims(f, config=FAST)
        assert c["verdict"].eq("too_few").all() and c["estimate"].isna().all()
        assert all("too few data" in x for x in loyalty.sentences(c, "en", FAST))
        assert all("zu wenige Daten" in x for x in loyalty.sentences(c, "de", FAST))

    def test_deterministic(self):
        a = loyalty.claims(_claims_frame(), config=FAST)
        b = loyalty.claims(_claims_frame(), config=FAST)
        pd.testing.assert_frame_equal(a, b)

    def test_plots(self):
        c = loyalty.claims(_claims_frame(), config=FAST)
        ax = loyalty.plot_claims(c, lang="en")
        assert len(ax.get_yticklabels()) == 4
        prof = loyalty.profile(_claims_frame().assign(tenure_band=lambda d: d["group"]), "tenure_band")
        assert set(prof["tenure_band"]) == {"loyal", "young"}
        assert loyalty.plot_profile(prof, "margin_rate") is not None
        fig = loyalty.plot_profiles(prof.drop(columns="cost_to_serve"), lang="en")
        assert [ax.get_ylabel() for ax in fig.axes] == ["coefficient of variation of order gaps", "margin rate",
                                                        "product groups per customer"]
        assert loyalty.plot_profiles(prof[["tenure_band", "customers"]]) is None

    def test_texts_in_the_catalogues(self):
        from bestandlib import display, i18n

        keys = ([f"loy_claim_{c}" for c in [*loyalty.CLAIMS, "recommendation", "kept_vs_new"]]
                + [f"loy_verdict_{v}" for v in loyalty.VERDICTS]
                + [f"loy_measure_{m}" for m in ("order_gap_cv", "cost_to_serve", "margin_rate", "product_groups_12m",
                                                "nps", "margin_ratio")]
                + [f"loy_statistic_{k}" for k in ("median", "mean", "difference", "ratio")])
        for lang in i18n.LANGS:
            assert all(i18n.has(k, lang) for k in keys), lang
        assert display.dictionary()["tables"]["loyalty"]["columns"] == loyalty.TABLE_COLUMNS
        for col in loyalty.TABLE_COLUMNS:
            assert display.column_spec(col) and i18n.has(col, "de") and i18n.has(col, "en"), col


def test_notebook_skips_surveys_cleanly(small_world, tmp_path):
    """The notebook runs on a world without surveys.csv and still writes the loyalty table."""
    import papermill as pm

    world = tmp_path / "world"
    shutil.copytree(small_world, world)
    (world / "surveys.csv").unlink()
    out = tmp_path / "report"
    pm.execute_notebook(str(PROJ_ROOT / "notebooks" / "07_voice_and_loyalty.ipynb"), str(tmp_path / "out.ipynb"),
                        parameters={"data_dir": str(world), "lang": "en", "output_dir": str(out)},
                        cwd=str(PROJ_ROOT / "notebooks"), kernel_name="python3", progress_bar=False,
                        log_output=False)
    table = pd.read_csv(out / "tables" / "loyalty.csv")
    assert list(table.columns) == loyalty.TABLE_COLUMNS  # keys only: no sentences, no translated verdict
    assert set(table["verdict"]) <= set(loyalty.VERDICTS)
    assert "recommendation" not in set(table["claim"])
    assert not (out / "tables" / "referrals.csv").exists()


class TestUnsupportedClaims:
    """Which claims the data cannot test (bestandlib.needs.Facts: tables with rows, columns with values)."""

    ORDERS_COLUMNS = frozenset({"orders.order_id", "orders.customer_id", "orders.order_date", "orders.quantity",
                                "orders.net_revenue", "orders.contribution_margin", "orders.product_group"})

    @staticmethod
    def facts(tables=("customers", "orders", "contacts", "complaints"), drop=()):
        from bestandlib.needs import Facts

        return Facts(frozenset(tables), TestUnsupportedClaims.ORDERS_COLUMNS - set(drop), 20, 50)

    def test_everything_there(self):
        assert loyalty.unsupported_claims(self.facts()) == []

    def test_cost_to_serve_needs_contacts_or_complaints(self):
        assert loyalty.unsupported_claims(self.facts(("customers", "orders"))) == ["cost_to_serve"]
        assert loyalty.unsupported_claims(self.facts(("customers", "orders", "contacts"))) == []
        assert loyalty.unsupported_claims(self.facts(("customers", "orders", "complaints"))) == []

    def test_margin_claims_need_contribution_margins(self):
        out = loyalty.unsupported_claims(self.facts(drop=("orders.contribution_margin",)))
        assert out == ["margin", "kept_vs_new"]

    def test_breadth_needs_product_groups(self):
        assert loyalty.unsupported_claims(self.facts(drop=("orders.product_group",))) == ["breadth"]

    def test_bare_export(self):
        out = loyalty.unsupported_claims(self.facts(("customers", "orders"), drop=(
            "orders.contribution_margin", "orders.product_group")))
        assert out == ["cost_to_serve", "margin", "breadth", "kept_vs_new"]
        assert "regularity" not in out  # orders alone measure it

    def test_measured_profile_leaves_out_unmeasured(self):
        frame = _claims_frame().assign(tenure_band=lambda d: d["group"], contacts_per_keur=1.0,
                                       complaints_per_keur=0.5)
        full = loyalty.measured_profile(frame, "tenure_band", self.facts())
        assert full.equals(loyalty.profile(frame, "tenure_band"))
        bare = loyalty.measured_profile(frame, "tenure_band", self.facts(("customers", "orders"), drop=(
            "orders.contribution_margin", "orders.product_group")))
        assert list(bare.columns) == ["tenure_band", "customers", "order_gap_cv"]

    def test_tested_claims_left_out_by_facts(self, small_world):
        from bestandlib import needs
        from bestandlib.io import load_tables

        t = load_tables(small_world, load_config())
        q = "2025Q4"
        p = build_panel(t.orders, until=q)
        lf = loyalty.loyalty_frame(p, q, t.contacts, t.complaints, config=FAST)
        facts = needs.facts(t, p, q)
        full = loyalty.tested_claims(lf, p, q, facts, config=FAST)
        assert "kept_vs_new" in set(full["claim"]) and list(full.columns) == loyalty.TABLE_COLUMNS
        no_margin = TestUnsupportedClaims.facts(drop=("orders.contribution_margin",))
        cut = loyalty.tested_claims(lf, p, q, no_margin, config=FAST)
        assert list(cut["claim"]) == [c for c in full["claim"] if c not in ("margin", "kept_vs_new")]
        assert cut.index.tolist() == list(range(len(cut)))

    def test_facts_of_loaded_tables(self, tmp_path):
        from bestandlib import io, needs

        d = tmp_path / "data"
        d.mkdir()
        (d / "customers.csv").write_text("customer_id\nC1\n")
        (d / "orders.csv").write_text("order_id,customer_id,order_date,quantity,net_revenue\n"
                                      "O1,C1,2024-01-15,1,100\n")
        t = io.load_tables(d, today=pd.Timestamp("2025-06-30"))
        f = needs.facts(t, build_panel(t.orders, until="2024Q4"), "2024Q4")
        assert loyalty.unsupported_claims(f) == ["cost_to_serve", "margin", "breadth", "kept_vs_new"]

    def test_claim_names_and_data_are_known(self):
        from bestandlib import schemas

        names = set(loyalty.CLAIMS) | {"recommendation", "kept_vs_new"}
        for claim, (tables, columns) in loyalty.CLAIM_DATA.items():
            assert claim in names, claim
            assert all(t in schemas.CONTRACT for t in tables), claim
            for tc in columns:
                table, _, column = tc.partition(".")
                assert column in schemas.CONTRACT[table]["columns"], (claim, tc)
