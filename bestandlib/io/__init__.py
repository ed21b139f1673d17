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

The code lives in the modules of this package (re-exported here, so ``from bestandlib import io``
and ``io.X`` work as before):

- :mod:`bestandlib.io.problems` - located problems, the problem and exclusion tables.
- :mod:`bestandlib.io.files` - the ``data`` configuration, finding the files, :func:`fingerprint`.
- :mod:`bestandlib.io.dialect` - reading CSV and Parquet, detecting and parsing numbers and dates.
- :mod:`bestandlib.io.checks` - one table (read, rename, parse, check), cross-table checks, exclusions.
- :mod:`bestandlib.io.large` - large order logs: engine hand-off, chunked CSV, database tables.
- :mod:`bestandlib.io.tables` - :class:`Tables` and the entry points.

Module constants are read where they are defined: to change one in a test, patch that module
(``monkeypatch.setattr(bestandlib.io.large, "CSV_CHUNK_LINES", n)``), not this package.
"""
from __future__ import annotations

from pathlib import Path

from bestandlib.errors import BestandError, ConfigError, DataValidationError
from bestandlib.io.problems import EXCLUDED_COLUMNS, PROBLEM_COLUMNS, format_problems
from bestandlib.io.files import DIALECT_KEYS, EXCEL_SUFFIXES, PARQUET_SUFFIXES, TEXT_SUFFIXES, fingerprint
from bestandlib.io.dialect import DATE_FORMATS, SEPARATORS, _parse_numbers
from bestandlib.io.checks import ZERO_REVENUE_REASON, ZERO_VALUE_REASON
from bestandlib.io.large import CSV_CHUNK_LINES
from bestandlib.io.tables import EMPTY_WHEN_ABSENT, Tables, inspect, load_tables, row_counts, validate

__all__ = ["Tables", "validate", "inspect", "load_tables", "row_counts", "format_problems", "fingerprint"]
