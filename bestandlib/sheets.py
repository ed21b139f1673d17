"""Fill-in sheets: a CSV template per optional table, prefilled with the known customers.

A team that starts with customers and orders only (or with :func:`bestandlib.importers.cdnow`) gets
for each optional table of the data contract (contacts, complaints, potentials, surveys, ...: every
table of :data:`bestandlib.schemas.CONTRACT` with ``required: False``) a sheet to fill in::

    bestand template contacts --data data/raw/firma

The template is **not** valid data as written: its value-required cells (``contact_date``,
``channel``, ...) are empty, and an empty required cell is an error of ``bestand validate``. So it
goes to ``<data folder>/templates/<table>.csv`` by default, a subfolder io does not read (it lists it
once as "unknown file, ignored", a warning). The team fills it in, deletes the rows it has nothing
for, and moves the file into the data folder, where it is validated like any export.
"""
from __future__ import annotations

import csv
from pathlib import Path

from bestandlib import schemas
from bestandlib.errors import BestandError, DataValidationError

__all__ = ["optional_tables", "write_template", "TEMPLATES_DIR"]

#: Subfolder of the data folder that receives the templates (io ignores it with a warning).
TEMPLATES_DIR = "templates"


def optional_tables() -> list[str]:
    """The tables a template can be written for: the optional tables of the data contract."""
    return [t for t, spec in schemas.CONTRACT.items() if not spec["required"]]


def _check_table(table: str) -> str:
    valid = optional_tables()
    name = str(table).strip().lower()
    if name in valid:
        return name
    why = ("is required and comes from your own export, not from a template"
           if name in schemas.CONTRACT else "is not a table of the data contract")
    raise BestandError(f"{table!r} {why}; a template can be written for: {', '.join(valid)}.")


def _columns(table: str, with_name: bool) -> list[str]:
    columns = list(schemas.CONTRACT[table]["columns"])
    if with_name and "customer_id" in columns and "name" not in columns:
        columns.insert(columns.index("customer_id") + 1, "name")
    return columns


def _line_terminator(path: Path, encoding: str) -> str:
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    text = head.decode(encoding, errors="replace")
    return "\r\n" if "\r\n" in text else "\r" if "\r" in text and "\n" not in text else "\n"


def _dialect(tables) -> dict:
    """sep, encoding and line terminator of the customers file (else of another CSV of the folder;
    plain ``,`` / UTF-8 / ``\\n`` when the folder has no CSV, e.g. Parquet only)."""
    sources = tables.sources
    for table in ["customers", *[t for t in schemas.TABLE_NAMES if t != "customers"]]:
        info = sources.get(table) or {}
        path = Path(info.get("path") or "")
        if info.get("format") == "csv" and path.is_file():
            dialect = info.get("dialect") or {}
            encoding = dialect.get("encoding") or "utf-8"
            return {"sep": dialect.get("sep") or ",", "encoding": encoding,
                    "lineterminator": _line_terminator(path, encoding), "like": path.name}
    return {"sep": ",", "encoding": "utf-8", "lineterminator": "\n", "like": None}


def _target(table: str, data_dir: Path, out) -> Path:
    if out is None:
        return data_dir / TEMPLATES_DIR / f"{table}.csv"
    out = Path(out)
    return out / f"{table}.csv" if out.is_dir() else out


def write_template(table: str, data_dir, out=None, config=None, *, with_name: bool = True) -> Path:
    """Write a fill-in CSV for the optional ``table``, one row per known customer.

    The columns are all canonical columns of ``table`` (``schemas.CONTRACT[table]["columns"]``, in
    contract order) with ``name`` right after ``customer_id``, so a person sees whom a row is
    about. io reads ``name`` as an extra column: ignored, one warning ("extra column, ignored");
    leave it out with ``with_name=False`` or delete it before moving the file. Each row holds a
    customer's ``customer_id`` and ``name`` as the data folder's customers table has them (read and
    validated by :func:`bestandlib.io.inspect` with ``config``); every other cell is empty.

    The file is written in the dialect of the customers file - its separator, encoding and line
    ends - so it opens in the same Excel as the other exports (``;`` and cp1252 stay ``;`` and
    cp1252). Empty cells carry no decimal or date convention; the team writes them like the other
    files of the folder.

    Where it goes, and why: a template is not yet valid data. Its value-required cells are empty,
    which ``bestand validate`` reports as errors, so it is not written into the data folder itself
    but to ``<data_dir>/templates/<table>.csv``. io does not read subfolders it does not know (the
    folder gets one warning, "unknown file, ignored"), so the data folder keeps validating. The team
    fills the sheet in (one row per event: copy a customer's line for a second contact, delete the
    lines of customers with nothing to record) and moves it into the data folder, where it is
    checked like any other table.

    Parameters
    ----------
    table : str
        An optional table of the data contract (:func:`optional_tables`).
    data_dir : str or Path
        The data folder; it must validate (customers and orders at least).
    out : str or Path, optional
        The file to write (or a folder to write ``<table>.csv`` into) instead of
        ``<data_dir>/templates/<table>.csv``. A file inside the data folder itself is read as that
        table and fails validation until it is filled in.
    config : dict or str or Path, optional
        The configuration (column mapping, pinned dialects) the data folder is read with.
    with_name : bool
        Add the ``name`` column after ``customer_id`` (default).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    BestandError
        ``table`` is required or unknown (the message lists the valid names), or the target file
        exists already (it is never overwritten).
    DataValidationError
        The data folder has errors (its customers cannot be trusted); ``.problems`` lists them.
    """
    table = _check_table(table)
    data_dir = Path(data_dir)
    target = _target(table, data_dir, out)
    if target.exists():
        raise BestandError(f"{target} exists already; it is never overwritten. Move or rename it, "
                           "or choose another file (--out).")

    from bestandlib import io

    tables, problems = io.inspect(data_dir, config)
    if tables is None:
        raise DataValidationError(
            problems, f"The data folder {data_dir} has errors; fix them (bestand validate {data_dir}) "
                      f"before writing a template for {table}."
        )
    dialect = _dialect(tables)
    columns = _columns(table, with_name)
    customers = tables.customers
    ids = customers["customer_id"].astype(object).where(customers["customer_id"].notna(), "")
    names = customers["name"].astype(object).where(customers["name"].notna(), "") \
        if "name" in customers else [""] * len(customers)
    rows = [[cid if c == "customer_id" else name if c == "name" else "" for c in columns]
            for cid, name in zip(ids.tolist(), list(names))]

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        # "x": created here or not at all - a file that appeared meanwhile is not overwritten either
        with open(target, "x", encoding=dialect["encoding"], newline="") as f:
            writer = csv.writer(f, delimiter=dialect["sep"], lineterminator=dialect["lineterminator"],
                                quoting=csv.QUOTE_MINIMAL)
            writer.writerow(columns)
            writer.writerows(rows)
    except FileExistsError:
        raise BestandError(f"{target} exists already; it is never overwritten.") from None
    except UnicodeEncodeError as exc:
        target.unlink(missing_ok=True)
        raise BestandError(f"A customer name cannot be written in the encoding "
                           f"{dialect['encoding']} of {dialect['like']}: {exc}") from None
    return target
