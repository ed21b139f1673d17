"""The account manager's briefing: one page per customer to act on this quarter (issue 19, point 1).

After the notebooks have run, :func:`render_briefings` reads the result tables they saved under
``<report>/tables/`` (actions, churn risk, customer value, phases), the validated input tables and the
customer-quarter panel, and writes

* ``customers/<customer_id>.html``: one page per customer with a measure planned this quarter
  (``actions.csv``, status ``planned``) and per Topkunde (``quadrant_key == "top"`` in
  ``customer_value.csv``): revenue and margin per quarter against the customer's own baseline (inline
  SVG, phase changes marked), quadrant now and a year ago, score and its strongest indicators, churn
  risk with its reasons, habituation signals against the customer's own history, potential and share
  of wallet, the latest survey, the recommended measure and the last measure done (``actions_log``);
* ``customers/index.html``: per account manager, their customers in priority order, linked.

Nothing is recomputed that a notebook has computed: the pages show the saved tables. What is not in a
table comes from one vectorised pass over all customers (quarter series from the panel with one
groupby; habituation signals and per-quarter phases from :mod:`bestandlib.features` and
:mod:`bestandlib.phases` without the BG/NBD fit; score points from :mod:`bestandlib.valuation`), and
one Jinja template is filled per customer. Every text comes from the catalogue (``brief_*`` keys in
``bestandlib/locale/<lang>/briefing.yml``), every number from :func:`bestandlib.display.format_value`.
A page opens offline (CSS and chart inline) and prints on one A4 page.
"""
from __future__ import annotations

import copy
import html
import math
import re
import warnings
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from bestandlib import display, i18n, periods
from bestandlib.config import ensure_config

TEMPLATES = Path(__file__).with_name("templates")
#: quarters shown in the revenue chart (ending with the report quarter)
CHART_QUARTERS = 12
#: indicators of the score shown (the highest points first)
TOP_INDICATORS = 3
#: folder of the pages inside the report folder
FOLDER = "customers"

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                          autoescape=jinja2.select_autoescape(["html", "j2"]),
                          trim_blocks=True, lstrip_blocks=True)


def page_name(customer_id) -> str:
    """The file name of a customer's page (``K10001.html``; characters unsafe in a path become ``_``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(customer_id)) + ".html"


def page_link(customer_id) -> str:
    """The link to a customer's page relative to the report folder (``customers/K10001.html``): the
    value of the link column in the action lists."""
    return f"{FOLDER}/{page_name(customer_id)}"


# --- what the notebooks saved ---------------------------------------------------------------------

_CSV = ("actions", "churn_risk", "customer_value", "phases", "satisfaction_trend")


def _read_csvs(tables_dir: Path) -> dict[str, pd.DataFrame | None]:
    out = {}
    for name in _CSV:
        path = tables_dir / f"{name}.csv"
        out[name] = pd.read_csv(path, dtype={"customer_id": str}, keep_default_na=True) if path.exists() else None
    return out


def select_customers(actions: pd.DataFrame | None, value: pd.DataFrame | None) -> pd.DataFrame:
    """The customers with a briefing, in priority order: ``customer_id, planned, top, order``.

    Everyone with a planned measure an account manager carries out (in the plan's priority, per
    manager ``manager_rank``; automated measures with 0 attention units, such as a newsletter, need
    no briefing), then the Topkunden without one (best score first).
    """
    planned = pd.DataFrame(columns=["customer_id", "rank"])
    if actions is not None and len(actions):
        a = actions[actions["status"] == "planned"]
        if "attention_units" in a:
            a = a[a["attention_units"].fillna(1) > 0]
        rank = a["manager_rank"] if "manager_rank" in a else a.get("priority", pd.Series(range(len(a)), index=a.index))
        planned = pd.DataFrame({"customer_id": a["customer_id"].astype(str), "rank": rank.astype(float)})
    top = pd.DataFrame(columns=["customer_id", "score_rank"])
    if value is not None and len(value) and "quadrant_key" in value:
        v = value[value["quadrant_key"] == "top"]
        top = pd.DataFrame({"customer_id": v["customer_id"].astype(str),
                            "score_rank": v["score_rank"].astype(float) if "score_rank" in v else np.nan})
    sel = planned.drop_duplicates("customer_id").merge(top.drop_duplicates("customer_id"), on="customer_id",
                                                       how="outer")
    sel["planned"] = sel["rank"].notna()
    sel["top"] = sel["customer_id"].isin(set(top["customer_id"]))
    sel = sel.sort_values(["planned", "rank", "score_rank", "customer_id"], ascending=[False, True, True, True],
                          na_position="last", ignore_index=True)
    sel["order"] = np.arange(len(sel))
    return sel[["customer_id", "planned", "top", "order"]]


# --- one pass over all customers -----------------------------------------------------------------

def quarter_series(panel: pd.DataFrame, ids, quarter, n: int = CHART_QUARTERS, recent: int = 2,
                   baseline: int = 8, min_baseline: int = 4) -> tuple[list[str], dict[str, dict], pd.DataFrame]:
    """Revenue and margin of the last ``n`` quarters per customer, and the customer's own baseline.

    Returns the quarter labels (oldest first), ``{customer_id: {column: array over the quarters}}``
    with ``revenue, margin, product_groups_4q`` (one vectorised pass over the panel into a customers x
    quarters array, no per-customer filtering; NaN where the customer has no row), and per customer
    ``revenue_base, margin_base`` (mean per quarter over the ``baseline`` quarters before the
    ``recent`` ones, the windows of :mod:`bestandlib.features`) and ``groups_base``.
    """
    q = periods.parse_quarter(quarter)
    labels = [str(q - k) for k in range(n - 1, -1, -1)]
    ids = pd.Index(pd.unique(pd.Series(list(ids), dtype=object).astype(str)))
    cid = panel["customer_id"].astype(str).to_numpy(object)
    row = ids.get_indexer(cid)
    codes, uniq = pd.factorize(panel["quarter"].astype(str))
    lag = (q.ordinal - pd.PeriodIndex(list(uniq), freq="Q").asi8)[codes]
    keep = (row >= 0) & (lag >= 0)
    row, lag = row[keep], lag[keep]
    cols = ["revenue", "margin", "product_groups_4q"]
    values = {c: panel[c].to_numpy(float)[keep] for c in cols}
    # one dense customers x quarters array per column: shown quarters and baseline window together
    width = max(n, recent + baseline)
    grid = {c: np.full((len(ids), width), np.nan) for c in cols}
    inside = lag < width
    for c in cols:
        grid[c][row[inside], width - 1 - lag[inside]] = values[c][inside]
    first = np.full(len(ids), -1)
    np.maximum.at(first, row, lag)  # lag of the customer's first panel quarter
    # the baseline: mean over the baseline quarters the customer has had (a quarter without a row
    # counts as 0), known once there are min_baseline of them (the rule of bestandlib.features)
    span = np.clip(first - recent + 1, 0, baseline).astype(float)
    cols_base = slice(width - recent - baseline, width - recent)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a customer without baseline quarters: NaN
        baselines = pd.DataFrame({
            "revenue_base": np.nansum(grid["revenue"][:, cols_base], axis=1) / span,
            "margin_base": np.nansum(grid["margin"][:, cols_base], axis=1) / span,
            "groups_base": np.nanmean(grid["product_groups_4q"][:, cols_base], axis=1),
        }, index=ids)
    baselines.loc[span < min_baseline, :] = np.nan
    shown = slice(width - n, width)
    series = {c: {k: grid[k][i, shown] for k in cols} for i, c in enumerate(ids) if first[i] >= 0}
    return labels, series, baselines


def _features_config(config) -> dict:
    cfg = copy.deepcopy(ensure_config(config))
    cfg.setdefault("churn", {}).setdefault("features", {})["p_alive"] = False  # the signals need no BG/NBD fit
    return cfg


def signals_and_phases(panel: pd.DataFrame, tables, ids, quarter, config=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The habituation signals of the report quarter per customer (index ``customer_id``) and the
    phase of every customer in every quarter (``customer_id, quarter, phase``), for ``ids`` only."""
    from bestandlib import features, phases

    cfg = _features_config(config)
    ids = set(map(str, ids))
    p = panel[panel["customer_id"].astype(str).isin(ids)]
    f = features.habituation_features(p, tables, config=cfg)
    flags = phases.habituation_signals(f, cfg)
    f = pd.concat([f, flags], axis=1)
    per_quarter = phases.assign_phases(f, cfg)
    now = f[f["quarter"].astype(str) == str(periods.parse_quarter(quarter))].copy()
    now["customer_id"] = now["customer_id"].astype(str)
    return now.set_index("customer_id"), per_quarter


def score_points(panel: pd.DataFrame, tables, quarter, config=None) -> pd.DataFrame:
    """The score points per indicator (``points_<indicator>`` columns, index ``customer_id``), computed
    as page 02 computes the score; empty when the data carry no score."""
    from bestandlib import needs, valuation
    from bestandlib.errors import BestandError

    customers = getattr(tables, "customers", None)
    if customers is None or not len(customers):
        return pd.DataFrame()
    try:
        facts = needs.facts(tables, panel, periods.parse_quarter(quarter))
        score_config, _left_out = valuation.score_config_for(config, facts)
        frame = valuation.customer_frame(panel, customers, getattr(tables, "potentials", None), quarter,
                                         getattr(tables, "complaints", None), config=config)
        units = sorted(customers["business_unit"].dropna().astype(str).unique()) \
            if "business_unit" in customers else None
        scores = valuation.customer_score(frame, score_config, business_units=units)
    except (BestandError, KeyError, ValueError):  # no score with these data: the section says so
        return pd.DataFrame()
    scores["customer_id"] = scores["customer_id"].astype(str)
    return scores.set_index("customer_id")[[c for c in scores.columns if c.startswith("points_")]]


def strongest_indicators(points: pd.DataFrame, k: int = TOP_INDICATORS) -> dict[str, list[tuple[str, float]]]:
    """``{customer_id: [(indicator, points), ...]}``: the ``k`` indicators with the most points."""
    if points is None or not len(points):
        return {}
    names = [c[len("points_"):] for c in points.columns]
    values = points.to_numpy(float)
    order = np.argsort(-np.nan_to_num(values, nan=-np.inf), axis=1)[:, :k]
    out = {}
    for cid, row, idx in zip(points.index, values, order):
        out[cid] = [(names[j], row[j]) for j in idx if np.isfinite(row[j])]
    return out


def latest_surveys(tables, ids, config=None) -> dict[str, dict]:
    """The latest survey answer up to the (already cut) tables per customer: ``{id: {date, satisfaction,
    would_recommend, answers: [(question, text)]}}``."""
    surveys = getattr(tables, "surveys", None)
    if surveys is None or not len(surveys):
        return {}
    from bestandlib import voice

    text_cols = [c for c in (voice.settings(config).get("text_columns") or []) if c in surveys.columns]
    s = surveys[surveys["customer_id"].astype(str).isin(set(map(str, ids)))]
    s = s.sort_values("survey_date").drop_duplicates("customer_id", keep="last")
    out = {}
    for row in s.to_dict("records"):
        answers = [(c, str(row[c]).strip()) for c in text_cols
                   if isinstance(row.get(c), str) and row[c].strip()]
        out[str(row["customer_id"])] = {"date": row["survey_date"], "satisfaction": row.get("satisfaction"),
                                        "would_recommend": row.get("would_recommend"), "answers": answers}
    return out


def last_measures(actions_log: pd.DataFrame | None, until, ids) -> dict[str, dict]:
    """The last measure done up to ``until`` per customer (``actions_log``; hold-outs are never done)."""
    if actions_log is None or not len(actions_log) or "done_on" not in actions_log:
        return {}
    log = actions_log[actions_log["customer_id"].astype(str).isin(set(map(str, ids)))]
    done = pd.to_datetime(log["done_on"], errors="coerce")
    log = log[done.notna() & (done <= pd.Timestamp(until))].assign(_done=done)
    if "holdout" in log:
        log = log[pd.to_numeric(log["holdout"], errors="coerce").fillna(0) != 1]
    log = log.sort_values("_done").drop_duplicates("customer_id", keep="last")
    return {str(r["customer_id"]): r for r in log.to_dict("records")}


# --- the chart ---------------------------------------------------------------------------------

def _short_quarter(label: str) -> str:
    return f"Q{label[-1]}/{label[2:4]}"


def chart_svg(labels: list[str], series: dict | None, revenue_base, margin_base, changes: list[tuple[str, str]],
              lang: str, width: int = 480, height: int = 165) -> str:
    """Revenue (bars) and margin (line) per quarter, the own baselines (dashed) and the phase changes
    (vertical marks with the new phase) as one inline SVG."""
    empty = np.full(len(labels), np.nan)
    series = series if series is not None else {"revenue": empty, "margin": empty}
    rev = np.nan_to_num(np.asarray(series["revenue"], float))
    mar = np.nan_to_num(np.asarray(series["margin"], float))
    left, right, top, bottom = 62, 6, 24, 16
    w, h = width - left - right, height - top - bottom
    values = [*rev, *mar, *(x for x in (revenue_base, margin_base) if x is not None and np.isfinite(x))]
    vmax = max([v for v in values if np.isfinite(v)] + [1.0])
    vmin = min([v for v in values if np.isfinite(v)] + [0.0])
    span = vmax - vmin or 1.0

    def y(v):
        return top + h * (vmax - v) / span

    n = len(labels)
    step = w / max(n, 1)
    parts = [f'<svg class="bf-chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'xmlns="http://www.w3.org/2000/svg" aria-label="{html.escape(i18n.t("brief_chart_title", lang))}">']
    for v in (vmax, vmin if vmin < 0 else 0.0):
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="bf-grid"/>')
        parts.append(f'<text x="{left - 4}" y="{y(v) + 3:.1f}" class="bf-axis" text-anchor="end">'
                     f'{html.escape(i18n.fmt_money(v, lang))}</text>')
    zero = y(0.0)
    rev_raw = np.asarray(series["revenue"], float)
    mar_raw = np.asarray(series["margin"], float)
    for i, v in enumerate(rev):
        if np.isfinite(rev_raw[i]):  # no bar before the customer's first quarter
            x = left + i * step + step * 0.15
            y0, y1 = sorted((y(v), zero))
            parts.append(f'<rect x="{x:.1f}" y="{y0:.1f}" width="{step * 0.7:.1f}" height="{max(y1 - y0, 0.5):.1f}" '
                         f'class="bf-bar"/>')
        if n <= 12 or i % 2 == (n - 1) % 2:
            parts.append(f'<text x="{left + (i + 0.5) * step:.1f}" y="{height - 5}" class="bf-axis" '
                         f'text-anchor="middle">{_short_quarter(labels[i])}</text>')
    points = " ".join(f"{left + (i + 0.5) * step:.1f},{y(v):.1f}" for i, v in enumerate(mar) if np.isfinite(mar_raw[i]))
    if points:
        parts.append(f'<polyline points="{points}" class="bf-margin"/>')
    for base, cls in ((revenue_base, "bf-base-revenue"), (margin_base, "bf-base-margin")):
        if base is not None and np.isfinite(base):
            parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y(base):.1f}" y2="{y(base):.1f}" class="{cls}"/>')
    shown = [(labels.index(quarter), phase) for quarter, phase in changes if quarter in labels]
    for k, (i, phase) in enumerate(shown):
        x = left + i * step
        label_y = top - 4 + 10 * (k % 2)  # neighbouring changes: labels on two lines
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 12}" y2="{top + h}" class="bf-phase"/>')
        parts.append(f'<text x="{x + 2:.1f}" y="{label_y}" class="bf-phase-label">'
                     f'{html.escape(i18n.t("phase_" + phase, lang))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def phase_changes(per_quarter: pd.DataFrame, labels: list[str]) -> dict[str, list[tuple[str, str]]]:
    """``{customer_id: [(quarter, new phase), ...]}`` for the changes inside the shown quarters."""
    if per_quarter is None or not len(per_quarter):
        return {}
    p = per_quarter.sort_values(["customer_id", "quarter"])
    p = p.assign(customer_id=p["customer_id"].astype(str), quarter=p["quarter"].astype(str))
    prev = p.groupby("customer_id")["phase"].shift()
    changed = p[prev.notna() & (prev != p["phase"]) & p["quarter"].isin(set(labels[1:]))]
    out: dict[str, list] = {}
    for cid, quarter, phase in zip(changed["customer_id"], changed["quarter"], changed["phase"]):
        out.setdefault(cid, []).append((quarter, phase))
    return out


# --- the pages --------------------------------------------------------------------------------

def _num(x):
    """A float for formatting (NaN and None stay missing; numpy scalars become floats)."""
    return None if x is None or not np.isfinite(x) else float(x)


def _missing(x) -> bool:
    return x is None or x is pd.NA or x is pd.NaT or (isinstance(x, float) and math.isnan(x)) or x == ""


class _Fmt:
    """Numbers and keys of a page in its language (the column dictionary's kinds), remembered: the
    same value (a quadrant, a count, a level) is formatted once for all pages."""

    def __init__(self, lang: str):
        self.lang = lang
        self._seen: dict = {}

    def _format(self, x, kind: str, spec: dict, key) -> str:
        try:
            return self._seen[key]
        except KeyError:
            pass
        except TypeError:  # unhashable value
            return display.format_value(x, kind, self.lang, spec)
        out = self._seen[key] = display.format_value(x, kind, self.lang, spec)
        return out

    def col(self, column: str, x) -> str:
        spec = display.column_spec(column)
        return self._format(x, spec.get("kind", "number"), spec, (column, type(x), x))

    def kind(self, kind: str, x, digits: int | None = None) -> str:
        return self._format(x, kind, {} if digits is None else {"digits": digits}, (kind, digits, type(x), x))

    def key(self, prefix: str, value) -> str:
        if _missing(value):
            return "–"
        k = f"{prefix}_{value}"
        return i18n.t(k, self.lang) if i18n.has(k, self.lang) else str(value)


def _row(frame: pd.DataFrame | None) -> dict:
    if frame is None or not len(frame):
        return {}
    f = frame.assign(customer_id=frame["customer_id"].astype(str)).drop_duplicates("customer_id")
    return {r["customer_id"]: r for r in f.to_dict("records")}


#: habituation signals: (catalogue key, recent column, baseline column, flag column, kind)
_SIGNALS = [
    ("brief_sig_contacts", "contacts_recent", "contacts_base", "contacts_down", "number"),
    ("brief_sig_visits", "visits_recent", "visits_base", None, "number"),
    ("brief_sig_complaints", "complaints_recent", "complaints_base", "complaints_up", "number"),
    ("brief_sig_interval", "interval_recent", "interval_base", "interval_up", "count"),
    ("brief_sig_wallet", "sow_recent", "sow_base", "wallet_down", "share"),
]


def _signals(sig: dict | None, groups_now, groups_base, fmt: _Fmt) -> list[dict]:
    if not sig:
        return []
    rows = []
    for key, recent, base, flag, kind in _SIGNALS:
        if recent not in sig or (_missing(sig.get(recent)) and _missing(sig.get(base))):
            continue
        rows.append({"label": i18n.t(key, fmt.lang), "recent": fmt.kind(kind, sig.get(recent)),
                     "base": fmt.kind(kind, sig.get(base)), "flag": bool(flag and sig.get(flag) is True)})
    rows.append({"label": i18n.t("brief_sig_groups", fmt.lang), "recent": fmt.kind("count", groups_now),
                 "base": fmt.kind("number", groups_base, 1), "flag": False})
    if not _missing(sig.get("quarters_since_new_group")):
        rows.append({"label": i18n.t("brief_sig_novelty", fmt.lang),
                     "recent": fmt.kind("count", sig.get("quarters_since_new_group")), "base": "",
                     "flag": sig.get("no_novelty") is True})
    if not _missing(sig.get("satisfaction_change")):
        rows.append({"label": i18n.t("brief_sig_satisfaction", fmt.lang),
                     "recent": fmt.kind("number", sig.get("satisfaction_change"), 1), "base": "",
                     "flag": sig.get("satisfaction_down") is True})
    return rows


def _page_context(cid: str, sel: dict, d: dict, fmt: _Fmt) -> dict:
    lang = fmt.lang
    t = lambda key, **kw: i18n.t(key, lang, **kw)  # noqa: E731 - short and local
    a, r, v, ph = d["actions"].get(cid, {}), d["risk"].get(cid, {}), d["value"].get(cid, {}), d["phases"].get(cid, {})
    cust = d["customers"].get(cid, {})
    name = next((x.get("name") for x in (v, a, r, cust) if not _missing(x.get("name"))), cid)
    manager = next((x.get("account_manager") for x in (v, a, r, cust) if not _missing(x.get("account_manager"))), None)
    series = d["series"].get(cid)
    base = d["baselines"].get(cid, {})
    last = {k: v[-1] for k, v in series.items()} if series is not None else {}
    chart = chart_svg(d["labels"], series, base.get("revenue_base"), base.get("margin_base"),
                      d["changes"].get(cid, []), lang)
    has_series = series is not None and bool(np.isfinite(series["revenue"]).any())

    # value and score
    indicators = [{"label": fmt.key("indicator", name), "points": fmt.kind("number", pts, 0)}
                  for name, pts in d["points"].get(cid, [])]
    value = None
    if v:
        value = {"quadrant": fmt.col("quadrant_key", v.get("quadrant_key")),
                 "quadrant_key": v.get("quadrant_key"),
                 "quadrant_year_ago": fmt.col("quadrant_year_ago", v.get("quadrant_year_ago")),
                 "score": fmt.kind("number", v.get("score"), 0) if not _missing(v.get("score")) else None,
                 "score_rank": fmt.col("score_rank", v.get("score_rank")),
                 "revenue_12m": fmt.col("revenue_12m", v.get("revenue_12m")),
                 "margin_12m": fmt.col("margin_12m", v.get("margin_12m")),
                 "revenue_growth": None if _missing(v.get("revenue_growth"))
                 else fmt.col("revenue_growth", v.get("revenue_growth")),
                 "potential": fmt.col("potential", v.get("potential")) if not _missing(v.get("potential")) else None,
                 "remaining_potential": fmt.col("remaining_potential", v.get("remaining_potential")),
                 "share_of_wallet": fmt.col("share_of_wallet", v.get("share_of_wallet")),
                 "competitive_intensity": fmt.kind("number", v.get("competitive_intensity"), 0)
                 if not _missing(v.get("competitive_intensity")) else None}

    # risk
    risk = None
    if r:
        model = r.get("segment_model")
        prob = r.get("churn_probability")
        score_label = "brief_onboarding_score" if model == "onboarding" else "brief_probability"
        risk = {"level": fmt.col("risk_level", r.get("risk_level")), "level_key": r.get("risk_level"),
                "model": fmt.key("churn_segment", model),
                "probability_label": t(score_label),
                "probability": fmt.col("churn_probability", prob) if not _missing(prob) else None,
                "margin_at_risk": fmt.col("margin_at_risk", r.get("margin_at_risk")),
                "habituation": r.get("habituation_flag") in (True, "True", "true"),
                "reasons": [str(r[k]) for k in ("reason_1", "reason_2", "reason_3") if not _missing(r.get(k))]}

    # the recommended measure and the last one done
    measure = None
    if a and not _missing(a.get("action")):
        m = d["measures"].get(a["action"], {})
        measure = {"label": m.get("action_label") or str(a["action"]),
                   "status": fmt.col("status", a.get("status")), "planned": a.get("status") == "planned",
                   "owner": fmt.col("owner_role", a.get("owner_role") or m.get("owner_role")),
                   "attention_units": fmt.kind("number", a.get("attention_units", m.get("attention_units")), 0),
                   "cost": fmt.col("cost", a.get("cost", m.get("cost"))),
                   "cadence": fmt.col("cadence", a.get("cadence") or m.get("cadence")),
                   "reason": None if _missing(a.get("reason")) else str(a["reason"]),
                   "rank": fmt.col("manager_rank", a.get("manager_rank"))}
    done = d["log"].get(cid)
    last_done = None
    if done:
        m = d["measures"].get(done.get("action"), {})
        last_done = {"label": m.get("action_label") or str(done.get("action")),
                     "done_on": fmt.kind("date", done.get("_done")),
                     "owner": None if _missing(done.get("owner")) else str(done["owner"]),
                     "outcome": None if _missing(done.get("outcome")) else fmt.key("brief_outcome", done["outcome"]),
                     "notes": None if _missing(done.get("notes")) else str(done["notes"])}

    survey = d["surveys"].get(cid)
    survey_ctx = None
    if survey:
        survey_ctx = {"date": fmt.kind("date", survey["date"]),
                      "satisfaction": fmt.kind("number", survey["satisfaction"], 0),
                      "recommend": fmt.kind("number", survey["would_recommend"], 0),
                      "answers": [{"question": fmt.key("voice_question", c), "text": txt} for c, txt in survey["answers"]]}

    phase = ph.get("phase") if ph else a.get("phase")
    groups_now = _num(last.get("product_groups_4q"))
    return {
        "cid": cid, "name": name, "manager": manager,
        "business_unit": next((x.get("business_unit") for x in (v, a, r, cust) if not _missing(x.get("business_unit"))), None),
        "segment": next((x.get("segment") for x in (v, cust) if not _missing(x.get("segment"))), None),
        "why_planned": sel["planned"], "why_top": sel["top"],
        "phase": fmt.col("phase", phase) if not _missing(phase) else None,
        "phase_since": None if not ph or _missing(ph.get("phase_since")) else str(ph["phase_since"]),
        "previous_phase": None if not ph or _missing(ph.get("previous_phase")) else fmt.col("previous_phase", ph["previous_phase"]),
        "chart": chart, "has_series": has_series,
        "revenue_q": fmt.col("revenue", _num(last.get("revenue"))),
        "revenue_base": fmt.col("revenue", base.get("revenue_base")),
        "margin_q": fmt.col("margin", _num(last.get("margin"))),
        "margin_base": fmt.col("margin", base.get("margin_base")),
        "value": value, "indicators": indicators, "risk": risk,
        "signals": _signals(d["signals"].get(cid), groups_now, base.get("groups_base"), fmt),
        "signals_note": i18n.t("brief_signals_note", lang, recent=fmt.kind("count", d["windows"][0]),
                               baseline=fmt.kind("count", d["windows"][1])),
        "measure": measure, "last_done": last_done, "has_log": d["has_log"], "survey": survey_ctx,
    }


def _texts(lang: str) -> dict:
    """Every ``brief_*`` text of the catalogue by its short name (``t.title`` = ``brief_title``)."""
    return {k[len("brief_"):]: v for k, v in i18n.catalogue(lang).items() if k.startswith("brief_") and isinstance(v, str)}


def render_briefings(out_dir, *, tables, panel, quarter, config, lang, pseudonymized=False) -> list[Path]:
    """Write the briefing pages of the report in ``out_dir`` and return their paths (index last).

    ``tables`` are the validated tables (cut at the quarter end here), ``panel`` the customer-quarter
    panel of the run, ``out_dir`` the report folder whose ``tables/`` the notebooks have written.
    ``pseudonymized``: names come from the saved tables, which already hold the pseudonyms; survey
    quotes, the only other free text, get the real names in them replaced as well.
    """
    out_dir = Path(out_dir)
    lang = i18n.check_lang(lang)
    cfg = ensure_config(config)
    q = periods.parse_quarter(quarter)
    qlabel = str(q)
    end = periods.quarter_end(q)
    cut = tables.cut(end) if hasattr(tables, "cut") else tables
    csv = _read_csvs(out_dir / "tables")
    sel = select_customers(csv["actions"], csv["customer_value"])
    ids = list(sel["customer_id"])
    folder = out_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    fmt = _Fmt(lang)
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    texts = _texts(lang)

    data: dict = {"actions": _row(csv["actions"]), "risk": _row(csv["churn_risk"]), "value": _row(csv["customer_value"]),
                  "phases": _row(csv["phases"]), "customers": {}, "has_log": getattr(cut, "actions_log", None) is not None}
    customers = getattr(cut, "customers", None)
    if customers is not None:
        keep = customers[customers["customer_id"].astype(str).isin(set(ids))]
        data["customers"] = _row(keep[[c for c in ("customer_id", "segment", "business_unit", "account_manager")
                                       if c in keep]])  # names only from the saved (pseudonymised) tables
    from bestandlib import features

    s = features.feature_settings(cfg)
    data["windows"] = (int(s["recent_quarters"]), int(s["baseline_quarters"]))
    data["labels"], data["series"], data["baselines"] = quarter_series(
        panel, ids, q, CHART_QUARTERS, int(s["recent_quarters"]), int(s["baseline_quarters"]),
        int(s["min_baseline_quarters"]))
    data["baselines"] = {cid: rec for cid, rec in zip(data["baselines"].index, data["baselines"].to_dict("records"))}
    signals, per_quarter = signals_and_phases(panel, cut, ids, q, cfg) if ids else (pd.DataFrame(), pd.DataFrame())
    data["signals"] = {cid: row for cid, row in zip(signals.index, signals.to_dict("records"))}
    data["changes"] = phase_changes(per_quarter, data["labels"])
    data["points"] = strongest_indicators(score_points(panel, cut, q, cfg) if ids else pd.DataFrame())
    survey_tables = cut
    if pseudonymized and getattr(cut, "surveys", None) is not None:
        from bestandlib import privacy

        survey_tables, _real = privacy.pseudonymize_tables(cut, privacy.pseudonym_key(cfg), lang)
    data["surveys"] = latest_surveys(survey_tables, ids, cfg)
    data["log"] = last_measures(getattr(cut, "actions_log", None), end, ids)
    from bestandlib import actions as actions_mod

    data["measures"] = {r["action"]: r for r in actions_mod.measure_table(cfg, lang).to_dict("records")}

    page = _env.get_template("briefing.html.j2")
    written, entries = [], []
    for row in sel.to_dict("records"):
        ctx = _page_context(row["customer_id"], row, data, fmt)
        target = folder / page_name(row["customer_id"])
        target.write_text(page.render(c=ctx, t=texts, lang=lang, quarter=qlabel, css=css), encoding="utf-8")
        written.append(target)
        entries.append({"href": target.name, "name": ctx["name"], "cid": ctx["cid"],
                        "manager": ctx["manager"] or i18n.t("brief_no_manager", lang),
                        "quadrant": ctx["value"]["quadrant"] if ctx["value"] else "–",
                        "phase": ctx["phase"] or "–", "risk": ctx["risk"]["level"] if ctx["risk"] else "–",
                        "measure": ctx["measure"]["label"] if ctx["measure"] else "–",
                        "status": ctx["measure"]["status"] if ctx["measure"] else "–",
                        "top": row["top"], "planned": row["planned"]})
    managers: dict[str, list] = {}
    for e in entries:
        managers.setdefault(e["manager"], []).append(e)
    index = folder / "index.html"
    index.write_text(_env.get_template("briefing_index.html.j2").render(
        managers=sorted(managers.items(), key=lambda kv: kv[0]), t=texts, lang=lang, quarter=qlabel, css=css,
        count=i18n.t("brief_index_count", lang, count=len(entries))), encoding="utf-8")
    return [*written, index]
