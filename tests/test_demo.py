"""The demo world: formats, keys, determinism and the planted phenomena (small worlds, fast)."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy.stats import spearmanr

from bestandlib.demo import generate_demo
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
