"""The customer-quarter panel: order lines aggregated to one row per customer and quarter.

Every later analysis (history, valuation, churn, BTYD) starts from this panel instead of the order
lines, so the lines are read exactly once per report. The aggregation runs in an embedded SQL engine
(DuckDB) rather than in pandas: it reads Parquet directly, works out of core and scales to hundreds of
millions of lines (see ``docs/architecture.md`` and the scale issue). Only the result - one row per
customer-quarter - comes back as a pandas DataFrame.

The engine sits behind :func:`build_panel`'s ``engine`` argument: one private builder function per
engine, registered in ``_ENGINES``, each taking the order source and the cut-off quarter and returning the
panel with the columns in :data:`PANEL_COLUMNS`. An Ibis/PySpark builder can be added there without
changing any caller.

Definitions
-----------
* **Credit notes** are order lines with negative net revenue. They are netted into ``revenue``,
  ``margin``, ``quantity`` and ``lines`` (so revenue is conserved), but they are not purchases: they do
  not count as ``orders``, do not add ``product_groups``, and do not move ``first_order_date`` or
  ``last_order_date``. A quarter with only a credit note therefore has ``orders == 0`` and the customer
  is not "active" in it.
* A customer's panel starts in the quarter of their first order line. In the rare case that this line is
  a credit note (a return of something bought before the data starts) the panel starts there, with
  ``first_order_date`` later than the first panel quarter (or ``NaT`` if the customer never ordered).
* ``last_order_date`` is ``NaT`` and ``days_since_last_order`` is ``NaN`` before the first order.
"""
from __future__ import annotations

from os import PathLike
from pathlib import Path

import pandas as pd

from bestandlib.errors import BestandError, ConfigError
from bestandlib.periods import parse_quarter

#: Columns of the panel, in order (see docs/architecture.md).
PANEL_COLUMNS = [
    "customer_id",
    "quarter",
    "quarter_end",
    "revenue",
    "margin",
    "orders",
    "lines",
    "quantity",
    "product_groups",
    "new_product_groups",
    "first_order_date",
    "last_order_date",
    "days_since_last_order",
    "tenure_quarters",
]

_DTYPES = {
    "customer_id": "str",
    "quarter": "str",
    "quarter_end": "datetime64[ns]",
    "revenue": "float64",
    "margin": "float64",
    "orders": "int64",
    "lines": "int64",
    "quantity": "float64",
    "product_groups": "int64",
    "new_product_groups": "int64",
    "first_order_date": "datetime64[ns]",
    "last_order_date": "datetime64[ns]",
    # float, not int: NaN before a customer's first order (only after leading credit notes)
    "days_since_last_order": "float64",
    "tenure_quarters": "int64",
}

_ORDER_COLUMNS = ["customer_id", "order_date", "order_id", "product_group", "quantity", "net_revenue",
                  "contribution_margin"]


def build_panel(orders, until=None, engine: str = "duckdb") -> pd.DataFrame:
    """Aggregate order lines to the dense customer-quarter panel.

    Parameters
    ----------
    orders : DataFrame or path
        The canonical orders table (``customer_id, order_date, order_id, product_group, quantity,
        net_revenue, contribution_margin``; other columns are ignored), or the path of a Parquet file
        or of a folder of Parquet files (searched recursively, e.g. a partitioned data set).
    until : str or Period, optional
        Last quarter of the panel ("2025Q4"). Order lines dated after its end are ignored and every
        customer's rows run up to it. Default: the quarter of the newest order line.
    engine : {"duckdb"}
        The aggregation engine.

    Returns
    -------
    DataFrame
        One row per customer and quarter from the customer's first quarter to ``until``, zero-filled,
        sorted by ``customer_id, quarter``; columns :data:`PANEL_COLUMNS` (see the module docstring
        for credit notes).

    Examples
    --------
    >>> panel = build_panel(tables.orders, until="2025Q4")        # doctest: +SKIP
    >>> panel.query("quarter == '2025Q4'").revenue.sum()          # doctest: +SKIP
    """
    try:
        builder = _ENGINES[engine]
    except KeyError:
        raise ConfigError(f"Unknown panel engine {engine!r}; choose one of {sorted(_ENGINES)}.") from None
    until = None if until is None else parse_quarter(until)
    panel = builder(orders, until)
    return _finish(panel)


# --- DuckDB engine ---------------------------------------------------------------------------------

# Quarters are handled as one integer "quarter index" (year * 4 + quarter - 1) inside the query, so the
# dense grid is a plain integer range and "quarters since" is a subtraction.
_PANEL_SQL = """
WITH lines AS MATERIALIZED (
    -- the only pass over the order lines (one scan of the frame or the Parquet files); the projected,
    -- typed lines are kept by DuckDB (spilling to disk when large) for the two aggregations below
    SELECT CAST(customer_id AS VARCHAR)                                     AS customer_id,
           CAST(order_date AS DATE)                                         AS d,
           year(CAST(order_date AS DATE)) * 4
               + quarter(CAST(order_date AS DATE)) - 1                      AS qi,
           CAST(order_id AS VARCHAR)                                        AS order_id,
           -- credit notes do not buy a product group
           CASE WHEN net_revenue >= 0 THEN CAST(product_group AS VARCHAR) END AS bought_group,
           CAST(quantity AS DOUBLE)                                         AS quantity,
           CAST(net_revenue AS DOUBLE)                                      AS revenue,
           CAST(contribution_margin AS DOUBLE)                              AS margin
    FROM {source}
    {where}
),
cq AS (
    SELECT customer_id, qi,
           sum(revenue)                                                     AS revenue,
           sum(margin)                                                      AS margin,
           count(DISTINCT order_id) FILTER (WHERE revenue >= 0)             AS orders,
           count(*)                                                         AS lines,
           sum(quantity)                                                    AS quantity,
           count(DISTINCT bought_group)                                     AS product_groups,
           min(d) FILTER (WHERE revenue >= 0)                               AS first_d,
           max(d) FILTER (WHERE revenue >= 0)                               AS last_d
    FROM lines
    GROUP BY customer_id, qi
),
-- quarter in which each customer bought each product group for the first time
-- (a list(DISTINCT) per customer-quarter would avoid the second pass but is 3x slower in DuckDB 2.0)
group_first AS (
    SELECT customer_id, bought_group, min(qi) AS qi
    FROM lines WHERE bought_group IS NOT NULL
    GROUP BY customer_id, bought_group
),
group_new AS (
    SELECT customer_id, qi, count(*) AS new_product_groups FROM group_first GROUP BY customer_id, qi
),
cust AS (
    SELECT customer_id, min(qi) AS first_qi, min(first_d) AS first_order_date
    FROM cq GROUP BY customer_id
),
grid AS (
    SELECT customer_id, first_qi, first_order_date,
           unnest(range(first_qi, {until_qi} + 1)) AS qi
    FROM cust
),
dense AS (
    SELECT g.customer_id,
           g.qi,
           CAST(make_date(CAST(g.qi // 4 AS BIGINT), CAST(g.qi % 4 * 3 + 1 AS BIGINT), 1)
                + INTERVAL 3 MONTH - INTERVAL 1 DAY AS DATE)               AS quarter_end,
           coalesce(cq.revenue, 0.0)                                        AS revenue,
           coalesce(cq.margin, 0.0)                                         AS margin,
           coalesce(cq.orders, 0)                                           AS orders,
           coalesce(cq.lines, 0)                                            AS lines,
           coalesce(cq.quantity, 0.0)                                       AS quantity,
           coalesce(cq.product_groups, 0)                                   AS product_groups,
           coalesce(n.new_product_groups, 0)                                AS new_product_groups,
           g.first_order_date,
           max(cq.last_d) OVER (PARTITION BY g.customer_id ORDER BY g.qi
                                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS last_order_date,
           g.qi - g.first_qi                                                AS tenure_quarters
    FROM grid g
    LEFT JOIN cq        ON cq.customer_id = g.customer_id AND cq.qi = g.qi
    LEFT JOIN group_new n ON n.customer_id = g.customer_id AND n.qi = g.qi
)
SELECT customer_id,
       CAST(qi // 4 AS VARCHAR) || 'Q' || CAST(qi % 4 + 1 AS VARCHAR)  AS quarter,
       quarter_end, revenue, margin, orders, lines, quantity, product_groups, new_product_groups,
       first_order_date, last_order_date,
       CAST(date_diff('day', last_order_date, quarter_end) AS DOUBLE)  AS days_since_last_order,
       tenure_quarters
FROM dense
ORDER BY customer_id, qi
"""


def _duckdb_source(con, orders) -> str:
    """Register ``orders`` with the connection and return the SQL that reads it."""
    if isinstance(orders, pd.DataFrame):
        missing = [c for c in _ORDER_COLUMNS if c not in orders.columns]
        if missing:
            raise BestandError(f"The orders table lacks the column(s) {', '.join(missing)}.")
        # only the needed columns, so a wide frame does not cost anything extra
        con.register("orders_src", orders[_ORDER_COLUMNS])
        return "orders_src"
    if isinstance(orders, (str, PathLike)):
        path = Path(orders)
        if path.is_dir():
            pattern = str(path / "**" / "*.parquet")
        elif path.is_file():
            pattern = str(path)
        else:
            raise BestandError(f"No orders file or folder at {path}.")
        pattern = pattern.replace("'", "''")
        return f"read_parquet('{pattern}', union_by_name = true)"
    raise BestandError(f"orders must be a DataFrame or a Parquet path, not {type(orders).__name__}.")


def _panel_duckdb(orders, until: pd.Period | None) -> pd.DataFrame:
    import duckdb

    con = duckdb.connect()  # in memory, private to this call
    try:
        source = _duckdb_source(con, orders)
        if until is None:
            where = ""
            until_qi = "(SELECT max(qi) FROM cq)"
        else:
            # compare dates, not timestamps: a line at 2025-12-31 14:00 still belongs to 2025Q4
            end = until.end_time.normalize().date().isoformat()
            where = f"WHERE CAST(order_date AS DATE) <= DATE '{end}'"
            until_qi = str(until.year * 4 + until.quarter - 1)
        sql = _PANEL_SQL.format(source=source, where=where, until_qi=until_qi)
        return con.execute(sql).df()
    finally:
        con.close()


_ENGINES = {"duckdb": _panel_duckdb}


def _finish(panel: pd.DataFrame) -> pd.DataFrame:
    """Put the engine's result into the documented column order and dtypes."""
    if panel.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _DTYPES.items()})
    panel = panel[PANEL_COLUMNS].astype(_DTYPES)
    return panel.reset_index(drop=True)


# --- per-customer summary ----------------------------------------------------------------------------

def quarter_index(quarter: pd.Series) -> pd.Series:
    """Integer quarter index ``year * 4 + quarter - 1`` of a Series of "2025Q4" strings (vectorised)."""
    q = quarter.astype("str")
    return q.str.slice(0, 4).astype("int64") * 4 + q.str.slice(5, 6).astype("int64") - 1


def customer_summary(panel: pd.DataFrame, quarter) -> pd.DataFrame:
    """One row per customer known by ``quarter``: trailing-12-month figures and recency.

    Parameters
    ----------
    panel : DataFrame
        The panel from :func:`build_panel`, reaching at least ``quarter``.
    quarter : str or Period
        The reporting quarter.

    Returns
    -------
    DataFrame
        ``customer_id, revenue_12m, margin_12m, revenue_prev_12m, orders_12m, first_order_date,
        last_order_date, tenure_quarters, days_since_last_order, active``, sorted by ``customer_id``.
        "12m" are the four quarters ending with ``quarter``; ``revenue_prev_12m`` the four before them.
        ``active`` is True when the customer ordered in the trailing four quarters
        (``orders_12m > 0``; credit notes alone do not make a customer active).
    """
    q = parse_quarter(quarter)
    label = str(q)
    if panel.empty or label > panel["quarter"].max():
        raise BestandError(f"The panel ends before {label}; build it with until={label!r}.")
    qi = q.year * 4 + q.quarter - 1
    rows = panel.loc[panel["quarter"] <= label, ["customer_id", "quarter", "revenue", "margin", "orders"]]
    age = qi - quarter_index(rows["quarter"])  # 0 = the reporting quarter itself
    last12 = rows[age <= 3]
    prev12 = rows[(age >= 4) & (age <= 7)]
    agg = last12.groupby("customer_id").agg(
        revenue_12m=("revenue", "sum"), margin_12m=("margin", "sum"), orders_12m=("orders", "sum"))
    prev = prev12.groupby("customer_id")["revenue"].sum().rename("revenue_prev_12m")
    now = panel.loc[panel["quarter"] == label, ["customer_id", "first_order_date", "last_order_date",
                                                "tenure_quarters", "days_since_last_order"]]
    out = (now.set_index("customer_id")
           .join(agg, how="left")
           .join(prev, how="left")
           .reset_index())
    out[["revenue_12m", "margin_12m", "revenue_prev_12m"]] = (
        out[["revenue_12m", "margin_12m", "revenue_prev_12m"]].fillna(0.0))
    out["orders_12m"] = out["orders_12m"].fillna(0).astype("int64")
    out["active"] = out["orders_12m"] > 0
    cols = ["customer_id", "revenue_12m", "margin_12m", "revenue_prev_12m", "orders_12m",
            "first_order_date", "last_order_date", "tenure_quarters", "days_since_last_order", "active"]
    return out[cols].sort_values("customer_id", ignore_index=True)
