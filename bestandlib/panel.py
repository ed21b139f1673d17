"""The customer-quarter panel: order lines aggregated to one row per customer and quarter.

Every later analysis (history, valuation, churn, BTYD) starts from this panel instead of the order
lines, so the lines are read exactly once per report. The aggregation runs in an embedded SQL engine
(DuckDB) rather than in pandas: it reads Parquet directly, works out of core and scales to hundreds of
millions of lines (see ``docs/architecture.md`` and the scale issue). Only the result - one row per
customer-quarter - comes back as a pandas DataFrame.

The engine sits behind :func:`build_panel`'s ``engine`` argument (default: ``engine.backend`` of the
config, see :mod:`bestandlib.engine`). The aggregation exists twice, with identical results (tests check
it on DuckDB and on Spark):

* ``"duckdb"`` (default): hand-written DuckDB SQL. On one machine it is the fastest path, and it does
  not import Ibis, which alone costs about a second per report. It reads the lines once, sums them per
  customer, day and order, and builds the panel and the RFM summary from that
  (:func:`build_panel_and_rfm` returns both from one scan; above ``engine.duckdb.partition_lines``
  one scan per range of customers). Peak memory measured with ``benchmarks/panel.py``, panel and RFM
  summary from Parquet: 10M lines 741 MiB (idiomatic pandas 3.6 GiB), 50M 1.1 GiB (pandas 13.9 GiB);
  times and the other sizes in the README's benchmark table.
* :func:`panel_expr` / :func:`rfm_expr`: the same aggregation as Ibis expressions, which run unchanged on
  every engine Ibis reaches: ``"pyspark"`` (a Spark cluster, or local mode), ``"duckdb-ibis"`` (the
  portable expression on DuckDB, for checking it) or any connected Ibis backend passed as ``engine``.

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
* A **purchase day** is a calendar day with at least one sale line of the customer (several orders or
  lines on one day are one purchase day). ``order_days`` counts them per quarter. The **gaps** are the
  days between consecutive purchase days of a customer; each gap counts in the quarter of its later day,
  so a quarter's first gap reaches back into an earlier quarter. ``gap_days_sum`` and
  ``gap_days_sumsq`` sum the gaps and their squares (0 without a gap), ``first_gap_days`` is the gap
  ending at the quarter's first purchase day (``NaN`` without a purchase day, or when it is the
  customer's first one). The number of gaps is ``order_days`` minus 1 in the quarter of the first
  purchase day, so mean and coefficient of variation of the gaps over any window of quarters follow
  from sums of these columns, without the order lines.
* ``product_groups_4q`` counts the distinct product groups bought in the quarter and the three before
  it (trailing twelve months), also in quarters without lines.
"""
from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from bestandlib import engine as _engine
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
    "order_days",
    "gap_days_sum",
    "gap_days_sumsq",
    "first_gap_days",
    "product_groups_4q",
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
    "order_days": "int64",
    "gap_days_sum": "float64",
    "gap_days_sumsq": "float64",
    # NaN in a quarter without a purchase day, or whose first one is the customer's first ever
    "first_gap_days": "float64",
    "product_groups_4q": "int64",
    "first_order_date": "datetime64[ns]",
    "last_order_date": "datetime64[ns]",
    # float, not int: NaN before a customer's first order (only after leading credit notes)
    "days_since_last_order": "float64",
    "tenure_quarters": "int64",
}

_ORDER_COLUMNS = ["customer_id", "order_date", "order_id", "product_group", "quantity", "net_revenue",
                  "contribution_margin"]


def build_panel(orders, until=None, engine=None, config=None) -> pd.DataFrame:
    """Aggregate order lines to the dense customer-quarter panel.

    Parameters
    ----------
    orders : DataFrame, OrderLines or path
        The canonical orders table (``customer_id, order_date, order_id, product_group, quantity,
        net_revenue, contribution_margin``; other columns are ignored), the validated lines that
        :func:`bestandlib.io.load_tables` left in their files or database table
        (:class:`bestandlib.engine.OrderLines`), or the path of a Parquet file or of a folder of
        Parquet files (searched recursively, e.g. a partitioned data set).
        With an Ibis backend as ``engine``, also a table of that backend (``con.table("orders")``).
    until : str or Period, optional
        Last quarter of the panel ("2025Q4"). Order lines dated after its end are ignored and every
        customer's rows run up to it. Default: the quarter of the newest order line.
    engine : {"duckdb", "pyspark", "duckdb-ibis"} or Ibis backend, optional
        The aggregation engine (see the module docstring). Default: ``config["engine"]["backend"]``.
    config : dict or path, optional
        Full configuration (its ``engine`` section: DuckDB memory limit and threads, Spark master);
        None means the defaults.

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
    if engine is None:
        engine = _engine.engine_settings(config)["backend"]
    if isinstance(engine, str) and engine not in _ENGINES:
        raise ConfigError(f"Unknown panel engine {engine!r}; choose one of {sorted(_ENGINES)}.")
    until = None if until is None else parse_quarter(until)
    if engine == "duckdb":
        # the hand-written SQL: same result as the Ibis expression, faster on DuckDB (see _ENGINES)
        panel = _panel_duckdb(orders, until, config)
    else:
        con = _engine.connect(_ENGINES.get(engine, engine) if isinstance(engine, str) else engine, config)
        try:
            panel = _panel_ibis(orders, until, con)
        finally:
            if engine == "duckdb-ibis":
                con.disconnect()
    return _finish(panel)


# --- DuckDB engine ---------------------------------------------------------------------------------

# Why the query has this shape (measured on generated lines, see benchmarks/panel.py): DuckDB's
# count(DISTINCT ...) over all lines per customer-quarter (orders, product groups), a second pass over the
# lines for each product group's first quarter, and keeping all projected lines for both passes (a
# MATERIALIZED CTE) cost more than everything else together. Instead the lines are read once and summed
# to one row per customer, day and order ("order days", about a third of the lines). Orders are counted
# distinct over the order days (at 50M lines 1.7 GB less peak memory than a second GROUP BY customer,
# quarter, order). Product groups travel as bit masks (bit i = i-th product group bought): "groups in the
# quarter" is a bit_or, "new groups" are the bits set in no earlier quarter. The RFM summary's purchase
# days come from the same order days. Quarters are the integer "quarter index" qi = year * 4 + quarter - 1,
# so the dense grid is an integer range and "quarters since" a subtraction. Purchase days travel as a bit
# mask over the days of the quarter too: the gaps of a quarter are its set bits in order plus the gap from
# the last purchase day of the earlier quarters (a window over customer-quarters, not over days), and the
# trailing year's product groups are a bit_or of the masks over four rows of the dense grid.
#
# Memory (issue 18; measured at 50M lines, 200,000 customers, before the change 3.6 GiB peak): the
# hash aggregate that builds the order days took 2.7 GiB, the order days themselves 1.3 GiB (kept
# for the RFM summary), and the panel was converted to pandas while DuckDB still held them. Now, above
# engine.duckdb.partition_lines, the customers are cut into ranges of about that many lines and each
# range is aggregated on its own (its own scan; DuckDB's state is one range's), the results stay Arrow
# until the connection is closed, and only then become pandas (see benchmarks/panel.py for figures).

#: Product groups per bit mask column (bit 63 would be the sign of a BIGINT).
_GROUPS_PER_MASK = 62

_ORDER_DAYS_SQL = """
CREATE TEMP TABLE order_days AS
WITH lines AS (
    SELECT CAST(o.customer_id AS VARCHAR)                                   AS customer_id,
           CAST(o.order_date AS DATE)                                       AS d,
           CAST(o.order_id AS VARCHAR)                                      AS order_id,
           -- credit notes (negative revenue) are not purchases and buy no product group
           coalesce(o.net_revenue >= 0, false)                              AS sale,
           {line_masks}
           CAST(o.quantity AS DOUBLE)                                       AS quantity,
           CAST(o.net_revenue AS DOUBLE)                                    AS revenue,
           CAST(o.contribution_margin AS DOUBLE)                            AS margin
    FROM {source} AS o
    {group_join}
    {where}
)
SELECT customer_id, d, order_id,
       bool_or(sale)                                                        AS sale,
       {or_masks}
       sum(revenue)                                                         AS revenue,
       sum(margin)                                                          AS margin,
       sum(quantity)                                                        AS quantity,
       count(*)                                                             AS lines
FROM lines
GROUP BY customer_id, d, order_id
"""

_PANEL_SQL = """
WITH cq AS (
    SELECT customer_id, year(d) * 4 + quarter(d) - 1 AS qi,
           sum(revenue) AS revenue, sum(margin) AS margin,
           -- an order whose lines lie on several days of a quarter is still one order of the quarter
           -- (DISTINCT over the order days, a third of the lines: faster and leaner than a GROUP BY)
           count(DISTINCT order_id) FILTER (WHERE sale) AS orders,
           sum(lines) AS lines, sum(quantity) AS quantity, {or_masks}
           min(d) FILTER (WHERE sale) AS first_d, max(d) FILTER (WHERE sale) AS last_d,
           -- the purchase days (days with a sale) as a bit mask, bit i = day i of the quarter (at most
           -- 92 bits: a HUGEINT). At 10M lines it adds 0.15 s to this aggregation, a list of the days
           -- 0.45 s; a DISTINCT plus a lag() window over all purchase days cost more than either
           bit_or(CAST(1 AS HUGEINT) << CAST(d - CAST(date_trunc('quarter', d) AS DATE) AS HUGEINT))
               FILTER (WHERE sale) AS day_mask
    FROM order_days
    {quarter_where}
    GROUP BY ALL
),
cq_prev AS (
    -- the customer's earlier quarters: groups bought and last purchase day before this quarter
    SELECT *, {earlier_masks}
           max(last_d) OVER earlier                                         AS prev_last_d,
           bit_count(day_mask)                                              AS order_days,
           -- the purchase days in order, as days of the quarter: the set bits from first to last day
           list_filter(range(first_d - CAST(date_trunc('quarter', first_d) AS DATE),
                             last_d - CAST(date_trunc('quarter', first_d) AS DATE) + 1),
                       lambda i: ((day_mask >> CAST(i AS HUGEINT)) & 1) = 1) AS days
    FROM cq
    WINDOW earlier AS (PARTITION BY customer_id ORDER BY qi
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
cq_groups AS (
    -- new product groups: bought this quarter and in no earlier one (quarters without lines add no bits)
    SELECT customer_id, qi, revenue, margin, orders, lines, quantity, first_d, last_d, {masks}
           {product_groups}                                                 AS product_groups,
           {new_product_groups}                                             AS new_product_groups,
           order_days,
           -- the gaps of the quarter telescope: from the last purchase day before it to its last one
           CAST(last_d - coalesce(prev_last_d, first_d) AS DOUBLE)          AS gap_days_sum,
           coalesce(CAST(first_d - prev_last_d AS DOUBLE) ** 2, 0.0)
             + coalesce(list_sum(list_transform(range(2, len(days) + 1),
                                                lambda i: CAST(days[i] - days[i - 1] AS DOUBLE) ** 2)),
                        0.0)                                                AS gap_days_sumsq,
           CAST(first_d - prev_last_d AS DOUBLE)                            AS first_gap_days
    FROM cq_prev
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
           coalesce(c.revenue, 0.0)                                         AS revenue,
           coalesce(c.margin, 0.0)                                          AS margin,
           coalesce(c.orders, 0)                                            AS orders,
           coalesce(c.lines, 0)                                             AS lines,
           coalesce(c.quantity, 0.0)                                        AS quantity,
           coalesce(c.product_groups, 0)                                    AS product_groups,
           coalesce(c.new_product_groups, 0)                                AS new_product_groups,
           coalesce(c.order_days, 0)                                        AS order_days,
           coalesce(c.gap_days_sum, 0.0)                                    AS gap_days_sum,
           coalesce(c.gap_days_sumsq, 0.0)                                  AS gap_days_sumsq,
           c.first_gap_days,
           -- the masks of the dense rows, so that quarters without lines carry the groups bought before
           {product_groups_4q}                                              AS product_groups_4q,
           g.first_order_date,
           max(c.last_d) OVER running                                       AS last_order_date,
           g.qi - g.first_qi                                                AS tenure_quarters
    FROM grid g
    LEFT JOIN cq_groups c ON c.customer_id = g.customer_id AND c.qi = g.qi
    -- both windows share one partitioning and order, so DuckDB sorts the grid once
    WINDOW running AS (PARTITION BY g.customer_id ORDER BY g.qi
                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
           trailing_year AS (PARTITION BY g.customer_id ORDER BY g.qi
                             ROWS BETWEEN 3 PRECEDING AND CURRENT ROW)
)
SELECT * FROM dense
ORDER BY customer_id, qi
"""

# The RFM summary of rfm_expr as DuckDB SQL over purchase days (one row per customer and day with the
# day's net value), which come from the order days or, for the RFM summary alone, from the lines.
_RFM_SQL = """
WITH days AS (
    {days}
),
cust AS (
    SELECT customer_id, count(*) AS n_days, min(d) AS first_d, max(d) AS last_d, sum(value) AS total,
           arg_min(value, d) AS first_value
    FROM days GROUP BY customer_id
)
SELECT customer_id,
       n_days - 1                                                             AS frequency,
       CAST(date_diff('day', first_d, last_d) AS DOUBLE) / {unit}             AS recency,
       CAST(date_diff('day', first_d, {end}) AS DOUBLE) / {unit}              AS "T",
       CASE WHEN n_days > 1 THEN (total - first_value) / (n_days - 1) ELSE 0.0 END AS monetary_value
FROM cust
ORDER BY customer_id
"""

_RFM_DAYS_FROM_LINES = """SELECT CAST(customer_id AS VARCHAR) AS customer_id, CAST(order_date AS DATE) AS d,
           sum(CAST(net_revenue AS DOUBLE)) AS value
    FROM {source}
    {where}
    GROUP BY ALL"""

_RFM_DAYS_FROM_ORDER_DAYS = """SELECT customer_id, d, sum(revenue) AS value
    FROM order_days
    {where}
    GROUP BY customer_id, d"""


def _duckdb_connection(orders, config):
    """A DuckDB connection that can read ``orders`` (on its database when the lines are a table there)."""
    if isinstance(orders, _engine.OrderLines):
        return orders.connection(config)
    return _engine.duckdb_connection(config)


def _duckdb_source(con, orders, columns=_ORDER_COLUMNS) -> str:
    """Register ``orders`` with the connection and return the SQL that reads it."""
    if isinstance(orders, _engine.OrderLines):
        # validated lines that stay in their files or table: canonical names and types, exclusions applied
        return f"({orders.select_sql()})"
    if isinstance(orders, pd.DataFrame):
        missing = [c for c in columns if c not in orders.columns]
        if missing:
            raise BestandError(f"The orders table lacks the column(s) {', '.join(missing)}.")
        # only the needed columns, so a wide frame does not cost anything extra
        con.register("orders_src", orders[columns])
        return "orders_src"
    if isinstance(orders, (str, PathLike)):
        pattern = _engine.parquet_pattern(orders).replace("'", "''")
        return f"read_parquet('{pattern}', union_by_name = true)"
    raise BestandError(f"orders must be a DataFrame or a Parquet path, not {type(orders).__name__}.")


def _date_literal(value) -> str:
    return f"DATE '{pd.Timestamp(value).date().isoformat()}'"


def _fetch(con, sql: str) -> pd.DataFrame:
    """Run ``sql`` and convert through Arrow, keeping dates as datetime64 (as objects they are 7x slower)."""
    return _arrow_to_pandas(con.sql(sql).to_arrow_table())


def _arrow_to_pandas(table) -> pd.DataFrame:
    # self_destruct frees each Arrow column once converted: the result is not held twice
    return table.to_pandas(date_as_object=False, split_blocks=True, self_destruct=True)


def _product_group_index(con, source: str) -> int:
    """Number the product groups (a first, cheap query over that single column), so that the masks of
    :func:`_order_days` have a fixed number of columns. Returns that number of mask columns."""
    groups = con.sql(f"SELECT DISTINCT CAST(product_group AS VARCHAR) AS product_group FROM {source} "
                     f"WHERE product_group IS NOT NULL ORDER BY 1").to_arrow_table()
    n_masks = -(-groups.num_rows // _GROUPS_PER_MASK)  # ceiling division
    if n_masks:
        import pyarrow as pa

        con.register("product_group_index", groups.append_column(
            "gi", pa.array(range(groups.num_rows), pa.int64())))
    return n_masks


def _order_days(con, source: str, where: str, n_masks: int) -> None:
    """Create the temp table ``order_days`` (customer, day, order) from one scan of the lines.

    ``where`` filters the lines (the cutoff date, a range of customers); ``n_masks`` is what
    :func:`_product_group_index` returned.
    """
    group_join = ("LEFT JOIN product_group_index AS g ON g.product_group = CAST(o.product_group AS VARCHAR)"
                  if n_masks else "")
    line_masks = "".join(
        f"CASE WHEN o.net_revenue >= 0 AND g.gi // {_GROUPS_PER_MASK} = {k} "
        f"THEN CAST(1 AS BIGINT) << (g.gi % {_GROUPS_PER_MASK}) ELSE 0 END AS m{k},\n           "
        for k in range(n_masks))
    con.execute(_ORDER_DAYS_SQL.format(source=source, where=where, group_join=group_join,
                                       line_masks=line_masks, or_masks=_or_masks(n_masks)))


def _or_masks(n_masks: int) -> str:
    return "".join(f"bit_or(m{k}) AS m{k}, " for k in range(n_masks))


def _panel_sql(n_masks: int, until: pd.Period | None, last_d=None) -> str:
    """The panel query over ``order_days``; ``last_d`` (the newest line's date over all customers)
    ends the grid when ``until`` is None and ``order_days`` holds only some of the customers."""
    if n_masks:
        product_groups = " + ".join(f"bit_count(m{k})" for k in range(n_masks))
        new_groups = " + ".join(f"bit_count(m{k} & ~coalesce(e{k}, 0))" for k in range(n_masks))
        # the dense grid has one row per quarter, so 3 preceding rows are the 3 preceding quarters
        groups_4q = " + ".join(f"bit_count(coalesce(bit_or(c.m{k}) OVER trailing_year, 0))"
                               for k in range(n_masks))
    else:  # no product group at all
        product_groups = new_groups = groups_4q = "0"
    if until is None:
        quarter_where, until_qi = "", "(SELECT max(qi) FROM cq)"
        if last_d is not None:
            last = pd.Timestamp(last_d)
            until_qi = str(last.year * 4 + last.quarter - 1)
    else:
        # the order days may reach further (an RFM summary with a later observation end)
        quarter_where = f"WHERE d <= {_date_literal(_until_cutoff(until))}"
        until_qi = str(until.year * 4 + until.quarter - 1)
    return _PANEL_SQL.format(or_masks=_or_masks(n_masks), product_groups=product_groups,
                             new_product_groups=new_groups, quarter_where=quarter_where,
                             until_qi=until_qi, masks="".join(f"m{k}, " for k in range(n_masks)),
                             earlier_masks="".join(f"bit_or(m{k}) OVER earlier AS e{k}, "
                                                   for k in range(n_masks)),
                             product_groups_4q=groups_4q)


def _until_cutoff(until: pd.Period | None):
    # compare dates, not timestamps: a line at 2025-12-31 14:00 still belongs to 2025Q4
    return None if until is None else until.end_time.normalize()


def _duckdb_aggregate(orders, until, rfm_end=False, unit: float = 7.0, config=None):
    """The panel and, unless ``rfm_end`` is False, the RFM summary, from one scan of the lines.

    ``rfm_end``: False = panel only; None = RFM up to the last order date; else RFM up to that date.
    The results equal :func:`build_panel` and :func:`rfm_summary` called one after the other.

    Above ``engine.duckdb.partition_lines`` lines the customers are cut into ranges of about that many
    lines each, and each range is aggregated on its own (one scan of the lines per range): DuckDB's
    hash tables and the order days then hold one range, not all lines. The ranges follow the sort
    order of ``customer_id``, so the pieces, put one after the other, are the sorted result.
    """
    con = _duckdb_connection(orders, config)
    try:
        # every result here has an ORDER BY; without the insertion order DuckDB needs less memory
        con.execute("SET preserve_insertion_order = false")
        source = _duckdb_source(con, orders)
        cutoff = _until_cutoff(until)
        if rfm_end is None:
            cutoff = None  # the RFM summary sees every line
        elif rfm_end is not False and cutoff is not None:
            cutoff = max(cutoff, pd.Timestamp(rfm_end).normalize())
        where = "" if cutoff is None else f"CAST(o.order_date AS DATE) <= {_date_literal(cutoff)}"
        n_masks = _product_group_index(con, source)
        ranges, last_d = _customer_ranges(con, source, where, orders, config)
        if rfm_end is False:
            rfm_sql = None
        else:
            if rfm_end is None:
                # the newest line over all customers, also when order_days holds only some of them
                end = "(SELECT max(last_d) FROM cust)" if last_d is None else _date_literal(last_d)
                days = _RFM_DAYS_FROM_ORDER_DAYS.format(where="")
            else:
                end = _date_literal(rfm_end)
                days = _RFM_DAYS_FROM_ORDER_DAYS.format(where=f"WHERE d <= {end}")
            rfm_sql = _RFM_SQL.format(days=days, end=end, unit=float(unit))
        panel_sql = _panel_sql(n_masks, until, last_d)
        panels, rfms = [], []
        for part in ranges:
            conditions = [c for c in (where, part) if c]
            _order_days(con, source, f"WHERE {' AND '.join(conditions)}" if conditions else "", n_masks)
            panels.append(con.sql(panel_sql).to_arrow_table())
            if rfm_sql is not None:
                rfms.append(con.sql(rfm_sql).to_arrow_table())
            con.execute("DROP TABLE order_days")
    finally:
        con.close()
    panel = _from_quarter_index(_arrow_to_pandas(_concat(panels)))
    return panel, (None if rfm_sql is None else _arrow_to_pandas(_concat(rfms)))


def _concat(tables):
    import pyarrow as pa

    # no copy: the pieces become the chunks of one table
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _customer_ranges(con, source: str, where: str, orders, config) -> tuple[list[str], object]:
    """Conditions that cut the customers into ranges of about ``partition_lines`` lines each, and the
    newest line's date (needed when the ranges are aggregated one by one).

    Returns ``([""], None)`` (one range: all lines) when the lines are fewer than ``partition_lines``
    (counted from the Parquet metadata, the frame or the validated row count) or it is null.
    """
    limit = _engine.engine_settings(config)["duckdb"].get("partition_lines")
    if not limit:
        return [""], None
    if isinstance(orders, pd.DataFrame):
        rows = len(orders)
    elif isinstance(orders, _engine.OrderLines) and orders.rows:
        rows = int(orders.rows)
    else:  # Parquet answers count(*) from its metadata
        rows = con.sql(f"SELECT count(*) FROM {source}").fetchall()[0][0]
    if rows <= int(limit):
        return [""], None
    filt = f"WHERE {where}" if where else ""
    # lines per customer, in the engine's sort order of customer_id (one scan of two columns)
    counts = con.sql(f"SELECT CAST(o.customer_id AS VARCHAR) AS customer_id, count(*) AS n, "
                     f"max(CAST(o.order_date AS DATE)) AS last_d FROM {source} AS o {filt} "
                     f"GROUP BY 1 ORDER BY 1 NULLS LAST").to_arrow_table()
    ids = counts.column("customer_id").to_pylist()
    n = counts.column("n").to_numpy()
    last = counts.column("last_d").to_pandas(date_as_object=False).max()
    total = int(n.sum())
    k = -(-total // int(limit))
    # the first customer of each range: where the running line count passes i/k of all lines
    cuts = np.searchsorted(np.cumsum(n), [total * i / k for i in range(1, k)], side="right")
    bounds = sorted({int(c) for c in cuts if 0 < c < len(ids) and ids[c] is not None})
    if not bounds:
        return [""], None
    col = "CAST(o.customer_id AS VARCHAR)"
    lits = ["'" + str(ids[c]).replace("'", "''") + "'" for c in bounds]
    ranges = [f"{col} < {lits[0]}"]
    ranges += [f"{col} >= {lo} AND {col} < {hi}" for lo, hi in zip(lits, lits[1:])]
    # lines without a customer sort last (as in the single-range result)
    ranges.append(f"({col} >= {lits[-1]} OR {col} IS NULL)")
    return ranges, (None if pd.isna(last) else last)


def _panel_duckdb(orders, until: pd.Period | None, config=None) -> pd.DataFrame:
    return _duckdb_aggregate(orders, until, config=config)[0]


# --- Ibis: the same aggregation for every engine Ibis reaches (DuckDB, Spark, ...) -------------------

def _ibis_source(con, orders, columns):
    """``orders`` as an Ibis table on ``con`` (only ``columns`` are ever read)."""
    import ibis

    if isinstance(orders, ibis.expr.types.Table):
        source = orders  # a table in a database that Ibis reaches
    elif isinstance(orders, _engine.OrderLines):
        source = orders.ibis_table(con)  # validated lines in their files or table (io's engine path)
    elif isinstance(orders, pd.DataFrame):
        missing = [c for c in columns if c not in orders.columns]
        if missing:
            raise BestandError(f"The orders table lacks the column(s) {', '.join(missing)}.")
        frame = orders[columns]
        if con.name == "duckdb":
            # DuckDB scans the pandas frame in place (no copy into an Arrow table first)
            con.con.register("orders_src", frame)
            source = con.table("orders_src")
        else:
            import pyarrow as pa

            # an in-memory table the backend uploads when the expression runs (Spark: a DataFrame)
            source = ibis.memtable(pa.Table.from_pandas(frame, preserve_index=False))
    elif _engine.is_path(orders):
        pattern = _engine.parquet_pattern(orders)
        if con.name == "duckdb":
            source = con.read_parquet(pattern, union_by_name=True)
        else:  # Spark reads a folder (partitioned or not) itself
            source = con.read_parquet(str(orders))
    else:
        raise BestandError(f"orders must be a DataFrame, a Parquet path or an Ibis table, not "
                           f"{type(orders).__name__}.")
    missing = [c for c in columns if c not in source.columns]
    if missing:
        raise BestandError(f"The orders table lacks the column(s) {', '.join(missing)}.")
    return source


def panel_expr(orders, until: pd.Period | None = None):
    """The panel as an Ibis expression over the order lines table ``orders``.

    One expression, so the engine plans it as a whole: the order lines are projected once (``lines``)
    and feed the aggregations (customer-quarter figures, first quarter of each product group, purchase
    days with their gaps, product groups per quarter); everything after that is small (one row per
    customer-quarter or purchase day). Quarters are the integer
    ``qi = year * 4 + quarter - 1``; labels, quarter ends and day differences are added in pandas
    on the result (one per row of the panel, not per order line, and identical on every engine).

    Returns
    -------
    ibis.Table
        ``customer_id, qi, revenue, margin, orders, lines, quantity, product_groups,
        new_product_groups, order_days, gap_days_sum, gap_days_sumsq, first_gap_days,
        product_groups_4q, first_order_date, last_order_date, tenure_quarters``, sorted by
        ``customer_id, qi``.
    """
    import ibis

    o = orders
    d = o.order_date.cast("date")
    sale = o.net_revenue >= 0
    lines = o.select(
        customer_id=o.customer_id.cast("string"),
        d=d,
        qi=d.year() * 4 + d.quarter() - 1,
        order_id=o.order_id.cast("string"),
        # credit notes do not buy a product group and are not orders
        order_bought=ibis.ifelse(sale, o.order_id.cast("string"), ibis.null("string")),
        bought_group=ibis.ifelse(sale, o.product_group.cast("string"), ibis.null("string")),
        quantity=o.quantity.cast("float64"),
        revenue=o.net_revenue.cast("float64"),
        margin=o.contribution_margin.cast("float64"),
        sale_d=ibis.ifelse(sale, d, ibis.null("date")),
    )
    if until is not None:
        # compare dates, not timestamps: a line at 2025-12-31 14:00 still belongs to 2025Q4
        lines = lines.filter(lines.d <= ibis.date(until.end_time.normalize().date().isoformat()))
    cq = lines.group_by(["customer_id", "qi"]).aggregate(
        revenue=lines.revenue.sum(),
        margin=lines.margin.sum(),
        orders=lines.order_bought.nunique(),
        lines=lines.count(),
        quantity=lines.quantity.sum(),
        product_groups=lines.bought_group.nunique(),
        first_d=lines.sale_d.min(),
        last_d=lines.sale_d.max(),
    )
    bought = lines.filter(lines.bought_group.notnull())
    group_first = bought.group_by(["customer_id", "bought_group"]).aggregate(first_qi=bought.qi.min())
    group_new = group_first.group_by(["customer_id", "first_qi"]).aggregate(
        new_product_groups=group_first.count())
    # purchase days (days with a sale line) and the gap from the customer's previous one, which counts
    # in the quarter of its later day
    days = lines.filter(lines.sale_d.notnull()).select("customer_id", "d", "qi").distinct()
    previous = ibis.window(group_by=days.customer_id, order_by=days.d)
    prev_d = days.d.lag().over(previous)
    prev_qi = prev_d.year() * 4 + prev_d.quarter() - 1
    days = days.mutate(gap=days.d.delta(prev_d, unit="day").cast("float64"),
                       first_in_quarter=prev_d.isnull() | (prev_qi < days.qi))
    gaps = days.group_by(["customer_id", "qi"]).aggregate(
        order_days=days.count(),
        gap_days_sum=days.gap.sum(),
        gap_days_sumsq=(days.gap * days.gap).sum(),
        # one row per quarter is its first; its gap is NULL on the customer's first purchase day
        first_gap_days=days.gap.max(where=days.first_in_quarter),
    )
    # product groups of the trailing year: each (group, quarter) bought also counts in the 3 quarters after
    group_quarters = bought.select("customer_id", "bought_group", "qi").distinct()
    spread = group_quarters.select(
        "customer_id", "bought_group",
        qi=ibis.range(group_quarters.qi, group_quarters.qi + 4, 1).unnest(),
    )
    groups_4q = spread.group_by(["customer_id", "qi"]).aggregate(
        product_groups_4q=spread.bought_group.nunique())
    cust = cq.group_by("customer_id").aggregate(first_qi=cq.qi.min(), last_qi=cq.qi.max(),
                                                first_order_date=cq.first_d.min())
    if until is None:
        until_qi = cust.last_qi.max().as_scalar()
    else:
        until_qi = ibis.literal(until.year * 4 + until.quarter - 1, "int64")
    grid = cust.select(
        "customer_id", "first_qi", "first_order_date",
        qi=ibis.range(cust.first_qi, until_qi + 1, 1).unnest(),
    )
    j = grid.left_join(cq, [grid.customer_id == cq.customer_id, grid.qi == cq.qi])
    j = j.select(
        customer_id=grid.customer_id, qi=grid.qi, first_qi=grid.first_qi,
        first_order_date=grid.first_order_date,
        revenue=cq.revenue, margin=cq.margin, orders=cq.orders, lines=cq.lines,
        quantity=cq.quantity, product_groups=cq.product_groups, last_d=cq.last_d,
    )
    j2 = j.left_join(group_new, [j.customer_id == group_new.customer_id, j.qi == group_new.first_qi])
    j2 = j2.select(*[j[c] for c in j.columns], new_product_groups=group_new.new_product_groups)
    j3 = j2.left_join(gaps, [j2.customer_id == gaps.customer_id, j2.qi == gaps.qi])
    j3 = j3.select(*[j2[c] for c in j2.columns], order_days=gaps.order_days,
                   gap_days_sum=gaps.gap_days_sum, gap_days_sumsq=gaps.gap_days_sumsq,
                   first_gap_days=gaps.first_gap_days)
    j4 = j3.left_join(groups_4q, [j3.customer_id == groups_4q.customer_id, j3.qi == groups_4q.qi])
    j4 = j4.select(*[j3[c] for c in j3.columns], product_groups_4q=groups_4q.product_groups_4q)
    running = ibis.cumulative_window(group_by=j4.customer_id, order_by=j4.qi)
    return j4.select(
        "customer_id", "qi",
        revenue=j4.revenue.fill_null(0.0),
        margin=j4.margin.fill_null(0.0),
        orders=j4.orders.fill_null(0),
        lines=j4.lines.fill_null(0),
        quantity=j4.quantity.fill_null(0.0),
        product_groups=j4.product_groups.fill_null(0),
        new_product_groups=j4.new_product_groups.fill_null(0),
        order_days=j4.order_days.fill_null(0),
        gap_days_sum=j4.gap_days_sum.fill_null(0.0),
        gap_days_sumsq=j4.gap_days_sumsq.fill_null(0.0),
        first_gap_days=j4.first_gap_days,
        product_groups_4q=j4.product_groups_4q.fill_null(0),
        first_order_date=j4.first_order_date,
        last_order_date=j4.last_d.max().over(running),
        tenure_quarters=j4.qi - j4.first_qi,
    ).order_by(["customer_id", "qi"])


def _from_quarter_index(result: pd.DataFrame) -> pd.DataFrame:
    """Add ``quarter``, ``quarter_end`` and ``days_since_last_order`` to a result keyed by ``qi``."""
    if result.empty:
        return result.assign(quarter=pd.Series(dtype="str"), quarter_end=pd.Series(dtype="datetime64[ns]"),
                             days_since_last_order=pd.Series(dtype="float64"))
    qi = result["qi"].to_numpy(dtype="int64")
    # a few dozen distinct quarters: build each label once, then take
    uniq, inverse = np.unique(qi, return_inverse=True)
    periods = [pd.Period(year=int(q // 4), quarter=int(q % 4 + 1), freq="Q-DEC") for q in uniq]
    labels = np.array([str(p) for p in periods], dtype=object)
    ends = pd.DatetimeIndex([p.end_time.normalize() for p in periods]).astype("datetime64[ns]")
    out = result.drop(columns="qi")
    out["quarter"] = labels[inverse]
    out["quarter_end"] = ends.take(inverse)
    for col in ("first_order_date", "last_order_date"):
        out[col] = pd.to_datetime(out[col]).astype("datetime64[ns]")
    out["days_since_last_order"] = (out["quarter_end"] - out["last_order_date"]).dt.days.astype("float64")
    return out


_RFM_COLUMNS = ["customer_id", "order_date", "net_revenue"]


def rfm_expr(orders, observation_end=None, unit_days: float = 7.0):
    """Per-customer RFM summary as an Ibis expression, in the conventions of :func:`bestandlib.btyd.rfm_summary`.

    Purchases on the same calendar day are one purchase (all lines of the day, credit notes netted
    into its value); ``frequency`` = purchase days - 1, ``recency`` = first to last purchase day,
    ``T`` = first purchase day to ``observation_end`` (default: the last order date in the data),
    both in units of ``unit_days``; ``monetary_value`` = mean value of the repeat purchase days (0
    without one).
    """
    import ibis

    d = orders.order_date.cast("date")
    lines = orders.select(customer_id=orders.customer_id.cast("string"), d=d,
                          value=orders.net_revenue.cast("float64"))
    if observation_end is not None:
        end = ibis.date(pd.Timestamp(observation_end).date().isoformat())
        lines = lines.filter(lines.d <= end)
    days = lines.group_by(["customer_id", "d"]).aggregate(value=lines.value.sum())
    cust = days.group_by("customer_id").aggregate(
        n_days=days.count(), first=days.d.min(), last=days.d.max(), total=days.value.sum(),
        first_value=days.value.argmin(days.d),
    )
    if observation_end is None:
        end = cust["last"].max().as_scalar()
    frequency = cust.n_days - 1
    return cust.select(
        "customer_id",
        frequency=frequency,
        recency=cust["last"].delta(cust["first"], unit="day").cast("float64") / unit_days,
        T=end.delta(cust["first"], unit="day").cast("float64") / unit_days,
        monetary_value=ibis.ifelse(frequency > 0, (cust.total - cust.first_value) / frequency, 0.0),
    ).order_by("customer_id")


def rfm_summary(orders, observation_end=None, time_unit=None, engine=None, config=None) -> pd.DataFrame:
    """Frequency, recency, T and mean repeat spend per customer, computed in the engine.

    The same table as :func:`bestandlib.btyd.rfm_summary` (same conventions, same columns), but the
    order lines never pass through pandas: for order logs that do not fit in memory, or on Spark.

    Parameters
    ----------
    orders : DataFrame, path or Ibis table
        Order lines with ``customer_id, order_date, net_revenue``; a Parquet file or folder; or a
        table of an Ibis backend.
    observation_end : date-like, optional
        End of observation (inclusive); later lines are ignored. Default: the last order date.
    time_unit : {"D", "W", "M", "Q", "Y"} or float, optional
        Unit of recency and T; default config ``btyd.time_unit``.
    engine : {"duckdb", "pyspark"} or Ibis backend, optional
        Default config ``engine.backend``.
    config : dict, optional
        Full configuration; None means the defaults.

    Returns
    -------
    DataFrame
        ``customer_id, frequency, recency, T, monetary_value``, one row per customer with a line up
        to ``observation_end``, sorted by customer.
    """
    from bestandlib import btyd

    unit = btyd._unit_days(btyd._settings(config)["time_unit"] if time_unit is None else time_unit)
    if engine is None:
        engine = _engine.engine_settings(config)["backend"]
    if isinstance(engine, str) and engine not in _ENGINES:
        raise ConfigError(f"Unknown engine {engine!r}; choose one of {sorted(_ENGINES)}.")
    if engine == "duckdb":
        out = _rfm_duckdb(orders, observation_end, unit, config)
        if out.empty:
            raise btyd.RFMDataError("No order line lies on or before observation_end.")
        return out.astype(_RFM_DTYPES).reset_index(drop=True)
    own = isinstance(engine, str)
    con = _engine.connect(_ENGINES.get(engine, engine) if own else engine, config)
    try:
        source = _ibis_source(con, orders, _RFM_COLUMNS)
        out = con.to_pandas(rfm_expr(source, observation_end, unit))
    finally:
        if own and _ENGINES.get(engine) == "duckdb":
            con.disconnect()
    if out.empty:
        raise btyd.RFMDataError("No order line lies on or before observation_end.")
    return out.astype(_RFM_DTYPES).reset_index(drop=True)


def build_panel_and_rfm(orders, until=None, observation_end=None, time_unit=None, engine=None,
                        config=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The panel and the RFM summary together, reading the order lines only once.

    Equal to ``(build_panel(orders, until, engine, config), rfm_summary(orders, observation_end,
    time_unit, engine, config))``, but on DuckDB both come from one scan of the lines (summed per
    customer, day and order first): for large Parquet inputs this saves a whole pass. Other engines
    run the two expressions one after the other.

    Parameters
    ----------
    orders, until, engine, config
        As in :func:`build_panel`.
    observation_end, time_unit
        As in :func:`rfm_summary`.

    Returns
    -------
    panel : DataFrame
        As :func:`build_panel` returns it.
    rfm : DataFrame
        As :func:`rfm_summary` returns it (``customer_id, frequency, recency, T, monetary_value``).
    """
    from bestandlib import btyd

    if engine is None:
        engine = _engine.engine_settings(config)["backend"]
    if engine != "duckdb":
        return (build_panel(orders, until, engine, config),
                rfm_summary(orders, observation_end, time_unit, engine, config))
    unit = btyd._unit_days(btyd._settings(config)["time_unit"] if time_unit is None else time_unit)
    until = None if until is None else parse_quarter(until)
    panel, rfm = _duckdb_aggregate(orders, until, observation_end, unit, config)
    if rfm.empty:
        raise btyd.RFMDataError("No order line lies on or before observation_end.")
    return _finish(panel), rfm.astype(_RFM_DTYPES).reset_index(drop=True)


_RFM_DTYPES = {"customer_id": "str", "frequency": "int64", "recency": "float64", "T": "float64",
               "monetary_value": "float64"}

def _rfm_duckdb(orders, observation_end, unit: float, config) -> pd.DataFrame:
    """The RFM summary alone: purchase days straight from the lines (no order level needed)."""
    con = _duckdb_connection(orders, config)
    try:
        source = _duckdb_source(con, orders, _RFM_COLUMNS)
        if observation_end is None:
            where, end = "", "(SELECT max(last_d) FROM cust)"
        else:
            end = _date_literal(observation_end)
            where = f"WHERE CAST(order_date AS DATE) <= {end}"
        days = _RFM_DAYS_FROM_LINES.format(source=source, where=where)
        return _fetch(con, _RFM_SQL.format(days=days, end=end, unit=float(unit)))
    finally:
        con.close()


def _panel_ibis(orders, until: pd.Period | None, con) -> pd.DataFrame:
    source = _ibis_source(con, orders, _ORDER_COLUMNS)
    return _from_quarter_index(con.to_pandas(panel_expr(source, until)))


#: Engine names and the Ibis backend each runs on. "duckdb" runs the SQL above on DuckDB directly;
#: "duckdb-ibis" runs the portable Ibis expression (the one Spark runs) on DuckDB.
_ENGINES = {"duckdb": "duckdb", "duckdb-ibis": "duckdb", "pyspark": "pyspark"}


def _finish(panel: pd.DataFrame) -> pd.DataFrame:
    """Put the engine's result into the documented column order and dtypes."""
    if panel.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _DTYPES.items()})
    panel = panel[PANEL_COLUMNS].astype(_DTYPES)
    return panel.reset_index(drop=True)


# --- per-customer summary ----------------------------------------------------------------------------

def quarter_index(quarter: pd.Series) -> pd.Series:
    """Integer quarter index ``year * 4 + quarter - 1`` of a Series of "2025Q4" strings (vectorised).

    The one definition lives in :func:`bestandlib.concepts.quarter_index`; kept here for callers."""
    from bestandlib import concepts

    return concepts.quarter_index(quarter)


def customer_summary(panel: pd.DataFrame, quarter, config=None) -> pd.DataFrame:
    """One row per customer known by ``quarter``: trailing-12-month figures and recency.

    Parameters
    ----------
    panel : DataFrame
        The panel from :func:`build_panel`, reaching at least ``quarter``.
    quarter : str or Period
        The reporting quarter.
    config : dict, optional
        Full configuration (the active window ``phases.lost_quarters``); None = the defaults.

    Returns
    -------
    DataFrame
        ``customer_id, revenue_12m, margin_12m, revenue_prev_12m, orders_12m, first_order_date,
        last_order_date, tenure_quarters, days_since_last_order, active``, sorted by ``customer_id``.
        "12m" are the four quarters ending with ``quarter``; ``revenue_prev_12m`` the four before them.
        ``active`` is :mod:`bestandlib.concepts`' definition: an order in the last
        ``phases.lost_quarters`` quarters (4 by default, then ``orders_12m > 0``; credit notes alone
        do not make a customer active).
    """
    q = parse_quarter(quarter)
    label = str(q)
    if panel.empty or label > panel["quarter"].max():
        raise BestandError(f"The panel ends before {label}; build it with until={label!r}.")
    qi = quarter_index(q)
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
    from bestandlib import concepts

    out["active"] = out["customer_id"].astype(str).isin(concepts.active_customers(panel, q, config))
    cols = ["customer_id", "revenue_12m", "margin_12m", "revenue_prev_12m", "orders_12m",
            "first_order_date", "last_order_date", "tenure_quarters", "days_since_last_order", "active"]
    return out[cols].sort_values("customer_id", ignore_index=True)
