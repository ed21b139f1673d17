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

@functools.lru_cache(maxsize=1)
def _default_section() -> dict:
    # parsing bestand.yml takes 50-150 ms; the panel of a small data set takes a few hundred
    from bestandlib.config import default_config

    return default_config().get("engine") or {}


def engine_settings(config=None) -> dict:
    """The ``engine`` section of ``config`` (None = the documented defaults); keys it lacks come from
    ``bestand.yml`` (the only defaults)."""
    if config is None:
        section = _default_section()
    else:
        from bestandlib.config import ensure_config

        # a path or a partial dict is merged onto the defaults (unknown keys are errors)
        section = ensure_config(config).get("engine") or {}
    section = copy.deepcopy(section)  # callers must not change the cached defaults
    base = copy.deepcopy(_default_section())
    out = {"backend": section.get("backend", base["backend"])}
    for name in BACKENDS:
        out[name] = {**base[name], **(section.get(name) or {})}
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
        In memory, or on ``engine.duckdb.database`` (read-only) when the config names one.
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
    database = s.get("database")
    if database and not Path(database).is_file():
        raise ConfigError(f"engine.duckdb.database: no DuckDB database file at {database}.")
    try:
        if database:  # read-only: the kit never changes the company's data; temp tables still work
            return duckdb.connect(str(database), read_only=True, config=options)
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


def _column_required(col: str) -> bool:
    from bestandlib import schemas

    return schemas.CONTRACT["orders"]["columns"][col].column_required


def check_orders(orders, customers=None, today=None, config=None, limit: int = 1000,
                 columns: dict | None = None) -> OrdersCheck:
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
    columns : dict, optional
        Canonical name -> column name in the files, for files that name the columns differently
        (:mod:`bestandlib.io` resolves ``data.columns`` of the config into it). Default: the canonical
        names.

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
        raw = (f"read_parquet('{pattern}', filename = true, file_row_number = true, "
               f"union_by_name = true, hive_partitioning = false)")
        if columns:
            # the files' own names, renamed to the canonical ones (only the mapped columns are read)
            select = ", ".join(f"{_quote(src)} AS {canon}" for canon, src in columns.items())
            con.execute(f"CREATE TEMP VIEW src AS SELECT {select}, filename, file_row_number FROM {raw}")
        else:
            con.execute(f"CREATE TEMP VIEW src AS SELECT * FROM {raw}")
        types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE src)").fetchall())
        file_problems, checks = [], []
        for col, (kind, required) in _ORDER_CHECKS.items():
            if col not in types:
                if _column_required(col):  # an optional column may be absent (contribution_margin, ...)
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
    problems = _problem_frame(frames)
    problems = (problems.assign(_l=problems["line"].fillna(0))
                .sort_values(["file", "_l"], kind="stable").drop(columns="_l").reset_index(drop=True))
    counts = pd.DataFrame(counts + [(c, m, rows_in) for c, m in file_problems],
                          columns=["column", "message", "rows"]).astype({"rows": "int64"})
    # a file that lacks a required column has no usable row
    rows_out = 0 if file_problems else rows_in - rows_bad
    return OrdersCheck(problems, int(rows_in), int(rows_out), counts)


def _problem_frame(frames):
    """The problem frames of one check as one table in the columns of :func:`bestandlib.io.validate`."""
    import pandas as pd

    frames = [f for f in frames if len(f)]
    problems = (pd.concat(frames, ignore_index=True) if frames else
                pd.DataFrame({c: [] for c in ("file", "line", "column", "value", "message")}))
    problems["line"] = problems["line"].astype("Int64")
    problems["severity"] = "error"
    for col in ("file", "column", "value", "message", "severity"):
        problems[col] = problems[col].astype(str)
    return problems


def _quote(name: str) -> str:
    """A column name as a quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


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
                    f"AS customer_id FROM read_parquet('{pattern}', union_by_name = true, "
                    f"hive_partitioning = false)")
        return
    if isinstance(customers, pd.DataFrame):
        ids = customers["customer_id"]
    else:
        ids = pd.Series(list(customers))
    frame = pd.DataFrame({"customer_id": ids.dropna().astype(str).unique()})
    con.register("known_customers_src", frame)
    con.execute("CREATE TEMP TABLE known_customers AS SELECT customer_id FROM known_customers_src")


# --- order lines that stay in their files ------------------------------------------------------------

#: Canonical order columns and their SQL type in :meth:`OrderLines.select_sql`.
ORDER_LINE_TYPES = {"order_id": "VARCHAR", "customer_id": "VARCHAR", "order_date": "DATE",
                    "product_id": "VARCHAR", "product_group": "VARCHAR", "quantity": "DOUBLE",
                    "net_revenue": "DOUBLE", "contribution_margin": "DOUBLE"}


@dataclass(frozen=True)
class OrderLines:
    """Validated order lines that stay where they are: the engine reads them, pandas never does.

    :func:`bestandlib.io.load_tables` returns this as ``Tables.orders`` for Parquet order logs of at
    least ``data.engine_min_order_lines`` rows (validated by :func:`check_orders` first) and for a
    database table named by ``data.orders_table`` (validated by :func:`check_orders_table`). The panel
    (:mod:`bestandlib.panel`) aggregates it in the engine; every analysis after the panel works on one
    row per customer or customer-quarter.

    Attributes
    ----------
    path : str or None
        The Parquet file or folder (searched recursively, e.g. partitioned); None for a table.
    columns : tuple of (canonical, source, source SQL type)
        Where each canonical column comes from; canonical columns the source lacks are NULL.
    exclude_zero_value : bool
        Leave out lines with zero revenue and zero margin (``data.exclude_zero_value_lines``).
    until : str or None
        ISO date: lines after it are not part of the tables (:meth:`bestandlib.io.Tables.cut`).
    rows : int
        Valid lines, after the exclusion (before ``until``).
    table : str or None
        A table of the engine's database (``schema.table`` or ``table``) instead of files.
    database : str or None
        The DuckDB database file that holds ``table`` (backend duckdb).
    backend : {"duckdb", "pyspark"}
        The engine that reads ``table`` (files are read by whichever engine aggregates).
    """

    path: str | None
    columns: tuple
    exclude_zero_value: bool = True
    until: str | None = None
    rows: int = 0
    table: str | None = None
    database: str | None = None
    backend: str = "duckdb"

    def __len__(self) -> int:
        return int(self.rows)

    @property
    def label(self) -> str:
        """How problems and reports name the source."""
        return f"table {self.table}" if self.table else Path(self.path).name

    def cut(self, until) -> "OrderLines":
        """The same lines up to ``until`` (a date; later ones are left out)."""
        import dataclasses

        import pandas as pd

        day = pd.Timestamp(until).normalize()
        if self.until is not None:
            day = min(day, pd.Timestamp(self.until))
        return dataclasses.replace(self, until=day.date().isoformat())

    def _expression(self, canon: str, source: str | None, sql_type: str | None) -> str:
        target = ORDER_LINE_TYPES[canon]
        if source is None:
            return f"CAST(NULL AS {target})"
        col = _quote(source)
        t = (sql_type or "").upper()
        if target == "VARCHAR" and (t in ("DOUBLE", "FLOAT", "REAL", "FLOAT64", "FLOAT32")
                                    or t.startswith("DECIMAL")):
            # a numeric id written as 123.0: the id is "123" (as pandas reads it in bestandlib.io)
            return (f"CASE WHEN {col} = trunc({col}) THEN CAST(CAST({col} AS BIGINT) AS VARCHAR) "
                    f"ELSE CAST({col} AS VARCHAR) END")
        return f"CAST({col} AS {target})"

    def from_sql(self) -> str:
        """The DuckDB FROM clause of the raw source (files or table)."""
        if self.table:
            return ".".join(_quote(part) for part in self.table.split("."))
        pattern = parquet_pattern(self.path).replace("'", "''")
        # partition folders (year=2024/) are where the files lie, not columns: as io reads them
        return f"read_parquet('{pattern}', union_by_name = true, hive_partitioning = false)"

    def select_sql(self) -> str:
        """A DuckDB query of the lines with canonical names and types, excluded and later lines left out."""
        known = {canon: (src, typ) for canon, src, typ in self.columns}
        select = ",\n       ".join(f"{self._expression(c, *known.get(c, (None, None)))} AS {c}"
                                   for c in ORDER_LINE_TYPES)
        where = []
        if self.exclude_zero_value:
            # without a margin column a line of zero revenue carries no value either (as in io)
            rev = _quote(known["net_revenue"][0])
            mar = (f"coalesce(CAST({_quote(known['contribution_margin'][0])} AS DOUBLE), 0)"
                   if "contribution_margin" in known else "0")
            where.append(f"NOT (CAST({rev} AS DOUBLE) = 0 AND {mar} = 0)")
        if self.until is not None:
            where.append(f"CAST({_quote(known['order_date'][0])} AS DATE) <= DATE '{self.until}'")
        clause = ("\nWHERE " + " AND ".join(where)) if where else ""
        return f"SELECT {select}\nFROM {self.from_sql()}{clause}"

    def connection(self, config=None):
        """A DuckDB connection that can read the lines (on ``database`` when the lines are a table there)."""
        section = engine_settings(config)
        section["duckdb"]["database"] = self.database
        return duckdb_connection({"engine": section})

    def ibis_connection(self, config=None):
        """An Ibis connection to the engine that reads these lines."""
        import ibis

        if self.backend == "duckdb":
            return ibis.duckdb.from_connection(self.connection(config))
        return connect(self.backend, config)

    def ibis_table(self, con):
        """The lines as an Ibis table on ``con``: canonical names and types, excluded and later lines left out.

        Built from Ibis operations only, so that it runs on every backend (``con.sql`` would need
        Ibis' DuckDB schema query, which DuckDB 2.0 no longer serves).
        """
        import ibis

        if self.table:
            schema, _, name = self.table.rpartition(".")
            raw = con.table(name, database=schema or None)
        elif con.name == "duckdb":
            raw = con.read_parquet(parquet_pattern(self.path), union_by_name=True, hive_partitioning=False)
        else:  # Spark reads a folder (partitioned or not) itself
            raw = con.read_parquet(str(self.path))
        known = {canon: src for canon, src, _ in self.columns}
        types = {"VARCHAR": "string", "DATE": "date", "DOUBLE": "float64"}
        cols = {}
        for canon, sql_type in ORDER_LINE_TYPES.items():
            if canon not in known:
                cols[canon] = ibis.null(types[sql_type])
                continue
            col = raw[known[canon]]
            if sql_type == "VARCHAR" and (col.type().is_floating() or col.type().is_decimal()):
                # a numeric id written as 123.0: the id is "123" (as pandas reads it in bestandlib.io)
                cols[canon] = ibis.ifelse(col == col.floor(), col.cast("int64").cast("string"),
                                          col.cast("string"))
            else:
                cols[canon] = col.cast(types[sql_type])
        t = raw.select(**cols)
        if self.exclude_zero_value:
            t = t.filter(~((t.net_revenue == 0) & (t.contribution_margin.fill_null(0) == 0)))
        if self.until is not None:
            t = t.filter(t.order_date <= ibis.date(self.until))
        return t

    def query(self, sql: str, config=None):
        """Run DuckDB ``sql`` over the lines (the view ``lines``); a small result as a DataFrame."""
        if self.backend != "duckdb":
            raise BestandError("OrderLines.query runs DuckDB SQL; use ibis_table() on other engines.")
        con = self.connection(config)
        try:
            con.execute(f"CREATE TEMP VIEW lines AS {self.select_sql()}")
            return con.sql(sql).df()
        finally:
            con.close()

    def summary(self, config=None) -> tuple[int, "pd.Timestamp", "pd.Timestamp"]:
        """(lines, first order date, last order date) up to ``until`` (dates NaT without lines)."""
        import pandas as pd

        if self.backend == "pyspark":
            t = self.ibis_table(connect("pyspark", config))
            r = t.aggregate(n=t.count(), first=t.order_date.min(), last=t.order_date.max()).to_pandas()
        else:
            r = self.query("SELECT count(*) AS n, min(order_date) AS first, max(order_date) AS last "
                           "FROM lines", config)
        return int(r["n"].iloc[0]), pd.Timestamp(r["first"].iloc[0]), pd.Timestamp(r["last"].iloc[0])

    def date_range(self, config=None):
        """(first, last) order date as Timestamps (NaT without lines)."""
        return self.summary(config)[1:]

    def to_pandas(self, config=None):
        """All lines as a canonical pandas frame: only for data that fits in memory (tests, a look)."""
        if self.backend == "pyspark":
            df = self.ibis_table(connect("pyspark", config)).to_pandas()
        else:
            df = self.query("SELECT * FROM lines", config)
        df["order_date"] = df["order_date"].astype("datetime64[ns]")
        return df

    def to_dict(self) -> dict:
        return {"path": self.path, "columns": [list(c) for c in self.columns],
                "exclude_zero_value": self.exclude_zero_value, "until": self.until, "rows": self.rows,
                "table": self.table, "database": self.database, "backend": self.backend}

    @classmethod
    def from_dict(cls, d: dict) -> "OrderLines":
        return cls(d["path"], tuple(tuple(c) for c in d["columns"]), d["exclude_zero_value"],
                   d["until"], int(d["rows"]), d.get("table"), d.get("database"), d.get("backend", "duckdb"))


def check_orders_table(lines: OrderLines, customers=None, today=None, config=None,
                       limit: int = 1000) -> OrdersCheck:
    """:func:`check_orders` for order lines in a database table, as Ibis queries on that engine.

    The same checks and messages; a table has no file lines, so each problem names the table as its
    file and the row's ``order_id`` in the message (``line`` is ``<NA>``). One aggregation counts every
    check over the whole table; only up to ``limit`` failing rows per check come back.

    Parameters
    ----------
    lines : OrderLines
        With ``table`` set (and ``database`` for DuckDB, ``backend`` = ``"duckdb"`` or ``"pyspark"``).
    customers, today, config, limit
        As for :func:`check_orders` (``customers``: ids, or a DataFrame with ``customer_id``).
    """
    import ibis
    import pandas as pd

    today = pd.Timestamp.today().normalize() if today is None else pd.Timestamp(today).normalize()
    con = lines.ibis_connection(config)
    schema, _, name = lines.table.rpartition(".")
    try:
        raw = con.table(name, database=schema or None)
    except Exception as exc:  # each backend raises its own "not found"
        raise BestandError(f"data.orders_table: no table {lines.table} on the {lines.backend} engine "
                           f"({type(exc).__name__}).") from None
    cols = {canon: raw[src] for canon, src, _ in lines.columns}
    checks = []
    for col, (kind, required) in _ORDER_CHECKS.items():
        if col not in cols:
            continue  # a missing column is reported by io before the table is checked
        v = cols[col]
        text = v.type().is_string()
        if required:
            checks.append((col, "value missing", (v.isnull() | (v.strip() == "")) if text else v.isnull()))
        if kind in ("number", "money"):
            num = v.try_cast("float64") if text else v.cast("float64")
            if text:
                checks.append((col, "not a number", (v.strip() != "") & num.isnull()))
            checks.append((col, "NaN or infinity is not a value", num.isnan() | (num.abs() == float("inf"))))
        elif kind == "date":
            d = v.try_cast("date") if text else v.cast("date")
            if text:
                checks.append((col, "not a date", (v.strip() != "") & d.isnull()))
            checks.append((col, f"date in the future (after {today:%Y-%m-%d})",
                           d > ibis.date(today.date().isoformat())))
            checks.append((col, "date before 1900", d < ibis.date("1900-01-01")))
    if customers is not None and "customer_id" in cols:
        ids = customers["customer_id"] if isinstance(customers, pd.DataFrame) else pd.Series(list(customers))
        known = ibis.memtable(pd.DataFrame({"customer_id": ids.dropna().astype(str).unique()}))
        v = cols["customer_id"]
        checks.append(("customer_id", "unknown customer_id (not in customers)",
                       v.notnull() & ~v.cast("string").isin(known.customer_id)))
    flags = [cond.fill_null(False) for _, _, cond in checks]
    any_bad = ibis.or_(*flags) if flags else ibis.literal(False)
    counts_row = raw.aggregate(rows_in=raw.count(), rows_bad=any_bad.cast("int64").sum(),
                               **{f"c{i}": f.cast("int64").sum() for i, f in enumerate(flags)}).to_pandas()
    rows_in = int(counts_row["rows_in"].iloc[0])
    rows_bad = int(counts_row["rows_bad"].fillna(0).iloc[0])
    order_id = cols.get("order_id")
    frames, counts = [], []
    for i, ((col, message, _), flag) in enumerate(zip(checks, flags)):
        n = int(counts_row[f"c{i}"].fillna(0).iloc[0])
        counts.append((col, message, n))
        if not n:
            continue
        bad = raw.filter(flag).select(
            order_id=order_id.cast("string") if order_id is not None else ibis.null("string"),
            value=cols[col].cast("string")).limit(int(limit)).to_pandas()
        frames.append(pd.DataFrame({
            "file": lines.label, "line": pd.array([pd.NA] * len(bad), dtype="Int64"), "column": col,
            "value": bad["value"].fillna("").astype(str).to_numpy(),
            "message": [f"{message} (order_id {o})" if isinstance(o, str) else message
                        for o in bad["order_id"]]}))
    problems = _problem_frame(frames)
    counts = pd.DataFrame(counts, columns=["column", "message", "rows"]).astype({"rows": "int64"})
    return OrdersCheck(problems, rows_in, rows_in - rows_bad, counts)


def table_columns(lines_table: str, backend: str, database: str | None = None, config=None) -> dict:
    """Column name -> SQL type name of a database table (for the column mapping)."""
    import ibis

    section = engine_settings(config)
    if backend == "duckdb":
        section["duckdb"]["database"] = database
        con = ibis.duckdb.from_connection(duckdb_connection({"engine": section}))
    else:
        con = connect(backend, config)
    schema, _, name = lines_table.rpartition(".")
    try:
        t = con.table(name, database=schema or None)
    except Exception as exc:
        raise BestandError(f"data.orders_table: no table {lines_table} on the {backend} engine "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}).") from None
    return {str(k): str(v) for k, v in t.schema().items()}


def table_fingerprint(table: str, config=None) -> str:
    """A digest of a database table's content (rows and a sum of row hashes), for cache keys.

    Files are fingerprinted by their bytes (:func:`bestandlib.io.fingerprint`); a table can change
    without any file changing, so its content is summarised in one aggregation on the engine
    (``engine.backend``; DuckDB tables live in ``engine.duckdb.database``).
    """
    import hashlib

    import ibis

    settings = engine_settings(config)
    lines = OrderLines(None, (), table=table, database=settings["duckdb"].get("database"),
                       backend=settings["backend"])
    con = lines.ibis_connection(config)
    schema, _, name = table.rpartition(".")
    raw = con.table(name, database=schema or None)
    row = ibis.literal("")
    for col in raw.columns:
        row = row + "|" + raw[col].cast("string").fill_null("")
    # modulo a prime: the sum of 100 million row hashes stays far inside a 64-bit integer
    digest = raw.aggregate(n=raw.count(), h=(row.hash() % 1_000_000_007).sum()).to_pandas()
    text = f"{table}|{list(raw.columns)}|{int(digest['n'].iloc[0])}|{digest['h'].iloc[0]}"
    return hashlib.sha256(text.encode()).hexdigest()
