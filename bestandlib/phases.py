"""Relationship phases: where each customer stands in the life of the relationship, quarter by quarter.

The rules are documented and configurable (``phases`` in ``bestand.yml``) and are applied in this order
of precedence - the first rule that fits decides:

1. **lost** (verloren): no order in the last ``lost_quarters`` (4) quarters.
2. **reactivated** (reaktiviert): ordering again after a gap of at least ``lost_quarters`` quarters
   without orders, for ``reactivated_quarters`` (4) quarters after the return.
3. **new** (neu, onboarding): fewer than ``new_quarters`` (4) quarters since the first order.
4. **declining** (rückläufig): revenue of the last 4 quarters at least ``decline_threshold`` (25 %)
   below the 4 quarters before.
5. **habituating** (Gewöhnung): a long relationship (``habituating_min_tenure``, 8 quarters) whose
   revenue has not fallen yet, but with at least ``habituation_min_signals`` (3) habituation signals
   (:mod:`bestandlib.features`): contacts down by ``contact_drop`` or more against the own baseline,
   no new product group for ``novelty_quarters`` quarters, order interval up by ``interval_rise``,
   complaints up by ``complaint_rise``, share of wallet down by ``sow_drop`` points, satisfaction down
   by ``satisfaction_drop`` points.
6. **growing** (wachsend): revenue of the last 4 quarters at least ``growth_threshold`` (25 %) above the
   4 quarters before.
7. **established** (etabliert): everything else.

"lost", "reactivated" and "new" are the kit's one definitions (:mod:`bestandlib.concepts`): the
customers in any other phase than "lost" are exactly the active customers of every other page.

A customer's phase in a quarter uses only data up to that quarter's end (the features are free of
look-ahead), so the phase history is what a report in each quarter would have said.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bestandlib import concepts, i18n
from bestandlib.config import default_config, ensure_config
from bestandlib.errors import ConfigError
from bestandlib.periods import parse_quarter

__all__ = ["PHASES", "phase_settings", "assign_phases", "phase_table", "phase_distribution",
           "transition_matrix", "dwell_times", "phase_label", "phase_summary", "phase_view",
           "plot_phase_overview", "plot_phase_distribution", "plot_transitions", "plot_dwell_times"]

#: Phase codes in the order of a relationship's life (used for sorting and colours).
PHASES = ["new", "growing", "established", "habituating", "declining", "lost", "reactivated"]

_COLORS = {"new": "#8dd3c7", "growing": "#4daf4a", "established": "#377eb8", "habituating": "#ff7f00",
           "declining": "#e41a1c", "lost": "#777777", "reactivated": "#984ea3"}

def _actions_section(config) -> dict:
    return ensure_config(config).get("actions") or default_config()["actions"]


def phase_settings(config=None) -> dict:
    """The ``phases`` section with the defaults of ``bestand.yml`` filled in (the only defaults)."""
    cfg = ensure_config(config)
    out = default_config()["phases"]
    section = cfg.get("phases") or {}
    unknown = set(section) - set(out)
    if unknown:
        raise ConfigError(f"Unknown key(s) in phases: {sorted(unknown)}")
    out.update(section)
    return out


def phase_label(phase: str, lang: str = "de") -> str:
    """The phase's name for a reader (``"habituating"`` -> ``"Gewöhnung"``; catalogue ``phase_<code>``)."""
    key = f"phase_{phase}"
    return i18n.t(key, lang) if i18n.has(key, lang) else str(phase)


def habituation_signals(features: pd.DataFrame, config=None) -> pd.DataFrame:
    """Boolean habituation signals per customer-quarter (NaN features count as no signal)."""
    s = phase_settings(config)
    f = features
    return pd.DataFrame({
        "contacts_down": f["contact_change"] <= -float(s["contact_drop"]),
        "no_novelty": f["quarters_since_new_group"] >= float(s["novelty_quarters"]),
        "interval_up": f["order_interval_change"] >= float(s["interval_rise"]),
        "complaints_up": f["complaint_change"] >= float(s["complaint_rise"]),
        "wallet_down": f["share_of_wallet_change"] <= -float(s["sow_drop"]),
        "satisfaction_down": f["satisfaction_change"] <= -float(s["satisfaction_drop"]),
    }, index=f.index)


def assign_phases(features: pd.DataFrame, config=None) -> pd.DataFrame:
    """The phase of every customer in every quarter.

    Parameters
    ----------
    features : DataFrame
        :func:`bestandlib.features.habituation_features` of the panel (needs ``orders``,
        ``revenue_4q``, ``revenue_prev_4q``, ``tenure_quarters`` and the habituation signals).
    config : dict, optional
        Full configuration (``phases`` section); None = defaults.

    Returns
    -------
    DataFrame
        ``customer_id, quarter, phase, signals`` (number of habituation signals), sorted by
        customer and quarter. Quarters before a customer's first order (a credit note alone) have no
        phase: the relationship, and every count of :mod:`bestandlib.concepts`, starts with the
        first order, so the customers in a phase other than "lost" are exactly the active ones.
    """
    s = phase_settings(config)
    f = features.sort_values(["customer_id", "quarter"]).reset_index(drop=True)
    cid = f["customer_id"]
    # lost, reactivated and new: the kit's one definition (bestandlib.concepts), same windows
    states = concepts.customer_states(f[["customer_id", "quarter", "orders", "tenure_quarters"]],
                                      {"phases": s, "actions": _actions_section(config)})
    lost, reactivated, new = states["lost"], states["reactivated"], states["new"]
    customer = states["has_ordered"].to_numpy()  # a relationship starts with the first order
    prev = f["revenue_prev_4q"]
    growth = (f["revenue_4q"] - prev) / prev.where(prev > 0)
    declining = growth <= -float(s["decline_threshold"])
    growing = growth >= float(s["growth_threshold"])
    signals = habituation_signals(f, config).sum(axis=1)
    habituating = (f["tenure_quarters"] >= int(s["habituating_min_tenure"])) & ~declining & (
        signals >= int(s["habituation_min_signals"]))

    phase = np.select([lost, reactivated, new, declining, habituating, growing],
                      ["lost", "reactivated", "new", "declining", "habituating", "growing"],
                      default="established")
    out = pd.DataFrame({"customer_id": cid, "quarter": f["quarter"], "phase": phase,
                        "signals": signals.astype(int)})
    return out[customer].reset_index(drop=True)


def _runs(phases: pd.DataFrame) -> pd.DataFrame:
    """Consecutive stretches of the same phase per customer: start, end, length, phase before."""
    p = phases.sort_values(["customer_id", "quarter"]).reset_index(drop=True)
    change = p["phase"] != p.groupby("customer_id", sort=False)["phase"].shift()
    run = change.astype(int).groupby(p["customer_id"], sort=False).cumsum()
    runs = (p.assign(run=run).groupby(["customer_id", "run"], sort=False)
            .agg(phase=("phase", "first"), start=("quarter", "first"), end=("quarter", "last"),
                 quarters=("quarter", "size")).reset_index())
    runs["previous_phase"] = runs.groupby("customer_id", sort=False)["phase"].shift()
    last = runs.groupby("customer_id", sort=False)["run"].transform("max")
    runs["ongoing"] = runs["run"] == last
    return runs


def phase_table(phases: pd.DataFrame, quarter=None) -> pd.DataFrame:
    """``tables/phases.csv``: each customer's phase in ``quarter``, since when, and the phase before.

    Returns
    -------
    DataFrame
        ``customer_id, phase, phase_since`` (first quarter of the current phase), ``previous_phase``
        (phase before it; empty when the customer has known no other), sorted by customer.
    """
    label = str(parse_quarter(quarter)) if quarter is not None else phases["quarter"].max()
    upto = phases[phases["quarter"] <= label]
    runs = _runs(upto)
    now = runs[runs["ongoing"] & (runs["end"] == label)]
    out = now.rename(columns={"start": "phase_since"})[["customer_id", "phase", "phase_since",
                                                         "previous_phase"]]
    return out.sort_values("customer_id", ignore_index=True)


def phase_distribution(table: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Customers per phase (and per ``by``, e.g. ``business_unit`` or ``quadrant``), with shares.

    Returns
    -------
    DataFrame
        ``[by,] phase, customers, share`` (share within the ``by`` group); ``phase`` holds the codes
        (the page translates them, column dictionary ``values: phase``).
    """
    keys = ([by] if by else []) + ["phase"]
    out = table.groupby(keys, observed=True).size().rename("customers").reset_index()
    out["share"] = out["customers"] / (out.groupby(by)["customers"].transform("sum") if by
                                       else out["customers"].sum())
    out["_o"] = out["phase"].map({p: i for i, p in enumerate(PHASES)})
    return out.sort_values(([by] if by else []) + ["_o"]).drop(columns="_o").reset_index(drop=True)


def phase_summary(table: pd.DataFrame) -> dict:
    """The counts behind the page's key sentence, from :func:`phase_table`.

    Returns
    -------
    dict
        ``active`` (customers in any phase but "lost"), ``habituating``, ``new``, ``declining`` and
        ``habituating_share`` (habituating / active; 0 without active customers).
    """
    phase = table["phase"]
    active = int((phase != "lost").sum())
    out = {"active": active, **{p: int((phase == p).sum()) for p in ("habituating", "new", "declining")}}
    out["habituating_share"] = out["habituating"] / active if active else 0.0
    return out


def phase_view(table: pd.DataFrame, customers: pd.DataFrame, matrix: pd.DataFrame | None = None
               ) -> pd.DataFrame:
    """:func:`phase_table` with each customer's ``business_unit`` and, given the value matrix
    (:func:`bestandlib.valuation.matrix_at`), the ``quadrant``: the input of :func:`plot_phase_overview`."""
    view = table.merge(customers[["customer_id", "business_unit"]], on="customer_id", how="left")
    if matrix is not None:
        view = view.merge(matrix[["customer_id", "quadrant"]], on="customer_id", how="left")
    return view


def transition_matrix(phases: pd.DataFrame, quarter=None, normalize: bool = True) -> pd.DataFrame:
    """Phase this quarter (rows) -> phase next quarter (columns), over all quarters or into ``quarter``.

    ``normalize=True`` gives row shares (the probability to move on); otherwise counts.
    """
    p = phases.sort_values(["customer_id", "quarter"])
    nxt = p.groupby("customer_id", sort=False)["phase"].shift(-1)
    nq = p.groupby("customer_id", sort=False)["quarter"].shift(-1)
    pairs = pd.DataFrame({"from": p["phase"], "to": nxt, "to_quarter": nq}).dropna()
    if quarter is not None:
        pairs = pairs[pairs["to_quarter"] == str(parse_quarter(quarter))]
    m = pd.crosstab(pairs["from"], pairs["to"]).reindex(index=PHASES, columns=PHASES, fill_value=0)
    m = m.loc[m.sum(axis=1) > 0]
    if normalize:
        m = m.div(m.sum(axis=1), axis=0)
    m.index.name, m.columns.name = "from", "to"
    return m


def dwell_times(phases: pd.DataFrame) -> pd.DataFrame:
    """How long customers stay in each phase (quarters per stretch).

    Completed stretches give the mean and median; stretches still running at the end of the data are
    censored (their stay continues) and counted separately.

    Returns
    -------
    DataFrame
        ``phase, stretches, completed, mean_quarters, median_quarters, ongoing`` per phase.
    """
    runs = _runs(phases)
    done = runs[~runs["ongoing"]]
    g = done.groupby("phase")["quarters"]
    out = pd.DataFrame({"stretches": runs.groupby("phase").size()})
    out["completed"] = g.size()
    out["mean_quarters"] = g.mean()
    out["median_quarters"] = g.median()
    out["ongoing"] = runs[runs["ongoing"]].groupby("phase").size()
    out = out.reindex([p for p in PHASES if p in out.index]).fillna({"completed": 0, "ongoing": 0})
    out = out.astype({"completed": int, "ongoing": int, "stretches": int})
    return out.reset_index().rename(columns={"index": "phase"})[
        ["phase", "stretches", "completed", "mean_quarters", "median_quarters", "ongoing"]]


# --- plots -----------------------------------------------------------------------------------------

def _ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def plot_phase_overview(view: pd.DataFrame, lang: str = "de"):
    """The phase mix per business unit and, when ``view`` has quadrants (:func:`phase_view`), per
    quadrant side by side. Returns the figure."""
    import matplotlib.pyplot as plt

    quadrants = "quadrant" in view and view["quadrant"].notna().any()
    fig, axes = plt.subplots(1, 2 if quadrants else 1, figsize=(13, 4.5), squeeze=False)
    plot_phase_distribution(view, by="business_unit", ax=axes[0, 0], lang=lang)
    if quadrants:
        plot_phase_distribution(view.dropna(subset=["quadrant"]), by="quadrant", ax=axes[0, 1], lang=lang)
    fig.tight_layout()
    return fig


def _group_label(by: str, value, lang: str) -> str:
    """A group's name on an axis: translated when ``by`` is a key column of the dictionary."""
    from bestandlib import display

    spec = display.column_spec(by)
    return display.format_value(value, "key", lang, spec) if spec.get("values") else str(value)


def plot_phase_distribution(table: pd.DataFrame, by: str = "business_unit", ax=None, lang: str = "de",
                            include_lost: bool = False):
    """Stacked horizontal bars: share of customers per phase within each ``by`` group.

    ``table`` is :func:`phase_table` joined with the ``by`` column (business unit, quadrant ...).
    """
    ax = _ax(ax)
    t = table if include_lost else table[table["phase"] != "lost"]
    dist = phase_distribution(t, by=by)
    wide = dist.pivot(index=by, columns="phase", values="share").fillna(0.0)
    wide = wide[[p for p in PHASES if p in wide.columns]]
    left = np.zeros(len(wide))
    names = [_group_label(by, v, lang) for v in wide.index]
    for phase in wide.columns:
        ax.barh(names, wide[phase], left=left, color=_COLORS[phase],
                label=phase_label(phase, lang))
        left += wide[phase].to_numpy()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:.0%}")
    ax.set_xlabel(i18n.t("phases_plot_share", lang))
    ax.set_title(i18n.t("phases_title", lang))
    ax.legend(ncol=min(len(wide.columns), 4), fontsize="small", loc="upper center",
              bbox_to_anchor=(0.5, -0.15), frameon=False)
    return ax


def plot_transitions(matrix: pd.DataFrame, ax=None, lang: str = "de"):
    """Heatmap of the quarter-over-quarter transition matrix (row shares)."""
    import seaborn as sns

    ax = _ax(ax)
    m = matrix.rename(index=lambda p: phase_label(p, lang), columns=lambda p: phase_label(p, lang))
    sns.heatmap(m, annot=True, fmt=".0%", cmap="Blues", cbar=False, ax=ax, vmin=0, vmax=1,
                annot_kws={"fontsize": 8})
    ax.set_xlabel(i18n.t("phases_plot_next", lang))
    ax.set_ylabel(i18n.t("phase", lang))
    ax.set_title(i18n.t("phases_plot_transitions", lang))
    return ax


def plot_dwell_times(dwell: pd.DataFrame, ax=None, lang: str = "de"):
    """Bars of the median stay per phase (completed stretches)."""
    ax = _ax(ax)
    d = dwell.dropna(subset=["median_quarters"])
    ax.bar([phase_label(p, lang) for p in d["phase"]], d["median_quarters"],
           color=[_COLORS[p] for p in d["phase"]])
    ax.set_ylabel(i18n.t("phases_plot_median", lang))
    ax.set_title(i18n.t("phases_plot_dwell", lang))
    return ax
