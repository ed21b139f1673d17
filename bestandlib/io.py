"""Loading and validation of the data contract.

A data folder holds one file per table (``customers``, ``orders``, ``contacts``, ``complaints``,
``potentials`` and optionally ``surveys``) as CSV (``.csv``, ``.txt``, ``.tsv``), Parquet or a folder
of Parquet files. :func:`load_tables` returns the validated, canonical :class:`Tables`;
:func:`validate` returns every problem found, each with file, line in the source file, column and
the offending text, so ``bestand validate DIR`` can print them all at once.

How a file is read (see docs/data-contract.md):

1. CSV files: the dialect is detected per file - encoding (BOM, UTF-8, else cp1252), separator
   (``;`` ``,`` tab ``|``) - and every column is read as text, so the line numbers and the original
   text of a bad cell stay at hand. Parquet keeps its types.
2. Column names are mapped onto the canonical names (``config["data"]["columns"]`` plus a lenient
   match on case and spaces).
3. Numbers and dates are parsed vectorised with the detected (or pinned) decimal/thousands marks
   and date format; cells that do not parse become problems.
4. The value checks (ranges, allowed sets, no future dates) run as pandera schemas
   (:mod:`bestandlib.schemas`) with ``lazy=True``; cross-table checks (duplicate keys, unknown
   customers) follow.

Order logs of at least ``data.engine_min_order_lines`` lines never sit in pandas as a whole: Parquet is
checked by the engine (:func:`bestandlib.engine.check_orders`), a CSV chunk by chunk through the steps
above, a database table by Ibis queries; ``Tables.orders`` is then a :class:`bestandlib.engine.OrderLines`.
"""
from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import io as _io
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pyarrow
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from bestandlib import schemas
from bestandlib.engine import OrderLines
from bestandlib.errors import BestandError, ConfigError, DataValidationError

__all__ = ["Tables", "validate", "inspect", "load_tables", "row_counts", "format_problems", "fingerprint"]

PROBLEM_COLUMNS = ["file", "line", "column", "value", "message", "severity"]
EXCLUDED_COLUMNS = ["table", "reason", "rows", "net_revenue"]

TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
SEPARATORS = (";", ",", "\t", "|")
DIALECT_KEYS = ("sep", "decimal", "thousands", "date_format", "encoding")

# Date formats tried in this order; the first that parses every value wins. The label is what a
# person sees in messages.
DATE_FORMATS = {
    "ISO8601": "YYYY-MM-DD",
    "%d.%m.%Y": "DD.MM.YYYY",
    "%d.%m.%Y %H:%M:%S": "DD.MM.YYYY hh:mm:ss",
    "%d.%m.%Y %H:%M": "DD.MM.YYYY hh:mm",
    "%d/%m/%Y": "DD/MM/YYYY",
    "%m/%d/%Y": "MM/DD/YYYY",
    "%d/%m/%Y %H:%M:%S": "DD/MM/YYYY hh:mm:ss",
    "%m/%d/%Y %H:%M:%S": "MM/DD/YYYY hh:mm:ss",
    "%d/%m/%Y %H:%M": "DD/MM/YYYY hh:mm",
    "%m/%d/%Y %H:%M": "MM/DD/YYYY hh:mm",
    "%d.%m.%y": "DD.MM.YY",
    "%d-%m-%Y": "DD-MM-YYYY",
}
_LATEST_PLAUSIBLE = pd.Timestamp("2100-12-31")
_DEFAULTS_FILE = Path(__file__).with_name("bestand.yml")


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def _empty_problems() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file": pd.Series(dtype=str),
            "line": pd.Series(dtype="Int64"),
            "column": pd.Series(dtype=str),
            "value": pd.Series(dtype=str),
            "message": pd.Series(dtype=str),
            "severity": pd.Series(dtype=str),
        }
    )


def _empty_excluded() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "table": pd.Series(dtype=str),
            "reason": pd.Series(dtype=str),
            "rows": pd.Series(dtype="int64"),
            "net_revenue": pd.Series(dtype="float64"),
        }
    )


def _empty_excluded_lines() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "table": pd.Series(dtype=str),
            "reason": pd.Series(dtype=str),
            "date": pd.Series(dtype="datetime64[ns]"),
            "net_revenue": pd.Series(dtype="float64"),
            "rows": pd.Series(dtype="int64"),
        }
    )


def _summarise_excluded(lines: pd.DataFrame) -> pd.DataFrame:
    if lines is None or lines.empty:
        return _empty_excluded()
    out = (
        lines.groupby(["table", "reason"], sort=False)
        .agg(rows=("rows", "sum"), net_revenue=("net_revenue", "sum"))
        .reset_index()
    )
    out["rows"] = out["rows"].astype("int64")
    return out[EXCLUDED_COLUMNS]


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
# Problems
# --------------------------------------------------------------------------------------------


class _Problems:
    """Collects problems as small frames (vectorised: one frame per check, not per row)."""

    def __init__(self):
        self.frames: list[pd.DataFrame] = []

    def add(self, file, line, column, value, message, severity="error"):
        self.frames.append(
            pd.DataFrame(
                {
                    "file": [str(file)],
                    "line": pd.array([line], dtype="Int64"),
                    "column": [column if column is not None else ""],
                    "value": ["" if value is None else str(value)],
                    "message": [message],
                    "severity": [severity],
                }
            )
        )

    def add_rows(self, src: "_Source", positions, column, message, severity="error", value=None):
        """One problem per row position of ``src`` (value: the original text of ``column``)."""
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size == 0:
            return
        if value is None:
            value = src.text(column, positions)
        files = src.files[positions] if isinstance(src.files, np.ndarray) else src.files
        self.frames.append(
            pd.DataFrame(
                {
                    "file": files,
                    "line": pd.array(src.lines[positions], dtype="Int64"),
                    "column": column,
                    "value": np.asarray(value, dtype=object),
                    "message": message,
                    "severity": severity,
                }
            )
        )

    def frame(self) -> pd.DataFrame:
        frames = [f for f in self.frames if len(f)]
        if not frames:
            return _empty_problems()
        out = pd.concat(frames, ignore_index=True)
        out["line"] = out["line"].astype("Int64")
        for col in ("file", "column", "value", "message", "severity"):
            out[col] = out[col].astype(str)
        # Sorted by file and line, the order a person fixes them in.
        order = out.assign(_l=out["line"].fillna(0)).sort_values(["file", "_l"], kind="stable")
        return out.loc[order.index].reset_index(drop=True)[PROBLEM_COLUMNS]


@dataclass
class _Source:
    """Where the rows of one table came from: file name and source line per row."""

    table: str
    path: Path
    format: str
    files: np.ndarray | str
    lines: np.ndarray
    raw: pd.DataFrame  # original cells (strings for CSV, typed for Parquet), canonical names
    dialect: dict = field(default_factory=dict)
    missing: tuple = ()  # required columns the file lacks

    @property
    def name(self) -> str:
        return self.path.name

    def text(self, column, positions) -> np.ndarray:
        if column not in self.raw.columns:
            return np.full(len(positions), "", dtype=object)
        values = self.raw[column].iloc[positions]
        if pd.api.types.is_datetime64_any_dtype(values) and (values.dropna() == values.dropna().dt.normalize()).all():
            # a typed date at midnight reads as a date, as the engine's checks print it
            return values.dt.strftime("%Y-%m-%d").fillna("").to_numpy(dtype=object)
        return values.astype(object).where(values.notna(), "").astype(str).to_numpy(dtype=object)


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _default_data_section() -> str:
    return json.dumps(yaml.safe_load(_DEFAULTS_FILE.read_text(encoding="utf-8"))["data"])


def _data_config(config) -> dict:
    """The ``data`` section with defaults filled in; checks table and dialect keys."""
    defaults = json.loads(_default_data_section())
    if isinstance(config, (str, Path)):  # a user file: merged and key-checked by config
        from bestandlib.config import load_config

        config = load_config(config)
    section = dict(defaults)
    section.update((config or {}).get("data") or {})
    for key in ("dialect", "columns"):
        section[key] = dict(section.get(key) or {})
        for table, value in section[key].items():
            if table not in schemas.CONTRACT:
                raise ConfigError(
                    f"data.{key}.{table}: unknown table; expected one of "
                    + ", ".join(schemas.TABLE_NAMES)
                )
            if not isinstance(value, dict):
                raise ConfigError(f"data.{key}.{table} must be a mapping.")
    for table, pin in section["dialect"].items():
        for k in pin:
            if k not in DIALECT_KEYS:
                raise ConfigError(
                    f"data.dialect.{table}.{k}: unknown key; expected one of "
                    + ", ".join(DIALECT_KEYS)
                )
    for table, mapping in section["columns"].items():
        for source, target in mapping.items():
            if target not in schemas.CONTRACT[table]["columns"]:
                raise ConfigError(
                    f"data.columns.{table}.{source}: {target!r} is not a column of {table}; "
                    "expected one of " + ", ".join(schemas.CONTRACT[table]["columns"])
                )
    return section


# --------------------------------------------------------------------------------------------
# Finding the files
# --------------------------------------------------------------------------------------------


def _check_dir(data_dir) -> Path:
    data_dir = Path(data_dir)
    if not data_dir.exists():
        raise BestandError(f"The data folder {data_dir} does not exist.")
    if not data_dir.is_dir():
        raise BestandError(f"{data_dir} is not a folder; give the folder that holds the tables.")
    return data_dir


def _ignored(path: Path) -> bool:
    return path.name.startswith(("_", "."))


def _discover(data_dir: Path, problems: _Problems, external=()) -> dict[str, tuple[Path, str]]:
    """table -> (path, format) for the files present; reports missing, Excel and unknown files.

    ``external``: tables read from elsewhere (``data.orders_table``): a file for them is an error.
    """
    found: dict[str, list[tuple[Path, str]]] = {}
    excel: dict[str, Path] = {}
    for path in sorted(data_dir.iterdir()):
        if _ignored(path):
            continue
        stem, suffix = path.stem.lower(), path.suffix.lower()
        if path.is_dir():
            kind = "parquet" if path.name.lower() in schemas.CONTRACT else None
            stem = path.name.lower()
        elif suffix in TEXT_SUFFIXES:
            kind = "csv"
        elif suffix in PARQUET_SUFFIXES:
            kind = "parquet"
        elif suffix in EXCEL_SUFFIXES:
            kind = "excel"
        else:
            kind = None
        if kind is None or stem not in schemas.CONTRACT:
            problems.add(
                path.name, None, None, "",
                "unknown file, ignored (expected " + ", ".join(schemas.TABLE_NAMES) + ")",
                "warning",
            )
        elif kind == "excel":
            excel[stem] = path
        else:
            found.setdefault(stem, []).append((path, kind))
    tables = {}
    for table in schemas.TABLE_NAMES:
        candidates = found.get(table, [])
        if table in external:
            if candidates:
                problems.add(candidates[0][0].name, None, None, "",
                             f"{table} come from the table {external[table]} (data.{table}_table); "
                             "remove this file or the setting")
            continue
        if len(candidates) > 1:
            names = ", ".join(p.name for p, _ in candidates)
            problems.add(candidates[0][0].name, None, None, "",
                         f"several files for table {table} ({names}); keep one")
        elif candidates:
            tables[table] = candidates[0]
            if table in excel:
                problems.add(excel[table].name, None, None, "",
                             f"Excel file ignored; {candidates[0][0].name} is read", "warning")
        elif table in excel:
            problems.add(excel[table].name, None, None, "",
                         "Excel file given, export it as CSV (UTF-8, ';' or ',' separated)")
        elif schemas.CONTRACT[table]["required"]:
            problems.add(f"{table}.csv", None, None, "",
                         f"required table {table} is missing: no {table}.csv or {table}.parquet "
                         "in the data folder")
    return tables


def _input_files(data_dir: Path) -> list[Path]:
    files = []
    for path in sorted(data_dir.iterdir()):
        if _ignored(path):
            continue
        if path.is_dir():
            files += [p for p in sorted(path.rglob("*")) if p.is_file() and not _ignored(p)]
        elif path.is_file():
            files.append(path)
    return files


def fingerprint(data_dir) -> str:
    """sha256 over the names and bytes of the input files (files starting with ``_``/``.`` skipped).

    Reads every byte once (about 0.1 s per 50 MB), cheap next to parsing; used as a cache key.
    """
    data_dir = _check_dir(data_dir)
    h = hashlib.sha256()
    for path in _input_files(data_dir):
        h.update(path.relative_to(data_dir).as_posix().encode("utf-8") + b"\0")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Reading CSV and Parquet
# --------------------------------------------------------------------------------------------


def _detect_encoding(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"  # Excel's "Unicode text" export
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"  # bytes cp1252 leaves undefined; latin-1 decodes anything


def _binary_kind(data: bytes, encoding: str) -> str | None:
    head = data[:8]
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        return "Excel file given, export it as CSV (UTF-8, ';' or ',' separated)"
    if head.startswith(b"PAR1"):
        return "this is a Parquet file with a CSV name; rename it to .parquet"
    if not encoding.startswith("utf-16") and b"\x00" in data[:65536]:
        return "binary file, not a text CSV export"
    return None


def _detect_sep(sample: str) -> str:
    """The separator that splits the header and the sample lines into the same number of fields.

    Counting fields with :mod:`csv` (respecting quotes) is steadier on short samples than
    ``csv.Sniffer``, which guesses from character frequencies and trips over decimal commas.
    """
    lines = [ln for ln in sample.splitlines() if ln.strip()][:50]
    if not lines:
        return ","
    best, best_score = ",", (-1.0, 0)
    for sep in SEPARATORS:
        counts = np.array([len(row) for row in csv.reader(lines, delimiter=sep)])
        n_header = counts[0]
        if n_header < 2:
            continue
        score = (float(np.mean(counts == n_header)), int(n_header))
        if score > best_score:
            best, best_score = sep, score
    return best


def _read_csv(table, path: Path, pin: dict, problems: _Problems):
    name = path.name
    data = path.read_bytes()
    if not data.strip():  # an empty optional table counts as absent, with a warning
        problems.add(name, None, None, "", "file is empty",
                     "error" if schemas.CONTRACT[table]["required"] else "warning")
        return None
    encoding = pin.get("encoding") or _detect_encoding(data)
    binary = _binary_kind(data, encoding)
    if binary:
        problems.add(name, None, None, "", binary)
        return None
    sample = data[:200_000].decode(encoding, errors="replace")
    sep = pin.get("sep") or _detect_sep(sample)
    try:
        raw = pd.read_csv(
            _io.BytesIO(data), sep=sep, dtype=str, keep_default_na=False, na_filter=False,
            skip_blank_lines=False, encoding=encoding, engine="c", quotechar='"',
        )
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if m:
            problems.add(name, int(m.group(2)), None, "",
                         f"line has {m.group(3)} fields, the header has {m.group(1)} "
                         f"(separator {sep!r}; a stray separator or quote?)")
        else:
            problems.add(name, None, None, "", f"cannot read as CSV: {exc}")
        return None
    except (UnicodeDecodeError, LookupError) as exc:
        problems.add(name, None, None, "", f"cannot decode with encoding {encoding!r}: {exc}")
        return None
    except pd.errors.EmptyDataError:
        problems.add(name, None, None, "", "file is empty",
                     "error" if schemas.CONTRACT[table]["required"] else "warning")
        return None
    raw, lines = _without_blank_lines(raw, 2)  # header is line 1
    dialect = {"encoding": encoding, "sep": sep}
    return raw, name, lines, dialect


def _without_blank_lines(raw: pd.DataFrame, first_line: int):
    """``raw`` without blank lines (layout, not data) and the file line of each remaining row."""
    raw.columns = [str(c).strip().lstrip("\ufeff") for c in raw.columns]
    lines = np.arange(len(raw), dtype=np.int64) + first_line
    blank = np.array(raw.iloc[:, 0].fillna("").str.strip() == "", dtype=bool)
    if np.any(blank):
        candidates = np.flatnonzero(blank)
        sub = raw.iloc[candidates].fillna("")
        blank[candidates] = (sub.apply(lambda c: c.str.strip() == "")).all(axis=1).to_numpy()
    if blank.any():
        raw = raw.loc[~blank].reset_index(drop=True)
        lines = lines[~blank]
    return raw, lines


def _read_parquet(table, path: Path, problems: _Problems):
    parts = (
        [p for p in sorted(path.rglob("*.parquet")) if not _ignored(p)] if path.is_dir() else [path]
    )
    if not parts:
        problems.add(path.name, None, None, "", "folder holds no .parquet files")
        return None
    tables, files, lines = [], [], []
    for part in parts:
        label = part.relative_to(path.parent).as_posix()
        try:
            t = pq.read_table(part)
        except Exception as exc:  # pyarrow raises several types for garbage
            problems.add(label, None, None, "", f"not a readable Parquet file ({exc})")
            return None
        tables.append(t)
        files.append(np.full(t.num_rows, label, dtype=object))
        lines.append(np.arange(1, t.num_rows + 1, dtype=np.int64))  # row number, 1-based
    try:
        t = pyarrow.concat_tables(tables, promote_options="default")
    except pyarrow.ArrowInvalid as exc:
        problems.add(path.name, None, None, "",
                     f"the Parquet parts differ in their columns ({exc})")
        return None
    # Decimals would arrive as Python Decimal objects, dictionaries as categoricals: unify.
    for i, f in enumerate(t.schema):
        if pyarrow.types.is_dictionary(f.type):
            t = t.set_column(i, f.name, t.column(i).cast(f.type.value_type))
            f = t.schema.field(i)
        if pyarrow.types.is_decimal(f.type):
            t = t.set_column(i, f.name, t.column(i).cast(pyarrow.float64()))
    raw = t.to_pandas(date_as_object=False)
    raw.columns = [str(c).strip() for c in raw.columns]
    files = np.concatenate(files) if path.is_dir() else path.name
    return raw, files, np.concatenate(lines), {}


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def _column_target(table, col, mapping: dict) -> str | None:
    """The canonical column a source column maps onto (config mapping, then a lenient match), or None."""
    by_exact = {str(k).strip(): v for k, v in mapping.items()}
    by_norm = {_norm(k): v for k, v in mapping.items()}
    target = by_exact.get(col) or by_norm.get(_norm(col))
    if target is None and _norm(col) in schemas.CONTRACT[table]["columns"]:
        target = _norm(col)
    return target


def _rename(table, raw: pd.DataFrame, file_label: str, mapping: dict, problems: _Problems):
    """Rename to canonical columns. Returns the frame and the missing required columns."""
    canonical = schemas.CONTRACT[table]["columns"]
    renamed, used, extra = {}, {}, []
    for col in raw.columns:
        target = _column_target(table, col, mapping)
        if target is None:
            extra.append(col)
            continue
        if target in used:
            problems.add(file_label, 1, col, col,
                         f"two columns map onto {target} ({used[target]!r} and {col!r})")
            continue
        used[target] = col
        renamed[col] = target
    for col in extra:
        problems.add(file_label, 1, col, col, "extra column, ignored", "warning")
    frame = raw[list(renamed)].rename(columns=renamed)
    missing = [c for c, spec in canonical.items() if spec.column_required and c not in frame]
    for col in missing:
        hint = ""
        if len(raw.columns) == 1:
            hint = "; only one column found: is the separator right?"
        # The hint goes before the list of found columns: a long header would push it out of the
        # width format_problems prints.
        problems.add(
            file_label, 1, col, "",
            f"required column {col} is missing{hint} (found: {', '.join(map(str, raw.columns))})",
        )
    return frame, missing


# --------------------------------------------------------------------------------------------
# Parsing numbers and dates (vectorised)
# --------------------------------------------------------------------------------------------


def _as_text(s: pd.Series) -> pd.Series:
    """Stripped strings, empty cells as NaN."""
    if str(s.dtype) != "str":
        s = s.astype(str).where(s.notna()).astype(str)
    s = s.str.strip()
    return s.where(s != "")


_NON_FINITE = {"nan", "inf", "+inf", "-inf", "infinity", "-infinity", "+infinity"}


def _number_pattern(decimal: str, thousands: str | None) -> str:
    d = re.escape(decimal)
    int_part = r"\d+"
    if thousands:
        int_part = rf"(?:\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+|\d+)"
    return rf"[+-]?(?:{int_part}(?:{d}\d*)?|{d}\d+)(?:[eE][+-]?\d+)?"


def _detect_decimal(columns: list[pd.Series], sep: str | None):
    """Decimal and thousands marks from the numeric text columns of one file.

    Evidence for a decimal comma: ``12,5``, ``1.234,56``; for a decimal point: ``12.5``,
    ``1,234.56``. A mark followed by exactly three digits (``1.234``) is no evidence. Without
    evidence the file's separator decides (``;`` files come from German Excel, so decimal comma),
    and a warning is given for tab- or '|'-separated files where a value would read differently.

    Returns
    -------
    decimal, thousands, ambiguous : str, str, bool
    """
    comma = point = ambiguous = 0
    for s in columns:
        s = s.dropna()
        if s.empty:
            continue
        if len(s) > 100_000:  # evidence is plentiful; a seeded sample keeps 1M lines fast
            s = pd.concat([s.iloc[:50_000], s.iloc[50_000:].sample(50_000, random_state=0)])
        comma += int(s.str.contains(r"^[^,]*\d,(?:\d{1,2}|\d{4,})-?$|\.\d{3},\d").sum())
        point += int(s.str.contains(r"^[^.]*\d\.(?:\d{1,2}|\d{4,})-?$|,\d{3}\.\d").sum())
        ambiguous += int(s.str.contains(r"^[+-]?\d{1,3}[.,]\d{3}-?$", regex=True).sum())
    if comma and not point:
        return ",", ".", False
    if point and not comma:
        return ".", ",", False
    if comma and point:
        # Mixed evidence: go with the majority; the minority's cells will not parse and show up.
        return (",", ".", False) if comma >= point else (".", ",", False)
    # Without evidence the separator decides: ';' files come from German Excel (decimal comma,
    # "1.234" is a thousand), ',' files from English tools (decimal point; a thousands comma would
    # need quotes). Only for other separators (tab, '|') is "1.234" or "1,234" a real guess.
    if sep == ";":
        return ",", ".", False
    return ".", ",", bool(ambiguous) and sep not in (",", None)


def _parse_numbers(s: pd.Series, decimal: str, thousands: str | None):
    """(values, bad mask, non-finite mask) for a stripped text Series (NaN = empty cell)."""
    present = s.notna()
    # SAP writes negative numbers with a trailing minus: "1.234,56-".
    trailing = s.str.endswith("-").fillna(False) & (s.str.len() > 1)
    if trailing.any():
        s = s.where(~trailing, "-" + s.str.slice(0, -1))
    ok = s.str.fullmatch(_number_pattern(decimal, thousands)).fillna(False).astype(bool)
    clean = s.where(ok).astype(str)
    if thousands:
        clean = clean.str.replace(thousands, "", regex=False)
    if decimal != ".":
        clean = clean.str.replace(decimal, ".", regex=False)
    # The regex has vetted every text left, so Arrow's cast cannot fail (and is ~5x faster than
    # pd.to_numeric on strings).
    floats = pc.cast(pyarrow.array(clean, from_pandas=True), pyarrow.float64())
    values = pd.Series(floats.to_numpy(zero_copy_only=False), index=s.index, dtype="float64")
    failed = (present & ~ok).to_numpy()
    non_finite = np.zeros(len(s), dtype=bool)
    if failed.any():
        words = s.iloc[np.flatnonzero(failed)].str.lower().to_numpy(dtype=object)
        non_finite[np.flatnonzero(failed)] = [w in _NON_FINITE for w in words]
    return values, failed & ~non_finite, non_finite


def _date_format(value: str | None) -> str | None:
    if value is None:
        return None
    for fmt, label in DATE_FORMATS.items():
        if value in (fmt, label):
            return fmt
    return value


def _parse_dates_with(s: pd.Series, fmt: str) -> pd.Series:
    # Parse each distinct text once: order lines share a few thousand dates, and to_datetime's
    # own cache is not used for Arrow-backed strings (measured: 4 s -> 0.2 s on 1M lines).
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    parsed = pd.to_datetime(pd.Series(uniques, dtype=object), format=fmt, errors="coerce")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    # datetime64[ns] ends in 2262: clip far-off years (typos like 2999) so they stay visible
    # as "in the future" / "before 1900" instead of overflowing.
    values = np.clip(parsed.to_numpy(dtype="datetime64[us]"), np.datetime64("1700-01-01", "us"),
                     np.datetime64("2200-01-01", "us")).astype("datetime64[ns]")
    if len(values) == 0:
        values = np.array(["NaT"], dtype="datetime64[ns]")
    out = np.where(codes >= 0, values[np.maximum(codes, 0)], np.datetime64("NaT"))
    return pd.Series(out.astype("datetime64[ns]"), index=s.index)


def _detect_date_format(columns: list[pd.Series]):
    """(format, ambiguous alternatives) that parses the most values of all date columns."""
    values = pd.concat([s.dropna() for s in columns], ignore_index=True) if columns else None
    if values is None or values.empty:
        return "ISO8601", []
    values = pd.Series(values.unique()).astype(str)
    n = len(values)
    # Only formats whose shape fits some of the first values are worth a full parse.
    head = values.iloc[:50].tolist()
    candidates = [f for f in DATE_FORMATS
                  if any(_shape_re(f).fullmatch(v) for v in head)] or list(DATE_FORMATS)
    results = {}
    for fmt in candidates:
        parsed = _parse_dates_with(values, fmt)
        plausible = parsed.between(schemas.EARLIEST_DATE, _LATEST_PLAUSIBLE)
        results[fmt] = (int(plausible.sum()), parsed.where(plausible))
    full = [f for f, (k, _) in results.items() if k == n]
    if full:
        first = results[full[0]][1]
        rivals = [f for f in full[1:] if not results[f][1].equals(first)]
        return full[0], rivals
    best = max(results, key=lambda f: results[f][0])  # first of the maxima
    return best, []


@functools.lru_cache(maxsize=None)
def _shape_re(fmt: str) -> re.Pattern:
    return re.compile(_shape_regex(fmt))


def _shape_regex(fmt: str) -> str:
    if fmt == "ISO8601":
        return r"\d{4}-\d{1,2}-\d{1,2}.*"
    parts = {"%d": r"\d{1,2}", "%m": r"\d{1,2}", "%Y": r"\d{4}", "%y": r"\d{2}",
             "%H": r"\d{1,2}", "%M": r"\d{2}", "%S": r"\d{2}"}
    out = re.escape(fmt)
    for k, v in parts.items():
        out = out.replace(re.escape(k), v).replace(k, v)
    return out


# --------------------------------------------------------------------------------------------
# One table: read, rename, parse, check
# --------------------------------------------------------------------------------------------


def _load_table(table, path, fmt, section, today, problems: _Problems, read=None, pin=None):
    """Parse and check one table. ``read``: an already read chunk ``(raw, files, lines, dialect)`` of a
    CSV file read in pieces (:func:`_load_orders_csv_in_engine`); ``pin``: its dialect so far."""
    pin = dict(section["dialect"].get(table) or {}) if pin is None else dict(pin)
    if read is None:
        read = _read_csv(table, path, pin, problems) if fmt == "csv" else _read_parquet(table, path, problems)
    if read is None:
        return None, None
    raw, files, lines, dialect = read
    label = path.name
    frame, missing = _rename(table, raw, label, section["columns"].get(table) or {}, problems)
    if len(frame) == 0:
        problems.add(label, None, None, "", "no data rows (the file has only a header)"
                     if fmt == "csv" else "no rows", "error" if schemas.CONTRACT[table]["required"]
                     else "warning")
        return None, None
    src = _Source(table, path, fmt, files, lines, frame, dialect, tuple(missing))
    spec = schemas.CONTRACT[table]["columns"]
    out = {}

    text_cols = {c: _as_text(frame[c]) for c in frame.columns
                 if not pd.api.types.is_numeric_dtype(frame[c])
                 and not pd.api.types.is_datetime64_any_dtype(frame[c])}

    # Numbers: detect the marks once per file from all numeric columns still in text form.
    num_cols = [c for c in frame.columns if spec[c].kind in ("money", "number", "integer")]
    num_text = [c for c in num_cols if c in text_cols]
    if num_text:
        decimal, thousands, ambiguous = _detect_decimal([text_cols[c] for c in num_text],
                                                        dialect.get("sep"))
        if "decimal" in pin:
            decimal = pin["decimal"]
            thousands = pin.get("thousands", "." if decimal == "," else ",")
            ambiguous = False
        elif "thousands" in pin:
            thousands = pin["thousands"]
        if ambiguous:
            problems.add(label, None, num_text[0], "",
                         f"cannot tell whether '.' or ',' is the decimal mark; read {decimal!r} as "
                         f"decimal. Pin data.dialect.{table}.decimal to be sure", "warning")
        dialect.update(decimal=decimal, thousands=thousands)
    for c in num_cols:
        if c in text_cols:
            values, bad, non_finite = _parse_numbers(text_cols[c], dialect["decimal"],
                                                     dialect["thousands"])
            problems.add_rows(src, np.flatnonzero(bad), c, "not a number")
        else:
            values = frame[c].astype("float64")
            non_finite = (values.notna() & ~np.isfinite(values)).to_numpy()
        problems.add_rows(src, np.flatnonzero(non_finite), c, "NaN or infinity is not a value")
        values = values.where(~non_finite)
        if spec[c].kind == "integer":
            fractional = values.notna() & (values != values.round())
            problems.add_rows(src, np.flatnonzero(fractional.to_numpy()), c,
                              "must be a whole number")
        out[c] = values

    # Dates: one format per file, detected over all its date columns.
    date_cols = [c for c in frame.columns if spec[c].kind == "date"]
    date_text = [c for c in date_cols if c in text_cols]
    if date_text:
        date_fmt = _date_format(pin.get("date_format"))
        if date_fmt is None:
            date_fmt, rivals = _detect_date_format([text_cols[c] for c in date_text])
            if rivals:
                alternatives = " or ".join(DATE_FORMATS[f] for f in [date_fmt, *rivals])
                problems.add(label, None, date_text[0], text_cols[date_text[0]].dropna().iloc[0],
                             f"ambiguous date format: could be {alternatives}; pin it with "
                             f"data.dialect.{table}.date_format (e.g. \"%d/%m/%Y\")")
        dialect["date_format"] = date_fmt
    for c in date_cols:
        if c in text_cols:
            s = text_cols[c]
            values = _parse_dates_with(s, dialect["date_format"])
            bad = (s.notna() & values.isna()).to_numpy()
            if bad.any():
                pos = np.flatnonzero(bad)
                shaped = s.iloc[pos].str.fullmatch(_shape_regex(dialect["date_format"]))
                shaped = shaped.fillna(False).to_numpy(dtype=bool)
                label_fmt = DATE_FORMATS.get(dialect["date_format"], dialect["date_format"])
                problems.add_rows(src, pos[shaped], c, "impossible date (no such day)")
                problems.add_rows(src, pos[~shaped], c, f"not a date in the format {label_fmt}")
        else:
            values = frame[c]
            if not pd.api.types.is_datetime64_any_dtype(values):
                values = pd.to_datetime(values, errors="coerce")
            if getattr(values.dt, "tz", None) is not None:
                values = values.dt.tz_localize(None)
        out[c] = values.dt.normalize().astype("datetime64[ns]")

    for c in frame.columns:
        if spec[c].kind in ("id", "text"):
            s = text_cols.get(c)
            if s is None:  # a numeric id in Parquet: 123.0 -> "123"
                s = frame[c]
                if pd.api.types.is_float_dtype(s) and (s.dropna() % 1 == 0).all():
                    s = s.astype("Int64")
                s = _as_text(s.astype(str).where(s.notna()))
            out[c] = s.astype(str)

    # Empty cells where a value is required.
    for c, cs in spec.items():
        if cs.value_required and c in out:
            # Judged on the source cell: unparseable cells are reported already.
            source = text_cols[c] if c in text_cols else frame[c]
            empty = source.isna().to_numpy()
            problems.add_rows(src, np.flatnonzero(empty), c, "value missing", value="")

    parsed = pd.DataFrame(out)
    _check_values(table, parsed, src, today, problems)
    parsed = _canonical_frame(table, parsed)
    return parsed, src


def _check_values(table, parsed, src, today, problems: _Problems):
    """Run the pandera value checks and map failure cases back to lines and source text."""
    import warnings

    with warnings.catch_warnings():  # pandera imports pyspark.pandas, which warns about pandas 3
        warnings.simplefilter("ignore", FutureWarning)
        import pandera.pandas as pa  # lazily: see bestandlib.schemas._pa

    schema = schemas.table_schema(table, today=today, check_dtypes=False)
    try:
        schema.validate(parsed, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        cases = cases.loc[cases["index"].notna() & cases["column"].isin(parsed.columns)]
        for (column, check), group in cases.groupby(["column", "check"], sort=False):
            positions = group["index"].astype("int64").to_numpy()
            problems.add_rows(src, positions, column, str(check))


def _canonical_frame(table, parsed: pd.DataFrame) -> pd.DataFrame:
    """All canonical columns in contract order with their final dtypes (optional ones filled)."""
    out = {}
    n = len(parsed)
    for c, spec in schemas.CONTRACT[table]["columns"].items():
        if c in parsed:
            s = parsed[c]
        elif spec.kind == "date":
            s = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
        elif spec.kind in ("id", "text"):
            s = pd.Series(np.nan, index=range(n), dtype=str)
        else:
            s = pd.Series(np.nan, index=range(n), dtype="float64")
        if spec.kind == "integer" and spec.value_required and s.notna().all() \
                and (s == s.round()).all():
            s = s.astype("int64")
        out[c] = s
    return pd.DataFrame(out).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Cross-table checks, exclusions, entry points
# --------------------------------------------------------------------------------------------


def _columns_with_values(df: pd.DataFrame) -> list[str]:
    """Canonical columns of a loaded table that hold at least one value (optional columns may be
    absent from the file or empty); :mod:`bestandlib.needs` reads them from ``Tables.sources``."""
    return [c for c in df.columns if df[c].notna().any()]


def _known_ids(ids: pd.Series):
    return pyarrow.array(ids.dropna().unique().astype(object), type=pyarrow.string())


def _check_known(df: pd.DataFrame, src: "_Source", known, problems: _Problems) -> None:
    """Rows of ``df`` whose customer_id is not among ``known`` (see :func:`_known_ids`)."""
    # Arrow's is_in hashes in C++; Series.isin on Arrow strings loops in Python.
    found = pc.is_in(pyarrow.array(df["customer_id"], from_pandas=True), value_set=known)
    unknown = df["customer_id"].notna() & ~found.to_numpy(zero_copy_only=False)
    problems.add_rows(src, np.flatnonzero(unknown.to_numpy()), "customer_id",
                      "unknown customer_id (not in customers)")


def _check_cross(frames, sources, problems: _Problems):
    customers = frames.get("customers")
    # Without customer ids every other row would be "unknown": one error is enough.
    if customers is not None and "customer_id" not in sources["customers"].missing:
        ids = customers["customer_id"]
        dup = ids.notna() & ids.duplicated(keep="first")
        if dup.any():
            src = sources["customers"]
            first_line = pd.Series(src.lines).groupby(ids.to_numpy()).transform("first").to_numpy()
            pos = np.flatnonzero(dup.to_numpy())
            messages = "duplicate customer_id (first on line " + pd.Series(
                first_line[pos]).astype(str) + ")"
            problems.add_rows(src, pos, "customer_id", messages.to_numpy(dtype=object))
        known = _known_ids(ids)
        for table, df in frames.items():
            if table == "customers" or df is None:
                continue
            _check_known(df, sources[table], known, problems)
    orders = frames.get("orders")
    if orders is not None and not sources["orders"].missing:
        odd = (orders["quantity"] < 0) & (orders["net_revenue"] > 0)
        problems.add_rows(sources["orders"], np.flatnonzero(odd.to_numpy()), "quantity",
                          "negative quantity with positive net_revenue (check the sign)",
                          "warning")


#: Optional tables that are empty frames (not ``None``) in :class:`Tables` when the data have none;
#: whether they were given says :meth:`Tables.has`.
EMPTY_WHEN_ABSENT = ("contacts", "complaints", "potentials")

ZERO_VALUE_REASON = "zero-value order lines (net_revenue and contribution_margin both 0)"
ZERO_REVENUE_REASON = "zero-value order lines (net_revenue 0, no contribution_margin in the data)"


def _exclude(frames, section):
    lines = [_empty_excluded_lines()]
    orders = frames.get("orders")
    if orders is not None and section.get("exclude_zero_value_lines", True):
        no_margin = orders["contribution_margin"].isna().all()
        zero = (orders["net_revenue"] == 0) & (orders["contribution_margin"].fillna(0) == 0)
        if zero.any():
            lines.append(pd.DataFrame({
                "table": "orders", "reason": ZERO_REVENUE_REASON if no_margin else ZERO_VALUE_REASON,
                "date": orders.loc[zero, "order_date"].to_numpy(),
                "net_revenue": orders.loc[zero, "net_revenue"].to_numpy(),
                "rows": 1,
            }))
            frames["orders"] = orders.loc[~zero].reset_index(drop=True)
    out = pd.concat(lines, ignore_index=True)
    out["date"] = out["date"].astype("datetime64[ns]")
    out["rows"] = out["rows"].astype("int64")
    return out


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


def format_problems(problems: pd.DataFrame, max_rows: int = 50) -> str:
    """The problems as a fixed-width text table (errors first), cut after ``max_rows`` rows."""
    if problems is None or len(problems) == 0:
        return "No problems found."
    order = problems.assign(_w=(problems["severity"] != "error")).sort_values("_w", kind="stable")
    shown = order.head(max_rows)

    def cut(text, width):
        text = str(text).replace("\n", " ").replace("\t", "\\t")
        return text if len(text) <= width else text[: width - 1] + "…"

    rows = [("file", "line", "column", "value", "message")]
    for r in shown.itertuples(index=False):
        message = r.message if r.severity == "error" else f"warning: {r.message}"
        line = "" if pd.isna(r.line) else str(int(r.line))
        rows.append((cut(r.file, 28), line, cut(r.column, 24), cut(r.value, 24), cut(message, 110)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    out = []
    for i, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].ljust(widths[2]),
                 row[3].ljust(widths[3]), row[4]]
        out.append("  ".join(cells).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths) + "  " + "-" * 7)
    if len(problems) > max_rows:
        out.append(f"... and {len(problems) - max_rows} more")
    n_err = int((problems["severity"] == "error").sum())
    out.append(f"{n_err} error(s), {len(problems) - n_err} warning(s)")
    return "\n".join(out)
