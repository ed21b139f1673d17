import pandas as pd
import pytest

from bestandlib import periods
from bestandlib.errors import BestandError


@pytest.mark.parametrize("text", ["2025Q4", "2025-Q4", "2025q4", " 2025Q4 "])
def test_parse_quarter_forms(text):
    assert periods.quarter_label(text) == "2025Q4"


def test_parse_rejects_garbage():
    with pytest.raises(BestandError, match="2025Q5"):
        periods.parse_quarter("2025Q5")


def test_quarter_bounds():
    assert periods.quarter_end("2025Q4") == pd.Timestamp("2025-12-31")
    assert periods.quarter_start("2025Q1") == pd.Timestamp("2025-01-01")
    assert [str(q) for q in periods.previous_quarters("2025Q1", 3)] == ["2024Q3", "2024Q4", "2025Q1"]


def test_latest_complete_quarter():
    assert str(periods.latest_complete_quarter("2025-12-31")) == "2025Q4"
    assert str(periods.latest_complete_quarter("2025-12-30")) == "2025Q3"
    # never a quarter that has not ended yet
    assert str(periods.latest_complete_quarter("2026-12-31", today="2026-11-27")) == "2026Q3"
