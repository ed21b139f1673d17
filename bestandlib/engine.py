"""The aggregation engine: where order lines become the panel and the RFM summary.

The kit never holds the order lines in pandas when it does not have to. The aggregations of
:mod:`bestandlib.panel` run on whichever engine the configuration names (section ``engine`` of
``bestand.yml``); they are Ibis expressions, so the same code runs on Spark, with a hand-written SQL
twin for the embedded default:

* ``duckdb`` (default): embedded, in this process; reads the pandas frame, a Parquet file or a folder
  of Parquet files directly, works out of core and spills to disk above ``memory_limit``.
* ``pyspark``: an existing Spark cluster (``master: spark://host:7077``, ``yarn``, ...) or Spark's local
  mode. Needs the optional extra: ``pip install 'bestand[spark]'``.

Only results with one row per customer or customer-quarter come back to pandas; everything after that
stays in pandas and scikit-learn. :func:`check_orders` validates order logs too large for pandas with
DuckDB queries (same problem table as :func:`bestandlib.io.validate`, rows in and out counted).
"""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from bestandlib.errors import BestandError, ConfigError

#: Engines the configuration may name.
BACKENDS = ("duckdb", "pyspark")

_DEFAULTS = {
    "backend": "duckdb",
    "duckdb": {"memory_limit": None, "threads": None, "temp_directory": None},
    "pyspark": {"master": "local[2]", "app_name": "bestand", "shuffle_partitions": 8,
                "session_time_zone": "UTC"},
}


@functools.lru_cache(maxsize=1)
def _default_section() -> dict:
    # parsing bestand.yml takes 50-150 ms; the panel of a small data set takes a few hundred
    from bestandlib.config import default_config

    return default_config().get("engine") or {}


def engine_settings(config=None) -> dict:
    """The ``engine`` section of ``config`` (None = the documented defaults), with fallbacks."""
    if config is None:
        section = _default_section()
    else:
        from bestandlib.config import ensure_config

        # a path or a partial dict is merged onto the defaults (unknown keys are errors)
        section = ensure_config(config).get("engine") or {}
    section = copy.deepcopy(section)  # callers must not change the cached defaults
    out = {"backend": section.get("backend", _DEFAULTS["backend"])}
    for name in BACKENDS:
        out[name] = {**_DEFAULTS[name], **(section.get(name) or {})}
    if out["backend"] not in BACKENDS:
        raise ConfigError(f"engine.backend: unknown engine {out['backend']!r}; choose one of "
                          f"{', '.join(BACKENDS)}.")
    return out


def duckdb_connection(config=None):
    """A private in-memory DuckDB connection with the configured memory limit and threads.

    Parameters
    ----------
    config : dict, optional
        Full configuration; None means the defaults (no memory limit: DuckDB's default of 80 % of
        the machine's memory; all cores).

    Returns
    -------
    duckdb.DuckDBPyConnection
    """
    import duckdb

    s = engine_settings(config)["duckdb"]
    options = {}
    # DuckDB spills to its temp directory above the memory limit instead of failing
    if s.get("memory_limit"):
        options["memory_limit"] = str(s["memory_limit"])
    if s.get("threads"):
        options["threads"] = int(s["threads"])
    if s.get("temp_directory"):
        options["temp_directory"] = str(s["temp_directory"])
    try:
        return duckdb.connect(config=options)
    except duckdb.Error as exc:
        raise ConfigError(f"engine.duckdb: {exc}") from None


def connect(backend=None, config=None):
    """An Ibis connection to the configured engine.

    Parameters
    ----------
    backend : {"duckdb", "pyspark"} or Ibis backend, optional
        Default ``config["engine"]["backend"]``. An already connected Ibis backend is returned as it
        is (e.g. ``ibis.pyspark.connect(spark)`` with the session of a Databricks notebook).
    config : dict, optional
        Full configuration; None means the defaults.

    Returns
    -------
    ibis.BaseBackend
    """
    if backend is not None and not isinstance(backend, str):
        return backend
    settings = engine_settings(config)
    backend = backend or settings["backend"]
    if backend == "duckdb":
        import ibis

        return ibis.duckdb.from_connection(duckdb_connection(config))
    if backend == "pyspark":
        return ibis_pyspark(spark_session(config))
    raise ConfigError(f"Unknown engine {backend!r}; choose one of {', '.join(BACKENDS)}.")


def spark_session(config=None):
    """The Spark session of this process, started from ``config["engine"]["pyspark"]`` if needed.

    An already running session (a Databricks or EMR notebook, ``pyspark`` shell) is reused as it is;
    then only the session time zone is set, because dates must not shift between time zones.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise BestandError("The pyspark engine needs the optional extra: pip install 'bestand[spark]'.") from None
    s = engine_settings(config)["pyspark"]
    active = SparkSession.getActiveSession()
    if active is None:
        builder = (SparkSession.builder.master(str(s["master"])).appName(str(s["app_name"]))
                   .config("spark.sql.shuffle.partitions", str(int(s["shuffle_partitions"])))
                   .config("spark.ui.showConsoleProgress", "false"))
        active = builder.getOrCreate()
    active.conf.set("spark.sql.session.timeZone", str(s["session_time_zone"]))
    return active


def ibis_pyspark(session):
    """Ibis on a Spark session (Ibis' pyspark extra pins an older pyspark, so it is imported here)."""
    import ibis

    return ibis.pyspark.connect(session)


def parquet_pattern(path) -> str:
    """The Parquet file, or all Parquet files below a folder (recursively, e.g. partitioned)."""
    p = Path(path)
    if p.is_dir():
        return str(p / "**" / "*.parquet")
    if p.is_file():
        return str(p)
    raise BestandError(f"No orders file or folder at {p}.")


def is_path(obj) -> bool:
    return isinstance(obj, (str, PathLike))


# --- validation of large order inputs in the engine --------------------------------------------------

@dataclass
class OrdersCheck:
    """Result of :func:`check_orders`: the problems and how many rows went in and came out.

    Attributes
    ----------
    problems : DataFrame
        ``file, line, column, value, message, severity`` as :func:`bestandlib.io.validate` returns them
        (line = 1-based row number in its Parquet file, ``<NA>`` for problems of a whole file), sorted by
        file and line; at most ``limit`` rows per check.
    rows_in : int
        Rows read from all files.
    rows_out : int
        Rows without any error (what the aggregation may use); ``rows_in - rows_out`` rows have one.
    counts : DataFrame
        ``column, message, rows``: every check with its full number of failing rows (also beyond
        ``limit``), so nothing disappears silently.
    """

    problems: "pd.DataFrame"
    rows_in: int
    rows_out: int
    counts: "pd.DataFrame"


#: Order columns checked by :func:`check_orders`: kind and whether a value is required (data contract).
_ORDER_CHECKS = {"order_id": ("id", True), "customer_id": ("id", True), "order_date": ("date", True),
                 "product_group": ("text", False), "quantity": ("number", True),
                 "net_revenue": ("money", True), "contribution_margin": ("money", True)}


def check_orders(orders, customers=None, today=None, config=None, limit: int = 1000) -> OrdersCheck:
    """Check a large Parquet orders input with DuckDB queries, without loading it into pandas.

    The checks of :func:`bestandlib.io.validate` that matter for order logs too large for pandas, with
    the same messages: missing required values, text that is no number or date, NaN or infinite money
    and quantities, dates in the future or before 1900, and (with ``customers``) unknown customer ids.
    All row conditions are evaluated in one scan; only failing rows are kept. The column names must be
    the canonical ones (``order_id, customer_id, order_date, ...``): the column mapping and the CSV
    dialects of :mod:`bestandlib.io` are for files that pandas reads.

    Parameters
    ----------
    orders : str or Path
        A Parquet file or a folder of Parquet files (searched recursively, e.g. partitioned).
    customers : str, Path, DataFrame or iterable, optional
        Known customers: a Parquet file or folder or a DataFrame with ``customer_id``, or the ids
        themselves. None skips the unknown-customer check.
    today : date-like, optional
        Dates after it are "in the future". Default: the current date.
    config : dict, optional
        Full configuration (``engine.duckdb``: memory limit, threads); None means the defaults.
    limit : int
        At most this many problem rows per check (``counts`` has the full numbers).

    Returns
    -------
    OrdersCheck
        ``problems``, ``rows_in``, ``rows_out`` and ``counts`` (see :class:`OrdersCheck`).

    Examples
    --------
    >>> check = check_orders("data/raw/orders/", customers="data/raw/customers.parquet")  # doctest: +SKIP
    >>> check.rows_in - check.rows_out                                                  # doctest: +SKIP
    0
    """
    import pandas as pd

    if not is_path(orders):
        raise BestandError(f"check_orders reads a Parquet file or folder, not {type(orders).__name__}.")
    today = pd.Timestamp.today().normalize() if today is None else pd.Timestamp(today).normalize()
    pattern = parquet_pattern(orders).replace("'", "''")
    con = duckdb_connection(config)
    try:
        # DuckDB 2.0 trusts Parquet min/max statistics, which pyarrow writes without NaN: it would fold
        # isnan(x) to false for a column with min 10 and max 100 even when a value is NaN
        con.execute("SET disabled_optimizers = 'statistics_propagation'")
        con.execute(f"CREATE TEMP VIEW src AS SELECT * FROM read_parquet('{pattern}', filename = true, "
                    f"file_row_number = true, union_by_name = true)")
        types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE src)").fetchall())
        file_problems, checks = [], []
        for col, (kind, required) in _ORDER_CHECKS.items():
            if col not in types:
                if required:
                    file_problems.append((col, f"required column {col} is missing"))
                continue
            checks += _column_checks(col, kind, required, types[col], today)
        if customers is not None and "customer_id" in types:
            _register_customers(con, customers)
            checks.append(("customer_id", "unknown customer_id (not in customers)",
                           "customer_id IS NOT NULL AND CAST(customer_id AS VARCHAR) "
                           "NOT IN (SELECT customer_id FROM known_customers)"))
        rows_in = con.execute("SELECT count(*) FROM src").fetchone()[0]
        flags = ", ".join(f"coalesce({cond}, false) AS c{i}" for i, (_, _, cond) in enumerate(checks))
        any_bad = " OR ".join(f"c{i}" for i in range(len(checks))) or "false"
        values = ", ".join(f"CAST({col} AS VARCHAR) AS v{i}" for i, (col, _, _) in enumerate(checks))
        # the one scan: only failing rows are kept (spilling to disk if there are very many)
        con.execute(f"CREATE TEMP TABLE bad AS SELECT * FROM (SELECT filename AS file, "
                    f"file_row_number + 1 AS line{', ' + flags if checks else ''}"
                    f"{', ' + values if checks else ''} FROM src) WHERE {any_bad}")
        rows_bad = con.execute("SELECT count(*) FROM bad").fetchone()[0]
        frames, counts = [], []
        for i, (col, message, _) in enumerate(checks):
            counts.append((col, message, con.execute(f"SELECT count(*) FROM bad WHERE c{i}").fetchone()[0]))
            frames.append(con.execute(
                f"SELECT file, line, ? AS \"column\", coalesce(v{i}, '') AS value, ? AS message "
                f"FROM bad WHERE c{i} ORDER BY file, line LIMIT {int(limit)}", [col, message]).df())
    finally:
        con.close()
    for col, message in file_problems:
        frames.append(pd.DataFrame({"file": [str(orders)], "line": [pd.NA], "column": [col],
                                    "value": [""], "message": [message]}))
    frames = [f for f in frames if len(f)]
    problems = (pd.concat(frames, ignore_index=True) if frames else
                pd.DataFrame({c: [] for c in ("file", "line", "column", "value", "message")}))
    problems["line"] = problems["line"].astype("Int64")
    problems["severity"] = "error"
    for col in ("file", "column", "value", "message", "severity"):
        problems[col] = problems[col].astype(str)
    problems = (problems.assign(_l=problems["line"].fillna(0))
                .sort_values(["file", "_l"], kind="stable").drop(columns="_l").reset_index(drop=True))
    counts = pd.DataFrame(counts + [(c, m, rows_in) for c, m in file_problems],
                          columns=["column", "message", "rows"]).astype({"rows": "int64"})
    # a file that lacks a required column has no usable row
    rows_out = 0 if file_problems else rows_in - rows_bad
    return OrdersCheck(problems, int(rows_in), int(rows_out), counts)


def _column_checks(col: str, kind: str, required: bool, sql_type: str, today) -> list[tuple[str, str, str]]:
    """(column, message, SQL condition that is true for a failing row) for one column."""
    is_text = sql_type.upper() == "VARCHAR"
    out = []
    if required:
        empty = f"({col} IS NULL OR trim(CAST({col} AS VARCHAR)) = '')" if is_text else f"{col} IS NULL"
        out.append((col, "value missing", empty))
    if kind in ("number", "money"):
        if is_text:  # numbers stored as text: a text that does not parse is "not a number"
            out.append((col, "not a number", f"trim({col}) <> '' AND TRY_CAST({col} AS DOUBLE) IS NULL"))
        value = f"TRY_CAST({col} AS DOUBLE)"
        out.append((col, "NaN or infinity is not a value", f"(isnan({value}) OR isinf({value}))"))
    elif kind == "date":
        value = f"TRY_CAST({col} AS DATE)"
        if is_text:
            out.append((col, "not a date", f"trim({col}) <> '' AND {value} IS NULL"))
        out.append((col, f"date in the future (after {today:%Y-%m-%d})",
                    f"{value} > DATE '{today:%Y-%m-%d}'"))
        out.append((col, "date before 1900", f"{value} < DATE '1900-01-01'"))
    return out


def _register_customers(con, customers) -> None:
    """The known customer ids as the table ``known_customers(customer_id)``."""
    import pandas as pd

    if is_path(customers):
        pattern = parquet_pattern(customers).replace("'", "''")
        con.execute(f"CREATE TEMP TABLE known_customers AS SELECT DISTINCT CAST(customer_id AS VARCHAR) "
                    f"AS customer_id FROM read_parquet('{pattern}', union_by_name = true)")
        return
    if isinstance(customers, pd.DataFrame):
        ids = customers["customer_id"]
    else:
        ids = pd.Series(list(customers))
    frame = pd.DataFrame({"customer_id": ids.dropna().astype(str).unique()})
    con.register("known_customers_src", frame)
    con.execute("CREATE TEMP TABLE known_customers AS SELECT customer_id FROM known_customers_src")
