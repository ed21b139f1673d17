"""Configuration of the ``data`` section and finding the input files of a data folder.

:func:`_data_config` resolves ``config["data"]`` over the defaults of ``bestand.yml``;
:func:`_discover` finds one file (CSV, Parquet, a folder of Parquet files) per table;
:func:`fingerprint` hashes the input files by their bytes.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import json
from pathlib import Path

import yaml

from bestandlib import schemas
from bestandlib.errors import BestandError, ConfigError
from bestandlib.io.problems import _Problems


TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
DIALECT_KEYS = ("sep", "decimal", "thousands", "date_format", "encoding")
_DEFAULTS_FILE = Path(__file__).parent.with_name("bestand.yml")  # bestandlib/bestand.yml


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
