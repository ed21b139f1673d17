"""Customer groups from the master data: business unit, segment, region, account manager.

Many ERP customer masters carry nothing but the customer number. The kit treats the group columns
as optional (:mod:`bestandlib.schemas`); this module is the one place that decides what an empty
group means, so every analysis can group by them without a special case:

* a column that is empty for every customer means one group: "alle Kunden" / "all customers"
  (the account manager: "nicht zugeordnet" / "unassigned");
* an empty cell where others are filled means "nicht zugeordnet" / "unassigned";
* a customer without a name is shown by its customer number.

The filled values are labels of the report language, so :func:`fill_groups` runs when a session
opens (the cached tables stay as the export had them).
"""
from __future__ import annotations

import pandas as pd

from bestandlib import i18n

#: Master-data columns the analyses group customers by.
GROUP_COLUMNS = ("business_unit", "segment", "region", "account_manager")


def _empty(s: pd.Series) -> pd.Series:
    return s.isna() | s.astype("string").str.strip().eq("").fillna(True)


def is_blank(customers: pd.DataFrame, column: str) -> bool:
    """True when ``column`` is missing or empty for every customer."""
    return column not in customers or bool(_empty(customers[column]).all())


def fill_groups(customers: pd.DataFrame, lang: str = "de") -> pd.DataFrame:
    """``customers`` with every group column and ``name`` filled (see the module docstring)."""
    out = customers.copy()
    unassigned = i18n.t("unassigned", lang)
    for col in GROUP_COLUMNS:
        if col not in out:
            out[col] = pd.Series(pd.NA, index=out.index, dtype="string")
        empty = _empty(out[col])
        if empty.all() and col != "account_manager":
            fill = i18n.t("all_customers", lang)
        else:
            fill = unassigned
        out[col] = out[col].astype(str).where(~empty, fill)
    if "name" not in out:
        out["name"] = out["customer_id"]
    out["name"] = out["name"].astype(str).where(~_empty(out["name"]), out["customer_id"])
    return out
