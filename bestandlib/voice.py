"""Voice of the customer: satisfaction, Net Promoter Score, free-text themes and referrals.

The surveys table is optional (``Tables.surveys is None`` when the file is absent); every function
here accepts ``surveys=None`` or an empty table and returns an empty frame with the documented
columns, so a notebook can skip the section cleanly.

* **Satisfaction and NPS** (:func:`latest_responses`, :func:`nps`, :func:`satisfaction_by`): each
  customer's latest survey in the window counts once. NPS = % promoters - % detractors; its interval is
  the adjusted Wald interval of Rocks (2016, "Interval estimation for the Net Promoter Score", The
  American Statistician 70(4)): add 3/4 of a promoter, 3/2 passives and 3/4 of a detractor, then the
  Wald interval of the trinomial difference. Mean satisfaction has a t interval.
* **Trend** (:func:`satisfaction_trend`): per customer the latest score, the change against the
  previous survey and the slope per year, as of any date (an input for the churn model).
* **Themes** (:func:`answers`, :func:`theme_summary`, :func:`themes_by_group`): a configurable keyword
  dictionary in German and English (``voice.keywords``) tags each answer with zero or more themes;
  :func:`discover_topics` groups the answers without a dictionary (scikit-learn TF-IDF + NMF, with the
  German stop-word list of this module, since scikit-learn ships only an English one) so themes the
  dictionary misses still show up. Example answers are pseudonymised (:func:`pseudonymise`).
* **Referrals** (:func:`match_referrals`): named referral targets are matched against the customer list
  on normalised names (case, umlauts, punctuation and legal forms ignored; the longest matching name
  wins), otherwise classified as a new lead (names an organisation), a general answer or "nobody".
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats as sps

from bestandlib import concepts, i18n
from bestandlib.config import ensure_config
from bestandlib.errors import ConfigError
from bestandlib.panel import customer_summary
from bestandlib.periods import parse_quarter, quarter_end

__all__ = ["GERMAN_STOP_WORDS", "settings", "fold", "latest_responses", "nps", "satisfaction_by",
           "respondent_groups", "respondents", "plot_nps_panels", "nps_sentence", "trend_summary", "satisfaction_trend", "answers", "theme_summary", "themes_by_group", "themes_by_loyalty",
           "discover_topics", "private_names", "pseudonymise", "match_referrals", "referral_summary", "plot_nps",
           "plot_theme_comparison", "NPS_COLUMNS"]

# A German stop-word list for the TF-IDF grouping: articles, pronouns, prepositions, conjunctions,
# auxiliaries and the fillers of survey answers. Hand-written (scikit-learn has only English, and
# NLTK's list would add a dependency and a data download for ~230 words).
GERMAN_STOP_WORDS = frozenset("""
aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes anders
auch auf aus bei beim bin bis bisher bisherigen bist bitte da dabei dadurch dafür dagegen daher damals
damit dann dar daran darauf darum das dass dazu dein deine dem den denen denn der deren des deshalb
dessen die dies diese diesem diesen dieser dieses doch dort du durch eher ein eine einem einen einer
eines einfach einig einige einmal er es etwa etwas euch euer eure für gab gar gegen gehabt gewesen
gibt gut hab habe haben hat hatte hatten hier hin hinter ich ihm ihn ihnen ihr ihre ihrem ihren ihrer
im immer in ins ist ja jede jedem jeden jeder jedes jedoch jetzt kann kaum kein keine keinem keinen
keiner konnte können könnte man manche manchem manchen mancher manches mehr mein meine meist mit muss
musste nach nachdem nein nicht nichts noch nun nur ob oder ohne schon sehr sein seine seinem seinen
seiner seit selbst sich sie sind so solche soll sollte sondern sonst sowie über um und uns unser
unsere unserem unseren unserer unter viel viele vom von vor wann war waren warum was weil weiter welche
welchem welchen welcher welches wenig wenn wer werde werden wie wieder will wir wird wirklich wo
wollen wollte worden wurde wurden zu zum zur zwar zwischen ganz gerade eben ehrlich gesagt zb
""".split())

NPS_COLUMNS = ["group", "n", "small", "satisfaction", "satisfaction_low", "satisfaction_high", "promoters",
               "passives", "detractors", "nps", "nps_low", "nps_high"]

_GROUP_KEYS = ("loyal", "at_risk", "other")

# Prefixes of the catalogue texts of group levels (``satisfaction_by``): level ``k`` of column ``c`` is
# shown as ``t(f"{prefix}_{k}")`` when the catalogue has it.
_LEVEL_TEXT = {"loyalty_group": "voice", "phase": "phase", "question": "voice_question"}


# --------------------------------------------------------------------------------------------------
# configuration and text normalisation
# --------------------------------------------------------------------------------------------------
def settings(config=None) -> dict:
    """The ``voice`` section of a full config (``None`` = the documented defaults), checked."""
    cfg = ensure_config(config)["voice"]
    n = cfg.get("nps", {})
    if not 0 <= n.get("detractor_max", -1) < n.get("promoter_min", 99) <= 10:
        raise ConfigError("config keys 'voice.nps' need 0 <= detractor_max < promoter_min <= 10")
    for key, theme in (cfg.get("keywords") or {}).items():
        if not isinstance(theme, dict) or not theme.get("words"):
            raise ConfigError(f"config key 'voice.keywords.{key}' needs a list 'words' (and names de, en)")
        if theme.get("side", "neutral") not in ("loyal", "risk", "neutral"):
            raise ConfigError(f"config key 'voice.keywords.{key}.side' must be loyal, risk or neutral")
    return cfg


_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def fold(text) -> str:
    """Lower case, umlauts and ß spelt out, other accents dropped, punctuation to single spaces.

    ``"Qualität, Passform!"`` -> ``"qualitaet passform"``; ``"Qualitaet"`` folds to the same, so
    keywords and answers match however the umlauts were typed.
    """
    if text is None or (isinstance(text, float) and np.isnan(text)) or text is pd.NA:
        return ""
    s = str(text).lower().translate(_FOLD)
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return " ".join(re.findall(r"[a-z0-9]+", s))


def _keyword_pattern(words) -> re.Pattern:
    """One regex for a keyword list: word-start match, ``*`` prefix = also inside compound words."""
    parts = []
    for w in words:
        inside = str(w).startswith("*")
        body = r"\s".join(re.escape(t) for t in fold(str(w).lstrip("*")).split())
        if body:
            parts.append(body if inside else r"(?<![a-z0-9])" + body)
    return re.compile("|".join(parts) if parts else r"(?!x)x")


def _themes(cfg: dict) -> dict:
    return {k: v for k, v in (cfg.get("keywords") or {}).items()}


def _theme_label(cfg: dict, key: str, lang: str) -> str:
    return str(_themes(cfg).get(key, {}).get(lang, key))


def _empty(columns) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def _has(surveys) -> bool:
    return surveys is not None and len(surveys) > 0


# --------------------------------------------------------------------------------------------------
# satisfaction and NPS
# --------------------------------------------------------------------------------------------------
def nps_score(would_recommend, config=None) -> pd.Series:
    """+100 for promoters, 0 for passives, -100 for detractors (NaN stays NaN).

    The mean of this score is the NPS, which makes bootstrap and regression on NPS straightforward.
    """
    n = settings(config)["nps"]
    r = pd.Series(would_recommend, dtype="float64")
    out = np.select([r >= n["promoter_min"], r <= n["detractor_max"]], [100.0, -100.0], default=0.0)
    return pd.Series(np.where(r.isna(), np.nan, out), index=r.index)


def latest_responses(surveys: pd.DataFrame | None, quarter=None, config=None, window: bool = True) -> pd.DataFrame:
    """Each customer's latest survey up to the end of ``quarter`` (in the window when ``window``).

    Returns
    -------
    DataFrame
        The survey columns plus ``nps_score`` (+100/0/-100) and ``nps_group`` (promoter, passive,
        detractor), one row per customer; empty when there are no surveys.
    """
    cfg = settings(config)
    cols = ["customer_id", "survey_date", "satisfaction", "would_recommend", "nps_score", "nps_group"]
    if not _has(surveys):
        return _empty(cols)
    s = surveys.copy()
    s["customer_id"] = s["customer_id"].astype(str)
    if quarter is not None:
        q = parse_quarter(quarter)
        s = s[s["survey_date"] <= quarter_end(q)]
        wq = cfg.get("window_quarters")
        if window and wq:
            s = s[s["survey_date"] >= (q - (int(wq) - 1)).start_time.normalize()]
    s = s.sort_values(["customer_id", "survey_date"], kind="stable").groupby("customer_id").tail(1)
    s["nps_score"] = nps_score(s["would_recommend"], config).to_numpy()
    s["nps_group"] = s["nps_score"].map({100.0: "promoter", 0.0: "passive", -100.0: "detractor"})
    return s.reset_index(drop=True)


def nps(would_recommend, config=None, confidence_level: float | None = None) -> pd.Series:
    """NPS of a set of 0-10 answers with its adjusted Wald interval (Rocks 2016).

    Returns
    -------
    Series
        ``n, promoters, passives, detractors`` (shares), ``nps, nps_low, nps_high`` (points, -100..100).
    """
    cfg = settings(config)
    level = float(confidence_level or cfg["confidence_level"])
    score = nps_score(would_recommend, config).dropna()
    n = len(score)
    p, d = int((score > 0).sum()), int((score < 0).sum())
    out = {"n": n, "promoters": np.nan, "passives": np.nan, "detractors": np.nan,
           "nps": np.nan, "nps_low": np.nan, "nps_high": np.nan}
    if n == 0:
        return pd.Series(out)
    out.update(promoters=p / n, passives=(n - p - d) / n, detractors=d / n, nps=100 * (p - d) / n)
    # Adjusted Wald: 3 pseudo-answers split 1/4 promoter, 1/2 passive, 1/4 detractor.
    na = n + 3
    pa, da = (p + 0.75) / na, (d + 0.75) / na
    centre = pa - da
    se = np.sqrt((pa + da - centre ** 2) / na)
    z = sps.norm.ppf(0.5 + level / 2)
    out["nps_low"] = 100 * max(-1.0, centre - z * se)
    out["nps_high"] = 100 * min(1.0, centre + z * se)
    return pd.Series(out)


def _mean_ci(x: pd.Series, level: float) -> tuple[float, float, float]:
    x = x.dropna().astype(float)
    if len(x) == 0:
        return np.nan, np.nan, np.nan
    m = float(x.mean())
    if len(x) < 2:
        return m, np.nan, np.nan
    half = sps.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return m, m - half, m + half


def satisfaction_by(responses: pd.DataFrame, by: str | None = None, config=None, lang: str = "de") -> pd.DataFrame:
    """Mean satisfaction and NPS with intervals and n, overall (``by=None``) or per level of ``by``.

    Parameters
    ----------
    responses : DataFrame
        One row per respondent, e.g. :func:`latest_responses` joined with :func:`respondent_groups`.
    by : str, optional
        Column to group by (``quadrant``, ``phase``, ``business_unit``, ``account_manager``,
        ``tenure_band``, ``loyalty_group`` ...). Levels that are keys (``loyalty_group``, ``phase``)
        are shown by their catalogue text in ``lang``.

    Returns
    -------
    DataFrame
        :data:`NPS_COLUMNS` (``group`` holds the level), sorted by NPS; ``small`` marks groups with
        fewer than ``voice.min_n`` respondents (shown, not to be compared).
    """
    cfg = settings(config)
    level = float(cfg["confidence_level"])
    if responses is None or len(responses) == 0:
        return _empty(NPS_COLUMNS)
    if by is None:
        parts = [(i18n.t("voice_all", lang), responses)]
    else:
        keys = responses[by].astype("object").map(lambda k: _level_text(by, k, lang))
        parts = [(k, g) for k, g in responses.groupby(keys, sort=True)]
    rows = []
    for key, g in parts:
        m, lo, hi = _mean_ci(g["satisfaction"], level)
        row = {"group": key, "satisfaction": m, "satisfaction_low": lo, "satisfaction_high": hi}
        row.update(nps(g["would_recommend"], config, level).to_dict())
        row["n"] = int(row["n"])
        row["small"] = row["n"] < int(cfg["min_n"])
        rows.append(row)
    out = pd.DataFrame(rows)[NPS_COLUMNS]
    return out.sort_values(["small", "nps"], ascending=[True, False], ignore_index=True)


def _level_text(column: str, level, lang: str) -> str:
    """A group level as the reader sees it: catalogue text of keys (loyalty group, phase), else the
    value itself; missing levels are "unbekannt"."""
    if level is None or level is pd.NA or (isinstance(level, float) and np.isnan(level)):
        return i18n.t("voice_unknown", lang)
    key = f"{_LEVEL_TEXT[column]}_{level}" if column in _LEVEL_TEXT else None
    return i18n.t(key, lang) if key and i18n.has(key, lang) else str(level)


def respondent_groups(panel: pd.DataFrame, quarter, customers: pd.DataFrame | None = None,
                      matrix: pd.DataFrame | None = None, phases: pd.DataFrame | None = None,
                      config=None, lang: str = "de") -> pd.DataFrame:
    """The groups a respondent's customer belongs to at the report quarter.

    Parameters
    ----------
    panel : DataFrame
        Customer-quarter panel up to at least ``quarter``.
    customers : DataFrame, optional
        Adds ``business_unit`` and ``account_manager``.
    matrix : DataFrame, optional
        Output of :func:`bestandlib.valuation.four_field_matrix` (``customer_id, quadrant``); customers
        not in it (inactive) get "nicht aktiv".
    phases : DataFrame, optional
        ``customer_id, phase``.

    Returns
    -------
    DataFrame
        ``customer_id, business_unit, account_manager, quadrant, phase, tenure_quarters, tenure_band,
        loyalty_group`` (``loyal``, ``at_risk``, ``other``; see ``voice.groups``). ``lang`` names the
        tenure bands (``loyalty.tenure_bands``) and the quadrant of inactive customers.
    """
    from bestandlib import loyalty

    config = ensure_config(config)
    g = settings(config)["groups"]
    summ = customer_summary(panel, quarter, config)
    out = summ[["customer_id", "tenure_quarters"]].copy()
    out["customer_id"] = out["customer_id"].astype(str)
    out["tenure_band"] = loyalty.tenure_band(out["tenure_quarters"].to_numpy(), config, lang).set_axis(out.index)
    # no order in the last inactive_quarters quarters, or lost (bestandlib.concepts): quarter terms, as
    # everywhere in the kit
    state = concepts.status_at(panel, quarter, config).set_index("customer_id").reindex(out["customer_id"])
    since = state["quarters_since_order"].to_numpy(dtype=float)
    inactive = pd.Series(~(since < int(g["inactive_quarters"])) | state["lost"].fillna(True).to_numpy(bool),
                         index=summ.index)
    shrinking = (summ["revenue_prev_12m"] > 0) & (summ["revenue_12m"] < float(g["shrink_share"]) * summ["revenue_prev_12m"])
    loyal = ~inactive & ~shrinking & (summ["tenure_quarters"] >= int(g["loyal_min_quarters"]))
    out["loyalty_group"] = np.select([(inactive | shrinking).to_numpy(), loyal.to_numpy()], ["at_risk", "loyal"],
                                     default="other")
    for col in ("business_unit", "account_manager"):
        if customers is not None and col in customers:
            out[col] = out["customer_id"].map(customers.set_index(customers["customer_id"].astype(str))[col])
        else:
            out[col] = pd.NA
    if matrix is not None and "quadrant" in matrix:
        q = matrix.set_index(matrix["customer_id"].astype(str))["quadrant"]
        out["quadrant"] = out["customer_id"].map(q).fillna(i18n.t("voice_inactive", lang))
    else:
        out["quadrant"] = pd.NA
    if phases is not None and "phase" in phases:
        out["phase"] = out["customer_id"].map(phases.drop_duplicates("customer_id").set_index(
            phases.drop_duplicates("customer_id")["customer_id"].astype(str))["phase"])
    else:
        out["phase"] = pd.NA
    return out[["customer_id", "business_unit", "account_manager", "quadrant", "phase", "tenure_quarters",
                "tenure_band", "loyalty_group"]]


def respondents(surveys: pd.DataFrame | None, panel: pd.DataFrame, quarter, customers: pd.DataFrame | None = None,
                matrix: pd.DataFrame | None = None, phases: pd.DataFrame | None = None, config=None,
                lang: str = "de") -> pd.DataFrame:
    """Each customer's latest survey in the window (:func:`latest_responses`) with the groups its
    customer belongs to at ``quarter`` (:func:`respondent_groups`): the frame of the NPS section."""
    responses = latest_responses(surveys, quarter, config)
    groups = respondent_groups(panel, quarter, customers, matrix, phases, config, lang)
    return responses.merge(groups, on="customer_id", how="left")


#: The panels of the NPS figure (:func:`plot_nps_panels`): column and catalogue key of its title.
NPS_PANELS = (("quadrant", "quadrant"), ("phase", "loy_phase"), ("tenure_band", "loy_tenure_band"))


def plot_nps_panels(responses: pd.DataFrame, config=None, lang: str = "de"):
    """NPS per quadrant, relationship phase and tenure band side by side (panels whose column has no
    value left out); returns the figure, ``None`` without respondents."""
    import matplotlib.pyplot as plt

    panels = [(c, key) for c, key in NPS_PANELS if c in responses and responses[c].notna().any()]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4), squeeze=False)
    for ax, (col, key) in zip(axes[0], panels):
        plot_nps(satisfaction_by(responses, col, config, lang), ax=ax, lang=lang, title=i18n.t(key, lang))
    fig.tight_layout()
    return fig


def nps_sentence(overall: pd.DataFrame, lang: str = "de") -> str:
    """The overall NPS with its interval and n in words (``overall``: :func:`satisfaction_by` with
    ``by=None``)."""
    o = overall.iloc[0]
    return i18n.t("voice_nps_sentence", lang, nps=i18n.fmt_number(o["nps"], lang),
                  low=i18n.fmt_number(o["nps_low"], lang), high=i18n.fmt_number(o["nps_high"], lang),
                  n=i18n.fmt_number(o["n"], lang))


def satisfaction_trend(surveys: pd.DataFrame | None, until=None) -> pd.DataFrame:
    """Per customer, the satisfaction trend from its surveys up to ``until`` (a date; None = all).

    Meant as an input of the churn model: call it with each scoring date as ``until`` so no later
    survey leaks in.

    Returns
    -------
    DataFrame
        ``customer_id, surveys, first_survey, last_survey, satisfaction_last, satisfaction_prev,
        satisfaction_change`` (last - previous), ``satisfaction_slope`` (least-squares slope in points
        per year; NaN with fewer than two surveys on different days), ``recommend_last``.
    """
    cols = ["customer_id", "surveys", "first_survey", "last_survey", "satisfaction_last", "satisfaction_prev",
            "satisfaction_change", "satisfaction_slope", "recommend_last"]
    if not _has(surveys):
        return _empty(cols)
    s = surveys[["customer_id", "survey_date", "satisfaction", "would_recommend"]].copy()
    s["customer_id"] = s["customer_id"].astype(str)
    if until is not None:
        s = s[s["survey_date"] <= pd.Timestamp(until)]
    s = s.dropna(subset=["satisfaction"]).sort_values(["customer_id", "survey_date"], kind="stable")
    if s.empty:
        return _empty(cols)
    g = s.groupby("customer_id")
    s["_prev"] = g["satisfaction"].shift(1)
    last = g.tail(1).set_index("customer_id")
    out = g.agg(surveys=("satisfaction", "size"), first_survey=("survey_date", "min"),
                last_survey=("survey_date", "max"))
    out["satisfaction_last"] = last["satisfaction"]
    out["recommend_last"] = last["would_recommend"]
    out["satisfaction_prev"] = last["_prev"]
    out["satisfaction_change"] = out["satisfaction_last"] - out["satisfaction_prev"]
    # Slope by the closed-form least-squares formula on grouped sums (vectorised over customers).
    years = (s["survey_date"] - pd.Timestamp("2000-01-01")).dt.days / 365.25
    x, y = years.to_numpy(), s["satisfaction"].to_numpy(float)
    d = pd.DataFrame({"c": s["customer_id"].to_numpy(), "x": x, "y": y, "xx": x * x, "xy": x * y})
    sums = d.groupby("c")[["x", "y", "xx", "xy"]].sum()
    n = out["surveys"].astype(float)
    sxx = sums["xx"] - sums["x"] ** 2 / n
    sxy = sums["xy"] - sums["x"] * sums["y"] / n
    out["satisfaction_slope"] = (sxy / sxx).where(sxx > 1e-9)
    return out.reset_index()[cols]


def trend_summary(trend: pd.DataFrame) -> pd.DataFrame:
    """The change of satisfaction against the previous survey over all customers with two surveys.

    Returns
    -------
    DataFrame
        One row: ``customers`` (with a previous survey), ``improved_share``, ``unchanged_share``,
        ``worsened_share``, ``change_mean``, ``change_median``, ``change_min``, ``change_max`` (points).
    """
    c = pd.Series(trend["satisfaction_change"] if trend is not None and len(trend) else [], dtype="float64")
    c = c.dropna()
    n = len(c)
    share = (lambda m: float(m.mean()) if n else np.nan)
    return pd.DataFrame([{"customers": n, "improved_share": share(c > 0), "unchanged_share": share(c == 0),
                          "worsened_share": share(c < 0), "change_mean": c.mean(), "change_median": c.median(),
                          "change_min": c.min(), "change_max": c.max()}])


# --------------------------------------------------------------------------------------------------
# free-text themes
# --------------------------------------------------------------------------------------------------
def answers(surveys: pd.DataFrame | None, config=None, latest_only: bool = False) -> pd.DataFrame:
    """The free-text answers in long form, each tagged with the keyword themes it mentions.

    Parameters
    ----------
    surveys : DataFrame or None
        The surveys table.
    latest_only : bool
        Only each customer's latest survey (one voice per customer).

    Returns
    -------
    DataFrame
        ``customer_id, survey_date, question, text, satisfaction, would_recommend, themes`` (keys
        joined with "|", "" when none) and one boolean column ``theme_<key>`` per theme. Empty answers
        are left out.
    """
    cfg = settings(config)
    themes = _themes(cfg)
    cols = ["customer_id", "survey_date", "question", "text", "satisfaction", "would_recommend", "themes",
            *[f"theme_{k}" for k in themes]]
    if not _has(surveys):
        return _empty(cols)
    s = surveys.copy()
    s["customer_id"] = s["customer_id"].astype(str)
    if latest_only:
        s = s.sort_values(["customer_id", "survey_date"], kind="stable").groupby("customer_id").tail(1)
    qcols = [c for c in cfg["text_columns"] if c in s.columns]
    if not qcols:
        return _empty(cols)
    long = s.melt(id_vars=["customer_id", "survey_date", "satisfaction", "would_recommend"],
                  value_vars=qcols, var_name="question", value_name="text")
    long = long[long["text"].notna()]
    long = long[long["text"].astype(str).str.strip() != ""].reset_index(drop=True)
    folded = long["text"].map(fold)
    names = []
    for key, theme in themes.items():
        long[f"theme_{key}"] = folded.str.contains(_keyword_pattern(theme["words"]), regex=True)
        names.append(key)
    flags = long[[f"theme_{k}" for k in names]].to_numpy(bool) if names else np.zeros((len(long), 0), bool)
    long["themes"] = ["|".join(k for k, f in zip(names, row) if f) for row in flags]
    return long[cols]


def _examples(texts: pd.Series, k: int = 3, seed: int = 0, names=None) -> list[str]:
    """Up to ``k`` distinct example answers: the most frequent first, ties in seeded random order."""
    if texts.empty:
        return []
    counts = texts.astype(str).value_counts()
    rng = np.random.default_rng(seed)
    order = pd.DataFrame({"n": counts.to_numpy(), "r": rng.random(len(counts))}, index=counts.index)
    picked = order.sort_values(["n", "r"], ascending=[False, True]).index[:k]
    return list(pseudonymise(pd.Series(list(picked)), names))


def theme_summary(ans: pd.DataFrame, config=None, lang: str = "de", by_question: bool = False,
                  names=None) -> pd.DataFrame:
    """Share of answers mentioning each keyword theme, with three pseudonymised example answers.

    Parameters
    ----------
    ans : DataFrame
        Output of :func:`answers`.
    by_question : bool
        One block per question (reason_chosen, initial_hesitation, would_miss) instead of all pooled.
    names : iterable of str, optional
        Names to remove from the examples (customers, account managers), see :func:`pseudonymise`.

    Returns
    -------
    DataFrame
        ``[question,] theme_key, theme, side, answers, share, example_1, example_2, example_3`` sorted
        by share; ``share`` = answers mentioning the theme / all non-empty answers (an answer can
        mention several themes, so shares add up to more than 100 %). The row ``theme_key == "none"``
        counts answers the dictionary does not cover.
    """
    cfg = settings(config)
    themes = _themes(cfg)
    cols = (["question"] if by_question else []) + ["theme_key", "theme", "side", "answers", "share",
                                                     "example_1", "example_2", "example_3"]
    if ans is None or len(ans) == 0:
        return _empty(cols)
    blocks = ans.groupby("question", sort=False) if by_question else [(None, ans)]
    rows = []
    for question, a in blocks:
        for key in [*themes, "none"]:
            hit = (a["themes"] == "") if key == "none" else a[f"theme_{key}"]
            ex = _examples(a.loc[hit, "text"], seed=int(cfg["topics"]["seed"]), names=names)
            row = {"question": question, "theme_key": key,
                   "theme": _theme_label(cfg, key, lang) if key != "none" else i18n.t("voice_no_keyword", lang),
                   "side": themes.get(key, {}).get("side", "neutral") if key != "none" else "",
                   "answers": int(hit.sum()), "share": float(hit.mean())}
            row.update({f"example_{i + 1}": ex[i] if i < len(ex) else "" for i in range(3)})
            rows.append(row)
    out = pd.DataFrame(rows)
    sort = (["question"] if by_question else []) + ["share"]
    return out.sort_values(sort, ascending=[True] * by_question + [False], kind="stable",
                           ignore_index=True)[cols]


def themes_by_group(ans: pd.DataFrame, groups: pd.DataFrame, config=None, lang: str = "de",
                    a: str = "loyal", b: str = "at_risk") -> pd.DataFrame:
    """How often loyal and at-risk customers mention each theme (per respondent, latest survey).

    A respondent mentions a theme when any of its answers does. The difference of the shares has a
    Newcombe hybrid-score interval (statsmodels ``confint_proportions_2indep``), which stays inside
    [-1, 1] and behaves at small counts.

    Parameters
    ----------
    ans : DataFrame
        Output of :func:`answers` (use ``latest_only=True`` for one voice per customer).
    groups : DataFrame
        ``customer_id, loyalty_group`` (e.g. :func:`respondent_groups`, or a churn-risk grouping).
    a, b : str
        The two groups compared (share a - share b).

    Returns
    -------
    DataFrame
        ``theme_key, theme, side, n_a, n_b, share_a, share_b, share_difference, difference_low,
        share_difference_high`` (the interval of the difference) with
        ``a``/``b`` in the column names replaced by the group keys (``share_loyal`` ...).
    """
    from statsmodels.stats.proportion import confint_proportions_2indep

    cfg = settings(config)
    themes = _themes(cfg)
    cols = ["theme_key", "theme", "side", f"n_{a}", f"n_{b}", f"share_{a}", f"share_{b}", "share_difference",
            "share_difference_low", "share_difference_high"]
    if ans is None or len(ans) == 0 or groups is None:
        return _empty(cols)
    flags = ans.groupby("customer_id")[[f"theme_{k}" for k in themes]].any()
    grp = groups[["customer_id", "loyalty_group"]].astype({"customer_id": str}).set_index("customer_id")
    flags = flags.join(grp, how="inner")
    fa, fb = flags[flags["loyalty_group"] == a], flags[flags["loyalty_group"] == b]
    level = float(cfg["confidence_level"])
    rows = []
    for key in themes:
        ca, cb = int(fa[f"theme_{key}"].sum()), int(fb[f"theme_{key}"].sum())
        row = {"theme_key": key, "theme": _theme_label(cfg, key, lang), "side": themes[key].get("side", "neutral"),
               f"n_{a}": len(fa), f"n_{b}": len(fb),
               f"share_{a}": ca / len(fa) if len(fa) else np.nan, f"share_{b}": cb / len(fb) if len(fb) else np.nan}
        row["share_difference"] = row[f"share_{a}"] - row[f"share_{b}"]
        if len(fa) and len(fb):
            lo, hi = confint_proportions_2indep(ca, len(fa), cb, len(fb), method="newcomb", compare="diff",
                                                alpha=1 - level)
            row["share_difference_low"], row["share_difference_high"] = float(lo), float(hi)
        else:
            row["share_difference_low"] = row["share_difference_high"] = np.nan
        rows.append(row)
    return pd.DataFrame(rows).sort_values("share_difference", ascending=False, ignore_index=True)[cols]


def themes_by_loyalty(surveys: pd.DataFrame | None, panel: pd.DataFrame, quarter, config=None,
                      lang: str = "de") -> pd.DataFrame:
    """:func:`themes_by_group` of loyal vs at-risk customers: each customer's latest survey
    (:func:`answers` with ``latest_only``) against its loyalty group at ``quarter``
    (:func:`respondent_groups`)."""
    latest = answers(surveys, config, latest_only=True)
    return themes_by_group(latest, respondent_groups(panel, quarter, config=config, lang=lang), config, lang)


def discover_topics(ans: pd.DataFrame, config=None, lang: str = "de", names=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Group the answers without a dictionary (:func:`topic_model`), the keyword themes named in ``lang``.

    Returns
    -------
    (assignments, topics)
        As :func:`topic_model`, ``keyword_theme`` the theme's name in ``lang``.
    """
    return label_topics(topic_model(ans, config, names=names), config, lang)


def label_topics(result: tuple[pd.DataFrame, pd.DataFrame], config=None, lang: str = "de"):
    """The result of :func:`topic_model` with the keyword themes named in ``lang`` (the cached part
    of the topic model has no language)."""
    assign, topics = result
    cfg = settings(config)
    topics = topics.copy()
    topics["keyword_theme"] = [_theme_label(cfg, k, lang) if isinstance(k, str) and k else ""
                               for k in topics["keyword_theme"]]
    return assign, topics


def topic_model(ans: pd.DataFrame, config=None, names=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Group the answers without a dictionary: TF-IDF + non-negative matrix factorisation.

    Each answer goes to the topic with its largest NMF weight; a topic is named by its top words. The
    dictionary theme most common among a topic's answers is shown next to it, so the reader sees
    whether the unsupervised grouping finds the same themes or new ones.

    Returns
    -------
    (assignments, topics)
        ``assignments``: ``ans`` index with ``topic`` (-1 = no known word). ``topics``: ``topic, words,
        answers, share, keyword_theme, keyword_theme_share, example_1..3``; ``keyword_theme`` is the key of
        the dictionary theme (no language: :func:`label_topics` names it), so the result can be cached.
    """
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

    cfg = settings(config)
    tcfg = cfg["topics"]
    cols = ["topic", "words", "answers", "share", "keyword_theme", "keyword_theme_share",
            "example_1", "example_2", "example_3"]
    if ans is None or len(ans) == 0:
        return pd.DataFrame({"topic": pd.Series(dtype="int64")}), _empty(cols)
    stop = sorted({fold(w) for w in (*GERMAN_STOP_WORDS, *ENGLISH_STOP_WORDS, *(cfg.get("stop_words") or []))})
    texts = ans["text"].map(fold)
    vec = TfidfVectorizer(stop_words=stop, min_df=min(int(tcfg["min_df"]), max(1, len(texts) // 10)),
                          token_pattern=r"(?u)\b[a-z][a-z]{2,}\b", sublinear_tf=True)
    try:
        X = vec.fit_transform(texts)
    except ValueError:  # no word left after stop words and min_df: nothing to group
        return pd.DataFrame({"topic": -1}, index=ans.index), _empty(cols)
    k = max(1, min(int(tcfg["n_topics"]), X.shape[1] - 1 if X.shape[1] > 1 else 1, X.shape[0]))
    model = NMF(n_components=k, init="nndsvda", random_state=int(tcfg["seed"]), max_iter=500)
    W = model.fit_transform(X)
    topic = np.where(W.max(axis=1) > 0, W.argmax(axis=1), -1)
    assign = pd.DataFrame({"topic": topic}, index=ans.index)
    vocab = np.asarray(vec.get_feature_names_out())
    themes = _themes(cfg)
    rows = []
    for t in range(k):
        sel = topic == t
        words = ", ".join(vocab[np.argsort(model.components_[t])[::-1][: int(tcfg["top_words"])]])
        best, best_share = "", np.nan
        if sel.any() and themes:
            shares = {key: float(ans.loc[sel, f"theme_{key}"].mean()) for key in themes}
            key = max(shares, key=shares.get)
            best, best_share = key, shares[key]  # named by label_topics
        ex = _examples(ans.loc[sel, "text"], seed=int(tcfg["seed"]), names=names)
        row = {"topic": t + 1, "words": words, "answers": int(sel.sum()), "share": float(sel.mean()),
               "keyword_theme": best, "keyword_theme_share": best_share}
        row.update({f"example_{i + 1}": ex[i] if i < len(ex) else "" for i in range(3)})
        rows.append(row)
    assign["topic"] = np.where(topic >= 0, topic + 1, -1)
    topics = pd.DataFrame(rows).sort_values("answers", ascending=False, ignore_index=True)[cols]
    return assign, topics


_TITLES = r"(?:Herr|Herrn|Frau|Dr\.|Prof\.|Mr\.?|Mrs\.?|Ms\.?)"
_PERSON = re.compile(_TITLES + r"(?:\s+(?:Dr\.|Prof\.))*\s+[A-ZÄÖÜ][\w\-äöüß]+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_PHONE = re.compile(r"(?<!\w)\+?\d[\d /()-]{6,}\d")


def private_names(customers: pd.DataFrame | None) -> list[str]:
    """The names to remove from every example answer shown: customer names and account managers."""
    if customers is None:
        return []
    cols = [c for c in ("name", "account_manager") if c in customers]
    return list(dict.fromkeys(str(n) for c in cols for n in customers[c].dropna()))


def pseudonymise(texts: pd.Series, names=None) -> pd.Series:
    """Remove what identifies someone from free text before it is shown.

    Known names (customers, account managers: pass them as ``names``) become "[Name]", as do
    "Herr/Frau/Dr./Mr./Ms. <Name>", e-mail addresses and phone numbers. Matching of ``names`` ignores
    case.
    """
    out = pd.Series(texts, dtype="object").fillna("").astype(str)
    if names is not None:
        known = _known_names(tuple(n for n in names if isinstance(n, str)))
        if known:
            out = out.map(lambda text: _replace_names(text, known))
    for pat, repl in ((_EMAIL, "[E-Mail]"), (_PHONE, "[Telefon]"), (_PERSON, "[Name]")):
        out = out.str.replace(pat, repl, regex=True)
    return out


@lru_cache(maxsize=8)
def _known_names(names: tuple) -> tuple:
    """The names worth looking for (at least 3 characters), longest first, with their lower case."""
    known = sorted({n for n in names if len(n) >= 3}, key=len, reverse=True)
    return tuple((n, n.lower()) for n in known)


def _replace_names(text: str, known: tuple) -> str:
    """``text`` with the known names replaced by "[Name]", ignoring case.

    One alternation of thousands of names is slow to match; only the names whose lower case occurs
    in the text's lower case can match, so the pattern is built from those (all names when lower
    case changes the text's length, where the substring test would not be exact).
    """
    low = text.lower()
    cand = [n for n, n_low in known if n_low in low] if len(low) == len(text) else [n for n, _ in known]
    if not cand:
        return text
    pattern = re.compile("|".join(re.escape(n) for n in cand), flags=re.IGNORECASE)
    return pattern.sub("[Name]", text)


# --------------------------------------------------------------------------------------------------
# referrals
# --------------------------------------------------------------------------------------------------
_LEGAL = {"gmbh", "mbh", "kg", "ag", "ohg", "gbr", "ev", "e", "v", "co", "und", "sohne", "soehne", "ltd",
          "inc", "llc", "plc", "partner", "partg"}


def _name_key(name) -> str:
    """Normalised name for matching: folded, legal forms and '&' dropped."""
    return " ".join(t for t in fold(name).split() if t not in _LEGAL)


def match_referrals(surveys: pd.DataFrame | None, customers: pd.DataFrame, config=None) -> pd.DataFrame:
    """Classify each would_refer_to answer and match named targets against the customer list.

    Returns
    -------
    DataFrame
        ``customer_id`` (the respondent), ``survey_date, answer, referral_kind`` (existing_customer, new_lead,
        general, none, empty), ``referred_customer_id, referred_name, candidates``. A named customer
        is found when its folded name appears as a whole-word sequence in the answer, else its name
        without legal forms (GmbH, KG, & Söhne ...); of several, the longest name wins (so "Klinikum
        Bonn-Süd" beats "Klinikum Bonn"). ``candidates`` > 1 means several customers share that name
        (the first is given: check by hand). The respondent itself never matches.
    """
    cfg = settings(config)
    cols = ["customer_id", "survey_date", "answer", "referral_kind", "referred_customer_id", "referred_name",
            "candidates"]
    if not _has(surveys) or "would_refer_to" not in surveys:
        return _empty(cols)
    s = surveys[["customer_id", "survey_date", "would_refer_to"]].rename(columns={"would_refer_to": "answer"})
    s = s.astype({"customer_id": str}).reset_index(drop=True)
    # Two look-ups: the full folded name first (tells "Koch GmbH" from "Koch & Söhne"), then the name
    # without legal forms (finds "Koch" for "Koch GmbH").
    full: dict[str, list[tuple[str, str]]] = {}
    short: dict[str, list[tuple[str, str]]] = {}
    max_len = 1
    for cid, name in zip(customers["customer_id"].astype(str), customers["name"]):
        for index, key in ((full, fold(name)), (short, _name_key(name))):
            if key:
                index.setdefault(key, []).append((cid, name))
                max_len = max(max_len, len(key.split()))
    org = _keyword_pattern(cfg["referrals"]["organisation_words"])
    nobody = _keyword_pattern(cfg["referrals"]["none_words"])
    kinds, ids, names, n_cands = [], [], [], []
    for resp, ans in zip(s["customer_id"], s["answer"]):
        text = fold(ans)
        if not text:
            kinds.append("empty"), ids.append(None), names.append(None), n_cands.append(0)
            continue
        best = _longest_match(text.split(), full, max_len, resp) or _longest_match(
            _name_key(ans).split(), short, max_len, resp)
        if best:
            kinds.append("existing_customer"), ids.append(best[0][0]), names.append(best[0][1])
            n_cands.append(len(best))
            continue
        kinds.append("none" if nobody.search(text) else "new_lead" if org.search(text) else "general")
        ids.append(None), names.append(None), n_cands.append(0)
    s["referral_kind"], s["referred_customer_id"], s["referred_name"] = kinds, ids, names
    s["candidates"] = n_cands
    return s[cols]


def _longest_match(tokens: list[str], index: dict, max_len: int, respondent: str) -> list | None:
    """Customers whose key is the longest whole-word sequence of ``tokens`` (not the respondent)."""
    best, best_len = None, 0
    # All contiguous token sequences up to the longest name: dictionary look-ups, no scan of all names.
    for i in range(len(tokens)):
        for j in range(i + 1, min(len(tokens), i + max_len) + 1):
            hit = index.get(" ".join(tokens[i:j]))
            if hit and j - i > best_len:
                cands = [h for h in hit if h[0] != respondent]
                if cands:
                    best, best_len = cands, j - i
    return best


def referral_summary(referrals: pd.DataFrame, revenue: pd.DataFrame | None = None) -> pd.DataFrame:
    """Counts per kind of referral answer and, for named existing customers, their revenue.

    Parameters
    ----------
    referrals : DataFrame
        Output of :func:`match_referrals`.
    revenue : DataFrame, optional
        ``customer_id, revenue_12m`` (e.g. :func:`bestandlib.panel.customer_summary`): adds the
        12-month revenue of the distinct existing customers named as referral targets.

    Returns
    -------
    DataFrame
        ``referral_kind, answers, share, customers, revenue_12m`` (``referral_kind`` a key, its text
        ``voice_<key>`` in the catalogue).
    """
    cols = ["referral_kind", "answers", "share", "customers", "revenue_12m"]
    if referrals is None or len(referrals) == 0:
        return _empty(cols)
    order = ["existing_customer", "new_lead", "general", "none", "empty"]
    n = referrals.groupby("referral_kind").size().reindex(order, fill_value=0)
    out = pd.DataFrame({"referral_kind": order, "answers": n.to_numpy()})
    out["share"] = out["answers"] / out["answers"].sum()
    named = referrals.loc[referrals["referral_kind"] == "existing_customer", "referred_customer_id"].dropna().unique()
    out["customers"] = np.where(out["referral_kind"] == "existing_customer", len(named), np.nan)
    out["revenue_12m"] = np.nan
    if revenue is not None:
        r = revenue.set_index(revenue["customer_id"].astype(str))["revenue_12m"]
        out.loc[out["referral_kind"] == "existing_customer", "revenue_12m"] = float(r.reindex(named).fillna(0).sum())
    return out[cols]


# --------------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------------
def _ax(ax, size=(8, 4)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=size)
    return ax


def plot_nps(table: pd.DataFrame, ax=None, lang: str = "de", title: str | None = None):
    """NPS per group with its interval and n (groups below ``min_n`` drawn pale).

    Parameters
    ----------
    table : DataFrame
        Output of :func:`satisfaction_by`.
    """
    ax = _ax(ax)
    t = table.reset_index(drop=True)
    y = np.arange(len(t))[::-1]
    for yi, r in zip(y, t.itertuples()):
        colour = "#cccccc" if r.small else ("#1b7837" if r.nps >= 0 else "#b2182b")
        ax.plot([r.nps_low, r.nps_high], [yi, yi], color=colour, lw=3, solid_capstyle="round")
        ax.plot([r.nps], [yi], "o", color=colour, ms=8)
    ax.axvline(0, color="black", lw=1, ls="--")
    ax.set_yticks(y, [f"{g} (n = {n})" for g, n in zip(t["group"], t["n"])])
    ax.set_xlim(-100, 100)
    ax.set_xlabel(i18n.t("voice_nps_axis", lang))
    if title:
        ax.set_title(title)
    return ax


def plot_theme_comparison(table: pd.DataFrame, ax=None, lang: str = "de", a: str = "loyal", b: str = "at_risk"):
    """Share of respondents mentioning each theme: group ``a`` vs group ``b`` (output of
    :func:`themes_by_group`)."""
    ax = _ax(ax)
    t = table.sort_values("share_difference").reset_index(drop=True)
    y = np.arange(len(t))
    h = 0.38
    ax.barh(y + h / 2, t[f"share_{a}"] * 100, height=h, color="#1b7837",
            label=f"{i18n.t(f'voice_{a}', lang)} (n = {t[f'n_{a}'].iloc[0] if len(t) else 0})")
    ax.barh(y - h / 2, t[f"share_{b}"] * 100, height=h, color="#b2182b",
            label=f"{i18n.t(f'voice_{b}', lang)} (n = {t[f'n_{b}'].iloc[0] if len(t) else 0})")
    ax.set_yticks(y, t["theme"])
    ax.set_xlabel(i18n.t("voice_theme_axis", lang))
    ax.legend(loc="lower right")
    return ax
