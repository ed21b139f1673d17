"""The canonical :class:`Tables` and the entry points that load and validate a data folder.

:func:`load_tables`, :func:`validate`, :func:`inspect` and :func:`row_counts`; :func:`_load` runs
the steps of the other modules of :mod:`bestandlib.io` over every table.
"""
from __future__ import annotations

import csv
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from bestandlib import schemas
from bestandlib.engine import OrderLines
from bestandlib.errors import BestandError, DataValidationError
from bestandlib.io.problems import (
    _empty_problems, _empty_excluded, _empty_excluded_lines, _summarise_excluded, _Problems
)
from bestandlib.io.files import _data_config, _check_dir, _discover, fingerprint
from bestandlib.io.checks import (_load_table, _canonical_frame, _columns_with_values, _check_actions_log,
                                  _check_cross, _exclude)
from bestandlib.io.large import (
    _orders_in_engine, _load_orders_in_engine, _load_orders_csv_in_engine, _load_orders_from_table
)


#: Optional tables that are empty frames (not ``None``) in :class:`Tables` when the data have none;
#: whether they were given says :meth:`Tables.has`.
EMPTY_WHEN_ABSENT = ("contacts", "complaints", "potentials")


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


@dataclass
class Tables:
    """The validated canonical tables of one data folder.

    Attributes
    ----------
    customers, orders, contacts, complaints, potentials : DataFrame
        Canonical columns (docs/architecture.md): ids ``str``, dates ``datetime64[ns]`` at
        midnight, money ``float64`` EUR.
        ``contacts``, ``complaints`` and ``potentials`` are optional: an empty frame with the
        canonical columns when the data folder has none (:meth:`has` tells).
    surveys, actions_log : DataFrame or None
        ``None`` when the data folder has no such file.
    excluded : DataFrame
        ``table, reason, rows, net_revenue``: rows the analyses leave out (zero-value order lines).
    sources : dict
        table -> ``{"path", "format", "dialect", "rows"}`` as read.
    fingerprint : str
        sha256 over the input files' names and bytes (see :func:`fingerprint`).
    warnings : DataFrame
        Problems of severity "warning" (same columns as :func:`validate` returns).
    excluded_lines : DataFrame
        The excluded lines (``table, reason, date, net_revenue, rows``; one row per line, or per day
        when the engine counted them), so :meth:`cut` can recount ``excluded``.

    ``orders`` is a :class:`bestandlib.engine.OrderLines` instead of a DataFrame for order logs of at
    least ``data.engine_min_order_lines`` rows (Parquet, or CSV converted chunk by chunk) and for a
    database table (``data.orders_table``):
    the engine validates and aggregates them without loading them into pandas
    (:func:`bestandlib.panel.build_panel` takes either).
    """

    customers: pd.DataFrame
    orders: "pd.DataFrame | OrderLines"
    contacts: pd.DataFrame
    complaints: pd.DataFrame
    potentials: pd.DataFrame
    surveys: pd.DataFrame | None = None
    actions_log: pd.DataFrame | None = None
    excluded: pd.DataFrame = field(default_factory=_empty_excluded)
    sources: dict = field(default_factory=dict)
    fingerprint: str = ""
    warnings: pd.DataFrame = field(default_factory=_empty_problems, repr=False)
    excluded_lines: pd.DataFrame = field(default_factory=_empty_excluded_lines, repr=False)

    def has(self, table: str) -> bool:
        """Whether the data folder has ``table`` with at least one row (optional tables may be absent:
        ``contacts``, ``complaints`` and ``potentials`` are then empty frames, ``surveys`` and
        ``actions_log`` are ``None``)."""
        return table in self.sources and int(self.sources[table].get("rows") or 0) > 0

    @property
    def orders_in_engine(self) -> bool:
        """True when the order lines stay in their files or table (:class:`bestandlib.engine.OrderLines`)."""
        return isinstance(self.orders, OrderLines)

    def order_date_range(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """(first, last) order date (``NaT`` without orders)."""
        if self.orders_in_engine:
            return self.orders.date_range()
        dates = self.orders["order_date"]
        return dates.min(), dates.max()

    def __repr__(self) -> str:
        sizes = ", ".join(
            f"{t}={len(df):,}" if df is not None else f"{t}=None"
            for t in schemas.TABLE_NAMES
            for df in [getattr(self, t)]
        )
        return f"Tables({sizes}, excluded={int(self.excluded['rows'].sum()):,})"

    def max_date(self) -> pd.Timestamp:
        """The newest order date (``NaT`` without orders)."""
        return self.order_date_range()[1]

    def cut(self, until) -> "Tables":
        """The tables as known on ``until``: every dated row after ``until`` removed.

        Customers are kept. A complaint resolved after ``until`` counts as open (``resolved_on``
        becomes NaT), so a report for a past quarter shows what was known at its end.
        """
        until = pd.Timestamp(until)
        cut = {}
        for table in schemas.TABLE_NAMES:
            df = getattr(self, table)
            date_col = schemas.CONTRACT[table]["date"]
            if df is None or date_col is None:
                cut[table] = df
                continue
            if isinstance(df, OrderLines):
                cut[table] = df.cut(until)
                continue
            df = df.loc[df[date_col] <= until].reset_index(drop=True)
            if table == "complaints":
                df = df.assign(resolved_on=df["resolved_on"].where(df["resolved_on"] <= until))
            cut[table] = df
        lines = self.excluded_lines
        lines = lines.loc[lines["date"].isna() | (lines["date"] <= until)].reset_index(drop=True)
        return dataclasses.replace(
            self, **cut, excluded_lines=lines, excluded=_summarise_excluded(lines)
        )

    # ---- cache -------------------------------------------------------------------------------
    def to_parquet(self, directory) -> Path:
        """Write the tables (and excluded, warnings, sources, fingerprint) as a fast cache."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for table in schemas.TABLE_NAMES:
            df = getattr(self, table)
            target = directory / f"{table}.parquet"
            if df is None or isinstance(df, OrderLines):  # lines in the engine: a reference in _meta
                target.unlink(missing_ok=True)
            else:
                df.to_parquet(target, index=False)
        self.excluded.to_parquet(directory / "_excluded.parquet", index=False)
        self.excluded_lines.to_parquet(directory / "_excluded_lines.parquet", index=False)
        self.warnings.to_parquet(directory / "_warnings.parquet", index=False)
        meta = {"format": 3, "fingerprint": self.fingerprint, "sources": self.sources,
                "order_lines": self.orders.to_dict() if self.orders_in_engine else None}
        (directory / "_meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        return directory

    @classmethod
    def from_parquet(cls, directory) -> "Tables":
        """Read a cache written by :meth:`to_parquet`."""
        directory = Path(directory)
        meta_file = directory / "_meta.json"
        if not meta_file.is_file():
            raise BestandError(f"{directory} is not a bestand table cache (no _meta.json).")
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta.get("format") != 3:
            raise BestandError(f"{directory} is a table cache of an older version of the kit.")
        frames = {}
        for table in schemas.TABLE_NAMES:
            path = directory / f"{table}.parquet"
            frames[table] = _read_cached(path, table) if path.is_file() else None
        if meta.get("order_lines"):
            frames["orders"] = OrderLines.from_dict(meta["order_lines"])
        return cls(
            **frames,
            excluded=_read_cached(directory / "_excluded.parquet"),
            excluded_lines=_read_cached(directory / "_excluded_lines.parquet"),
            warnings=_read_cached(directory / "_warnings.parquet"),
            sources=meta["sources"],
            fingerprint=meta["fingerprint"],
        )


def _read_cached(path: Path, table: str | None = None) -> pd.DataFrame:
    df = pq.read_table(path).to_pandas(date_as_object=False)
    for col in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[col]):
            df[col] = df[col].astype("datetime64[ns]")
    return df


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def _load(data_dir, config, today):
    data_dir = _check_dir(data_dir)
    section = _data_config(config)
    today = pd.Timestamp.today().normalize() if today is None else pd.Timestamp(today)
    problems = _Problems()
    orders_table = section.get("orders_table")
    found = _discover(data_dir, problems, {"orders": orders_table} if orders_table else {})
    frames, sources = {}, {}
    in_engine = "orders" in found and _orders_in_engine(*found["orders"], section)
    for table, (path, fmt) in found.items():
        if table == "orders" and in_engine:
            continue  # after the customers: the engine checks the ids against them
        df, src = _load_table(table, path, fmt, section, today, problems)
        if df is not None:
            frames[table], sources[table] = df, src
    engine_lines = engine_info = engine_excluded = None
    if in_engine or orders_table:
        from bestandlib.config import ensure_config

        customers = frames.get("customers")
        known = customers["customer_id"] if customers is not None and "customer_id" in customers else None
        if orders_table:
            loaded = _load_orders_from_table(str(orders_table), section, ensure_config(config), today, known,
                                             problems)
        elif found["orders"][1] == "csv":
            loaded = _load_orders_csv_in_engine(found["orders"][0], section, ensure_config(config), today,
                                                known, problems)
        else:
            loaded = _load_orders_in_engine(found["orders"][0], section, ensure_config(config), today, known,
                                            problems)
        if loaded is not None:
            engine_lines, engine_info, engine_excluded = loaded
    _check_cross(frames, sources, problems)
    if frames.get("actions_log") is not None:
        from bestandlib.config import ensure_config

        _check_actions_log(frames, sources, (ensure_config(config).get("actions") or {}).get("measures") or {},
                           problems)
    problems = problems.frame()
    tables = None
    has_errors = (problems["severity"] == "error").any()
    have = set(frames) | ({"orders"} if engine_lines is not None else set())
    if not has_errors and all(t in have for t in schemas.REQUIRED_TABLES):
        excluded_lines = _exclude(frames, section)
        if engine_excluded is not None:
            excluded_lines = pd.concat([excluded_lines, engine_excluded[excluded_lines.columns]],
                                       ignore_index=True)
        info = {
            t: {"path": str(s.path), "format": s.format, "dialect": dict(s.dialect),
                "rows": int(len(s.lines)), "columns": _columns_with_values(frames[t])}
            for t, s in sources.items()
        }
        if engine_lines is not None:
            frames["orders"], info["orders"] = engine_lines, engine_info
        for table in EMPTY_WHEN_ABSENT:  # absent optional tables the analyses read as empty frames
            if table not in frames:
                frames[table] = _canonical_frame(table, pd.DataFrame(index=range(0)))
        tables = Tables(
            **{t: frames.get(t) for t in schemas.TABLE_NAMES},
            excluded=_summarise_excluded(excluded_lines),
            excluded_lines=excluded_lines,
            sources=info,
            fingerprint=fingerprint(data_dir),
            warnings=problems.loc[problems["severity"] == "warning"].reset_index(drop=True),
        )
    return tables, problems


def validate(data_dir, config=None, today=None) -> pd.DataFrame:
    """Every problem of the data folder against the data contract.

    Parameters
    ----------
    data_dir : str or Path
        Folder holding one file per table.
    config : dict, optional
        The full configuration (``config["data"]`` is used); ``None`` means the defaults.
    today : Timestamp, optional
        Dates after it are "in the future". Default: the current date.

    Returns
    -------
    DataFrame
        ``file, line, column, value, message, severity`` - one row per problem, ordered by file
        and line. ``line`` is the line in the source file (header = 1, first data row = 2; for
        Parquet the 1-based row number), ``<NA>`` for problems of a whole file. ``severity`` is
        ``"error"`` or ``"warning"``.

    Raises
    ------
    BestandError
        Only when ``data_dir`` does not exist or is not a folder (or for a bad ``config``).
    """
    return _load(data_dir, config, today)[1]


def inspect(data_dir, config=None, today=None) -> tuple[Tables | None, pd.DataFrame]:
    """Both results of one validation: the :class:`Tables` (None when there are errors) and the problems."""
    return _load(data_dir, config, today)


def row_counts(tables: Tables) -> pd.DataFrame:
    """Per table: rows read, rows left out by the analyses and rows used, and who read them.

    ``read_by`` is ``pandas``, or the engine (``duckdb``, ``pyspark``) for order lines that stay in
    their Parquet files or database table. Every row
    read is either used or counted as excluded, so nothing disappears silently.
    """
    excluded = tables.excluded.groupby("table")["rows"].sum() if len(tables.excluded) else pd.Series(dtype="int64")
    rows = []
    for table in schemas.TABLE_NAMES:
        info = tables.sources.get(table)
        if info is None:
            continue
        read = int(info["rows"])
        out = int(excluded.get(table, 0))
        rows.append({"table": table, "file": Path(info["path"]).name, "rows_read": read,
                     "rows_excluded": out, "rows_used": read - out,
                     "read_by": info.get("engine") or "pandas"})
    return pd.DataFrame(rows, columns=["table", "file", "rows_read", "rows_excluded", "rows_used", "read_by"])


def load_tables(data_dir, config=None, today=None) -> Tables:
    """Read and validate the data folder into canonical :class:`Tables`.

    Raises
    ------
    DataValidationError
        When any problem of severity "error" exists; ``.problems`` holds them all (format them
        with :func:`format_problems`). Warnings are kept on ``Tables.warnings``.
    """
    tables, problems = _load(data_dir, config, today)
    if tables is None:
        raise DataValidationError(problems)
    return tables
