"""Property-based tests (hypothesis): random valid exports never crash the loader or the panel, and
revenue is conserved: the sum read in = the sum in the panel + the reported excluded rows."""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bestandlib import io, panel

CORPUS = Path(__file__).parent / "bad_inputs"
BASE = CORPUS / "dates_iso" / "data"  # customers K001-K005 and the other tables; orders replaced

SETTINGS = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

cents = st.integers(min_value=-500_000, max_value=5_000_000)  # credit notes and zero lines included
line = st.fixed_dictionaries({
    "customer": st.sampled_from(["K001", "K002", "K003", "K004", "K005"]),
    "day": st.integers(min_value=0, max_value=3 * 365),
    "quantity": st.integers(min_value=-5, max_value=500),
    "revenue": st.one_of(cents, st.just(0)),
    "margin": st.one_of(cents, st.just(0)),
    "group": st.sampled_from(["Bandagen", "Orthesen", "Einlagen", "Zubehör"]),
})


def _german(cents_value: int) -> str:
    """1234567 cents -> "12.345,67" (thousands dots, decimal comma, leading minus)."""
    sign = "-" if cents_value < 0 else ""
    euros, rest = divmod(abs(cents_value), 100)
    return f"{sign}{euros:,}".replace(",", ".") + f",{rest:02d}"


def _write_orders(folder: Path, lines: list[dict], german: bool) -> float:
    start = pd.Timestamp("2022-01-01")
    rows = []
    for i, ln in enumerate(lines):
        date = start + pd.Timedelta(days=ln["day"])
        money = (_german if german else (lambda c: f"{c / 100:.2f}"))
        rows.append([f"A{i // 3:05d}", ln["customer"], date.strftime("%d.%m.%Y" if german else "%Y-%m-%d"),
                     f"P{i % 7}", ln["group"], str(ln["quantity"]), money(ln["revenue"]), money(ln["margin"])])
    sep = ";" if german else ","
    header = ["order_id", "customer_id", "order_date", "product_id", "product_group", "quantity",
              "net_revenue", "contribution_margin"]
    text = "\n".join(sep.join(r) for r in [header] + rows) + "\n"
    (folder / "orders.csv").write_bytes(text.encode("cp1252" if german else "utf-8"))
    return sum(ln["revenue"] for ln in lines) / 100


@pytest.fixture
def folder(tmp_path):
    target = tmp_path / "data"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(BASE, target)
    return target


@SETTINGS
@given(lines=st.lists(line, min_size=1, max_size=40), german=st.booleans())
def test_loader_accepts_random_valid_orders_and_conserves_revenue(folder, lines, german):
    total_in = _write_orders(folder, lines, german)
    tables = io.load_tables(folder, today="2026-01-01")
    excluded = float(tables.excluded["net_revenue"].sum()) if len(tables.excluded) else 0.0
    excluded_rows = int(tables.excluded["rows"].sum()) if len(tables.excluded) else 0
    assert len(tables.orders) + excluded_rows == len(lines)
    assert math.isclose(tables.orders["net_revenue"].sum() + excluded, total_in, abs_tol=0.005)
    zero = sum(1 for ln in lines if ln["revenue"] == 0 and ln["margin"] == 0)
    assert excluded_rows == zero


@SETTINGS
@given(lines=st.lists(line, min_size=1, max_size=40))
def test_panel_conserves_revenue_margin_and_lines(folder, lines):
    _write_orders(folder, lines, german=True)
    tables = io.load_tables(folder, today="2026-01-01")
    orders = tables.orders
    if orders.empty:
        return  # every line was a zero-value line: nothing to aggregate
    pnl = panel.build_panel(orders)
    assert math.isclose(pnl["revenue"].sum(), orders["net_revenue"].sum(), abs_tol=0.005)
    assert math.isclose(pnl["margin"].sum(), orders["contribution_margin"].sum(), abs_tol=0.005)
    assert pnl["lines"].sum() == len(orders)
    assert not pnl.duplicated(["customer_id", "quarter"]).any()
    # dense: every customer from its first order quarter to the last quarter of the data
    span = pnl.groupby("customer_id")["quarter"].agg(["size", "min"])
    last = pd.Period(orders["order_date"].max(), freq="Q-DEC")
    for cid, row in span.iterrows():
        assert row["size"] == (last - pd.Period(row["min"], freq="Q-DEC")).n + 1, cid


@SETTINGS
@given(lines=st.lists(line, min_size=1, max_size=20), cut=st.integers(min_value=0, max_value=3 * 365))
def test_cut_and_panel_until_agree(folder, lines, cut):
    """A report for a quarter sees only data up to its end: cut tables and panel(until) agree."""
    _write_orders(folder, lines, german=False)
    tables = io.load_tables(folder, today="2026-01-01")
    q = (pd.Timestamp("2022-01-01") + pd.Timedelta(days=cut)).to_period("Q-DEC")
    cut_tables = tables.cut(q.end_time.normalize())
    if cut_tables.orders.empty:
        return
    pnl = panel.build_panel(cut_tables.orders, until=str(q))
    assert math.isclose(pnl["revenue"].sum(), cut_tables.orders["net_revenue"].sum(), abs_tol=0.005)
    assert pnl["quarter"].max() == str(q)
