"""Problems found in the input and lines excluded from the tables.

:class:`_Problems` collects every problem with file, line in the source file, column and the offending
text (columns :data:`PROBLEM_COLUMNS`); :class:`_Source` says where the rows of one table came from, so
a problem can be located. :func:`format_problems` prints them; the ``_empty_*`` frames and
:func:`_summarise_excluded` are the (empty) problem and exclusion tables (:data:`EXCLUDED_COLUMNS`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


PROBLEM_COLUMNS = ["file", "line", "column", "value", "message", "severity"]
EXCLUDED_COLUMNS = ["table", "reason", "rows", "net_revenue"]


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
