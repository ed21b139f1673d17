"""What a notebook opens: validated data up to the quarter's end, the config, and output helpers.

Every analysis notebook starts with::

    s = session.open(quarter=quarter, data_dir=data_dir, config=config, lang=lang, output_dir=output_dir)

Loading and validating the raw export is the slow part of a run (a million order lines), so the
validated tables and the customer-quarter panel are cached under ``data/interim/<fingerprint>/``; the
fingerprint covers the input files and the loading part of the config, so a changed export or column
mapping is always re-validated.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bestandlib import i18n, paths, periods
from bestandlib.config import ensure_config
from bestandlib.errors import BestandError


def cache_key(data_dir: Path, config: dict) -> str:
    """The folder name under ``data/interim/`` of the validated tables and panels of this input and config."""
    from bestandlib import io

    h = hashlib.sha256()
    h.update(io.fingerprint(data_dir).encode())
    h.update(json.dumps(config.get("data", {}), sort_keys=True, default=str).encode())
    table = (config.get("data") or {}).get("orders_table")
    if table:
        # order lines in a database table change without any file changing: key on their content
        from bestandlib import engine

        h.update(json.dumps(engine.engine_settings(config), sort_keys=True, default=str).encode())
        h.update(engine.table_fingerprint(str(table), config).encode())
    return h.hexdigest()[:20]


def _atomic_dir_write(target: Path, write) -> None:
    """Write a cache folder via a temporary sibling and a rename, so parallel runs never read half."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        write(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process won the race; its copy is as good as ours
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def ensure_demo(data_dir: Path, quiet: bool = False) -> None:
    """Generate the demo world when the default demo folder is asked for and not there yet."""
    if Path(data_dir).resolve() != paths.DEMO_DIR.resolve() or (paths.DEMO_DIR / "customers.csv").exists():
        return
    from bestandlib import demo

    if not quiet:
        print(f"Demo data missing: generating it into {paths.DEMO_DIR} ...", file=sys.stderr)
    demo.generate_demo(paths.DEMO_DIR)


def load_tables_cached(data_dir, config=None, today=None, use_cache: bool = True, key: str | None = None):
    """Validated :class:`bestandlib.io.Tables` for ``data_dir`` (cached by input fingerprint).

    ``key``: the :func:`cache_key`, when the caller has it already (it reads every input byte and, for
    ``data.orders_table``, scans the table once).
    Raises :class:`bestandlib.errors.DataValidationError` on invalid input, cached or not.
    """
    from bestandlib import io

    config = ensure_config(config)
    data_dir = paths.resolve_data_dir(data_dir)
    ensure_demo(data_dir)
    if not use_cache:
        return io.load_tables(data_dir, config, today=today)
    cache = paths.INTERIM_DIR / (key or cache_key(data_dir, config))
    tables_dir = cache / "tables"
    if tables_dir.exists():
        try:
            return io.Tables.from_parquet(tables_dir)
        except (BestandError, OSError, ValueError, KeyError):  # a cache of an older version: rebuild it
            shutil.rmtree(cache, ignore_errors=True)
    tables = io.load_tables(data_dir, config, today=today)
    _atomic_dir_write(tables_dir, tables.to_parquet)
    return tables


def panel_cached(tables, quarter, data_key: str | None = None, config=None):
    """The customer-quarter panel up to ``quarter`` (cached next to the tables when possible)."""
    from bestandlib import panel as panel_mod

    q = periods.quarter_label(quarter)
    if data_key is None:
        return panel_mod.build_panel(tables.orders, until=q, config=config)
    target = paths.INTERIM_DIR / data_key / f"panel_{q}.parquet"
    if target.exists():
        return pd.read_parquet(target)
    result = panel_mod.build_panel(tables.orders, until=q, config=config)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    result.to_parquet(tmp, index=False)
    os.replace(tmp, target)
    return result


@dataclass
class Session:
    """The data and settings one notebook works with."""

    quarter: pd.Period
    data_dir: Path
    config: dict
    lang: str
    tables: object  # bestandlib.io.Tables, cut at the quarter end
    panel: pd.DataFrame
    output_dir: Path | None = None
    all_tables: object = None  # uncut, for checks that need to look ahead (backtests use the past only)
    #: True when customer names are pseudonyms (``bestand report --pseudonymize``, see bestandlib.privacy).
    pseudonymized: bool = False
    _real_names: pd.Series | None = field(default=None, repr=False)  # customer_id -> real name
    _highlight_count: int = field(default=0, repr=False)

    data_key: str | None = field(default=None, repr=False)
    _features: pd.DataFrame | None = field(default=None, repr=False)

    # --- derived data shared by several notebooks ------------------------------------------------
    def features(self) -> pd.DataFrame:
        """Habituation and risk signals per customer-quarter (:func:`bestandlib.features.habituation_features`).

        Phases, churn, actions and loyalty all need them and P(alive) is refitted per quarter, so
        they are computed once per data, quarter and config and cached next to the panel.
        """
        if self._features is not None:
            return self._features
        from bestandlib import features as features_mod

        target = None
        if self.data_key is not None:
            # the key covers the config and the code that computes the features, so neither a
            # changed setting nor a new version of the kit reads stale signals
            h = hashlib.sha256(json.dumps(self.config, sort_keys=True, default=str).encode())
            h.update(Path(features_mod.__file__).read_bytes())
            cfg_hash = h.hexdigest()[:12]
            target = paths.INTERIM_DIR / self.data_key / f"features_{self.quarter_label}_{cfg_hash}.parquet"
        if target is not None and target.exists():
            self._features = pd.read_parquet(target)
            return self._features
        self._features = features_mod.habituation_features(self.panel, self.tables, config=self.config)
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}")
            self._features.to_parquet(tmp, index=False)
            os.replace(tmp, target)
        return self._features

    def cached(self, name: str, compute, *args, **kwargs):
        """``compute(*args, **kwargs)``, computed once per data, quarter, configuration and code version
        (:mod:`bestandlib.results`): a second language or a second look at the quarter reads it back.

        ``name`` must identify the computation given the session's data, quarter and configuration
        (e.g. ``"churn.backtest"``); the arguments are not part of the key, nor is the language: cache
        only results without text (a computation that takes ``lang`` must not be cached). A
        pseudonymised run keeps its own results (they may hold names).
        """
        from bestandlib import results

        if self.pseudonymized:
            name += ".pseudonymized"
        return results.cached(self.data_key, self.quarter_label, name, self.config,
                              lambda: compute(*args, **kwargs))

    # --- what the data allow (bestandlib.needs) ---------------------------------------------------
    _facts: object = field(default=None, repr=False)

    @property
    def facts(self):
        """What the data offer at this quarter (:class:`bestandlib.needs.Facts`)."""
        if self._facts is None:
            from bestandlib import needs

            self._facts = needs.facts(self.tables, self.panel, self.quarter)
        return self._facts

    def unmet(self, section: str) -> list:
        """The unmet needs of ``section`` (:data:`bestandlib.needs.SECTIONS`); empty when it can run."""
        from bestandlib import needs

        return needs.check(section, self.facts, self.config)

    def available(self, section: str) -> bool:
        """Whether ``section`` can run, without showing anything."""
        return not self.unmet(section)

    def section(self, section: str) -> bool:
        """Whether ``section`` can run; if not, the page shows why, in words (one short note).

        A notebook wraps each section with a need in ``if s.section("churn.model"):``.
        """
        reasons = self.unmet(section)
        if reasons:
            from IPython.display import Markdown, display

            display(Markdown("> " + self.note(section)))
        return not reasons

    def note(self, section: str) -> str:
        """"Nicht verfügbar: braucht potentials.csv." (empty when the section can run)."""
        from bestandlib import needs

        reasons = self.unmet(section)
        return needs.note(reasons, self.lang) if reasons else ""

    def reasons(self, section: str) -> str:
        """The unmet needs of ``section`` in words, without the "Nicht verfügbar" prefix, for a sentence."""
        from bestandlib import needs

        return "; ".join(needs.reason_text(r, self.lang) for r in self.unmet(section))

    @property
    def has_margin(self) -> bool:
        """Whether the order lines carry contribution margins (an optional column)."""
        return "orders.contribution_margin" in self.facts.columns

    # --- time ---------------------------------------------------------------------------------
    @property
    def quarter_label(self) -> str:
        return str(self.quarter)

    @property
    def quarter_end(self) -> pd.Timestamp:
        return periods.quarter_end(self.quarter)

    # --- language -----------------------------------------------------------------------------
    def t(self, key: str, count=None, **fields) -> str:
        """The catalogue text ``key`` in the session's language, fields filled (:func:`i18n.t`)."""
        return i18n.t(key, self.lang, count=count, **fields)

    def md(self, key: str, count=None, **fields):
        """The catalogue text ``key`` shown as Markdown in the notebook and on the page."""
        from IPython.display import Markdown

        return Markdown(self.t(key, count=count, **fields))

    def eur(self, x, digits: int = 0) -> str:
        return i18n.fmt_eur(x, self.lang, digits)

    def pct(self, x, digits: int = 1) -> str:
        return i18n.fmt_pct(x, self.lang, digits)

    def num(self, x, digits: int = 0) -> str:
        return i18n.fmt_number(x, self.lang, digits)

    # --- what the notebook shows first ----------------------------------------------------------
    def describe(self) -> pd.DataFrame:
        """Rows and date range per table, as loaded for this quarter."""
        date_cols = {
            "customers": None,
            "orders": "order_date",
            "contacts": "contact_date",
            "complaints": "complaint_date",
            "potentials": "assessed_on",
            "surveys": "survey_date",
        }
        rows = []
        for name, col in date_cols.items():
            df = getattr(self.tables, name, None)
            if df is None:
                rows.append({"table": name, "rows": 0, "from": pd.NaT, "to": pd.NaT})
                continue
            if name == "orders" and self.tables.orders_in_engine:  # lines the engine reads: ask it
                n, first, last = df.summary(self.config)
                rows.append({"table": name, "rows": n, "from": first, "to": last})
                continue
            rows.append(
                {
                    "table": name,
                    "rows": len(df),
                    "from": df[col].min() if col and len(df) else pd.NaT,
                    "to": df[col].max() if col and len(df) else pd.NaT,
                }
            )
        return pd.DataFrame(rows)

    # --- privacy -------------------------------------------------------------------------------
    def real_names(self, df: pd.DataFrame, column: str = "name") -> pd.DataFrame:
        """``df`` with the real customer names in ``column`` (looked up by ``customer_id``).

        For outputs that stay inside the sales team although the report is pseudonymised: the
        per-manager action lists, e.g.
        ``actions.write_action_lists(s.real_names(acts), s.output_dir / "actions", s.lang)``.
        Without pseudonymisation ``df`` is returned unchanged.
        """
        if not self.pseudonymized or self._real_names is None or column not in df:
            return df
        return df.assign(**{column: df["customer_id"].map(self._real_names).fillna(df[column])})

    # --- outputs for the report ----------------------------------------------------------------
    def save_table(self, df: pd.DataFrame, name: str) -> Path | None:
        """Write a customer-level result table to ``<output_dir>/tables/<name>.csv`` (report runs only).

        UTF-8 with a header, ``.`` as decimal mark, full precision and ISO dates, so CRM imports and
        checks read it unambiguously; the report pages show the same numbers in the reader's language.
        """
        if self.output_dir is None:
            return None
        # the page shows the first rows of the same frame: its note links the full CSV (bestandlib.display)
        df.attrs.update(bestand_csv=f"tables/{name}.csv", bestand_rows=len(df))
        target = Path(self.output_dir) / "tables" / f"{name}.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(target, index=False, date_format="%Y-%m-%d")
        return target

    def show(self, df: pd.DataFrame, rows: int | None = None):
        """``df`` as a formatted table in the session's language (:mod:`bestandlib.display`): translated
        headers and values, locale numbers, cut after ``rows`` (default ``report.table_rows``) with a
        note that links the full CSV when the frame was saved with :meth:`save_table`."""
        from bestandlib import display

        return display.Table(df, self.lang, max_rows=rows or self.config["report"]["table_rows"])

    def highlight(self, title: str, text: str | list[str] | None = None, *, figure=None,
                  table: pd.DataFrame | str | None = None, sentence: bool = False, key: str | None = None):
        """Offer a section to the report's management page (report runs only).

        ``text`` is plain text (a list gives paragraphs), ``figure`` a matplotlib figure, ``table`` a
        small DataFrame (formatted like every table, :mod:`bestandlib.display`) or HTML. ``sentence=True`` styles the
        text as the section's key finding.
        """
        if self.output_dir is None:
            return None
        out = Path(self.output_dir) / "highlights"
        out.mkdir(parents=True, exist_ok=True)
        self._highlight_count += 1
        key = key or f"{_section_name()}__{self._highlight_count:02d}"
        item = {"title": title, "sentence": bool(sentence),
                "paragraphs": [text] if isinstance(text, str) else list(text or [])}
        if figure is not None:
            png = out / f"{key}.png"
            figure.savefig(png, dpi=110, bbox_inches="tight", metadata={"Software": None})
            item["figure"] = png.name
        if table is not None:
            from bestandlib import display

            item["table_html"] = table if isinstance(table, str) else display.table_html(table, self.lang)
        (out / f"{key}.json").write_text(json.dumps(item, ensure_ascii=False, indent=1), encoding="utf-8")
        return item


def _section_name() -> str:
    """The notebook this session runs in, as injected by the pipeline (``bestand_section``)."""
    try:
        from IPython import get_ipython

        ip = get_ipython()
        if ip is not None and ip.user_ns.get("bestand_section"):
            return str(ip.user_ns["bestand_section"])
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        pass
    return f"session{os.getpid()}"


def _pseudonymize_requested() -> bool:
    """Whether the pipeline asked for pseudonyms (injected ``bestand_pseudonymize``, like
    ``bestand_section``), so no notebook needs an extra parameter."""
    try:
        from IPython import get_ipython

        ip = get_ipython()
        if ip is not None and ip.user_ns.get("bestand_pseudonymize"):
            return True
    except ImportError:  # pragma: no cover
        pass
    return os.environ.get("BESTAND_PSEUDONYMIZE", "").lower() in {"1", "true", "yes"}


def open(quarter=None, data_dir=paths.DEMO_DIR, config=None, lang: str = "de", output_dir=None,
         today=None, pseudonymize: bool | None = None) -> Session:  # noqa: A001 - reads naturally: session.open(...)
    """Load the validated data up to the end of ``quarter`` (None = latest complete quarter).

    ``pseudonymize`` replaces customer names by stable pseudonyms (:mod:`bestandlib.privacy`);
    ``None`` means: as the report run asked (``bestand report --pseudonymize``).
    """
    i18n.check_lang(lang)
    cfg = ensure_config(config)
    i18n.set_currency(cfg)
    data_dir = paths.resolve_data_dir(data_dir)
    ensure_demo(data_dir)
    key = cache_key(data_dir, cfg)
    all_tables = load_tables_cached(data_dir, cfg, today=today, key=key)
    today = pd.Timestamp(today) if today is not None else pd.Timestamp.today()
    if quarter is None:
        q = periods.latest_complete_quarter(all_tables.max_date(), today=today)
    else:
        q = periods.parse_quarter(quarter)
    real = None
    if pseudonymize is None:
        pseudonymize = _pseudonymize_requested()
    if pseudonymize:
        from bestandlib import privacy

        all_tables, real = privacy.pseudonymize_tables(all_tables, privacy.pseudonym_key(cfg), lang)
    from bestandlib.groups import fill_groups

    # empty master data (segment, region, business unit, account manager) become one named group
    all_tables = dataclasses.replace(all_tables, customers=fill_groups(all_tables.customers, lang))
    tables = all_tables.cut(periods.quarter_end(q))
    pnl = panel_cached(tables, q, data_key=key, config=cfg)
    _setup_plots()
    _setup_tables(lang, cfg["report"]["table_rows"])
    return Session(quarter=q, data_dir=data_dir, config=cfg, lang=lang, tables=tables, panel=pnl,
                   output_dir=Path(output_dir) if output_dir else None, all_tables=all_tables,
                   pseudonymized=bool(pseudonymize), _real_names=real, data_key=key)


def _setup_tables(lang: str, max_rows: int) -> None:
    """Every DataFrame a notebook shows is a formatted table in the session's language
    (:mod:`bestandlib.display`): managers read these tables on the report pages."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return
    ip = get_ipython()
    if ip is not None:
        from bestandlib import display

        ip.display_formatter.formatters["text/html"].for_type(
            pd.DataFrame, lambda df: display.table_html(df, lang, max_rows=max_rows))


def _setup_plots() -> None:
    """One plot style for notebooks and report; deterministic PNGs (no timestamps in metadata)."""
    import matplotlib as mpl

    try:
        import seaborn as sns

        sns.set_theme(style="whitegrid", context="notebook")
    except ImportError:  # pragma: no cover - seaborn is a dependency
        pass
    mpl.rcParams["figure.figsize"] = (9, 4.5)
    mpl.rcParams["figure.dpi"] = 100
    mpl.rcParams["svg.hashsalt"] = "bestand"
