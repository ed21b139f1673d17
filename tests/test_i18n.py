import math

import pytest

from bestandlib import i18n
from bestandlib.errors import BestandError


def test_currency_formats_follow_the_language():
    assert i18n.fmt_eur(1234.5, "de", 1) == "1.234,5\u00a0€"
    assert i18n.fmt_eur(1234.5, "en", 1) == "€1,234.5"
    assert i18n.fmt_eur(-2000000, "de") == "-2.000.000\u00a0€"


def test_percent_and_change():
    assert i18n.fmt_pct(0.1234, "de") == "12,3\u00a0%"
    assert i18n.fmt_pct(0.1234, "en") == "12.3%"
    assert i18n.fmt_change(0.05, "en") == "+5.0%"
    assert i18n.fmt_change(-0.05, "de") == "-5,0\u00a0%"


def test_missing_values_show_a_dash():
    assert i18n.fmt_eur(math.nan) == "–"
    assert i18n.fmt_pct(None) == "–"
    assert i18n.fmt_date(None) == "–"


def test_every_key_exists_in_both_catalogues_with_the_same_fields():
    import string

    de, en = i18n.catalogue("de"), i18n.catalogue("en")
    assert sorted(set(de) ^ set(en)) == []

    def fields(text):
        texts = text.values() if isinstance(text, dict) else [text]
        return {f for x in texts for _, f, _, _ in string.Formatter().parse(str(x)) if f}

    for key in de:
        assert type(de[key]) is type(en[key]), key
        assert fields(de[key]) == fields(en[key]), key


def test_fields_and_plural_forms():
    i18n.catalogue("de")["_test_n"] = {"one": "{count} Kunde", "other": "{count} Kunden"}
    i18n.catalogue("en")["_test_n"] = {"one": "{count} customer", "other": "{count} customers"}
    try:
        assert i18n.t("_test_n", "de", count=1) == "1 Kunde"
        assert i18n.t("_test_n", "de", count=1234) == "1.234 Kunden"
        assert i18n.t("_test_n", "en", count=2) == "2 customers"
        assert i18n.t("needs_table", "en", table="surveys") == "needs surveys.csv"
    finally:
        del i18n.catalogue("de")["_test_n"], i18n.catalogue("en")["_test_n"]


def test_a_key_defined_twice_is_an_error(tmp_path, monkeypatch):
    for lang in ("de", "en"):
        (tmp_path / lang).mkdir()
        (tmp_path / lang / "a.yml").write_text("x: 1\n", encoding="utf-8")
        (tmp_path / lang / "b.yml").write_text("x: 2\n", encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    monkeypatch.setattr(i18n, "_catalogues", {})
    with pytest.raises(BestandError, match="'x' in both a.yml and b.yml"):
        i18n.catalogue("de")


def test_labels_exist_in_both_languages():
    assert i18n.t("revenue", "de") == "Umsatz"
    assert i18n.t("revenue", "en") == "Revenue"


def test_unknown_language_is_a_user_error():
    with pytest.raises(BestandError, match="fr"):
        i18n.t("revenue", "fr")


class TestCurrency:
    def test_formats_follow_the_configured_currency(self):
        from bestandlib import i18n

        i18n.set_currency({"report": {"currency": "chf"}})
        assert i18n.fmt_money(1234.56, "de", 2) == "1.234,56\u00a0CHF"
        assert i18n.fmt_money(1234.56, "en", 2) == "CHF\u00a01,234.56"
        assert i18n.with_currency("Umsatz (EUR), Tsd. €", "de") == "Umsatz (CHF), Tsd. CHF"
        i18n.set_currency("USD")
        assert i18n.fmt_money(1234.56, "en", 2) == "$1,234.56"
        assert i18n.t("margin_12m", "en") == "Margin 12 months"  # labels without money stay

    def test_unknown_code_is_a_clear_error(self):
        import pytest as _pytest

        from bestandlib import i18n
        from bestandlib.errors import BestandError

        with _pytest.raises(BestandError, match="not an ISO 4217 currency code"):
            i18n.set_currency("EURO")

    def test_default_is_euro(self):
        from bestandlib import i18n
        from bestandlib.config import default_config

        assert default_config()["report"]["currency"] == "EUR"
        assert i18n.fmt_money(1234.6, "de") == "1.235\u00a0€"
