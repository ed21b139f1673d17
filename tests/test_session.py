"""Session helpers that need no data."""
import pandas as pd

from bestandlib.session import _dataframe_html


def test_tables_without_meaningful_index_hide_row_numbers():
    html = _dataframe_html(pd.DataFrame({"quadrant": ["Topkunde", "Kleinkunde"], "customers": [3, 4]}))
    assert "Topkunde" in html and "<th>0</th>" not in html


def test_labelled_index_falls_back_to_pandas():
    df = pd.DataFrame({"customers": [3, 4]}, index=pd.Index(["A", "B"], name="abc_class"))
    assert _dataframe_html(df) is None


def test_long_tables_are_cut_like_pandas_does():
    with pd.option_context("display.max_rows", 10):
        html = _dataframe_html(pd.DataFrame({"x": range(1000)}))
    assert html.count("<tr") < 20 and "1000 rows" in html
