"""Checks of one table and across tables, and the exclusion of zero-value order lines.

:func:`_load_table` reads, renames, parses and checks one table (pandera schemas of
:mod:`bestandlib.schemas`); :func:`_check_cross` finds duplicate keys and unknown customers;
:func:`_exclude` takes zero-value order lines out of the tables.
"""
from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pyarrow as pyarrow
import pyarrow.compute as pc

from bestandlib import schemas
from bestandlib.io.problems import _empty_excluded_lines, _Problems, _Source
from bestandlib.io.dialect import (
    DATE_FORMATS, _read_csv, _read_parquet, _rename, _as_text, _detect_decimal, _parse_numbers,
    _date_format, _parse_dates_with, _detect_date_format, _shape_regex
)


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
# Cross-table checks, exclusions
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


def _check_actions_log(frames, sources, measures, problems: _Problems) -> None:
    """Every action of ``actions_log`` is a measure of the playbook (``actions.measures``): a typo
    is an error that names the known measures; a measure done before it was planned too."""
    log = frames.get("actions_log")
    if log is None or not measures:
        return
    src = sources["actions_log"]
    unknown = log["action"].notna() & ~log["action"].isin(list(measures))
    problems.add_rows(src, np.flatnonzero(unknown.to_numpy()), "action",
                      "not a measure of the playbook (actions.measures): use one of " + ", ".join(measures))
    early = log["done_on"].notna() & log["planned_on"].notna() & (log["done_on"] < log["planned_on"])
    problems.add_rows(src, np.flatnonzero(early.to_numpy()), "done_on", "done before it was planned (planned_on)")


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

# reasons are keys: the texts are in the catalogues (excluded_<key>), the report translates them
ZERO_VALUE_REASON = "zero_value"
ZERO_REVENUE_REASON = "zero_revenue_no_margin"


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
