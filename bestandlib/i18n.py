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
    """The label ``key`` in ``lang``; unknown keys come back as the key itself (visible, not fatal)."""
    return LABELS.get(key, {}).get(check_lang(lang), key)


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_number(x, lang: str = "de", digits: int = 0) -> str:
    if _missing(x):
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(x, format=pattern, locale=_LOCALES[check_lang(lang)])


def fmt_eur(x, lang: str = "de", digits: int = 0) -> str:
    """``1.234 €`` (de) or ``€1,234`` (en)."""
    if _missing(x):
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    pattern = pattern + "\u00a0¤" if lang == "de" else "¤" + pattern
    return format_currency(x, "EUR", format=pattern, locale=_LOCALES[check_lang(lang)], currency_digits=False)


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
