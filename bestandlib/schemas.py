"""The data contract: which tables and columns bestand reads, their types and allowed values.

Two layers describe one contract:

* :data:`CONTRACT` lists, per table, the canonical columns with their kind (``id``, ``text``,
  ``date``, ``money``, ``number``, ``integer``), whether the column must be present and whether a
  value may be empty. :mod:`bestandlib.io` uses it to parse text exports (numbers, dates) and to
  report missing values with the offending source line.
* :func:`table_schema` builds a pandera ``DataFrameSchema`` of the value checks (ranges, allowed
  sets, no future dates) that runs on the *parsed* frames with ``lazy=True``; io maps its failure
  cases back to file, line and original text.

docs/data-contract.md is the human-readable version of this module; keep them in step.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


def _pa():
    # pandera is imported only when a schema is built: its import also imports pyspark.pandas when
    # pyspark is installed (seconds per notebook), and loading validated tables from the cache
    # needs no schema.
    import warnings

    with warnings.catch_warnings():  # pandera imports pyspark.pandas, which warns about pandas 3
        warnings.simplefilter("ignore", FutureWarning)
        import pandera.pandas as pa
    return pa

CHANNELS = ("visit", "call", "email", "event", "training")
COMPLAINT_KINDS = ("complaint", "return", "delivery")

#: Dates before this are taken for typing errors (a two-digit year read as year 24, say).
EARLIEST_DATE = pd.Timestamp("1900-01-01")


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical column.

    Parameters
    ----------
    kind : {"id", "text", "date", "money", "number", "integer"}
        ``id`` and ``text`` stay strings; ``date`` becomes ``datetime64[ns]`` at midnight;
        ``money`` and ``number`` become ``float64``; ``integer`` becomes ``int64`` (or ``float64``
        with NaN when the value may be empty).
    column_required : bool
        The file must have the column.
    value_required : bool
        Every row must have a value (an empty cell is an error).
    """

    kind: str
    column_required: bool = True
    value_required: bool = False


def _c(kind, column_required=True, value_required=False):
    return ColumnSpec(kind, column_required, value_required)


#: Canonical tables: name -> {"required": bool, "columns": {column: ColumnSpec}, "date": main date}.
CONTRACT: dict[str, dict] = {
    "customers": {
        "required": True,
        "date": None,
        "columns": {
            "customer_id": _c("id", value_required=True),
            # Master data beyond the id is optional: a missing or empty group column means one
            # group ("all customers" / "unassigned", see bestandlib.groups).
            "name": _c("text", column_required=False),
            "segment": _c("text", column_required=False),
            "region": _c("text", column_required=False),
            "business_unit": _c("text", column_required=False),
            "account_manager": _c("text", column_required=False),
        },
    },
    "orders": {
        "required": True,
        "date": "order_date",
        "columns": {
            "order_id": _c("id", value_required=True),
            "customer_id": _c("id", value_required=True),
            "order_date": _c("date", value_required=True),
            "product_id": _c("id", column_required=False),
            "product_group": _c("text", column_required=False),
            "quantity": _c("number", value_required=True),
            "net_revenue": _c("money", value_required=True),
            # Optional: without it every margin figure says so and revenue stands in where sound.
            "contribution_margin": _c("money", column_required=False, value_required=True),
        },
    },
    "contacts": {
        "required": False,
        "date": "contact_date",
        "columns": {
            "customer_id": _c("id", value_required=True),
            "contact_date": _c("date", value_required=True),
            "channel": _c("text", value_required=True),
            "account_manager": _c("text"),
        },
    },
    "complaints": {
        "required": False,
        "date": "complaint_date",
        "columns": {
            "customer_id": _c("id", value_required=True),
            "complaint_date": _c("date", value_required=True),
            "kind": _c("text", value_required=True),
            "severity": _c("integer", value_required=True),
            "value": _c("money", value_required=True),
            "resolved_on": _c("date", column_required=False),
        },
    },
    "potentials": {
        "required": False,
        "date": "assessed_on",
        "columns": {
            "customer_id": _c("id", value_required=True),
            "assessed_on": _c("date", value_required=True),
            "potential": _c("money", value_required=True),
            "competitive_intensity": _c("integer", column_required=False),
        },
    },
    "surveys": {
        "required": False,
        "date": "survey_date",
        "columns": {
            "customer_id": _c("id", value_required=True),
            "survey_date": _c("date", value_required=True),
            "satisfaction": _c("number", value_required=True),
            "would_recommend": _c("number", value_required=True),
            "reason_chosen": _c("text", column_required=False),
            "initial_hesitation": _c("text", column_required=False),
            "would_miss": _c("text", column_required=False),
            "would_refer_to": _c("text", column_required=False),
        },
    },
    # measures planned and done (bestandlib.effects): action is a measure of the playbook
    # (actions.measures), done_on empty while it is not done; holdout = 1 marks a customer the plan
    # left untreated on purpose (actions.holdout_share): the measure it would have had, never done
    "actions_log": {
        "required": False,
        "date": "planned_on",
        "columns": {
            "customer_id": _c("id", value_required=True),
            "action": _c("text", value_required=True),
            "planned_on": _c("date", value_required=True),
            "done_on": _c("date", column_required=False),
            "owner": _c("text"),
            "holdout": _c("integer", column_required=False),
            "outcome": _c("text", column_required=False),
            "notes": _c("text", column_required=False),
        },
    },
}

TABLE_NAMES = tuple(CONTRACT)
REQUIRED_TABLES = tuple(t for t, spec in CONTRACT.items() if spec["required"])


def columns_of(table: str, kind: str | None = None) -> list[str]:
    """Canonical columns of ``table`` (optionally only those of one ``kind``)."""
    cols = CONTRACT[table]["columns"]
    return [c for c, spec in cols.items() if kind is None or spec.kind == kind]


def _dtype(kind: str, value_required: bool):
    if kind in ("id", "text"):
        return str
    if kind == "date":
        return "datetime64[ns]"
    if kind == "integer" and value_required:
        return "int64"
    return "float64"


def _one_of(values) -> pa.Check:
    pa = _pa()
    return pa.Check.isin(list(values), error="must be one of: " + ", ".join(values))


def _between(lo, hi) -> pa.Check:
    pa = _pa()
    return pa.Check.in_range(lo, hi, error=f"must be between {lo} and {hi}")


# Value checks beyond type and presence, per table and column.
_VALUE_CHECKS = {
    ("contacts", "channel"): lambda: [_one_of(CHANNELS)],
    ("complaints", "kind"): lambda: [_one_of(COMPLAINT_KINDS)],
    ("complaints", "severity"): lambda: [_between(1, 3)],
    ("potentials", "potential"): lambda: [_pa().Check.ge(0, error="must not be negative")],
    ("potentials", "competitive_intensity"): lambda: [_between(1, 5)],
    ("surveys", "satisfaction"): lambda: [_between(0, 10)],
    ("surveys", "would_recommend"): lambda: [_between(0, 10)],
}


def table_schema(
    table: str, today: pd.Timestamp | None = None, check_dtypes: bool = True
) -> pa.DataFrameSchema:
    """The pandera schema of the value checks for one parsed canonical table.

    Presence of values is checked while parsing (where the source text is still at hand), so every
    column here is ``nullable``; pandera's checks skip missing values.

    Parameters
    ----------
    table : str
        One of :data:`TABLE_NAMES`.
    today : Timestamp, optional
        Dates after ``today`` fail ("date in the future"). Default: the current date.
    check_dtypes : bool
        Also check the canonical dtypes. io validates freshly parsed frames without them (a
        column with unparseable cells is not yet in its final dtype); the loaded ``Tables`` pass
        the full schema.
    """
    pa = _pa()
    today = pd.Timestamp.today().normalize() if today is None else pd.Timestamp(today)
    columns = {}
    for name, spec in CONTRACT[table]["columns"].items():
        checks = list(_VALUE_CHECKS.get((table, name), lambda: [])())
        if spec.kind == "date":
            checks += [
                pa.Check.le(today, error=f"date in the future (after {today:%Y-%m-%d})"),
                pa.Check.ge(EARLIEST_DATE, error="date before 1900"),
            ]
        columns[name] = pa.Column(
            _dtype(spec.kind, spec.value_required) if check_dtypes else None,
            checks=checks,
            nullable=True,
            required=spec.column_required,
        )
    return pa.DataFrameSchema(columns, strict=False, coerce=False, name=table)
