"""Importers: public data sets converted into a bestand data folder.

:func:`cdnow` turns the CDNOW master log into ``customers.csv`` and ``orders.csv``, a real purchase
history to try the kit on without any company data (``bestand import cdnow --out DIR``).
"""
from __future__ import annotations

import csv
import importlib.util
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from bestandlib.errors import BestandError

__all__ = ["cdnow", "cdnow_source"]

#: Where the master log lies inside the installed ``lifetimes`` package.
CDNOW_RESOURCE = ("datasets", "CDNOW_master.txt")
LIFETIMES_INSTALL = 'pip install "lifetimes==0.11.3"  (or: pip install -e ".[dev]")'

_CUSTOMER_COLUMNS = ["customer_id", "name"]
_ORDER_COLUMNS = ["order_id", "customer_id", "order_date", "quantity", "net_revenue"]
_ID_RE = r"\d+"
_DATE_RE = r"\d{8}"
_QUANTITY_RE = r"[+-]?\d+"
_AMOUNT_RE = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"


def cdnow_source() -> Path:
    """The path of ``CDNOW_master.txt`` in the installed ``lifetimes`` package.

    Found with :func:`importlib.util.find_spec`, which locates the package without importing it
    (importing lifetimes pulls in its fitters, scipy and autograd). Nothing is downloaded.

    Raises
    ------
    BestandError
        When lifetimes is not installed (the message names the install command) or ships no
        master log.
    """
    try:
        spec = importlib.util.find_spec("lifetimes")
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise BestandError(
            "The CDNOW data ship with the Python package lifetimes, which is not installed. "
            f"Install it with {LIFETIMES_INSTALL}, or give the file itself (--source FILE)."
        )
    for root in spec.submodule_search_locations or []:
        path = Path(root).joinpath(*CDNOW_RESOURCE)
        if path.is_file():
            return path
    raise BestandError(
        f"The installed lifetimes package has no {'/'.join(CDNOW_RESOURCE)} (a different version?). "
        f"Install it with {LIFETIMES_INSTALL}, or give the file itself (--source FILE)."
    )


def _read_cdnow(path: Path) -> pd.DataFrame:
    """The raw rows as text: ``customer_id, date, cds, amount`` plus the file line of each row."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise BestandError(f"The CDNOW file {path} does not exist.") from None
    except UnicodeDecodeError as exc:
        raise BestandError(f"{path} is not the CDNOW master log (not plain ASCII text: {exc}).") from None
    rows, lines = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if not rows and not any(re.fullmatch(r"[\d.+-]+", f) for f in fields):
            continue  # the header line of lifetimes' copy (" customer_id  date number_of_cds ...")
        if len(fields) != 4:
            raise BestandError(
                f"{path.name}, line {number}: expected 4 fields (customer id, date YYYYMMDD, number "
                f"of CDs, dollar amount), found {len(fields)}: {line.strip()!r}"
            )
        rows.append(fields)
        lines.append(number)
    if not rows:
        raise BestandError(f"{path} holds no purchase rows.")
    raw = pd.DataFrame(rows, columns=["customer_id", "date", "cds", "amount"])
    raw["line"] = np.asarray(lines, dtype=np.int64)
    return raw


def _check_cdnow(raw: pd.DataFrame, path: Path) -> pd.Series:
    """The purchase dates; raises on the first malformed cell (file line and text named)."""
    dates = pd.to_datetime(raw["date"].where(raw["date"].str.fullmatch(_DATE_RE)), format="%Y%m%d",
                           errors="coerce")
    checks = [
        ("customer_id", raw["customer_id"].str.fullmatch(_ID_RE), "a customer id must be digits"),
        ("date", dates.notna(), "not a date YYYYMMDD"),
        ("cds", raw["cds"].str.fullmatch(_QUANTITY_RE), "the number of CDs must be a whole number"),
        ("amount", raw["amount"].str.fullmatch(_AMOUNT_RE), "the dollar amount must be a number "
                                                            "with a decimal point"),
    ]
    for column, ok, message in checks:
        bad = np.flatnonzero(~ok.to_numpy(dtype=bool))
        if bad.size:
            i = bad[0]
            raise BestandError(f"{path.name}, line {raw['line'].iat[i]}: {message}, found "
                               f"{raw[column].iat[i]!r} ({bad.size} such row(s)).")
    return dates


def _write_csv(frame: pd.DataFrame, target: Path) -> None:
    """Plain CSV (comma, UTF-8, '\\n'), written to a temporary file and renamed into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            frame.to_csv(f, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cdnow(out_dir, source=None, *, overwrite: bool = False) -> dict:
    """Convert the CDNOW master log into a bestand data folder (``customers.csv``, ``orders.csv``).

    CDNOW was an online CD retailer. The master log holds every purchase of the cohort of 23,570
    customers who made their first purchase in the first quarter of 1997, followed until the end of
    June 1998: 69,659 rows, 1997-01-01 .. 1998-06-30, amounts in US dollars. It was published by
    Fader, Hardie and Lee (e.g. "RFM and CLV: Using Iso-value Curves for Customer Base Analysis",
    Journal of Marketing Research 2005) and is the standard test bed of buy-till-you-die models. A
    copy ships with the Python package ``lifetimes`` (MIT licence) as
    ``lifetimes/datasets/CDNOW_master.txt``; it is read from there, never downloaded.

    The raw file is whitespace-separated, one purchase per line: customer id (five digits, e.g.
    ``00001``), date ``YYYYMMDD``, number of CDs, dollar amount (lifetimes' copy has a header line;
    the original has none, both are read). The conversion:

    * ``customers.csv``: ``customer_id`` (text, leading zeros kept: ``00001``) and an empty ``name``
      (CDNOW published no names); one row per customer with a purchase.
    * ``orders.csv``: one row per purchase row, ``order_id, customer_id, order_date, quantity,
      net_revenue``. ``order_id`` is stable: ``<customer id>-<YYYYMMDD>-<n>``, ``n`` counting the
      customer's rows of that day in file order (``00002-19970112-1``, ``00002-19970112-2``).
      ``quantity`` is the number of CDs, ``net_revenue`` the dollar amount as written in the source
      (USD). There is no contribution margin and no product, so margin figures say they are
      missing.
    * ``_bestand.yml``: a configuration for the report (``report.currency: USD``, the company
      name); bestand does not read files starting with ``_`` as data. Pass it with ``--config``.
    * Rows with a zero amount (80 in the master log) are kept; io leaves zero-value order lines out
      of the analyses itself and counts them (``Tables.excluded``).

    Both files are plain CSV: comma-separated, ``.`` as decimal mark, ISO dates, UTF-8, ``\\n``.

    Parameters
    ----------
    out_dir : str or Path
        The data folder to write (created if missing).
    source : str or Path, optional
        A file in the CDNOW master format to convert instead of lifetimes' copy (tests, or the
        original download).
    overwrite : bool
        Replace an existing ``customers.csv`` / ``orders.csv`` in ``out_dir``. Without it an
        existing file is an error.

    Returns
    -------
    dict
        ``out_dir`` (Path), ``config`` (Path of ``_bestand.yml``), ``customers`` and ``orders`` (rows
        written), ``first_date`` and
        ``last_date`` (ISO text), ``zero_value_rows`` (orders with amount 0) and ``source`` (Path).

    Raises
    ------
    BestandError
        lifetimes not installed (the message names ``pip install``), a malformed source line (file
        line named), or an existing target file without ``overwrite``.
    """
    path = Path(source) if source is not None else cdnow_source()
    out_dir = Path(out_dir)
    targets = {"customers": out_dir / "customers.csv", "orders": out_dir / "orders.csv"}
    if out_dir.exists() and not out_dir.is_dir():
        raise BestandError(f"{out_dir} is not a folder.")
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not overwrite:
        raise BestandError(f"{' and '.join(existing)} {'exist' if len(existing) > 1 else 'exists'} "
                           "already; choose another folder or overwrite (--force).")

    raw = _read_cdnow(path)
    dates = _check_cdnow(raw, path)
    running = raw.groupby(["customer_id", "date"], sort=False).cumcount() + 1
    orders = pd.DataFrame({
        "order_id": raw["customer_id"] + "-" + raw["date"] + "-" + running.astype(str),
        "customer_id": raw["customer_id"],
        "order_date": dates.dt.strftime("%Y-%m-%d"),
        "quantity": raw["cds"],
        "net_revenue": raw["amount"],
    })[_ORDER_COLUMNS]
    customers = pd.DataFrame({"customer_id": pd.unique(raw["customer_id"])})
    customers["name"] = ""

    out_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(customers[_CUSTOMER_COLUMNS], targets["customers"])
    _write_csv(orders, targets["orders"])
    config = out_dir / "_bestand.yml"
    config.write_text("# bestand report --data <this folder> --config <this file>\n"
                      "report:\n  company: \"CDNOW (public purchase log, Fader, Hardie & Lee)\"\n"
                      "  currency: USD\n", encoding="utf-8")
    return {
        "config": config,
        "out_dir": out_dir,
        "customers": int(len(customers)),
        "orders": int(len(orders)),
        "first_date": f"{dates.min():%Y-%m-%d}",
        "last_date": f"{dates.max():%Y-%m-%d}",
        "zero_value_rows": int((pd.to_numeric(raw["amount"]) == 0).sum()),
        "source": path,
    }
