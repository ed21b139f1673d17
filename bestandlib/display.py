"""How tables are shown to people: the column dictionary, locale number formats, one HTML table.

Computations return tidy frames with canonical snake_case columns and machine values (0.382, keys such
as ``habituating``). What a reader sees is made here, in one place:

- the **column dictionary** (``bestandlib/columns/*.yml``): for every column of a result table its
  *kind* (money, share, p-value, count, ...), the catalogue key of the values it holds (``values:``) and
  a sentence of documentation; ``docs/tables.md`` is generated from it (``python -m bestandlib.display``);
- the header of a column is its catalogue text (``bestandlib/locale``, key = column name);
- numbers in the page's locale with a precision that fits the kind (Babel via :mod:`bestandlib.i18n`);
- text left-aligned, numbers right-aligned; long tables cut with a note that links the full CSV.

The CSV files under ``tables/`` keep the canonical names and ``.`` decimals (``Session.save_table``).
Written by hand rather than with pandas' Styler: the Styler formats per column but knows neither the
kinds nor the catalogue, and its HTML carries per-cell ids and CSS that bloat every page.
"""
from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from bestandlib import i18n
from bestandlib.errors import BestandError

COLUMNS_DIR = Path(__file__).with_name("columns")

#: kinds of columns and whether they are numbers (right-aligned)
KINDS = {
    "id": False, "text": False, "key": False, "date": False, "quarter": False, "flag": False,
    "money": True, "share": True, "change": True, "pvalue": True, "count": True, "number": True,
}

_dictionary: dict | None = None


def dictionary() -> dict:
    """``{"columns": {name: {kind, doc, values?, digits?}}, "tables": {name: {doc, columns}}}``."""
    global _dictionary
    if _dictionary is None:
        columns: dict = {}
        tables: dict = {}
        origin: dict = {}
        for path in sorted(COLUMNS_DIR.glob("*.yml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for name, spec in (data.get("columns") or {}).items():
                if name in columns:
                    raise BestandError(f"column dictionary: {name!r} in both {origin[name]} and {path.name}")
                spec = dict(spec or {})
                if spec.get("kind") not in KINDS:
                    raise BestandError(f"column dictionary {path.name}: {name!r} has kind {spec.get('kind')!r}; "
                                       f"use one of {', '.join(KINDS)}")
                columns[name], origin[name] = spec, path.name
            for name, spec in (data.get("tables") or {}).items():
                if name in tables:
                    raise BestandError(f"column dictionary: table {name!r} documented twice")
                tables[name] = dict(spec)
        _dictionary = {"columns": columns, "tables": tables}
    return _dictionary


def column_spec(name) -> dict:
    """The dictionary entry of a column, or ``{}``."""
    return dictionary()["columns"].get(name, {}) if isinstance(name, str) else {}


def _kind(name, series: pd.Series) -> str:
    kind = column_spec(name).get("kind")
    if kind:
        return kind
    if pd.api.types.is_bool_dtype(series):
        return "flag"
    if pd.api.types.is_integer_dtype(series):
        return "count"
    if pd.api.types.is_float_dtype(series):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "date"
    return "text"


def header(name, lang: str) -> str:
    """The column header in ``lang``: the catalogue text of the column name (unknown names unchanged)."""
    if not isinstance(name, str):
        return str(name)
    return i18n.t(name, lang) if i18n.has(name, lang) else name


def _missing(x) -> bool:
    return x is None or x is pd.NA or x is pd.NaT or (isinstance(x, float) and math.isnan(x))


def format_value(x, kind: str, lang: str, spec: dict | None = None) -> str:
    """One cell as the reader sees it."""
    spec = spec or {}
    if _missing(x):
        return "–"
    if isinstance(x, str) and kind not in ("key",):
        return x  # formatted already, or text
    if kind == "key":
        key = f"{spec['values']}_{x}" if spec.get("values") else str(x)
        return i18n.t(key, lang) if i18n.has(key, lang) else str(x)
    if kind == "flag":
        return i18n.t("yes" if bool(x) else "no", lang)
    if kind == "date":
        return i18n.fmt_date(x, lang)
    if kind in ("id", "text", "quarter"):
        return str(x)
    if isinstance(x, (bool, np.bool_)):
        return i18n.t("yes" if x else "no", lang)
    if not isinstance(x, (int, float, np.integer, np.floating)):
        return str(x)
    x = float(x)
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    digits = spec.get("digits")
    if kind == "money":
        return i18n.fmt_money(x, lang, digits if digits is not None else (0 if abs(x) >= 1000 or x == int(x) else 2))
    if kind == "share":
        return i18n.fmt_pct(x, lang, 1 if digits is None else digits)
    if kind == "change":
        return i18n.fmt_change(x, lang, 1 if digits is None else digits)
    if kind == "pvalue":
        return fmt_pvalue(x, lang)
    if kind == "count":
        return i18n.fmt_number(x, lang, 0)
    # number: the stated digits, else enough to read (2 below 100, 1 below 1000, none above)
    if digits is None:
        digits = 0 if abs(x) >= 1000 or x == int(x) else (1 if abs(x) >= 100 else 2)
    return i18n.fmt_number(x, lang, digits)


def fmt_pvalue(p, lang: str) -> str:
    """A p-value: ``< 0,001`` below a thousandth, else three decimals."""
    if _missing(p):
        return "–"
    return "< " + i18n.fmt_number(0.001, lang, 3) if p < 0.001 else i18n.fmt_number(p, lang, 3)


def readable(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with a meaningful index turned into columns (row numbers 0..n dropped)."""
    if isinstance(df.index, pd.RangeIndex) and df.index.name is None:
        return df
    return df.reset_index()


def table_html(df: pd.DataFrame, lang: str, max_rows: int | None = None, csv: str | None = None,
               total_rows: int | None = None, classes: str = "bestand-table") -> str:
    """``df`` as a formatted, labelled HTML table in ``lang``.

    ``max_rows`` cuts the table with a note; ``csv`` (a path relative to the page, e.g.
    ``tables/history.csv``) and ``total_rows`` (rows of the full table when ``df`` is already a head)
    make the note link the full table. Both default to what ``Session.save_table`` put in ``df.attrs``.
    """
    df = readable(df)
    if isinstance(df.columns, pd.MultiIndex):
        df = df.copy()
        df.columns = [" ".join(str(c) for c in col if str(c)) for col in df.columns]
    csv = csv or df.attrs.get("bestand_csv")
    total = max(total_rows or df.attrs.get("bestand_rows") or 0, len(df))
    shown = df if max_rows is None or len(df) <= max_rows else df.head(max_rows)
    kinds = [_kind(c, df[c]) for c in df.columns]
    specs = [column_spec(c) for c in df.columns]
    align = ["num" if KINDS[k] or (k == "text" and _looks_numeric(df[c])) else "text"
             for c, k in zip(df.columns, kinds)]
    head = "".join(f'<th class="{a}">{html.escape(header(c, lang))}</th>' for c, a in zip(df.columns, align))
    rows = []
    for values in shown.itertuples(index=False, name=None):
        cells = "".join(f'<td class="{a}">{html.escape(format_value(v, k, lang, sp))}</td>'
                        for v, k, sp, a in zip(values, kinds, specs, align))
        rows.append(f"<tr>{cells}</tr>")
    out = (f'<table class="{classes}"><thead><tr>{head}</tr></thead>'
           f'<tbody>{"".join(rows)}</tbody></table>')
    if total > len(shown):
        note = i18n.t("table_cut", lang, shown=i18n.fmt_number(len(shown), lang),
                      total=i18n.fmt_number(total, lang))
        if csv:
            note += " " + i18n.t("table_full_csv", lang, csv=f'<a href="{html.escape(csv)}">{html.escape(csv)}</a>')
        out += f'<p class="bestand-table-note">{note}</p>'
    return out


def _looks_numeric(col: pd.Series) -> bool:
    """Pre-formatted numbers ("1.234 €", "12,3 %") in a text column still align right."""
    sample = [v for v in col.head(20) if isinstance(v, str)]
    return bool(sample) and all(any(ch.isdigit() for ch in v) and not any(ch.isalpha() for ch in v.replace("€", ""))
                                for v in sample)


class Table:
    """A formatted table for a notebook cell (``Session.show``): renders as HTML in JupyterLab and on
    the report page."""

    def __init__(self, df: pd.DataFrame, lang: str, max_rows: int | None = None, csv: str | None = None):
        self.df, self.lang, self.max_rows, self.csv = df, lang, max_rows, csv

    def _repr_html_(self) -> str:
        return table_html(self.df, self.lang, max_rows=self.max_rows, csv=self.csv)

    def __repr__(self) -> str:
        return repr(self.df)


# --- the data dictionary of the CSV tables ---------------------------------------------------------
def tables_doc() -> str:
    """``docs/tables.md``: every CSV table under ``reports/<quarter>/tables/`` column by column."""
    d = dictionary()
    lines = ["# Result tables (`reports/<quarter>/tables/*.csv`)", "",
             "Generated from `bestandlib/columns/*.yml` by `python -m bestandlib.display > docs/tables.md`;",
             "tests/test_display.py checks that it is current and that every column of the demo report's",
             "tables is documented.", "",
             "All CSV files are UTF-8 with a header row, `,` as separator, `.` as decimal mark, full precision,",
             "ISO dates (`2025-12-31`) and the canonical column names below; amounts are in the report currency",
             "(`report.currency`). Shares are fractions (0.25 = 25 %). The report pages show the same numbers",
             "formatted for the reader.", ""]
    kinds = {"id": "id", "text": "text", "key": "key", "date": "date", "quarter": "quarter (`2025Q4`)",
             "flag": "true/false", "money": "amount", "share": "share 0-1", "change": "relative change",
             "pvalue": "p-value", "count": "count", "number": "number"}
    for name in sorted(d["tables"]):
        spec = d["tables"][name]
        lines += [f"## `{name}.csv`", "", spec.get("doc", "").strip(), "",
                  "| column | type | meaning |", "|---|---|---|"]
        for col in spec.get("columns", []):
            c = d["columns"].get(col, {})
            kind = kinds.get(c.get("kind"), "?")
            if c.get("values"):
                values = sorted(k[len(c["values"]) + 1:] for k in i18n.catalogue("en")
                                if k.startswith(c["values"] + "_"))
                kind += ": " + ", ".join(f"`{v}`" for v in values) if values else ""
            lines.append(f"| `{col}` | {kind} | {' '.join(str(c.get('doc', '')).split())} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - documented command
    print(tables_doc(), end="")
