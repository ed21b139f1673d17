"""Rendering of the quarterly report: analysis pages from executed notebooks, the management entry
page, and the list of all rendered quarters.

nbconvert does the notebook-to-HTML work (code cells and parameter cells removed, images inlined);
our template only swaps the CDN scripts of the stock ``lab`` template for nothing, so every page is
self-contained and opens offline.
"""
from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import jinja2
import nbformat
import pandas as pd

from bestandlib import display, i18n

TEMPLATES = Path(__file__).with_name("templates")
CSS = (TEMPLATES / "report.css").read_text(encoding="utf-8")

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


class _Labels(dict):
    """Template access ``t.key`` to the labels of one language."""

    def __init__(self, lang):
        super().__init__()
        self.lang = lang

    def __getattr__(self, key):
        return i18n.t(key, self.lang)


def page_title(nb_path: Path, lang: str = "de") -> str:
    """The title of an analysis: the first Markdown heading of the notebook in ``lang``."""
    nb = nbformat.read(str(nb_path), as_version=4)
    for cell in localise_markdown(nb, lang).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return Path(nb_path).stem


def nav_html(pages: list[dict], current: str | None, lang: str, quarters_href: str = "../index.html",
             index_href: str = "index.html", extra: list[tuple[str, str]] = ()) -> str:
    """The navigation bar: entry page, each analysis page, neighbouring quarters, all quarters."""
    links = [f'<span class="brand">{html.escape(i18n.t("report_title", lang))}</span>',
             f'<a href="{index_href}"{" class=current" if current == "index" else ""}>'
             f'{html.escape(i18n.t("overview", lang))}</a>']
    for p in pages:
        cls = ' class="current"' if p["href"] == current else ""
        links.append(f'<a href="{html.escape(p["href"])}"{cls}>{html.escape(p["title"])}</a>')
    for href, label in extra:
        links.append(f'<a href="{html.escape(href)}">{html.escape(label)}</a>')
    links.append(f'<a href="{quarters_href}">{html.escape(i18n.t("all_quarters", lang))}</a>')
    return '<nav class="bestand-nav">' + "\n".join(links) + "</nav>"


def localise_markdown(nb, lang: str):
    """Keep the reader's language: prose cells are tagged ``lang-de`` or ``lang-en``
    (tests/test_notebooks.py checks that every Markdown cell carries one tag); the page shows the
    cells of its language and the untagged code outputs, which the package already renders in it."""
    other = "en" if i18n.check_lang(lang) == "de" else "de"
    nb.cells = [c for c in nb.cells if f"lang-{other}" not in c.get("metadata", {}).get("tags", [])]
    return nb


def export_notebook_html(nb_path: Path, html_path: Path, nav: str, footer: str, lang: str = "de") -> Path:
    """Executed notebook -> HTML page without code, without the parameter cells, offline."""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    c = Config()
    c.HTMLExporter.exclude_input = True
    c.HTMLExporter.exclude_input_prompt = True
    c.HTMLExporter.exclude_output_prompt = True
    c.HTMLExporter.extra_template_basedirs = [str(TEMPLATES)]
    c.HTMLExporter.template_name = "bestand_nb"
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = {"parameters", "injected-parameters", "remove_cell"}
    c.TagRemovePreprocessor.remove_input_tags = {"remove_input"}
    exporter = HTMLExporter(config=c)
    nb = localise_markdown(nbformat.read(str(nb_path), as_version=4), lang)
    body, _ = exporter.from_notebook_node(
        nb,
        resources={"bestand_nav": nav, "bestand_footer": footer, "bestand_css": CSS,
                   "language_code": lang, "metadata": {"name": page_title(nb_path, lang)}},
    )
    html_path.write_text(body, encoding="utf-8")
    return html_path


def load_highlights(out_dir: Path, order: list[tuple[str, list[str]]]) -> list[dict]:
    """Sections offered by the notebooks (see ``Session.highlight``), in notebook order.

    ``order`` is ``[(page_href, [highlight json file names]), ...]`` as recorded by the pipeline.
    """
    hdir = Path(out_dir) / "highlights"
    sections = []
    for page, names in order:
        for name in names:
            item = json.loads((hdir / name).read_text(encoding="utf-8"))
            if item.get("figure"):
                item["figure"] = base64.b64encode((hdir / item["figure"]).read_bytes()).decode("ascii")
            item["page"] = page
            item["id"] = Path(name).stem
            sections.append(item)
    return sections


def _table_html(df: pd.DataFrame, lang: str, text: bool = False) -> str:
    """A table of the entry page (:func:`bestandlib.display.table_html`); ``text=True`` left-aligns
    every column (tables of words)."""
    return display.table_html(df, lang, classes="bestand-table bestand-text" if text else "bestand-table")


_QUARTER_DIR = re.compile(r"^\d{4}Q[1-4]$")

# The method appendix of the entry page: what each analysis does, in a sentence or two
# (catalogue keys method_<name>_title and method_<name>_text).
METHODS = ("data", "history", "value", "potential", "churn", "actions")


def quarter_links(reports_root: Path | None, quarter: str, lang: str) -> list[tuple[str, str]]:
    """Links to the previous and next rendered quarter, if there are any."""
    if reports_root is None or not Path(reports_root).exists():
        return []
    rendered = sorted(p.name for p in Path(reports_root).iterdir()
                      if _QUARTER_DIR.match(p.name) and (p / "index.html").exists() and p.name != quarter)
    before = [q for q in rendered if q < quarter]
    after = [q for q in rendered if q > quarter]
    links = []
    if before:
        links.append((f"../{before[-1]}/index.html", f"← {before[-1]}"))
    if after:
        links.append((f"../{after[0]}/index.html", f"{after[0]} →"))
    return links


def render_index(out_dir: Path, *, quarter: str, lang: str, config: dict, pages: list[dict],
                 sections: list[dict], run: dict, excluded: pd.DataFrame | None, notes: list[str],
                 reports_root: Path | None = None,
                 coverage: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> Path:
    """Write ``index.html``, the management entry page of one quarter.

    ``coverage``: the data coverage and the sections not available
    (:func:`bestandlib.needs.coverage_view`), shown as the block "Datenlage / Data coverage".
    """
    out_dir = Path(out_dir)
    titles = {p["href"]: p["title"] for p in pages}
    for s in sections:
        s["page_title"] = titles.get(s.get("page"), "")
    tables = sorted(str(p.relative_to(out_dir)) for p in (out_dir / "tables").glob("*.csv")) \
        if (out_dir / "tables").exists() else []
    run_rows = pd.DataFrame([{"notebook": n["title"], "seconds": n["seconds"]} for n in run.get("notebooks", [])])
    excluded_html = None
    if excluded is not None and len(excluded):
        excluded_html = _table_html(excluded.assign(reason=[
            i18n.t(f"excluded_{r}", lang) if i18n.has(f"excluded_{r}", lang) else r for r in excluded["reason"]]), lang)
    title = config["report"].get(f"title_{lang}") or i18n.t("report_title", lang)
    page = _env.get_template("index.html.j2").render(
        lang=lang, title=title, quarter=quarter, company=config["report"].get("company", ""),
        data_until=i18n.fmt_date(run.get("data_until"), lang),
        generated_at=run.get("generated_at_display", ""), t=_Labels(lang), css=CSS,
        nav=nav_html(pages, "index", lang, extra=quarter_links(reports_root, quarter, lang) + (
            [("customers/index.html", i18n.t("brief_index_title", lang))]
            if (out_dir / "customers" / "index.html").exists() else [])),
        sections=sections, notes=notes,
        methods=[(i18n.t(f"method_{m}_title", lang), i18n.t(f"method_{m}_text", lang)) for m in METHODS],
        excluded_html=excluded_html, tables=tables,
        coverage_html=_table_html(coverage[0], lang, text=True) if coverage is not None else "",
        skipped_html=_table_html(coverage[1], lang, text=True) if coverage is not None and len(coverage[1]) else "",
        run_html=_table_html(run_rows, lang) if len(run_rows) else "", footer=footer_text(run, lang),
    )
    target = out_dir / "index.html"
    target.write_text(page, encoding="utf-8")
    return target


def footer_text(run: dict, lang: str) -> str:
    return (f'bestand {run.get("versions", {}).get("bestand", "")} · {i18n.t("quarter", lang)} '
            f'{run.get("quarter", "")} · {i18n.t("generated_at", lang)} {run.get("generated_at_display", "")}')


def render_quarters_index(reports_root: Path, lang: str = "de") -> Path:
    """``reports/index.html``: every rendered quarter, newest first."""
    reports_root = Path(reports_root)
    quarters = []
    for run_json in sorted(reports_root.glob("*/run.json"), reverse=True):
        if run_json.parent.name.startswith(("_", ".")):
            continue
        try:
            run = json.loads(run_json.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        quarters.append({"quarter": run_json.parent.name, "generated_at": run.get("generated_at_display", ""),
                         "data_until": i18n.fmt_date(run.get("data_until"), lang)})
    page = _env.get_template("quarters.html.j2").render(
        lang=lang, title=i18n.t("report_title", lang), t=_Labels(lang), css=CSS, quarters=quarters)
    target = reports_root / "index.html"
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(target)
    return target
