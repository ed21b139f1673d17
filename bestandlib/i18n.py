"""German and English labels and number formats.

German is the default language of the kit (the users are German sales teams); every label a manager
reads exists in both languages. Numbers are formatted with Babel, the CLDR-based library behind
Jupyter's own translations, so ``1.234,5 €`` and ``€1,234.5`` come out right without hand-written rules.
"""
from __future__ import annotations

import math

from babel.dates import format_date as _babel_format_date
from babel.numbers import format_currency, format_decimal, format_percent

from bestandlib.errors import BestandError

LANGS = ("de", "en")
_LOCALES = {"de": "de_DE", "en": "en_GB"}

# Labels shared by several modules and the report pages. Modules with many labels of their own keep
# them next to their code; they can add them here with ``register``.
LABELS: dict[str, dict[str, str]] = {
    "report_title": {"de": "Bestandskundenmanagement", "en": "Existing-customer management"},
    "quarter": {"de": "Quartal", "en": "Quarter"},
    "quarterly_report": {"de": "Quartalsbericht", "en": "Quarterly report"},
    "all_quarters": {"de": "Alle Quartale", "en": "All quarters"},
    "overview": {"de": "Übersicht", "en": "Overview"},
    "analyses": {"de": "Analysen", "en": "Analyses"},
    "executive_summary": {"de": "Management-Zusammenfassung", "en": "Executive summary"},
    "details": {"de": "Details", "en": "Details"},
    "tables": {"de": "Tabellen (CSV)", "en": "Tables (CSV)"},
    "run_info": {"de": "Laufinformationen", "en": "Run information"},
    "data_notes": {"de": "Hinweise zu den Daten", "en": "Notes on the data"},
    "excluded_rows": {"de": "Ausgeschlossene Zeilen", "en": "Excluded rows"},
    "generated_at": {"de": "Erstellt am", "en": "Generated on"},
    "data_until": {"de": "Daten bis", "en": "Data up to"},
    "revenue": {"de": "Umsatz", "en": "Revenue"},
    "margin": {"de": "Deckungsbeitrag", "en": "Contribution margin"},
    "customers": {"de": "Kunden", "en": "Customers"},
    "potential": {"de": "Umsatzpotenzial", "en": "Revenue potential"},
    "business_unit": {"de": "SGE", "en": "Business unit"},
    "account_manager": {"de": "Außendienst", "en": "Account manager"},
    "kpi": {"de": "Kennzahl", "en": "KPI"},
    "value": {"de": "Wert", "en": "Value"},
    "vs_prev_quarter": {"de": "ggü. Vorquartal", "en": "vs previous quarter"},
    "vs_year_ago": {"de": "ggü. Vorjahr", "en": "vs a year ago"},
    "method": {"de": "Methodik", "en": "Method"},
    "notebook": {"de": "Analyse", "en": "Analysis"},
    "seconds": {"de": "Sekunden", "en": "seconds"},
    # column names that appear in tables on the report pages
    "customer_id": {"de": "Kundennr.", "en": "Customer no."},
    "name": {"de": "Kunde", "en": "Customer"},
    "segment": {"de": "Segment", "en": "Segment"},
    "region": {"de": "Region", "en": "Region"},
    "quadrant": {"de": "Quadrant", "en": "Quadrant"},
    "quadrant_before": {"de": "Quadrant vorher", "en": "Quadrant before"},
    "quadrant_prev_quarter": {"de": "Quadrant Vorquartal", "en": "Quadrant previous quarter"},
    "revenue_12m": {"de": "Umsatz 12 Monate", "en": "Revenue 12 months"},
    "margin_12m": {"de": "Deckungsbeitrag 12 Monate", "en": "Margin 12 months"},
    "revenue_share": {"de": "Umsatzanteil", "en": "Revenue share"},
    "customer_share": {"de": "Kundenanteil", "en": "Customer share"},
    "revenue_change": {"de": "Umsatzänderung", "en": "Revenue change"},
    "score": {"de": "Kundenwert", "en": "Score"},
    "score_rank": {"de": "Rang", "en": "Rank"},
    "phase": {"de": "Phase", "en": "Phase"},
    "churn_probability": {"de": "Abwanderungsrisiko", "en": "Churn risk"},
    "margin_at_risk": {"de": "Gefährdeter DB", "en": "Margin at risk"},
    "reason_1": {"de": "Grund 1", "en": "Reason 1"},
    "reason_2": {"de": "Grund 2", "en": "Reason 2"},
    "reason_3": {"de": "Grund 3", "en": "Reason 3"},
    "action": {"de": "Maßnahme", "en": "Action"},
    "priority": {"de": "Priorität", "en": "Priority"},
    "n": {"de": "n", "en": "n"},
    "planned": {"de": "geplant", "en": "Planned"},
    "overflow": {"de": "Überlauf", "en": "Overflow"},
    "over_budget": {"de": "über Kontaktbudget", "en": "Over contact budget"},
    "cost": {"de": "Kosten", "en": "Cost"},
    "utilisation": {"de": "Auslastung", "en": "Utilisation"},
    "table": {"de": "Tabelle", "en": "Table"},
    "reason": {"de": "Grund", "en": "Reason"},
    "rows": {"de": "Zeilen", "en": "Rows"},
    "net_revenue": {"de": "Nettoumsatz", "en": "Net revenue"},
    # what a section needs (bestandlib.needs)
    "not_available": {"de": "Nicht verfügbar", "en": "Not available"},
    "needs_table": {"de": "braucht {table}.csv", "en": "needs {table}.csv"},
    "needs_column": {"de": "braucht die Spalte {column} in {table}", "en": "needs the column {column} in {table}"},
    "needs_quarters": {"de": "braucht mindestens {need} Quartale Historie, die Daten haben {have}",
                       "en": "needs at least {need} quarters of history, the data have {have}"},
    "needs_customers": {"de": "braucht mindestens {need} aktive Kunden, die Daten haben {have}",
                        "en": "needs at least {need} active customers, the data have {have}"},
    "data_coverage": {"de": "Datenlage", "en": "Data coverage"},
    "data_coverage_intro": {
        "de": "Welche Tabellen vorliegen und was eine fehlende Tabelle freischalten würde. "
              "Vorlage zum Ausfüllen: bestand template TABELLE --data ORDNER.",
        "en": "Which tables are there and what a missing table would unlock. "
              "A fill-in template: bestand template TABLE --data FOLDER."},
    "sections_not_available": {"de": "Nicht verfügbare Abschnitte", "en": "Sections not available"},
    "present": {"de": "Vorhanden", "en": "Present"},
    "would_unlock": {"de": "Würde freischalten", "en": "Would unlock"},
    "section": {"de": "Abschnitt", "en": "Section"},
    "yes": {"de": "ja", "en": "yes"},
    "no": {"de": "nein", "en": "no"},
    "section_history_margin": {"de": "Deckungsbeitrag (Kundenhistorie)", "en": "Contribution margin (customer history)"},
    "section_history_cohorts": {"de": "Kohorten", "en": "Cohorts"},
    "section_value_matrix": {"de": "Vier-Felder-Matrix", "en": "Four-field matrix"},
    "section_value_migration": {"de": "Wanderung zwischen Quadranten", "en": "Migration between quadrants"},
    "section_value_score": {"de": "Kundenwert-Score", "en": "Customer score"},
    "section_potential_tests": {"de": "Umsatz und Potenzial: Tests", "en": "Revenue vs potential: tests"},
    "section_potential_over_time": {"de": "Umsatz und Potenzial über die Zeit", "en": "Revenue vs potential over time"},
    "section_phases_habituation": {"de": "Gewöhnungssignale", "en": "Habituation signals"},
    "section_churn_model": {"de": "Geprüftes Abwanderungsmodell", "en": "Tested churn model"},
    "section_churn_btyd": {"de": "Kaufmodell (BTYD, P(aktiv))", "en": "Purchase model (BTYD, P(alive))"},
    "section_actions_log": {"de": "Umgesetzte Maßnahmen (actions_log)", "en": "Measures done (actions_log)"},
    "section_voice_surveys": {"de": "Kundenstimme (Befragungen)", "en": "Voice of the customer (surveys)"},
    "section_loyalty_claims": {"de": "Treue gegenüber jungen Kunden", "en": "Loyal vs young customers"},
    "section_loyalty_kept_vs_new": {"de": "1 gehaltener = N neue Kunden", "en": "1 kept = N new customers"},
    "btyd_nothing_to_learn": {
        "de": "Das Kaufmodell (BG/NBD) findet in diesen Daten keine Abwanderung, aus der es lernen könnte "
              "(zu kurze Historie oder bisher hat niemand aufgehört zu kaufen): es kann Kunden nicht nach Risiko ordnen.",
        "en": "The purchase model (BG/NBD) finds no drop-out in these data to learn from (a history too short, "
              "or nobody has stopped buying yet): it cannot rank customers by risk."},
    "churn_nothing_to_learn": {
        "de": "In den Daten ist bisher keine Abwanderung beobachtet: kein Risikomodell möglich.",
        "en": "No churn observed in the data yet: no risk model possible."},
    # indicators of the customer score (bestandlib.valuation)
    "indicator_margin_12m": {"de": "Deckungsbeitrag 12 Monate", "en": "margin, 12 months"},
    "indicator_margin_rate": {"de": "Deckungsbeitragsquote", "en": "margin rate"},
    "indicator_potential": {"de": "Umsatzpotenzial", "en": "revenue potential"},
    "indicator_remaining_potential": {"de": "Restpotenzial", "en": "remaining potential"},
    "indicator_share_of_wallet": {"de": "Lieferanteil", "en": "share of wallet"},
    "indicator_competitive_intensity": {"de": "Wettbewerbsintensität", "en": "competitive intensity"},
    "indicator_complaint_rate": {"de": "Reklamationsquote", "en": "complaint rate"},
    "score_without": {"de": "Nicht im Kundenwert, weil die Daten fehlen (Gewichte der übrigen Indikatoren anteilig erhöht)",
                      "en": "Not in the score because the data are missing (the other indicators' weights raised in proportion)"},
    # churn risk per customer group (bestandlib.churn, segment_model / risk_source)
    "churn_segment_established": {"de": "Bestandskunden (Churn-Modell)", "en": "Established customers (churn model)"},
    "churn_segment_onboarding": {"de": "Neukunden (Onboarding-Modell)", "en": "New customers (onboarding model)"},
    "churn_segment_purchase_model": {"de": "Ohne Bestellung seit 2 Quartalen (Kaufmodell, 1 − P(aktiv))",
                                     "en": "No order for 2 quarters (purchase model, 1 − P(alive))"},
    "churn_segment_recency": {"de": "Aktualitäts-Score (kein Modell)", "en": "Recency score (no model)"},
    "onboarding_nothing_to_learn": {
        "de": "Unter den Neukunden ist in diesen Daten (fast) keine Abwanderung beobachtet: das Onboarding-Modell "
              "lässt sich im Rückblicktest nicht prüfen; seine Werte sind entsprechend niedrig.",
        "en": "Hardly any churn of new customers is observed in these data: the onboarding model cannot be "
              "tested in the backtest; its scores are correspondingly low."},
    "risk_source_model": {"de": "Churn-Modell", "en": "churn model"},
    "risk_source_onboarding": {"de": "Onboarding-Modell (Neukunden)", "en": "onboarding model (new customers)"},
    "risk_source_btyd": {"de": "Kaufmodell (BG/NBD)", "en": "purchase model (BG/NBD)"},
    "risk_source_recency": {"de": "Aktualitäts-Score", "en": "recency score"},
    # groups of an empty customer master (bestandlib.groups)
    "all_customers": {"de": "alle Kunden", "en": "all customers"},
    "unassigned": {"de": "nicht zugeordnet", "en": "unassigned"},
}


def label_columns(df, lang: str = "de"):
    """``df`` with the column names that have a label shown in ``lang`` (others unchanged)."""
    return df.rename(columns={c: LABELS[c][check_lang(lang)] for c in df.columns if c in LABELS})


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise BestandError(f"Unknown language {lang!r}: use one of {', '.join(LANGS)}")
    return lang


def register(labels: dict[str, dict[str, str]]) -> None:
    """Add labels (``{key: {"de": ..., "en": ...}}``) for use with :func:`t`."""
    for key, texts in labels.items():
        missing = [lang for lang in LANGS if lang not in texts]
        if missing:
            raise ValueError(f"label {key!r} lacks {missing}")
        LABELS[key] = texts


def t(key: str, lang: str = "de") -> str:
    """The label ``key`` in ``lang``; unknown keys come back as the key itself (visible, not fatal).

    Money in a label ("EUR", "€") is shown in the configured currency (:func:`set_currency`).
    """
    return with_currency(LABELS.get(key, {}).get(check_lang(lang), key), lang)


# --- currency ---------------------------------------------------------------------------------
# The currency of every amount in the data (``report.currency`` in bestand.yml, default EUR). One
# report run is one process per notebook, so the setting is read once per process: session.open and
# the pipeline call set_currency with the run's configuration.
_currency = "EUR"


def set_currency(code_or_config) -> str:
    """Set the currency of amounts: an ISO 4217 code, or a configuration (``report.currency``)."""
    global _currency
    code = code_or_config
    if isinstance(code_or_config, dict):
        code = (code_or_config.get("report") or {}).get("currency") or "EUR"
    code = str(code).strip().upper()
    from babel.numbers import is_currency

    if not is_currency(code):
        raise BestandError(f"report.currency: {code!r} is not an ISO 4217 currency code (EUR, CHF, USD, ...)")
    _currency = code
    return code


def currency() -> str:
    """The ISO code of the configured currency (default EUR)."""
    return _currency


def currency_symbol(lang: str = "de") -> str:
    """``€``, ``CHF``, ``$`` as the locale of ``lang`` writes the configured currency."""
    from babel.numbers import get_currency_symbol

    return get_currency_symbol(_currency, locale=_money_locale(lang))


def with_currency(text: str, lang: str = "de") -> str:
    """``text`` with "EUR" and "€" replaced by the configured currency (code and symbol)."""
    if _currency == "EUR" or not isinstance(text, str):
        return text
    return text.replace("EUR", _currency).replace("€", currency_symbol(lang))


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_number(x, lang: str = "de", digits: int = 0) -> str:
    if _missing(x):
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(x, format=pattern, locale=_LOCALES[check_lang(lang)])


def fmt_money(x, lang: str = "de", digits: int = 0) -> str:
    """An amount in the configured currency: ``1.234 €`` / ``€1,234``, ``1.234,56 CHF``, ``$1,234.56``."""
    if _missing(x):
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    if lang == "de":
        pattern = pattern + "\u00a0¤"
    else:  # "€1,234", "$1,234", but "CHF 1,234"
        pattern = ("¤\u00a0" if currency_symbol(lang)[-1:].isalpha() else "¤") + pattern
    return format_currency(x, _currency, format=pattern, locale=_money_locale(lang), currency_digits=False)


def _money_locale(lang: str) -> str:
    # British English writes the dollar "US$"; an English report in dollars reads "$1,234.56"
    return "en_US" if check_lang(lang) == "en" and _currency == "USD" else _LOCALES[lang]


#: The older name of :func:`fmt_money` (amounts are in the configured currency, EUR by default).
fmt_eur = fmt_money


def fmt_pct(x, lang: str = "de", digits: int = 1) -> str:
    """A share (0.123) as ``12,3 %`` (de) or ``12.3%`` (en)."""
    if _missing(x):
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits else "") + ("\u00a0%" if lang == "de" else "%")
    return format_percent(x, format=pattern, locale=_LOCALES[check_lang(lang)])


def fmt_change(x, lang: str = "de", digits: int = 1) -> str:
    """A relative change with sign: ``+4,2 %``."""
    if _missing(x):
        return "–"
    sign = "+" if x > 0 else ""
    return sign + fmt_pct(x, lang, digits)


def fmt_date(d, lang: str = "de") -> str:
    if d is None:
        return "–"
    import pandas as pd

    d = pd.Timestamp(d)
    if pd.isna(d):
        return "–"
    return _babel_format_date(d.date(), format="medium", locale=_LOCALES[check_lang(lang)])
