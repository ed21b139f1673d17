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


def test_labels_exist_in_both_languages():
    for key, texts in i18n.LABELS.items():
        assert set(texts) >= {"de", "en"}, key
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
