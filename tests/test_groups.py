"""Tests of bestandlib.groups: what an empty customer-master column means."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bestandlib import groups

ALL = {"de": "alle Kunden", "en": "all customers"}
UNASSIGNED = {"de": "nicht zugeordnet", "en": "unassigned"}


def master(**columns) -> pd.DataFrame:
    """Three customers C1..C3 with the given columns (lists of three values)."""
    return pd.DataFrame({"customer_id": ["C1", "C2", "C3"], **columns})


class TestIsBlank:
    def test_missing_column(self):
        assert groups.is_blank(master(), "segment")

    def test_all_empty_in_every_form(self):
        assert groups.is_blank(master(segment=[None, np.nan, pd.NA]), "segment")
        assert groups.is_blank(master(segment=["", " ", "\t"]), "segment")
        assert groups.is_blank(master(segment=pd.Series([None, "", "  "], dtype="string")), "segment")

    def test_one_value_is_enough(self):
        assert not groups.is_blank(master(segment=["", None, "Klinik"]), "segment")

    def test_no_customers(self):
        assert groups.is_blank(master().iloc[:0].assign(segment=pd.Series(dtype="str")), "segment")


class TestFillGroups:
    @pytest.mark.parametrize("lang", ["de", "en"])
    def test_all_empty_column_is_one_group(self, lang):
        out = groups.fill_groups(master(segment=[None, "", " "], region=[np.nan] * 3), lang)
        assert out["segment"].tolist() == [ALL[lang]] * 3
        assert out["region"].tolist() == [ALL[lang]] * 3

    @pytest.mark.parametrize("lang", ["de", "en"])
    def test_all_empty_account_manager_is_unassigned(self, lang):
        out = groups.fill_groups(master(account_manager=["", None, "  "]), lang)
        assert out["account_manager"].tolist() == [UNASSIGNED[lang]] * 3

    @pytest.mark.parametrize("lang", ["de", "en"])
    def test_partly_empty_is_unassigned(self, lang):
        out = groups.fill_groups(master(segment=["Klinik", None, "   "],
                                        account_manager=["Anna", "", np.nan]), lang)
        assert out["segment"].tolist() == ["Klinik", UNASSIGNED[lang], UNASSIGNED[lang]]
        assert out["account_manager"].tolist() == ["Anna", UNASSIGNED[lang], UNASSIGNED[lang]]

    @pytest.mark.parametrize("lang", ["de", "en"])
    def test_missing_columns_are_added(self, lang):
        out = groups.fill_groups(master(), lang)
        for col in ("business_unit", "segment", "region"):
            assert out[col].tolist() == [ALL[lang]] * 3, col
        assert out["account_manager"].tolist() == [UNASSIGNED[lang]] * 3
        assert out["name"].tolist() == ["C1", "C2", "C3"]

    def test_missing_name_is_the_customer_id(self):
        out = groups.fill_groups(master(name=["Alpha GmbH", "", None]), "de")
        assert out["name"].tolist() == ["Alpha GmbH", "C2", "C3"]
        out = groups.fill_groups(master(name=["  ", None, np.nan]), "en")
        assert out["name"].tolist() == ["C1", "C2", "C3"]

    def test_filled_values_untouched(self):
        given = master(name=["A", "B", "C"], segment=["s1", "s2", "s1"], region=["n", "s", "w"],
                       business_unit=["bu", "bu", "bu2"], account_manager=["Anna", "Ben", "Anna"])
        out = groups.fill_groups(given, "en")
        pd.testing.assert_frame_equal(out[given.columns].astype(str), given.astype(str))
        # a value that merely looks like a label or a number stays what it was
        out = groups.fill_groups(master(segment=[" Klinik ", "0", "nan"]), "de")
        assert out["segment"].tolist() == [" Klinik ", "0", "nan"]

    def test_other_columns_and_order_kept(self):
        given = master(segment=["a", None, "b"], revenue=[1.0, 2.0, 3.0])
        out = groups.fill_groups(given, "de")
        assert list(out.columns[:3]) == ["customer_id", "segment", "revenue"]
        assert out["revenue"].tolist() == [1.0, 2.0, 3.0]
        assert out["customer_id"].tolist() == ["C1", "C2", "C3"]
        assert set(groups.GROUP_COLUMNS) | {"name"} <= set(out.columns)

    def test_input_not_mutated(self):
        given = master(segment=["a", None, " "], account_manager=[None, None, None])
        before = given.copy()
        groups.fill_groups(given, "de")
        pd.testing.assert_frame_equal(given, before)
        assert list(given.columns) == ["customer_id", "segment", "account_manager"]

    def test_keeps_the_index(self):
        given = master(segment=["a", None, "b"]).set_axis([10, 20, 30])
        out = groups.fill_groups(given, "en")
        assert out.index.tolist() == [10, 20, 30]
        assert out.loc[20, "segment"] == "unassigned"

    def test_no_customers(self):
        out = groups.fill_groups(master().iloc[:0], "de")
        assert len(out) == 0 and set(groups.GROUP_COLUMNS) <= set(out.columns)

    def test_unknown_language_is_an_error(self):
        from bestandlib.errors import BestandError

        with pytest.raises(BestandError):
            groups.fill_groups(master(), "fr")


def test_a_bare_customer_master_from_io_fills(tmp_path):
    """The io path: customers.csv with only customer_id, empty cells read as missing values."""
    from bestandlib import io

    d = tmp_path / "data"
    d.mkdir()
    (d / "customers.csv").write_text("customer_id,segment,account_manager\nC1,,Anna\nC2,,\n")
    (d / "orders.csv").write_text("order_id,customer_id,order_date,quantity,net_revenue\n"
                                  "O1,C1,2024-01-15,1,100\n")
    t = io.load_tables(d, today=pd.Timestamp("2025-06-30"))
    out = groups.fill_groups(t.customers, "en")
    assert out["segment"].tolist() == ["all customers"] * 2
    assert out["region"].tolist() == ["all customers"] * 2
    assert out["account_manager"].tolist() == ["Anna", "unassigned"]
    assert out["name"].tolist() == ["C1", "C2"]
