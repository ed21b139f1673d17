"""The demo world: formats, keys, determinism and the planted phenomena (small worlds, fast)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy.stats import spearmanr

from bestandlib import cli, demo, paths
from bestandlib.demo import BUSINESS_UNITS, OPTIONAL_TABLES, SHAPES, generate_demo
from bestandlib.errors import BestandError

GERMAN = dict(sep=";", decimal=",", thousands=".", encoding="cp1252")
CONTRACT = {
    "customers": ["customer_id", "name", "segment", "region", "business_unit", "account_manager"],
    "contacts": ["customer_id", "contact_date", "channel", "account_manager"],
    "complaints": ["customer_id", "complaint_date", "kind", "severity", "value", "resolved_on"],
    "potentials": ["customer_id", "assessed_on", "potential", "competitive_intensity"],
    "surveys": ["customer_id", "survey_date", "satisfaction", "would_recommend", "reason_chosen",
                "initial_hesitation", "would_miss", "would_refer_to"],
}
ORDER_COLUMNS = ["order_id", "customer_id", "order_date", "product_id", "product_group", "quantity",
                 "net_revenue", "contribution_margin"]
DATES = {"contacts": ["contact_date"], "complaints": ["complaint_date", "resolved_on"],
         "potentials": ["assessed_on"], "surveys": ["survey_date"]}


def read_table(folder, name):
    # Dates must be read as text: with thousands="." pandas takes 01.01.2020 for the number 1012020.
    dtypes = {"customer_id": str} | {col: str for col in DATES.get(name, [])}
    df = pd.read_csv(folder / f"{name}.csv", dtype=dtypes, **GERMAN)
    for col in DATES.get(name, []):
        df[col] = pd.to_datetime(df[col], format="%d.%m.%Y")
    return df


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("world")
    summary = generate_demo(base / "demo", customers=300, seed=7)
    data = base / "demo"
    tables = {name: read_table(data, name) for name in CONTRACT}
    tables["orders"] = pq.read_table(data / "orders.parquet").to_pandas(date_as_object=False)
    tables["orders"]["quarter"] = tables["orders"]["order_date"].dt.to_period("Q")
    truth = pd.read_csv(base / "demo_truth" / "truth.csv", dtype={"customer_id": str},
                        parse_dates=["habituation_start", "churn_date", "reactivated_on"])
    return {"base": base, "data": data, "summary": summary, "truth": truth, **tables}


def quarterly_counts(events, date_col):
    q = events[date_col].dt.to_period("Q")
    return events.assign(quarter=q).groupby(["customer_id", "quarter"]).size()


def mean_rate(counts, customer_id, first, last):
    """Events per quarter of one customer over the quarters first..last (inclusive)."""
    quarters = pd.period_range(first, last, freq="Q")
    return sum(counts.get((customer_id, q), 0) for q in quarters) / len(quarters)


class TestFiles:
    def test_summary_and_truth_location(self, world):
        s = world["summary"]
        assert s["rows"]["customers"] == 300
        assert 100_000 < s["rows"]["orders"] < 200_000          # ~500 lines per customer
        assert s["seconds"] > 0
        truth_dir = world["base"] / "demo_truth"
        assert (truth_dir / "truth.csv").exists() and (truth_dir / "world.json").exists()
        assert sorted(p.name for p in world["data"].iterdir()) == sorted(
            ["orders.parquet"] + [f"{n}.csv" for n in CONTRACT])

    def test_columns_match_the_data_contract(self, world):
        for name, cols in CONTRACT.items():
            assert list(world[name].columns) == cols, name
        schema = pq.read_schema(world["data"] / "orders.parquet")
        assert schema.names == ORDER_COLUMNS
        assert str(schema.field("order_date").type) == "date32[day]"
        assert str(schema.field("net_revenue").type) == "double"
        for col in ["order_id", "customer_id", "product_id", "product_group"]:
            assert str(schema.field(col).type) == "string"

    def test_german_erp_dialect(self, world):
        raw = (world["data"] / "potentials.csv").read_bytes()
        assert raw.startswith(b"customer_id;assessed_on;potential;competitive_intensity\r\n")
        text = raw.decode("cp1252")
        assert re.search(r";\d{2}\.\d{2}\.20\d{2};\d{1,3}(\.\d{3})+,\d{2};", text)  # 31.12.2024;1.234,56
        customers = (world["data"] / "customers.csv").read_bytes()
        assert "Sanitätshaus".encode("cp1252") in customers
        with pytest.raises(UnicodeDecodeError):
            customers.decode("utf-8")
        complaints = (world["data"] / "complaints.csv").read_text(encoding="cp1252")
        assert re.search(r";\d+,\d{2};", complaints)
        # Read back with the German dialect, numbers are numbers.
        assert world["potentials"]["potential"].dtype == np.float64
        assert world["complaints"]["value"].dtype == np.float64
        assert world["potentials"]["potential"].min() >= 1000

    def test_money_rounded_and_credit_notes(self, world):
        o = world["orders"]
        cents = o["net_revenue"] * 100
        assert np.allclose(cents, cents.round(), atol=1e-6)
        credit = (o["net_revenue"] < 0).mean()
        assert 0.005 < credit < 0.03
        zero = (o["net_revenue"] == 0) & (o["contribution_margin"] == 0)
        assert zero.sum() > 0 and zero.mean() < 0.01
        assert o["order_date"].min() >= pd.Timestamp("2020-01-01")
        assert o["order_date"].max() <= pd.Timestamp("2025-12-31")
        assert (o["order_date"].dt.dayofweek < 5).all()              # booked on working days
        assert 8 <= o["product_group"].nunique() <= 12
        assert 150 <= o["product_id"].nunique() <= 250

    def test_keys_unique_and_referential_integrity(self, world):
        cust = world["customers"]
        assert cust["customer_id"].is_unique
        assert cust["name"].is_unique
        known = set(cust["customer_id"])
        for name in ["orders", "contacts", "complaints", "potentials", "surveys"]:
            assert set(world[name]["customer_id"]) <= known, name
        o = world["orders"]
        per_order = o.groupby("order_id").agg(c=("customer_id", "nunique"), d=("order_date", "nunique"))
        assert (per_order == 1).all().all()
        assert not world["potentials"].duplicated(["customer_id", "assessed_on"]).any()
        assert world["potentials"].groupby(
            ["customer_id", world["potentials"]["assessed_on"].dt.year]).size().max() == 1
        assert cust["account_manager"].nunique() == 20
        assert set(cust["segment"]) == {"Klinik", "Sanitätshaus", "Orthopädische Praxis", "Physiotherapie"}
        assert cust["business_unit"].nunique() == 3

    def test_value_domains(self, world):
        assert set(world["contacts"]["channel"]) == {"visit", "call", "email", "event", "training"}
        c = world["complaints"]
        assert set(c["kind"]) == {"complaint", "return", "delivery"}
        assert set(c["severity"]) <= {1, 2, 3}
        assert c["resolved_on"].isna().any() and c["resolved_on"].notna().mean() > 0.9
        assert (c["resolved_on"].dropna() >= c.loc[c["resolved_on"].notna(), "complaint_date"]).all()
        ci = world["potentials"]["competitive_intensity"]
        assert ci.dropna().between(1, 5).all() and ci.isna().any()
        s = world["surveys"]
        assert s["satisfaction"].between(0, 10).all() and s["would_recommend"].between(0, 10).all()
        assert 0.2 < s["customer_id"].nunique() / len(world["customers"]) < 0.4


def test_same_seed_gives_identical_bytes(tmp_path):
    a = generate_demo(tmp_path / "a", customers=60, seed=3)
    b = generate_demo(tmp_path / "b", customers=60, seed=3, truth_dir=tmp_path / "tb")
    c = generate_demo(tmp_path / "c", customers=60, seed=4)
    for folder_a, folder_b in [(tmp_path / "a", tmp_path / "b"), (tmp_path / "a_truth", tmp_path / "tb")]:
        names = sorted(p.name for p in folder_a.iterdir())
        assert names == sorted(p.name for p in folder_b.iterdir())
        for name in names:
            assert (folder_a / name).read_bytes() == (folder_b / name).read_bytes(), name
    assert (tmp_path / "a" / "orders.parquet").read_bytes() != (tmp_path / "c" / "orders.parquet").read_bytes()
    assert a["rows"] == b["rows"]


def test_truth_dir_inside_data_folder_is_refused(tmp_path):
    with pytest.raises(BestandError):
        generate_demo(tmp_path / "demo", customers=20, truth_dir=tmp_path / "demo" / "truth")


def test_progress_lines(tmp_path, capsys):
    generate_demo(tmp_path / "demo", customers=20, progress=True)
    out = capsys.readouterr().out
    assert out.count("demo [") >= 3


class TestPlantedPhenomena:
    def test_revenue_is_concentrated(self, world):
        rev = world["orders"].groupby("customer_id")["net_revenue"].sum().sort_values(ascending=False)
        top = rev.iloc[: len(rev) // 5].sum() / rev.sum()
        assert 0.6 < top < 0.9

    def test_truth_has_all_archetypes(self, world):
        t = world["truth"]
        hab = t[t["archetype"] == "habituating"]
        assert 0.03 < len(hab) / len(t) < 0.2
        assert {"full", "partial"} <= set(hab["churn_kind"])
        assert hab["at_risk_at_end"].sum() >= 1                     # still active, at risk
        assert (hab["churn_date"] >= "2024-01-01").sum() >= 3        # visible to a backtest
        sudden = t[t["archetype"] == "sudden_churn"]
        assert len(sudden) > 5 and sudden["habituation_start"].isna().all()
        assert t["is_new"].sum() > 0.3 * len(t)
        lag = (hab["churn_date"].dt.to_period("Q") - hab["habituation_start"].dt.to_period("Q")).dropna()
        assert lag.map(lambda d: d.n).between(2, 4).all()

    def test_full_churners_stop_and_partial_ones_shrink(self, world):
        t, o = world["truth"], world["orders"]
        full = t[(t["churn_kind"] == "full") & t["reactivated_on"].isna()]
        m = o.merge(full[["customer_id", "churn_date"]], on="customer_id")
        assert len(full) > 5 and (m["order_date"] < m["churn_date"]).all()
        rev = o.groupby(["customer_id", "quarter"])["net_revenue"].sum()
        ratios = []
        for r in t[t["churn_kind"] == "partial"].itertuples():
            s = rev.loc[r.customer_id]
            cq = r.churn_date.to_period("Q")
            before = s[(s.index >= cq - 4) & (s.index < cq)].sum() / 4
            quarters_after = (pd.Period("2025Q4", "Q") - cq).n + 1
            ratios.append(s[s.index >= cq].sum() / quarters_after / before)
        assert 0.15 < np.median(ratios) < 0.6

    def test_habituation_contact_rate_decays(self, world):
        t = world["truth"]
        counts = quarterly_counts(world["contacts"], "contact_date")
        hab = t[(t["archetype"] == "habituating") & t["churn_date"].notna()]
        base, before = [], []
        for r in hab.itertuples():
            hq, cq = r.habituation_start.to_period("Q"), r.churn_date.to_period("Q")
            base.append(mean_rate(counts, r.customer_id, max(hq - 8, pd.Period("2020Q1")), hq - 1))
            before.append(mean_rate(counts, r.customer_id, cq - 4, cq - 1))
        base, before = np.array(base), np.array(before)
        assert before.mean() < 0.75 * base.mean()
        assert np.mean(before < base) > 0.7
        stable = t[(t["archetype"] == "stable") & ~t["is_new"]]["customer_id"]
        others = np.mean([mean_rate(counts, c, "2023Q1", "2024Q4") for c in stable])
        assert before.mean() < 0.8 * others
        # Sudden churners give no such warning (their ratio is 1 up to Poisson noise).
        sudden = t[(t["archetype"] == "sudden_churn") & ~t["is_new"]
                   & (t["churn_date"] >= "2022-01-01")]
        s_base = [mean_rate(counts, r.customer_id, r.churn_date.to_period("Q") - 8,
                            r.churn_date.to_period("Q") - 5) for r in sudden.itertuples()]
        s_before = [mean_rate(counts, r.customer_id, r.churn_date.to_period("Q") - 4,
                              r.churn_date.to_period("Q") - 1) for r in sudden.itertuples()]
        assert np.mean(s_before) / np.mean(s_base) > before.mean() / base.mean() + 0.15

    def test_habituation_complaints_novelty_and_satisfaction(self, world):
        t = world["truth"][["customer_id", "habituation_start", "churn_date"]]
        c = world["complaints"].merge(t, on="customer_id")
        during = c["complaint_date"] >= c["habituation_start"]
        days = (c["resolved_on"] - c["complaint_date"]).dt.days
        assert days[during].median() > 1.5 * days[~during].median()
        contacts = world["contacts"].merge(t, on="customer_id")
        late = contacts["contact_date"] >= contacts["habituation_start"] + pd.DateOffset(months=6)
        novelty = contacts["channel"].isin(["event", "training"])
        assert novelty[late].mean() < 0.5 * novelty[contacts["habituation_start"].isna()].mean()
        s = world["surveys"].merge(t, on="customer_id")
        hab = s["survey_date"] >= s["habituation_start"]
        assert hab.sum() >= 3
        assert s.loc[hab, "satisfaction"].mean() < s.loc[s["habituation_start"].isna(), "satisfaction"].mean() - 1

    def test_habituating_customers_stop_adopting_product_groups(self, world):
        o, t = world["orders"], world["truth"]
        first = o.groupby(["customer_id", "product_group"])["order_date"].min().reset_index()
        hab = t[t["archetype"] == "habituating"].set_index("customer_id")["habituation_start"]
        f = first[first["customer_id"].isin(hab.index)]
        assert (f["order_date"] >= f["customer_id"].map(hab)).mean() < 0.05

    def test_free_text_themes_follow_loyalty(self, world):
        s = world["surveys"]
        risk = s["would_miss"].fillna("").str.contains("Neuheiten|Preis|günstiger|Lieferzeit|Ansprechpartner|Lieferungen")
        low, high = s["satisfaction"] <= 5, s["satisfaction"] >= 8
        assert risk[low].mean() > risk[high].mean() + 0.2
        names = set(world["customers"]["name"])
        refer = s["would_refer_to"].dropna()
        assert any(any(n in r for n in names) for r in refer)        # some name existing customers
        assert refer.str.contains("Bad ").any()                       # some name new leads

    def test_revenue_and_potential_relate_differently_by_business_unit(self, world):
        o, pot, cust = world["orders"], world["potentials"], world["customers"]
        rev = o[o["order_date"] >= "2025-01-01"].groupby("customer_id")["net_revenue"].sum()
        last = pot[pot["assessed_on"].dt.year == 2025].set_index("customer_id")["potential"]
        df = cust.set_index("customer_id").join(last.rename("potential"), how="inner")
        df["revenue"] = rev.reindex(df.index).fillna(0)
        assert spearmanr(df["revenue"], df["potential"])[0] > 0.3
        # The potential is assessed with noise, not derived from revenue.
        assert not np.allclose(df["potential"] - df["revenue"], (df["potential"] - df["revenue"]).mean())
        rho = {bu: spearmanr(g["revenue"], g["potential"])[0] for bu, g in df.groupby("business_unit")}
        assert rho["Orthesen"] > 0.5
        assert rho["Orthesen"] - rho["Therapiesysteme"] > 0.15

    def test_new_customers_ramp_up(self, world):
        o, t = world["orders"], world["truth"]
        new = t[t["is_new"] & (t["archetype"] == "stable")].set_index("customer_id")["first_quarter"]
        rev = o.groupby(["customer_id", "quarter"])["net_revenue"].sum().reset_index()
        rev = rev[rev["customer_id"].isin(new.index)]
        first = rev["customer_id"].map(new).map(lambda s: pd.Period(s, "Q"))
        rev["tenure"] = [(q - f).n for q, f in zip(rev["quarter"], first)]
        by = rev.groupby("tenure")["net_revenue"].mean()
        assert by.loc[0:1].mean() < 0.5 * by.loc[8:11].mean()


# --- worlds of other shapes -------------------------------------------------------------------

SMALL = dict(customers=40, seed=5, start="2023-01-01")     # three years, well under a second


def read_orders(folder):
    return pq.read_table(folder / "orders.parquet").to_pandas(date_as_object=False)


def same_files(a, b):
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


class TestGenerateDemoShapeOptions:
    def test_explicit_defaults_change_nothing(self, tmp_path):
        generate_demo(tmp_path / "a", **SMALL)
        generate_demo(tmp_path / "b", **SMALL, business_units=3, blank_master=False,
                      potential_share=1.0, tables=OPTIONAL_TABLES, churn=True,
                      credit_note_customer=False, margin=True, products=True)
        same_files(tmp_path / "a", tmp_path / "b")
        same_files(tmp_path / "a_truth", tmp_path / "b_truth")
        assert "shape" not in (tmp_path / "a_truth" / "world.json").read_text(encoding="utf-8")

    def test_options_are_keyword_only(self, tmp_path):
        with pytest.raises(TypeError):
            generate_demo(tmp_path / "w", 40, 5, "2023-01-01", "2025-12-31", None, False, 2)

    @pytest.mark.parametrize("n", [1, 2, 5, 12])
    def test_business_units(self, tmp_path, n):
        generate_demo(tmp_path / "w", **SMALL | {"customers": 80}, business_units=n)
        units = read_table(tmp_path / "w", "customers")["business_unit"]
        assert units.nunique() == n
        if n <= 3:
            assert set(units) == set(BUSINESS_UNITS[:n])
        else:
            assert set(BUSINESS_UNITS) < set(units)
        truth = pd.read_csv(tmp_path / "w_truth" / "truth.csv", dtype={"customer_id": str})
        assert truth["business_unit"].tolist() == units.tolist()

    @pytest.mark.parametrize("n", [0, 13])
    def test_business_units_out_of_range(self, tmp_path, n):
        with pytest.raises(BestandError, match="business_units"):
            generate_demo(tmp_path / "w", **SMALL, business_units=n)

    def test_blank_master(self, tmp_path):
        generate_demo(tmp_path / "w", **SMALL, blank_master=True)
        cust = read_table(tmp_path / "w", "customers")
        assert list(cust.columns) == CONTRACT["customers"]
        assert cust["customer_id"].notna().all() and cust["name"].notna().all()
        assert cust[["segment", "region", "business_unit", "account_manager"]].isna().all().all()
        contacts = read_table(tmp_path / "w", "contacts")
        assert len(contacts) > 0 and contacts["account_manager"].isna().all()
        assert contacts["channel"].notna().all()
        # The truth still knows them.
        truth = pd.read_csv(tmp_path / "w_truth" / "truth.csv")
        assert truth["segment"].notna().all()

    @pytest.mark.parametrize("share", [0.3, 0.75])
    def test_potential_share(self, tmp_path, share):
        generate_demo(tmp_path / "w", **SMALL | {"customers": 60}, potential_share=share)
        pot = read_table(tmp_path / "w", "potentials")
        assert abs(pot["customer_id"].nunique() / 60 - share) <= 0.05
        # Those assessed keep all their yearly assessments.
        assert pot.groupby("customer_id").size().max() == 3

    def test_no_potentials(self, tmp_path):
        summary = generate_demo(tmp_path / "w", **SMALL, potential_share=0)
        assert not (tmp_path / "w" / "potentials.csv").exists()
        assert "potentials" not in summary["rows"]
        with pytest.raises(BestandError, match="potential_share"):
            generate_demo(tmp_path / "v", **SMALL, potential_share=1.5)

    def test_tables_and_stale_files(self, tmp_path):
        folder = tmp_path / "w"
        generate_demo(folder, **SMALL)
        assert len(list(folder.iterdir())) == 6
        summary = generate_demo(folder, **SMALL, tables=("contacts",))   # the folder is reused
        assert sorted(p.name for p in folder.iterdir()) == ["contacts.csv", "customers.csv", "orders.parquet"]
        assert set(summary["rows"]) == {"orders", "customers", "contacts"}
        assert not (tmp_path / "w_truth" / "surveys_truth.csv").exists()
        generate_demo(folder, **SMALL, tables=())
        assert sorted(p.name for p in folder.iterdir()) == ["customers.csv", "orders.parquet"]
        with pytest.raises(BestandError, match="Unknown demo tables"):
            generate_demo(folder, **SMALL, tables=("contacts", "invoices"))

    def test_no_churn(self, tmp_path):
        def stopped(folder):
            """Customers whose last order lies 4 or more quarters before the end (2025Q4)."""
            last = read_orders(folder).groupby("customer_id")["order_date"].max().dt.to_period("Q")
            return int(((pd.Period("2025Q4", "Q") - last).map(lambda d: d.n) >= 4).sum())

        kw = dict(customers=60, seed=2, start="2022-01-01")
        generate_demo(tmp_path / "churn", **kw)
        generate_demo(tmp_path / "loyal", **kw, churn=False)
        assert stopped(tmp_path / "churn") > 0          # the same world with churn has some
        assert stopped(tmp_path / "loyal") == 0
        truth = pd.read_csv(tmp_path / "loyal_truth" / "truth.csv")
        assert (truth["archetype"] == "stable").all() and (truth["churn_kind"] == "none").all()

    def test_credit_note_customer(self, tmp_path):
        generate_demo(tmp_path / "plain", **SMALL)
        generate_demo(tmp_path / "w", **SMALL, credit_note_customer=True)
        cust = read_table(tmp_path / "w", "customers")
        assert len(cust) == 41 and cust["customer_id"].is_unique and cust["name"].is_unique
        extra = cust["customer_id"].iloc[-1]
        o = read_orders(tmp_path / "w")
        mine = o[o["customer_id"] == extra]
        assert len(mine) >= 1
        assert (mine["net_revenue"] < 0).all() and (mine["contribution_margin"] < 0).all()
        assert (mine["quantity"] < 0).all()
        assert (mine["order_date"].dt.dayofweek < 5).all()
        # Order ids stay in booking order and every other line is unchanged.
        heads = o.groupby("order_id").agg(d=("order_date", "first"), c=("customer_id", "first"))
        assert heads.sort_index().equals(heads.sort_values(["d", "c"], kind="stable"))
        assert o.groupby("order_id")["customer_id"].nunique().max() == 1
        others = o[o["customer_id"] != extra].drop(columns="order_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(others, read_orders(tmp_path / "plain").drop(columns="order_id"))
        truth = pd.read_csv(tmp_path / "w_truth" / "truth.csv", dtype={"customer_id": str})
        assert truth.set_index("customer_id").loc[extra, "archetype"] == "credit_notes_only"

    def test_end_inside_a_quarter(self, tmp_path):
        end = pd.Timestamp("2025-11-15")
        generate_demo(tmp_path / "w", **SMALL, end="2025-11-15")
        o = read_orders(tmp_path / "w")
        assert o["order_date"].max() <= end
        assert o["order_date"].max() >= pd.Timestamp("2025-11-01")
        for name, cols in DATES.items():
            df = read_table(tmp_path / "w", name)
            for col in cols:
                assert df[col].max() <= end, (name, col)
        # The last quarter holds six of its thirteen weeks, not a whole quarter squeezed in.
        lines = o["order_date"].dt.to_period("Q").value_counts()
        assert lines[pd.Period("2025Q4", "Q")] < 0.85 * lines[pd.Period("2025Q3", "Q")]
        world = (tmp_path / "w_truth" / "world.json").read_text(encoding="utf-8")
        assert '"end": "2025-11-15"' in world

    def test_without_margin_and_products(self, tmp_path):
        generate_demo(tmp_path / "m", **SMALL, margin=False)
        generate_demo(tmp_path / "p", **SMALL, products=False)
        generate_demo(tmp_path / "mp", **SMALL, margin=False, products=False)
        names = {k: pq.read_schema(tmp_path / k / "orders.parquet").names for k in ["m", "p", "mp"]}
        assert names["m"] == [c for c in ORDER_COLUMNS if c != "contribution_margin"]
        assert names["p"] == [c for c in ORDER_COLUMNS if c not in ("product_id", "product_group")]
        assert names["mp"] == ["order_id", "customer_id", "order_date", "quantity", "net_revenue"]


class TestShapes:
    def test_the_robustness_matrix(self):
        assert set(SHAPES) == {
            "years_1", "years_2", "years_4", "years_10", "bu_1", "bu_3", "bu_12", "blank_master",
            "potentials_none", "potentials_30", "potentials_all", "two_tables", "customers_25",
            "no_churn", "credit_note", "mid_quarter", "no_margin"}
        for name, kw in SHAPES.items():
            assert 10 <= kw["customers"] <= 300, name          # small: a report on each is fast

    @pytest.mark.parametrize("name", sorted(SHAPES))
    def test_every_shape_generates(self, tmp_path, name):
        kw = SHAPES[name]
        summary = generate_demo(tmp_path / name, **kw)
        files = {p.name for p in (tmp_path / name).iterdir()}
        assert {"customers.csv", "orders.parquet"} <= files
        assert summary["rows"]["customers"] == kw["customers"] + kw.get("credit_note_customer", False)
        dates = read_orders(tmp_path / name)["order_date"]
        assert dates.min() >= pd.Timestamp(kw.get("start", "2020-01-01"))
        assert dates.max() <= pd.Timestamp(kw.get("end", "2025-12-31"))


class TestCmdDemo:
    @pytest.fixture
    def calls(self, tmp_path, monkeypatch):
        seen = []

        def fake(out, **kwargs):
            seen.append({"out": Path(out), **kwargs})
            return {}

        monkeypatch.setattr(paths, "DEMO_DIR", tmp_path / "raw" / "demo")
        monkeypatch.setattr(demo, "generate_demo", fake)
        return seen

    def test_without_options_as_before(self, tmp_path, calls):
        assert cli.main(["demo"]) == 0
        assert calls == [{"out": tmp_path / "raw" / "demo", "customers": 2000, "seed": 7,
                          "progress": True}]

    def test_shape(self, tmp_path, calls):
        assert cli.main(["demo", "--shape", "no_churn"]) == 0
        assert calls[-1] == {"out": tmp_path / "raw" / "demo_no_churn", "seed": 7, "progress": True,
                             **SHAPES["no_churn"]}
        assert cli.main(["demo", "--shape", "years_4", "--customers", "50", "--seed", "3",
                         "--out", str(tmp_path / "x")]) == 0
        assert calls[-1] == {"out": tmp_path / "x", "seed": 3, "progress": True,
                             **SHAPES["years_4"] | {"customers": 50}}

    def test_unknown_shape(self, calls, capsys):
        with pytest.raises(SystemExit):
            cli.main(["demo", "--shape", "years_99"])
        assert "invalid choice" in capsys.readouterr().err and not calls

    def test_writes_a_shape_world(self, tmp_path, capsys):
        out = tmp_path / "w"
        assert cli.main(["demo", "--shape", "bu_1", "--customers", "30", "--out", str(out)]) == 0
        cust = read_table(out, "customers")
        assert len(cust) == 30 and cust["business_unit"].nunique() == 1
