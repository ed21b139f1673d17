"""Quarters as the kit's unit of time.

A quarter is written ``"2025Q4"`` everywhere a person sees it (CLI, file names, tables) and is a
``pandas.Period`` with frequency ``Q-DEC`` inside the package.
"""
from __future__ import annotations

import re

import pandas as pd

from bestandlib.errors import BestandError

_QUARTER_RE = re.compile(r"^\s*(\d{4})\s*-?\s*Q([1-4])\s*$", re.IGNORECASE)


def parse_quarter(value) -> pd.Period:
    """Return the quarter ``value`` names ("2025Q4", "2025-Q4", a Period or a date inside it)."""
    if isinstance(value, pd.Period):
        return value.asfreq("Q-DEC")
    if isinstance(value, str):
        m = _QUARTER_RE.match(value)
        if not m:
            raise BestandError(f"Not a quarter: {value!r}. Write it like 2025Q4.")
        return pd.Period(f"{m.group(1)}Q{m.group(2)}", freq="Q-DEC")
    return pd.Timestamp(value).to_period("Q-DEC")


def quarter_label(q) -> str:
    """``"2025Q4"`` for a quarter given in any form :func:`parse_quarter` accepts."""
    return str(parse_quarter(q))


def quarter_start(q) -> pd.Timestamp:
    return parse_quarter(q).start_time.normalize()


def quarter_end(q) -> pd.Timestamp:
    """The last day of the quarter (a date, time 00:00), the cut-off for data 'up to' the quarter."""
    return parse_quarter(q).end_time.normalize()


def previous_quarters(q, n: int) -> list[pd.Period]:
    """The ``n`` quarters ending with ``q`` (oldest first), e.g. the trailing 4 quarters."""
    q = parse_quarter(q)
    return [q - i for i in range(n - 1, -1, -1)]


def latest_complete_quarter(last_date, today=None) -> pd.Period:
    """The latest quarter that has ended by ``last_date`` (the newest date in the data).

    A quarter counts as complete when the data reaches its last day, or when the data ends in a later
    quarter. ``today`` caps it so a report is never made for a quarter that has not ended yet.
    """
    last_date = pd.Timestamp(last_date).normalize()
    q = last_date.to_period("Q-DEC")
    if last_date < quarter_end(q):
        q = q - 1
    if today is not None:
        today_q = pd.Timestamp(today).to_period("Q-DEC") - 1
        q = min(q, today_q)
    return q
