"""Large order logs: engine hand-off for Parquet, chunked CSV, database tables.

Order logs of at least ``data.engine_min_order_lines`` lines never sit in pandas as a whole: Parquet
is checked by the engine (:func:`bestandlib.engine.check_orders`), a CSV chunk by chunk
(:data:`CSV_CHUNK_LINES` lines at a time) through the checks of :mod:`bestandlib.io.checks`, a
database table by Ibis queries.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from bestandlib import schemas
from bestandlib.errors import ConfigError
from bestandlib.io.problems import PROBLEM_COLUMNS, _Problems
from bestandlib.io.files import _ignored
from bestandlib.io.dialect import (
    _detect_encoding, _binary_kind, _detect_sep, _without_blank_lines, _column_target, _rename
)
from bestandlib.io.checks import _load_table, _known_ids, _check_known, ZERO_VALUE_REASON, ZERO_REVENUE_REASON


def _engine_min_lines(section) -> int | None:
    value = section.get("engine_min_order_lines", 5_000_000)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"data.engine_min_order_lines must be a whole number >= 0 or null, not {value!r}.")
    return value


def _orders_in_engine(path: Path, fmt: str, section) -> bool:
    """Whether the orders file has at least ``data.engine_min_order_lines`` rows (Parquet: from the
    footers; CSV: its newlines)."""
    threshold = _engine_min_lines(section)
    if threshold is None:
        return False
    if fmt == "csv":
        return path.is_file() and _csv_data_lines(path) >= threshold
    parts = [p for p in sorted(path.rglob("*.parquet")) if not _ignored(p)] if path.is_dir() else [path]
    if not parts:
        return False
    try:  # the row counts are in the files' footers: no data is read
        rows = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
    except Exception:  # unreadable: let the pandas path report it with the file name
        return False
    return rows >= threshold


def _engine_columns(types: dict, label: str, section, problems: _Problems) -> tuple | None:
    """(canonical, source name, source type) of the order columns the engine reads, or None when a
    required column is missing (reported, with the same messages as for files pandas reads)."""
    mapping = section["columns"].get("orders") or {}
    renamed, missing = _rename("orders", pd.DataFrame(columns=list(types)), label, mapping, problems)
    if missing:
        return None
    source = {}
    for name in types:  # the first source column wins, as in _rename
        target = _column_target("orders", name, mapping)
        if target in renamed.columns and target not in source:
            source[target] = name
    return tuple((canon, source[canon], types[source[canon]]) for canon in renamed.columns)


def _relative_label(file: str, base: Path) -> str:
    """A file as problems name it: relative to the data folder (``orders/year=2024/part-0.parquet``)."""
    try:
        return Path(file).relative_to(base).as_posix()
    except ValueError:
        return str(file)


def _add_check(found: pd.DataFrame, counts: pd.DataFrame, label: str, problems: _Problems) -> None:
    """The engine's problems, plus one line per check that failed more rows than it lists."""
    problems.frames.append(found[PROBLEM_COLUMNS])
    for row in counts.itertuples(index=False):
        # a table's messages end in "(order_id ...)": match on the start
        shown = int((found["column"].eq(row.column) & found["message"].str.startswith(row.message)).sum())
        if row.rows > shown:  # the problem table lists the first ones; the count is complete
            problems.add(label, None, row.column, "",
                         f"{row.message}: {row.rows:,} rows in all, the first {shown:,} are listed")


def _engine_result(lines, rows_valid: int, info: dict, odd: int, excluded: pd.DataFrame, label: str,
                   problems: _Problems):
    """(OrderLines, source info, excluded lines) after the engine's checks found no error.

    ``odd``: lines with negative quantity and positive revenue (a warning); ``excluded``: zero-value
    lines per day (``date, net_revenue, rows``), left out when ``data.exclude_zero_value_lines``.
    """
    if odd:
        problems.add(label, None, "quantity", "",
                     f"negative quantity with positive net_revenue (check the sign): {odd:,} rows",
                     "warning")
    if not lines.exclude_zero_value or excluded.empty:
        excluded = None
    else:
        no_margin = not any(canon == "contribution_margin" for canon, _, _ in lines.columns)
        excluded = excluded.assign(table="orders", reason=ZERO_REVENUE_REASON if no_margin else ZERO_VALUE_REASON,
                                   date=pd.to_datetime(excluded["date"]).astype("datetime64[ns]"),
                                   rows=excluded["rows"].astype("int64"))
        info["rows_excluded"] = int(excluded["rows"].sum())
    info["rows_used"] = rows_valid - info.get("rows_excluded", 0)
    info["columns"] = [canon for canon, _, _ in lines.columns]  # optional columns may be absent
    return dataclasses.replace(lines, rows=info["rows_used"]), info, excluded


def _load_orders_in_engine(path: Path, section, config, today, customers, problems: _Problems):
    """Validate Parquet order lines with DuckDB queries; returns (OrderLines, source info, excluded).

    The checks are those of :func:`bestandlib.engine.check_orders` (same messages as the pandas path,
    file and 1-based row number per problem), plus the zero-value exclusion and the sign warning.
    Rows in and out are counted and kept in ``Tables.sources``, so nothing disappears silently.
    """
    import duckdb

    from bestandlib import engine

    label = path.name
    pattern = engine.parquet_pattern(path).replace("'", "''")
    con = engine.duckdb_connection(config)
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{pattern}', union_by_name = true, "
                                f"hive_partitioning = false)").fetchall()
    except duckdb.Error as exc:
        problems.add(label, None, None, "", f"not a readable Parquet file or folder ({exc})")
        return None
    finally:
        con.close()
    types = {str(name).strip(): str(t) for name, t, *_ in described}
    columns = _engine_columns(types, label, section, problems)
    if columns is None:
        return None
    mapping = {canon: src for canon, src, _ in columns}
    check = engine.check_orders(path, customers=customers, today=today, config=config,
                                columns=mapping)
    found = check.problems.copy()
    found["file"] = [_relative_label(f, path.parent) for f in found["file"]]
    _add_check(found, check.counts, label, problems)
    lines = engine.OrderLines(str(path), columns,
                              exclude_zero_value=bool(section.get("exclude_zero_value_lines", True)))
    info = {"path": str(path), "format": "parquet", "dialect": {}, "rows": check.rows_in,
            "rows_valid": check.rows_out, "engine": "duckdb"}
    if check.rows_out < check.rows_in:
        return lines, info, None
    odd, excluded = _duckdb_extras(lines, config)
    return _engine_result(lines, check.rows_out, info, odd, excluded, label, problems)


def _duckdb_extras(lines, config) -> tuple[int, pd.DataFrame]:
    """Lines with negative quantity and positive revenue, and the zero-value lines per day (DuckDB)."""
    unfiltered = dataclasses.replace(lines, exclude_zero_value=False)
    con = unfiltered.connection(config)
    try:
        con.execute(f"CREATE TEMP VIEW lines AS {unfiltered.select_sql()}")
        odd = con.sql("SELECT count(*) FROM lines WHERE quantity < 0 AND net_revenue > 0").fetchall()[0][0]
        excluded = con.sql(
            "SELECT order_date AS date, sum(net_revenue) AS net_revenue, count(*) AS rows FROM lines "
            "WHERE net_revenue = 0 AND coalesce(contribution_margin, 0) = 0 GROUP BY 1 ORDER BY 1").df()
    finally:
        con.close()
    return int(odd), excluded


#: Lines of a large CSV parsed and checked at a time (about 0.5-1 GB of pandas memory).
CSV_CHUNK_LINES = 1_000_000


def _csv_data_lines(path: Path) -> int:
    """Newlines in the file (one pass over the bytes, about 1 s per GB): its data lines, roughly."""
    n = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            n += block.count(b"\n")
    return max(n - 1, 0)


def _load_orders_csv_in_engine(path: Path, section, config, today, customers, problems: _Problems):
    """A large orders CSV: parsed and checked in chunks by the pandas path, handed to the engine.

    Each chunk of :data:`CSV_CHUNK_LINES` lines goes through exactly the checks and messages of a small
    file (:func:`_load_table`; file lines counted across chunks); the dialect detected in the first
    chunk is pinned for the rest. The canonical lines are written as Parquet parts next to the table
    cache (``<interim>/lines/<key>/``), which the engine then reads like any Parquet order log: memory
    stays at one chunk, not the file. Returns (OrderLines, source info, excluded) or None on errors.
    """
    from bestandlib import engine, paths

    label = path.name
    pin = dict(section["dialect"].get("orders") or {})
    with open(path, "rb") as f:
        sample = f.read(8 << 20)
    sample = sample[: sample.rfind(b"\n") + 1] or sample  # no character cut in half
    encoding = pin.get("encoding") or _detect_encoding(sample)
    binary = _binary_kind(sample, encoding)
    if binary:
        problems.add(label, None, None, "", binary)
        return None
    sep = pin.get("sep") or _detect_sep(sample[:200_000].decode(encoding, errors="replace"))
    pin.update(encoding=encoding, sep=sep)
    key = hashlib.sha256(f"{path.resolve()}|{path.stat().st_size}|{path.stat().st_mtime_ns}|"
                         f"{json.dumps(section, sort_keys=True, default=str)}".encode()).hexdigest()[:20]
    target = paths.INTERIM_DIR / "lines" / key
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=target.parent))
    rows_in, n_errors_before = 0, sum(int((f["severity"] == "error").sum()) for f in problems.frames)
    known = _known_ids(customers) if customers is not None else None
    try:
        reader = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_filter=False,
                             skip_blank_lines=False, encoding=encoding, engine="c", quotechar='"',
                             chunksize=CSV_CHUNK_LINES)
        first_line = 2  # header is line 1
        for i, raw in enumerate(reader):
            n = len(raw)
            raw, lines = _without_blank_lines(raw, first_line)
            first_line += n
            rows_in += len(raw)
            if raw.empty:
                continue
            df, src = _load_table("orders", path, "csv", section, today, problems,
                                  read=(raw, label, lines, {"encoding": encoding, "sep": sep}), pin=pin)
            if df is None:
                return None
            for k in ("decimal", "thousands", "date_format"):  # later chunks parse like the first
                if src.dialect.get(k) is not None:
                    pin.setdefault(k, src.dialect[k])
            if known is not None:
                _check_known(df, src, known, problems)
            given = [c for c in df.columns if c in src.raw.columns]  # optional columns may be absent
            df.to_parquet(work / f"part-{i:05d}.parquet", index=False)
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        problems.add(label, int(m.group(2)) if m else None, None, "",
                     f"line has {m.group(3)} fields, the header has {m.group(1)} (separator {sep!r}; "
                     "a stray separator or quote?)" if m else f"cannot read as CSV: {exc}")
        return None
    except (UnicodeDecodeError, LookupError) as exc:
        problems.add(label, None, None, "", f"cannot decode with encoding {encoding!r} (detected on the "
                     f"first 8 MB; pin data.dialect.orders.encoding): {exc}")
        return None
    finally:
        if sum(int((f["severity"] == "error").sum()) for f in problems.frames) > n_errors_before \
                or not any(work.iterdir()):
            shutil.rmtree(work, ignore_errors=True)
    if not work.exists():
        return None
    shutil.rmtree(target, ignore_errors=True)
    os.replace(work, target)
    columns = tuple((c, c, engine.ORDER_LINE_TYPES[c]) for c in schemas.CONTRACT["orders"]["columns"]
                    if c in given)
    lines = engine.OrderLines(str(target), columns,
                              exclude_zero_value=bool(section.get("exclude_zero_value_lines", True)))
    info = {"path": str(path), "format": "csv", "dialect": {k: v for k, v in pin.items()},
            "rows": rows_in, "rows_valid": rows_in, "engine": "duckdb"}
    odd, excluded = _duckdb_extras(lines, config)
    return _engine_result(lines, rows_in, info, odd, excluded, label, problems)


def _load_orders_from_table(name: str, section, config, today, customers, problems: _Problems):
    """Validate order lines in a database table where they lie (``data.orders_table``).

    Same checks as for files (:func:`bestandlib.engine.check_orders_table`), run as Ibis queries on
    the configured engine; returns (OrderLines, source info, excluded) like :func:`_load_orders_in_engine`.
    """
    from bestandlib import engine

    settings = engine.engine_settings(config)
    backend, database = settings["backend"], settings["duckdb"].get("database")
    label = f"table {name}"
    columns = _engine_columns(engine.table_columns(name, backend, database, config), label, section, problems)
    if columns is None:
        return None
    lines = engine.OrderLines(None, columns,
                              exclude_zero_value=bool(section.get("exclude_zero_value_lines", True)),
                              table=name, database=database if backend == "duckdb" else None,
                              backend=backend)
    check = engine.check_orders_table(lines, customers=customers, today=today, config=config)
    _add_check(check.problems, check.counts, label, problems)
    info = {"path": label, "format": "table", "dialect": {}, "rows": check.rows_in,
            "rows_valid": check.rows_out, "engine": backend}
    if check.rows_out < check.rows_in:
        return lines, info, None
    t = dataclasses.replace(lines, exclude_zero_value=False).ibis_table(lines.ibis_connection(config))
    odd = int(t.filter((t.quantity < 0) & (t.net_revenue > 0)).count().to_pandas())
    zero = t.filter((t.net_revenue == 0) & (t.contribution_margin.fill_null(0) == 0))
    excluded = (zero.group_by(date=zero.order_date)
                .aggregate(net_revenue=zero.net_revenue.sum(), rows=zero.count())
                .order_by("date").to_pandas())
    return _engine_result(lines, check.rows_out, info, odd, excluded, label, problems)
