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
