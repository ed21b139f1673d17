"""Customer history: revenue per quarter, customer flows, cohorts, ABC analysis and the executive KPIs.

Everything here starts from the customer-quarter panel (:func:`bestandlib.panel.build_panel`) or the
per-customer summary (:func:`bestandlib.panel.customer_summary`) and returns tidy DataFrames; plot
functions take such a frame and ``ax=None`` and return the axes.

Definitions used throughout: those of :mod:`bestandlib.concepts` (one place for the whole kit, so
every page counts the same way); ``L`` = ``phases.lost_quarters`` (4).

ordering in a quarter (column ``active_customers`` of :func:`quarterly_overview`)
    at least one order in the quarter (``orders > 0``; a credit note alone is not an order).
customer base = active (the KPI "active customers")
    :mod:`~bestandlib.concepts` "active": ordered in at least one of the trailing ``L`` quarters (the
    quarter itself and the ``L - 1`` before); ``customer_summary(...).active``, the valuation frame
    and the phases that are not "lost" count the same customers.
new
    concepts "acquired": the customer's first order ever falls into the quarter. In the first quarter
    of the data every customer counts as new (older customers cannot be told apart); the flows chart
    cuts that bar off.
lost (in the quarter)
    concepts "became lost", a flow: the quarter completes ``L`` consecutive quarters without an order
    (the last order was exactly ``L`` quarters earlier). This is the quarter in which the customer
    leaves the customer base and enters the state "lost" of :mod:`bestandlib.phases`, so
    ``base(q) = base(q-1) + new(q) + reactivated(q) - lost(q)`` holds exactly.
reactivated
    concepts "returned": ordered in the quarter after at least ``L`` consecutive quarters without an
    order (i.e. after having been counted as lost).
lost revenue
    revenue of a lost customer in the four quarters up to and including the quarter of their last order
    (what the customer was worth in their last year).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bestandlib import i18n
from bestandlib.errors import BestandError, ConfigError
from bestandlib import concepts
from bestandlib.concepts import quarter_index
from bestandlib.periods import parse_quarter

# Texts (plot labels ``hist_*``, KPI names ``kpi_<kpi>``, summary sentences) live in the text catalogues
# bestandlib/locale/<lang>/history.yml.

# unit of each executive-summary KPI, in the order the report shows them (name: catalogue ``kpi_<kpi>``)
_KPIS = {
    "active_customers": "count",
    "revenue_quarter": "EUR",
    "revenue_12m": "EUR",
    "margin_quarter": "EUR",
    "margin_12m": "EUR",
    "margin_per_active_customer": "EUR",
    "retention_rate": "share",
    "lost_customers": "count",
    "lost_revenue": "EUR",
    "top10_revenue_share": "share",
}


def _label(key: str, lang: str) -> str:
    return i18n.t(key, lang)


def _history_config(config) -> dict:
    from bestandlib.config import ensure_config

    return ensure_config(config)["history"]


# --- per customer-quarter flags ------------------------------------------------------------------------

def _flags(panel: pd.DataFrame, config=None) -> pd.DataFrame:
    """The panel with the flow flags of the module docstring (:func:`bestandlib.concepts.customer_states`).

    Relies on the panel being dense per customer (one row per quarter from the first quarter on), so
    ``shift(k)`` within a customer is "k quarters earlier".
    """
    p = panel[["customer_id", "quarter", "revenue", "margin", "orders", "first_order_date",
               "last_order_date"]].sort_values(["customer_id", "quarter"], ignore_index=True)
    st = concepts.customer_states(p, config)
    lost_quarters = concepts.concept_settings(config)["lost_quarters"]
    p["qi"] = st["qi"]
    by = p.groupby("customer_id", sort=False)
    p["ordered"] = st["ordered"]
    p["in_base"] = st["active"]
    p["new"] = st["acquired"]
    p["reactivated"] = st["returned"]
    p["lost"] = st["became_lost"]
    # trailing-4-quarter sums as differences of running sums (rows before the first quarter are 0)
    for col in ["revenue", "margin"]:
        cum = by[col].cumsum()
        p[f"{col}_12m"] = cum - cum.groupby(p["customer_id"], sort=False).shift(4).fillna(0.0)
    # revenue of the 12 months up to the last order quarter of a customer lost now (L quarters back)
    p["revenue_12m_year_before"] = (
        p.groupby("customer_id", sort=False)["revenue_12m"].shift(lost_quarters).fillna(0.0))
    return p


_date_qi = concepts.date_quarter_index


def _select_quarters(df: pd.DataFrame, quarters) -> pd.DataFrame:
    if quarters is None:
        return df
    if isinstance(quarters, (int, np.integer)):
        return df.tail(int(quarters)).reset_index(drop=True)
    if isinstance(quarters, (str, pd.Period)):
        quarters = [quarters]
    wanted = [str(parse_quarter(q)) for q in quarters]
    return df[df["quarter"].isin(wanted)].reset_index(drop=True)


def quarterly_overview(panel: pd.DataFrame, quarters=None, config=None) -> pd.DataFrame:
    """Revenue, margin and customer flows per quarter.

    Parameters
    ----------
    panel : DataFrame
        The customer-quarter panel.
    quarters : int, str, Period or iterable, optional
        Which quarters to return: ``None`` all, an int the last n, or a list of quarters. The flows
        are always computed on the full history, so restricting the output never changes a number.
    config : dict, optional
        Full configuration (``phases.lost_quarters``, see :mod:`bestandlib.concepts`); None = defaults.

    Returns
    -------
    DataFrame
        One row per quarter: ``quarter, revenue, margin, margin_rate, active_customers`` (ordered in
        the quarter), ``customer_base`` (ordered in the trailing four quarters), ``new_customers,
        reactivated_customers, lost_customers, lost_revenue`` (see the module docstring).
        ``customer_base(q) = customer_base(q-1) + new + reactivated - lost``.
    """
    columns = ["quarter", "revenue", "margin", "margin_rate", "active_customers", "customer_base",
               "new_customers", "reactivated_customers", "lost_customers", "lost_revenue"]
    if panel.empty:
        return pd.DataFrame(columns=columns)
    p = _flags(panel, config)
    p["lost_revenue"] = p["revenue_12m_year_before"].where(p["lost"], 0.0)
    out = p.groupby("quarter", sort=True).agg(
        revenue=("revenue", "sum"),
        margin=("margin", "sum"),
        active_customers=("ordered", "sum"),
        customer_base=("in_base", "sum"),
        new_customers=("new", "sum"),
        reactivated_customers=("reactivated", "sum"),
        lost_customers=("lost", "sum"),
        lost_revenue=("lost_revenue", "sum"),
    ).reset_index()
    out["margin_rate"] = out["margin"] / out["revenue"].where(out["revenue"] != 0)
    counts = ["active_customers", "customer_base", "new_customers", "reactivated_customers",
              "lost_customers"]
    out[counts] = out[counts].astype("int64")
    return _select_quarters(out[columns], quarters)


# --- cohorts -----------------------------------------------------------------------------------------

def cohort_retention(panel: pd.DataFrame, by: str = "year") -> pd.DataFrame:
    """Share of each acquisition cohort that orders k years (or quarters) after its first order.

    Parameters
    ----------
    panel : DataFrame
        The customer-quarter panel.
    by : {"year", "quarter"}
        Cohorts and periods in calendar years or in quarters. Period 0 is the acquisition year/quarter,
        so its retention is 1 by definition.

    Returns
    -------
    DataFrame
        ``cohort`` ("2021" or "2021Q3"), ``period`` (k), ``customers`` (cohort size), ``active``
        (customers of the cohort ordering in that period), ``retention`` (active / customers) and
        ``complete`` (False for a calendar year the panel covers only partly).
    """
    if by not in ("year", "quarter"):
        raise BestandError(f"by must be 'year' or 'quarter', not {by!r}.")
    columns = ["cohort", "period", "customers", "active", "retention", "complete"]
    p = panel.loc[panel["first_order_date"].notna(), ["customer_id", "quarter", "orders", "first_order_date"]]
    if p.empty:
        return pd.DataFrame(columns=columns)
    qi = quarter_index(p["quarter"])
    last_qi = int(qi.max())
    if by == "quarter":
        cohort_qi = _date_qi(p["first_order_date"]).astype("int64")
        frame = pd.DataFrame({"customer_id": p["customer_id"], "cohort_i": cohort_qi,
                              "period": qi - cohort_qi, "ordered": p["orders"] > 0})
        complete_until = last_qi
    else:
        cohort_y = p["first_order_date"].dt.year.astype("int64")
        frame = pd.DataFrame({"customer_id": p["customer_id"], "cohort_i": cohort_y,
                              "period": qi // 4 - cohort_y, "ordered": p["orders"] > 0})
        # a year is complete when the panel reaches its fourth quarter
        complete_until = last_qi // 4 if last_qi % 4 == 3 else last_qi // 4 - 1
    frame = frame[frame["period"] >= 0]
    # ordered at all in the period (a year has four panel rows per customer)
    per_customer = frame.groupby(["cohort_i", "period", "customer_id"], sort=False)["ordered"].any()
    out = per_customer.groupby(level=["cohort_i", "period"]).sum().rename("active").reset_index()
    sizes = frame.groupby("cohort_i")["customer_id"].nunique().rename("customers")
    out = out.join(sizes, on="cohort_i")
    out["retention"] = out["active"] / out["customers"]
    out["complete"] = (out["cohort_i"] + out["period"]) <= complete_until
    if by == "quarter":
        out["cohort"] = [f"{i // 4}Q{i % 4 + 1}" for i in out["cohort_i"]]
    else:
        out["cohort"] = out["cohort_i"].astype(str)
    out = out.sort_values(["cohort_i", "period"], ignore_index=True)
    out[["period", "customers", "active"]] = out[["period", "customers", "active"]].astype("int64")
    out["cohort"] = out["cohort"].astype("str")
    return out[columns]


def plot_cohort_heatmap(df: pd.DataFrame, ax=None, lang: str = "de"):
    """Heatmap of :func:`cohort_retention` (cohorts as rows, periods as columns, share as colour)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    i18n.check_lang(lang)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.5))
    by_quarter = df["cohort"].astype(str).str.contains("Q").any()
    grid = df.pivot(index="cohort", columns="period", values="retention")
    sns.heatmap(grid, ax=ax, vmin=0, vmax=1, cmap="Blues", annot=grid.shape[1] <= 12, fmt=".0%",
                cbar_kws={"label": _label("hist_share_active", lang)})
    ax.set_xlabel(_label("hist_quarters_since" if by_quarter else "hist_years_since", lang))
    ax.set_ylabel(_label("hist_cohort_quarter" if by_quarter else "hist_cohort_year", lang))
    ax.set_title(_label("hist_cohort_title", lang))
    return ax


# --- ABC analysis -----------------------------------------------------------------------------------

def _abc_cutoffs(config) -> tuple[float, float]:
    cut = _history_config(config).get("abc_cutoffs", {})
    try:
        a, b = float(cut["A"]), float(cut["B"])
    except (KeyError, TypeError, ValueError):
        raise ConfigError("history.abc_cutoffs needs numbers for A and B, e.g. {A: 0.8, B: 0.95}.") from None
    if not 0 < a < b <= 1:
        raise ConfigError(f"history.abc_cutoffs must satisfy 0 < A < B <= 1 (got A={a}, B={b}).")
    return a, b


def abc_analysis(summary: pd.DataFrame, config=None) -> pd.DataFrame:
    """ABC classes by cumulative share of trailing-12-month revenue.

    Customers are ranked by ``revenue_12m`` (descending, then ``customer_id``). A customer belongs to
    class A while the cumulative share of the customers ranked *before* it is below the A cut-off
    (``history.abc_cutoffs.A``, default 0.80), so the customer that crosses 80 % is still A and class A
    covers at least 80 % of revenue with the fewest customers; likewise B up to the B cut-off
    (default 0.95), the rest is C.

    Ties: customers with exactly the same revenue always get the same class, the class of the first of
    them in the ranking, and the same ``rank`` (the smallest, like ``rank(method="min")``).

    Zero or negative revenue (no order in 12 months, or credit notes exceeding sales): such customers
    cannot be ranked by contribution. They stay in the table with ``abc_class`` and ``rank`` missing
    (NA) and ``cum_share`` NaN; ``share`` is their revenue over the total *positive* revenue, which is
    also the denominator for everybody else (so the classified customers' shares add up to 1).

    Parameters
    ----------
    summary : DataFrame
        :func:`bestandlib.panel.customer_summary` (needs ``customer_id, revenue_12m``).
    config : dict, path or None
        Full config (``config["history"]["abc_cutoffs"]``); None = defaults.

    Returns
    -------
    DataFrame
        ``customer_id, revenue_12m, share, cum_share, abc_class`` (ordered categorical A < B < C),
        ``rank`` (Int64); classified customers first, in rank order. The cut-offs used are in
        ``.attrs["abc_cutoffs"]``.
    """
    cut_a, cut_b = _abc_cutoffs(config)
    df = summary[["customer_id", "revenue_12m"]].copy()
    df["revenue_12m"] = df["revenue_12m"].astype("float64")
    positive = df["revenue_12m"] > 0
    total = df.loc[positive, "revenue_12m"].sum()
    df = pd.concat([df[positive].sort_values(["revenue_12m", "customer_id"], ascending=[False, True]),
                    df[~positive].sort_values(["revenue_12m", "customer_id"], ascending=[False, True])],
                   ignore_index=True)
    pos = df["revenue_12m"] > 0
    df["share"] = df["revenue_12m"] / total if total > 0 else np.nan
    cum_rev = df["revenue_12m"].where(pos, 0.0).cumsum()
    df["cum_share"] = (cum_rev / total).where(pos) if total > 0 else np.nan
    # share before each customer, computed from revenue sums to keep rounding small; the tolerance keeps
    # a customer that ends exactly on a cut-off from flipping class on the last bit
    before = ((cum_rev - df["revenue_12m"]) / total).where(pos) if total > 0 else pd.Series(np.nan, df.index)
    before = before.groupby(df["revenue_12m"]).transform("min")  # a tie group takes its first member's
    tol = 1e-9
    klass = np.select([before < cut_a - tol, before < cut_b - tol], ["A", "B"], "C").astype(object)
    klass[~pos.to_numpy()] = None
    df["abc_class"] = pd.Categorical(klass, categories=["A", "B", "C"], ordered=True)
    df["rank"] = df["revenue_12m"].where(pos).rank(method="min", ascending=False).astype("Int64")
    df.attrs["abc_cutoffs"] = {"A": cut_a, "B": cut_b}
    return df[["customer_id", "revenue_12m", "share", "cum_share", "abc_class", "rank"]]


def abc_table(abc: pd.DataFrame) -> pd.DataFrame:
    """Customers and revenue per ABC class.

    Returns
    -------
    DataFrame
        One row per class A, B, C (also when empty): ``abc_class, customers, customer_share,
        revenue_12m, revenue_share``. Customers without a class (no positive revenue) are not counted,
        so the shares add up to 1 over the classified customers.
    """
    classified = abc[abc["abc_class"].notna()]
    out = (classified.groupby("abc_class", observed=False)
           .agg(customers=("customer_id", "size"), revenue_12m=("revenue_12m", "sum"))
           .reindex(["A", "B", "C"], fill_value=0)
           .rename_axis("abc_class").reset_index())
    n, total = out["customers"].sum(), out["revenue_12m"].sum()
    out["customer_share"] = out["customers"] / n if n else np.nan
    out["revenue_share"] = out["revenue_12m"] / total if total else np.nan
    out["abc_class"] = out["abc_class"].astype("str")
    out["customers"] = out["customers"].astype("int64")
    return out[["abc_class", "customers", "customer_share", "revenue_12m", "revenue_share"]]


def plot_pareto(abc: pd.DataFrame, ax=None, lang: str = "de", cutoffs: dict | None = None):
    """Pareto (Lorenz) curve of :func:`abc_analysis` with the class cut-offs.

    ``cutoffs`` defaults to ``abc.attrs["abc_cutoffs"]`` (set by :func:`abc_analysis`), else 0.8/0.95.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    i18n.check_lang(lang)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 5))
    cutoffs = cutoffs or abc.attrs.get("abc_cutoffs") or {"A": 0.80, "B": 0.95}
    ranked = abc[abc["abc_class"].notna()]
    n = len(ranked)
    x = np.concatenate([[0.0], np.arange(1, n + 1) / max(n, 1)])
    y = np.concatenate([[0.0], ranked["cum_share"].to_numpy(dtype=float)])
    ax.plot(x, y, color="C0", lw=2)
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls=":")
    colors = {"A": "C2", "B": "C1"}
    for klass, level in cutoffs.items():
        ax.axhline(level, color=colors.get(klass, "grey"), ls="--", lw=1)
        # where class `klass` ends on the customer axis
        members = (ranked["abc_class"] == klass).to_numpy()
        if members.any():
            x_end = (np.flatnonzero(members).max() + 1) / n
            ax.axvline(x_end, color=colors.get(klass, "grey"), ls="--", lw=1)
            ax.annotate(f"{klass}: {i18n.fmt_pct(x_end, lang, 0)}", (x_end, 0.02), xytext=(3, 0),
                        textcoords="offset points", fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(_label("hist_cum_customers", lang))
    ax.set_ylabel(_label("hist_cum_revenue", lang))
    ax.set_title(_label("hist_pareto_title", lang))
    return ax


# --- history plots -----------------------------------------------------------------------------------

def _money_scale(values: pd.Series, lang: str) -> tuple[float, str]:
    big = float(np.nanmax(np.abs(values.to_numpy(dtype=float)))) if len(values) else 0.0
    if big >= 1e6:
        return 1e6, _label("hist_million_eur", lang)
    return 1e3, _label("hist_thousand_eur", lang)


def _quarter_axis(ax, quarters: pd.Series, lang: str) -> None:
    x = np.arange(len(quarters))
    ax.set_xticks(x, quarters.astype(str), rotation=90 if len(x) > 8 else 0)
    ax.set_xlabel(_label("hist_quarter", lang))


def _legend_below(ax, *axes) -> None:
    """One legend for an axes and its twins, between title and plot (never covers a bar)."""
    handles = [h for a in (ax, *axes) for h in a.get_legend_handles_labels()[0]]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=4, fontsize=9,
              frameon=False)


def plot_revenue_history(overview: pd.DataFrame, ax=None, lang: str = "de", margin: bool = True):
    """Bars of revenue and contribution margin per quarter, margin rate as a line (right axis).

    ``margin=False`` (order lines without contribution margins) draws the revenue bars only.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    i18n.check_lang(lang)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.5))
    scale, unit = _money_scale(overview["revenue"], lang)
    x = np.arange(len(overview))
    width = 0.4 if margin else 0.7
    ax.bar(x - 0.2 if margin else x, overview["revenue"] / scale, width=width, color="C0",
           label=_label("hist_revenue", lang))
    ax.set_ylabel(unit)
    _quarter_axis(ax, overview["quarter"], lang)
    if not margin:
        ax.legend(loc="upper left", frameon=False)
        ax.set_title(_label("hist_revenue_title", lang), pad=26)
        return ax
    ax.bar(x + 0.2, overview["margin"] / scale, width=0.4, color="C2", label=_label("hist_margin", lang))
    rate_ax = ax.twinx()
    rate_ax.plot(x, overview["margin_rate"], color="C3", marker="o", ms=3,
                 label=_label("hist_margin_rate", lang))
    rate_ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    rate_ax.set_ylim(0, max(1.0, float(np.nanmax(overview["margin_rate"])) if len(x) else 1.0))
    rate_ax.set_ylabel(_label("hist_margin_rate", lang))
    rate_ax.grid(False)
    _legend_below(ax, rate_ax)
    ax.set_title(_label("hist_revenue_title", lang), pad=26)
    return ax


def plot_customer_flows(overview: pd.DataFrame, ax=None, lang: str = "de"):
    """New and reactivated customers (up), lost customers (down) per quarter; the customer base as a line."""
    import matplotlib.pyplot as plt

    i18n.check_lang(lang)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.5))
    x = np.arange(len(overview))
    ax.bar(x, overview["new_customers"], color="C2", label=_label("hist_new", lang))
    ax.bar(x, overview["reactivated_customers"], bottom=overview["new_customers"], color="C9",
           label=_label("hist_reactivated", lang))
    ax.bar(x, -overview["lost_customers"], color="C3", label=_label("hist_lost", lang))
    ax.axhline(0, color="black", lw=0.8)
    # In the first quarter of the data every existing customer counts as new (the data cannot tell
    # them apart); that one bar would flatten all others, so it is cut off and labelled instead.
    up = (overview["new_customers"] + overview["reactivated_customers"]).to_numpy(dtype=float)
    if len(up) > 2 and up[0] > 3 * max(up[1:].max(), 1):
        top = 1.3 * max(up[1:].max(), 1)
        ax.set_ylim(-(overview["lost_customers"].max() * 1.15 + 0.5), top)
        ax.annotate(i18n.fmt_number(up[0], lang), (0, top), xytext=(0, -12), textcoords="offset points",
                    ha="center", fontsize=9, color="white", fontweight="bold")
    ax.set_ylabel(_label("hist_customers", lang))
    _quarter_axis(ax, overview["quarter"], lang)
    base_ax = ax.twinx()
    base_ax.plot(x, overview["customer_base"], color="C0", marker="o", ms=3,
                 label=_label("hist_base", lang))
    base_ax.set_ylim(0, max(1, int(overview["customer_base"].max() * 1.1)) if len(x) else 1)
    base_ax.set_ylabel(_label("hist_base", lang))
    base_ax.grid(False)
    _legend_below(ax, base_ax)
    ax.set_title(_label("hist_flows_title", lang), pad=26)
    return ax


# --- executive summary -------------------------------------------------------------------------------

def _kpis_at(flags: pd.DataFrame, qi: int) -> dict:
    """The KPI values for quarter index ``qi`` (NaN when the panel does not reach back that far)."""
    now = flags[flags["qi"] == qi]
    if now.empty:
        return {k: np.nan for k in _KPIS}
    year_ago = flags[flags["qi"] == qi - 4]
    active = int(now["in_base"].sum())
    margin_12m = float(now["margin_12m"].sum())
    if year_ago.empty or not year_ago["in_base"].any():
        retention = np.nan
    else:
        was = set(year_ago.loc[year_ago["in_base"], "customer_id"])
        retention = now.loc[now["customer_id"].isin(was), "in_base"].sum() / len(was)
    rev12 = np.sort(now.loc[now["revenue_12m"] > 0, "revenue_12m"].to_numpy())[::-1]
    if len(rev12):
        top_n = math.ceil(0.10 * len(rev12))
        top10 = rev12[:top_n].sum() / rev12.sum()
    else:
        top10 = np.nan
    return {
        "active_customers": active,
        "revenue_quarter": float(now["revenue"].sum()),
        "revenue_12m": float(now["revenue_12m"].sum()),
        "margin_quarter": float(now["margin"].sum()),
        "margin_12m": margin_12m,
        "margin_per_active_customer": margin_12m / active if active else np.nan,
        "retention_rate": float(retention),
        "lost_customers": int(now["lost"].sum()),
        "lost_revenue": float(now.loc[now["lost"], "revenue_12m_year_before"].sum()),
        "top10_revenue_share": float(top10),
    }


def _change(value: float, before: float, unit: str) -> float:
    """Relative change for money and counts; difference (in share points) for shares."""
    if pd.isna(value) or pd.isna(before):
        return np.nan
    if unit == "share":
        return value - before
    return value / before - 1 if before != 0 else np.nan


def kpi_summary(panel: pd.DataFrame, quarter, customers=None, config=None) -> pd.DataFrame:
    """The executive-summary KPIs for ``quarter`` with changes vs the previous quarter and a year ago.

    Parameters
    ----------
    panel : DataFrame
        The customer-quarter panel (reaching at least ``quarter``).
    quarter : str or Period
        The reporting quarter.
    customers : DataFrame, Series or iterable of ids, optional
        Restrict the KPIs to these customers (e.g. one business unit: ``tables.customers.query(...)``);
        a DataFrame needs a ``customer_id`` column.
    config : dict, optional
        Full configuration (``phases.lost_quarters``, see :mod:`bestandlib.concepts`); None = defaults.

    Returns
    -------
    DataFrame
        One row per KPI: ``kpi, value, prev_quarter, change_vs_prev_quarter,
        year_ago, change_vs_year_ago, unit`` (``EUR``, ``count`` or ``share``). Changes are relative
        (``0.05`` = +5 %) for EUR and count KPIs and differences of the shares (``0.02`` = +2
        percentage points) for share KPIs; NaN where the earlier quarter is not in the data or is 0.

    Notes
    -----
    KPIs (definitions as in the module docstring): active customers = customer base (ordered in the
    trailing four quarters); revenue and contribution margin of the quarter and of the trailing four
    quarters; margin per active customer = 12-month margin / active customers; retention rate = share
    of the customers active a year ago (base four quarters earlier) that are active now; lost customers
    in the quarter and their revenue in their last 12 months; top-10 % concentration = share of
    12-month revenue of the top 10 % (rounded up) of customers with positive 12-month revenue.
    """
    q = parse_quarter(quarter)
    qi = quarter_index(q)
    if customers is not None:
        ids = customers["customer_id"] if isinstance(customers, pd.DataFrame) else customers
        ids = pd.Series(list(ids) if not isinstance(ids, pd.Series) else ids).astype(str)
        panel = panel[panel["customer_id"].isin(set(ids))]
    if panel.empty or str(q) > panel["quarter"].max():
        raise BestandError(f"The panel does not reach {q}; build it with until={str(q)!r}.")
    flags = _flags(panel, config)
    now, prev, year = _kpis_at(flags, qi), _kpis_at(flags, qi - 1), _kpis_at(flags, qi - 4)
    rows = []
    for key, unit in _KPIS.items():
        rows.append({
            "kpi": key,
            "value": now[key], "prev_quarter": prev[key],
            "change_vs_prev_quarter": _change(now[key], prev[key], unit),
            "year_ago": year[key], "change_vs_year_ago": _change(now[key], year[key], unit),
            "unit": unit,
        })
    out = pd.DataFrame(rows)
    num = ["value", "prev_quarter", "change_vs_prev_quarter", "year_ago", "change_vs_year_ago"]
    out[num] = out[num].astype("float64")
    return out


def format_kpis(kpis: pd.DataFrame, lang: str = "de") -> pd.DataFrame:
    """:func:`kpi_summary` as a table to read in ``lang``.

    The KPIs of one column have different units, so the column dictionary cannot format them by kind:
    the values are formatted here (money as ``1.234 €``/``€1,234``, counts as integers, shares as
    percentages; changes of money and counts as relative changes ``+4,2 %``, changes of shares in
    percentage points ``+1,5 Pp``). Columns ``kpi`` (key, shown as ``kpi_<kpi>``), ``kpi_value``,
    ``kpi_vs_prev_quarter``, ``kpi_vs_year_ago``.
    """
    i18n.check_lang(lang)
    points = i18n.t("hist_points", lang)

    def value(x, unit):
        if unit == "EUR":
            return i18n.fmt_eur(x, lang)
        if unit == "share":
            return i18n.fmt_pct(x, lang)
        return i18n.fmt_number(x, lang)

    def change(x, unit):
        if pd.isna(x):
            return "–"
        if unit == "share":
            return ("+" if x > 0 else "") + i18n.fmt_number(100 * x, lang, 1) + "\u00a0" + points
        return i18n.fmt_change(x, lang)

    return pd.DataFrame({
        "kpi": kpis["kpi"].to_numpy(),
        "kpi_value": [value(v, u) for v, u in zip(kpis["value"], kpis["unit"])],
        "kpi_vs_prev_quarter": [change(v, u) for v, u in zip(kpis["change_vs_prev_quarter"], kpis["unit"])],
        "kpi_vs_year_ago": [change(v, u) for v, u in zip(kpis["change_vs_year_ago"], kpis["unit"])],
    })


def summary_paragraphs(kpis: pd.DataFrame, abc_classes: pd.DataFrame, lang: str = "de") -> list[str]:
    """The two sentences of the page's highlight: customer base and losses (:func:`kpi_summary`), and
    the revenue concentration of class A (:func:`abc_table`)."""
    k = kpis.set_index("kpi")
    view = format_kpis(kpis, lang).set_index("kpi")
    a = abc_classes.set_index("abc_class").loc["A"]
    return [
        i18n.t("hist_summary_base", lang, base=i18n.fmt_number(k.loc["active_customers", "value"], lang),
               change=view.loc["active_customers", "kpi_vs_year_ago"],
               lost=i18n.fmt_number(k.loc["lost_customers", "value"], lang),
               lost_revenue=i18n.fmt_eur(k.loc["lost_revenue", "value"], lang)),
        i18n.t("hist_summary_abc", lang, customers=i18n.fmt_pct(a["customer_share"], lang, 0),
               revenue=i18n.fmt_pct(a["revenue_share"], lang, 0)),
    ]
