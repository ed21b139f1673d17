"""German and English labels and number formats.

German is the default language of the kit (the users are German sales teams); every label a manager
reads exists in both languages. Numbers are formatted with Babel, the CLDR-based library behind
Jupyter's own translations, so ``1.234,5 €`` and ``€1,234.5`` come out right without hand-written rules.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import yaml
from babel.dates import format_date as _babel_format_date
from babel.numbers import format_currency, format_decimal, format_percent

from bestandlib.errors import BestandError

LANGS = ("de", "en")
_LOCALES = {"de": "de_DE", "en": "en_GB"}

# --- the text catalogues ----------------------------------------------------------------------
# Every label, heading, sentence and column header a reader sees lives in one catalogue per language:
# the YAML files under bestandlib/locale/<lang>/ (one file per page or module, merged; a key defined
# twice is an error). YAML rather than gettext: the texts are keyed labels and sentence templates with
# named fields, read and reviewed by analysts next to bestand.yml, and need no compile step; plural
# forms follow CLDR through Babel (``one:``/``other:`` entries, see :func:`t`).
LOCALE_DIR = Path(__file__).with_name("locale")
_catalogues: dict[str, dict] = {}


def catalogue(lang: str) -> dict:
    """All texts of ``lang`` by key (read once per process)."""
    lang = check_lang(lang)
    if lang not in _catalogues:
        merged: dict = {}
        origin: dict[str, str] = {}
        for path in sorted((LOCALE_DIR / lang).glob("*.yml")):
            texts = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for key, text in texts.items():
                if key in merged:
                    raise BestandError(f"text catalogue {lang}: key {key!r} in both {origin[key]} and {path.name}")
                merged[key], origin[key] = text, path.name
        _catalogues[lang] = merged
    return _catalogues[lang]


class _Labels(Mapping):
    """``LABELS[key][lang]``: the catalogues seen as one mapping (for code written before them)."""

    def __getitem__(self, key):
        if key not in catalogue("de") and key not in catalogue("en"):
            raise KeyError(key)
        return {lang: catalogue(lang).get(key) for lang in LANGS}

    def __iter__(self):
        return iter(dict.fromkeys([*catalogue("de"), *catalogue("en")]))

    def __len__(self):
        return len(list(iter(self)))


LABELS = _Labels()


def label_columns(df, lang: str = "de"):
    """``df`` with the column names that have a label shown in ``lang`` (others unchanged)."""
    texts = catalogue(lang)
    return df.rename(columns={c: with_currency(texts[c], lang) for c in df.columns
                              if isinstance(c, str) and isinstance(texts.get(c), str)})


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise BestandError(f"Unknown language {lang!r}: use one of {', '.join(LANGS)}")
    return lang


def has(key: str, lang: str = "de") -> bool:
    """Whether the catalogue of ``lang`` has ``key``."""
    return key in catalogue(lang)


def t(key: str, lang: str = "de", count=None, **fields) -> str:
    """The text ``key`` in ``lang``, its ``{fields}`` filled in.

    Unknown keys come back as the key itself (visible on the page, and caught by the page scan of
    tests/test_report_pages.py). ``count`` picks the plural form of a key written as
    ``{one: ..., other: ...}`` by the CLDR rules of the language and is also a field (``{count}``,
    formatted as a number in the language). Money in a text ("EUR", "€") is shown in the configured
    currency (:func:`set_currency`).
    """
    text = catalogue(lang).get(key, key)
    if isinstance(text, dict):
        form = _plural_form(count, lang) if count is not None else "other"
        text = text.get(form, text.get("other", key))
    if count is not None:
        fields.setdefault("count", fmt_number(count, lang) if isinstance(count, (int, float)) else count)
    if fields:
        text = text.format(**fields)
    return with_currency(text, lang)


def _plural_form(count, lang: str) -> str:
    from babel import Locale

    return Locale.parse(_LOCALES[lang]).plural_form(abs(count) if isinstance(count, (int, float)) else 0)


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
