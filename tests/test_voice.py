"""Tests of bestandlib.voice: themes, NPS arithmetic, trends, referrals and the clean skip."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from bestandlib import voice
from bestandlib.config import load_config
from bestandlib.errors import ConfigError


def _surveys(texts, col="reason_chosen", **extra):
    n = len(texts)
    df = pd.DataFrame({"customer_id": [f"K{i}" for i in range(n)],
                       "survey_date": pd.Timestamp("2025-05-01"),
                       "satisfaction": 8.0, "would_recommend": 8.0,
                       "reason_chosen": None, "initial_hesitation": None, "would_miss": None,
                       "would_refer_to": None})
    df[col] = texts
    for k, v in extra.items():
        df[k] = v
    return df


def _themes_of(texts, config=None, lang_col="reason_chosen"):
    a = voice.answers(_surveys(texts, lang_col), config)
    return dict(zip(a["text"], a["themes"]))


class TestThemes:
    def test_german_answers(self):
        got = _themes_of([
            "Die Produktschulungen für unser Team sind Gold wert.",
            "Zu teuer im Vergleich zum Wettbewerb.",
            "Weil Sie schneller liefern konnten als der bisherige Lieferant.",
            "Der Preis war höher als beim bisherigen Lieferanten.",
            "Die Qualitaet der Bandagen",  # umlaut typed as ae
            "Seit dem Wechsel des Ansprechpartners fehlt die Betreuung.",
            "Unser Außendienst kommt jede Woche.",
            "Es gibt kaum neue Produkte.",
            "Schönes Wetter heute.",
        ])
        assert got["Die Produktschulungen für unser Team sind Gold wert."] == "training"
        assert got["Zu teuer im Vergleich zum Wettbewerb."] == "price"
        assert got["Weil Sie schneller liefern konnten als der bisherige Lieferant."] == "delivery"
        # "Lieferanten" is a supplier, not a delivery time: only the price theme.
        assert got["Der Preis war höher als beim bisherigen Lieferanten."] == "price"
        assert got["Die Qualitaet der Bandagen"] == "quality"
        assert got["Seit dem Wechsel des Ansprechpartners fehlt die Betreuung."] == "contact_change"
        assert got["Unser Außendienst kommt jede Woche."] == "field_service"
        assert got["Es gibt kaum neue Produkte."] == "no_novelty"
        assert got["Schönes Wetter heute."] == ""

    def test_english_answers_and_several_themes(self):
        got = _themes_of([
            "Great customer service and quick spare parts.",
            "Deliveries are always late and prices went up.",
            "The training sessions for new staff.",
            "Quality and fit of the braces.",
        ], lang_col="would_miss")
        assert got["Great customer service and quick spare parts."] == "service"
        assert set(got["Deliveries are always late and prices went up."].split("|")) == {"delivery", "price"}
        assert got["The training sessions for new staff."] == "training"
        assert got["Quality and fit of the braces."] == "quality"

    def test_word_start_unless_star(self):
        # "preis" has a star (compounds count), "kondition" not: "Vorkondition" is no match.
        got = _themes_of(["Gute Einkaufspreise.", "Vorkonditionierung"])
        assert got["Gute Einkaufspreise."] == "price"
        assert got["Vorkonditionierung"] == ""

    def test_own_theme_from_config(self):
        cfg = load_config(overrides={"voice": {"keywords": {
            "app": {"de": "App", "en": "App", "side": "loyal", "words": ["app", "*portal"]}}}})
        got = _themes_of(["Das Bestellportal ist praktisch.", "Die App."], cfg)
        assert got == {"Das Bestellportal ist praktisch.": "app", "Die App.": "app"}

    def test_bad_theme_config(self):
        cfg = load_config(overrides={"voice": {"keywords": {"x": {"de": "X", "en": "X", "side": "odd",
                                                                  "words": ["x"]}}}})
        with pytest.raises(ConfigError, match="side"):
            voice.settings(cfg)

    def test_summary_shares_and_pseudonymised_examples(self):
        texts = ["Frau Schulz und der Service.", "Guter Service.", "Guter Service.", "Zu teuer.", None]
        s = _surveys(texts)
        a = voice.answers(s)
        assert len(a) == 4  # the empty answer is left out
        summ = voice.theme_summary(a, names=["Sanitätshaus Krause"]).set_index("theme_key")
        assert summ.loc["service", "answers"] == 3
        assert summ.loc["service", "share"] == pytest.approx(0.75)
        assert summ.loc["price", "share"] == pytest.approx(0.25)
        assert summ.loc["service", "example_1"] == "Guter Service."  # the most frequent first
        examples = summ.loc["service", ["example_1", "example_2", "example_3"]].tolist()
        assert "[Name] und der Service." in examples and not any("Schulz" in e for e in examples)

    def test_themes_by_group(self):
        texts = ["Guter Service."] * 8 + ["Zu teuer."] * 2 + ["Guter Service."] * 2 + ["Zu teuer."] * 8
        s = _surveys(texts)
        groups = pd.DataFrame({"customer_id": s["customer_id"],
                               "loyalty_group": ["loyal"] * 10 + ["at_risk"] * 10})
        t = voice.themes_by_group(voice.answers(s), groups).set_index("theme_key")
        assert t.loc["service", "share_loyal"] == pytest.approx(0.8)
        assert t.loc["service", "share_at_risk"] == pytest.approx(0.2)
        assert t.loc["service", "share_difference"] == pytest.approx(0.6)
        assert 0 < t.loc["service", "share_difference_low"] < 0.6 < t.loc["service", "share_difference_high"] <= 1
        assert t.loc["price", "share_difference_high"] < 0
        ax = voice.plot_theme_comparison(t.reset_index())
        assert ax.get_xlabel()

    def test_topics_separate_two_subjects(self):
        texts = ([f"Lieferzeit viel zu lang, Lieferung verspätet {i}" for i in range(12)]
                 + [f"Schulung Workshop hervorragend Trainer {i}" for i in range(12)])
        a = voice.answers(_surveys(texts))
        cfg = load_config(overrides={"voice": {"topics": {"n_topics": 2, "min_df": 2}}})
        assign, topics = voice.discover_topics(a, cfg)
        first, second = assign["topic"].iloc[:12], assign["topic"].iloc[12:]
        assert first.nunique() == 1 and second.nunique() == 1 and first.iloc[0] != second.iloc[0]
        assert set(topics["keyword_theme"]) == {"Lieferzeit", "Schulung"}
        assert not any(w in topics["words"].str.cat(sep=" ") for w in (" viel", " zu,"))  # stop words


class TestNPS:
    def test_arithmetic(self):
        r = voice.nps([10, 9, 8, 7, 6, 0, 10, 3, 9, 10])
        assert r["n"] == 10
        assert r["promoters"] == pytest.approx(0.5) and r["detractors"] == pytest.approx(0.3)
        assert r["nps"] == pytest.approx(20.0)
        # Adjusted Wald (Rocks 2016): n + 3, promoters + 3/4, detractors + 3/4.
        pa, da = 5.75 / 13, 3.75 / 13
        se = np.sqrt((pa + da - (pa - da) ** 2) / 13)
        assert r["nps_low"] == pytest.approx(100 * (pa - da - 1.959964 * se), abs=1e-3)
        assert r["nps_high"] == pytest.approx(100 * (pa - da + 1.959964 * se), abs=1e-3)

    def test_bounds_and_bands_from_config(self):
        r = voice.nps([10] * 5)
        assert r["nps"] == 100 and r["nps_high"] <= 100 and r["nps_low"] < 100
        cfg = load_config(overrides={"voice": {"nps": {"promoter_min": 8, "detractor_max": 5}}})
        assert voice.nps([8, 6, 5], cfg)["nps"] == pytest.approx(0.0)
        assert voice.nps_score([8, 6, 5, np.nan], cfg).tolist()[:3] == [100, 0, -100]

    def test_satisfaction_by_group(self):
        resp = pd.DataFrame({"satisfaction": [9, 7, 8, 3, 4] * 6,
                             "would_recommend": [10, 9, 7, 2, 5] * 6,
                             "quadrant": ["Topkunde"] * 25 + ["Kleinkunde"] * 5})
        out = voice.satisfaction_by(resp, "quadrant").set_index("group")
        assert list(out.columns) == voice.NPS_COLUMNS[1:]
        assert out.loc["Topkunde", "n"] == 25 and not out.loc["Topkunde", "small"]
        assert out.loc["Kleinkunde", "small"]  # below min_n = 20
        assert out.loc["Topkunde", "nps"] == pytest.approx(0.0)  # 10 promoters, 10 detractors of 25
        assert out.loc["Topkunde", "satisfaction_low"] < 6.2 < out.loc["Topkunde", "satisfaction_high"]
        ax = voice.plot_nps(out.reset_index(), lang="en")
        assert "Net Promoter" in ax.get_xlabel()

    def test_key_levels_shown_in_the_language(self):
        resp = pd.DataFrame({"satisfaction": [9, 3, 8], "would_recommend": [10, 2, 9],
                             "loyalty_group": ["loyal", "at_risk", None], "phase": ["habituating", None, "new"]})
        assert set(voice.satisfaction_by(resp, "loyalty_group", lang="de")["group"]) == {
            "treu", "gefährdet/verloren", "unbekannt"}
        assert set(voice.satisfaction_by(resp, "loyalty_group", lang="en")["group"]) == {
            "loyal", "at risk/lost", "unknown"}
        assert "unknown" in set(voice.satisfaction_by(resp, "phase", lang="en")["group"])
        assert voice.satisfaction_by(resp, None, lang="en")["group"].tolist() == ["all"]

    def test_nps_sentence_and_panels(self):
        resp = pd.DataFrame({"satisfaction": [9, 7, 8, 3, 4] * 6, "would_recommend": [10, 9, 7, 2, 5] * 6,
                             "quadrant": ["A"] * 30, "phase": [None] * 30, "tenure_band": ["1-2 Jahre"] * 30})
        overall = voice.satisfaction_by(resp, None)
        de, en = voice.nps_sentence(overall, "de"), voice.nps_sentence(overall, "en")
        assert de.startswith("NPS 0 (95-%-KI ") and "n = 30" in de and "bis" in de
        assert en.startswith("NPS 0 (95% CI ") and "to" in en
        fig = voice.plot_nps_panels(resp, lang="en")
        assert [ax.get_title() for ax in fig.axes] == ["Quadrant", "Tenure"]  # phase has no value
        assert voice.plot_nps_panels(resp.iloc[:0]) is None

    def test_latest_response_in_window(self):
        s = pd.DataFrame({"customer_id": ["A", "A", "B", "C"],
                          "survey_date": pd.to_datetime(["2024-02-01", "2025-03-01", "2021-01-01", "2026-01-05"]),
                          "satisfaction": [5.0, 9.0, 8.0, 7.0], "would_recommend": [5.0, 9.0, 8.0, 7.0]})
        r = voice.latest_responses(s, "2025Q4")
        assert r["customer_id"].tolist() == ["A"]  # B outside 8 quarters, C after the quarter
        assert r["nps_group"].tolist() == ["promoter"]

    def test_trend(self):
        s = pd.DataFrame({"customer_id": ["A", "A", "A", "B"],
                          "survey_date": pd.to_datetime(["2024-01-01", "2024-12-31", "2025-12-31", "2025-01-01"]),
                          "satisfaction": [6.0, 8.0, 10.0, 7.0], "would_recommend": [6.0, 8.0, 10.0, 7.0]})
        tr = voice.satisfaction_trend(s, until="2025-06-30").set_index("customer_id")
        assert tr.loc["A", "surveys"] == 2 and tr.loc["A", "satisfaction_last"] == 8
        assert tr.loc["A", "satisfaction_change"] == 2
        assert tr.loc["A", "satisfaction_slope"] == pytest.approx(2 * 365.25 / 365, rel=1e-6)
        assert np.isnan(tr.loc["B", "satisfaction_slope"]) and np.isnan(tr.loc["B", "satisfaction_prev"])

    def test_trend_summary(self):
        trend = pd.DataFrame({"satisfaction_change": [2.0, -1.0, 0.0, 1.0, np.nan]})
        out = voice.trend_summary(trend)
        assert len(out) == 1 and not out.attrs
        row = out.iloc[0]
        assert row["customers"] == 4 and row["improved_share"] == 0.5 and row["worsened_share"] == 0.25
        assert row["unchanged_share"] == 0.25 and row["change_mean"] == 0.5 and row["change_max"] == 2.0
        empty = voice.trend_summary(voice.satisfaction_trend(None)).iloc[0]
        assert empty["customers"] == 0 and np.isnan(empty["improved_share"])


class TestReferrals:
    customers = pd.DataFrame({
        "customer_id": ["K1", "K2", "K3", "K4", "K5"],
        "name": ["Sanitätshaus Koch GmbH", "Sanitätshaus Koch & Söhne", "Klinikum Bonn", "Klinikum Bonn-Süd",
                 "Physio Weber Ulm"]})

    def test_match_and_classify(self):
        answers = ["Zum Beispiel Sanitätshaus Koch & Söhne", "Den Kollegen von Klinikum Bonn-Süd",
                   "klinikum bonn", "Sanitaetshaus Koch", "Der Reha-Klinik Bad Tölz", "Derzeit niemandem",
                   "Kollegen auf Fachkongressen", None, "Physio Weber Ulm"]
        s = pd.DataFrame({"customer_id": ["K9"] * 8 + ["K5"], "survey_date": pd.Timestamp("2025-01-01"),
                          "would_refer_to": answers})
        r = voice.match_referrals(s, self.customers)
        assert r["referral_kind"].tolist() == ["existing_customer"] * 4 + ["new_lead", "none", "general", "empty", "general"]
        assert r["referred_customer_id"].tolist()[:4] == ["K2", "K4", "K3", "K1"]
        summ = voice.referral_summary(r, pd.DataFrame({"customer_id": ["K1", "K2"], "revenue_12m": [100.0, 50.0]}))
        assert list(summ.columns) == ["referral_kind", "answers", "share", "customers", "revenue_12m"]
        row = summ.set_index("referral_kind").loc["existing_customer"]
        assert row["answers"] == 4 and row["customers"] == 4 and row["revenue_12m"] == 150.0


class TestPseudonymise:
    def test_private_names(self):
        customers = pd.DataFrame({"customer_id": ["1", "2"], "name": ["Koch GmbH", None],
                                  "account_manager": ["Anna Schröder", "Anna Schröder"]})
        assert voice.private_names(customers) == ["Koch GmbH", "Anna Schröder"]
        assert voice.private_names(None) == []

    def test_removes_people_and_contacts(self):
        out = voice.pseudonymise(pd.Series(["Herr Dr. Meier hilft immer", "Mail an a.b@example.de",
                                            "Ruf 0221 123456 an", "Frau Jansen", "Anna Schröder kommt"]),
                                 names=["Anna Schröder"])
        assert out.tolist() == ["[Name] hilft immer", "Mail an [E-Mail]", "Ruf [Telefon] an", "[Name]",
                                "[Name] kommt"]


class TestSkip:
    @pytest.mark.parametrize("surveys", [None, _surveys([]).iloc[:0]])
    def test_every_function_accepts_no_surveys(self, surveys):
        assert voice.latest_responses(surveys, "2025Q4").empty
        assert voice.satisfaction_by(voice.latest_responses(surveys), "quadrant").empty
        assert voice.satisfaction_trend(surveys).empty
        a = voice.answers(surveys)
        assert a.empty and "themes" in a.columns
        assert voice.theme_summary(a).empty
        assert voice.themes_by_group(a, pd.DataFrame({"customer_id": [], "loyalty_group": []})).empty
        assert voice.trend_summary(voice.satisfaction_trend(surveys))["customers"].tolist() == [0]
        assign, topics = voice.discover_topics(a)
        assert topics.empty and "words" in topics.columns
        r = voice.match_referrals(surveys, TestReferrals.customers)
        assert r.empty and voice.referral_summary(r).empty


def test_demo_world_themes_and_referrals_match_truth(small_world):
    """On the generated world the dictionary recovers the planted themes and referral targets."""
    from bestandlib.io import load_tables

    t = load_tables(small_world, load_config())
    truth = pd.read_csv(small_world.parent / f"{small_world.name}_truth" / "surveys_truth.csv",
                        parse_dates=["survey_date"], dtype={"referred_customer_id": str})
    cfg = voice.settings()
    key = {v["de"]: k for k, v in cfg["keywords"].items()}
    long = truth.melt(id_vars=["customer_id", "survey_date"],
                      value_vars=[f"{c}_theme" for c in cfg["text_columns"]], var_name="question",
                      value_name="truth").dropna()
    long["question"] = long["question"].str.removesuffix("_theme")
    long["truth"] = long["truth"].map(lambda x: "|".join(sorted(key[y] for y in x.split("|"))))
    a = voice.answers(t.surveys).merge(long, on=["customer_id", "survey_date", "question"])
    assert len(a) > 100
    got = a["themes"].map(lambda x: "|".join(sorted(x.split("|"))))
    assert (got == a["truth"]).mean() > 0.97

    r = voice.match_referrals(t.surveys, t.customers).merge(truth, on=["customer_id", "survey_date"])
    kinds = {"existing": "existing_customer", "new": "new_lead", "general": "general", "none": "none"}
    assert (r["referral_kind"] == r["refer_kind"].map(kinds).fillna("empty")).mean() > 0.97
    ex = r[r["refer_kind"] == "existing"]
    assert (ex["referred_customer_id_x"] == ex["referred_customer_id_y"]).mean() > 0.95


def test_plots_return_ax():
    fig, ax = plt.subplots()
    t = voice.satisfaction_by(pd.DataFrame({"satisfaction": [8, 9], "would_recommend": [9, 3]}))
    assert voice.plot_nps(t, ax=ax) is ax


def test_demo_world_respondents_and_themes_by_loyalty(small_world):
    """The NPS section's frame: one row per respondent with its groups; loyalty themes per group."""
    from bestandlib.io import load_tables
    from bestandlib.panel import build_panel

    t = load_tables(small_world, load_config())
    q = "2025Q4"
    p = build_panel(t.orders, until=q)
    phases = pd.DataFrame({"customer_id": t.customers["customer_id"].astype(str), "phase": "established"})
    r = voice.respondents(t.surveys, p, q, t.customers, phases=phases, lang="en")
    latest = voice.latest_responses(t.surveys, q)
    assert len(r) == len(latest) and r["customer_id"].is_unique
    assert set(r["loyalty_group"].dropna()) <= {"loyal", "at_risk", "other"}
    assert "loyalty_group_label" not in r and set(r["phase"].dropna()) == {"established"}
    by = voice.satisfaction_by(r, "loyalty_group", lang="de")
    assert set(by["group"]) <= {"treu", "gefährdet/verloren", "übrige", "unbekannt"}
    themes = voice.themes_by_loyalty(t.surveys, p, q, lang="en")
    groups = voice.respondent_groups(p, q)
    again = voice.themes_by_group(voice.answers(t.surveys, latest_only=True), groups, lang="en")
    pd.testing.assert_frame_equal(themes, again)
    assert themes["n_loyal"].iloc[0] > 0


def test_texts_in_the_catalogues():
    """Every text the module looks up exists in both languages (no dict of texts left in the module)."""
    from bestandlib import display, i18n

    keys = [f"voice_{k}" for k in ("loyal", "at_risk", "other", "inactive", "unknown", "all", "nps_axis",
                                   "theme_axis", "no_keyword", "existing_customer", "new_lead", "general",
                                   "none", "empty", "nps_title", "nps_sentence")]
    keys += [f"voice_question_{q}" for q in voice.settings()["text_columns"]]
    for lang in i18n.LANGS:
        assert all(i18n.has(k, lang) for k in keys), lang
    assert not hasattr(voice, "_LABELS")
    for table in ("satisfaction_trend", "referrals"):
        for col in display.dictionary()["tables"][table]["columns"]:
            assert display.column_spec(col), col
            assert i18n.has(col, "de") and i18n.has(col, "en"), col
