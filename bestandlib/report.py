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

from bestandlib import i18n

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
    """The title of an analysis: the first Markdown heading of the notebook in ``lang``.

    Notebooks carry bilingual headings as ``# Kundenhistorie | Customer history``.
    """
    nb = nbformat.read(str(nb_path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return _pick_lang(line[2:].strip(), lang)
    return Path(nb_path).stem


def _pick_lang(text: str, lang: str) -> str:
    for sep in (" | ", " / "):
        if sep in text:
            de, en = text.split(sep, 1)
            return de.strip() if lang == "de" else en.strip()
    return text


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


_HEADING = re.compile(r"^(#{1,6}[ \t]+)(.+?)[ \t]+[|/][ \t]+(.+?)[ \t]*$", re.M)


def localise_markdown(nb, lang: str):
    """Keep one language in the Markdown of a notebook.

    Notebooks are written for analysts in both languages: headings as ``## Umsatz | Revenue`` (or
    ``## Umsatz / Revenue``, with spaces around the slash) and,
    where prose differs, Markdown cells tagged ``lang-de`` or ``lang-en``. The report page keeps the
    reader's language only.
    """
    other = "en" if lang == "de" else "de"
    cells = []
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if f"lang-{other}" in tags:
            continue
        if cell.cell_type == "markdown":
            cell.source = _HEADING.sub(
                lambda m: m.group(1) + (m.group(2) if lang == "de" else m.group(3)), cell.source)
            cell.source = _pick_paragraphs(cell.source, lang)
        cells.append(cell)
    nb.cells = cells
    return nb


def _is_translation(paragraph: str) -> bool:
    """An English rendering of the German paragraph before it: wholly in single-asterisk italics."""
    p = paragraph.strip()
    return (len(p) > 2 and p.startswith("*") and not p.startswith("**")
            and p.endswith("*") and not p.endswith("**"))


def _pick_paragraphs(source: str, lang: str) -> str:
    """In a cell written as German paragraphs each followed by its English translation in italics,
    keep the reader's language (headings stay; cells without translations are left as they are)."""
    paragraphs = re.split(r"\n\s*\n", source)
    if not any(_is_translation(p) for p in paragraphs):
        return source
    kept = []
    for p in paragraphs:
        if p.lstrip().startswith("#"):
            kept.append(p)
        elif _is_translation(p):
            if lang == "en":
                kept.append(p.strip()[1:-1])
        elif lang == "de":
            kept.append(p)
    return "\n\n".join(kept)


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


def _table_html(df: pd.DataFrame, text: bool = False) -> str:
    """A table of the entry page; ``text=True`` left-aligns every column (tables of words)."""
    return df.to_html(index=False, classes="bestand-table bestand-text" if text else "bestand-table",
                      border=0, na_rep="–")


_QUARTER_DIR = re.compile(r"^\d{4}Q[1-4]$")

# The method appendix of the entry page: what each analysis does, in a sentence or two.
METHODS = {
    "de": [
        ("Datenbasis", "Alle Zahlen beruhen nur auf Daten bis zum Quartalsende; Auftragszeilen ohne Umsatz "
         "und Deckungsbeitrag sind ausgeschlossen und unten gezählt. Umsatz = Nettoumsatz nach Gutschriften."),
        ("Kundenhistorie und ABC", "Aktiv = Auftrag in den letzten vier Quartalen; verloren = vier Quartale "
         "ohne Auftrag. ABC-Klassen nach kumuliertem Umsatzanteil der letzten zwölf Monate (Grenzen in der "
         "Konfiguration)."),
        ("Vier-Felder-Matrix und Kundenwert", "Umsatz der letzten zwölf Monate gegen das zuletzt "
         "eingeschätzte Umsatzpotenzial; Schwellen je Geschäftsbereich. Der Kundenwert-Score gewichtet "
         "normierte Indikatoren (0–100) mit den Gewichten der SGE."),
        ("Umsatz und Potenzial", "Rangkorrelation (Spearman) mit Bootstrap-Intervallen. „Positiv“ nur, wenn ρ "
         "und sein ganzes Intervall über 0 liegen und ein einseitiger Permutationstest auf ρ > 0 signifikant "
         "ist (Teilstudien je Maß mit Holm-Korrektur); daneben, nicht als Urteil, der Vergleich mit dem, was "
         "die Rechnung Potenzial − Umsatz allein ergibt."),
        ("Beziehungsphasen und Abwanderungsrisiko", "Phasen aus dokumentierten Regeln (Dauer, "
         "Umsatzverlauf, Engagement). Das Risikomodell wird nur auf Vergangenem trainiert und im jeweils "
         "nächsten Quartal geprüft (rollierender Backtest) und mit Recency und P(aktiv) verglichen."),
        ("Maßnahmen", "Standardmaßnahmen aus dem Playbook der Konfiguration je Quadrant, Phase und "
         "Risiko, priorisiert nach gefährdetem Deckungsbeitrag, mit Kontaktbudget je Kunde und Kapazität "
         "je Außendienst."),
    ],
    "en": [
        ("Data", "All figures use only data up to the quarter end; order lines without revenue and margin "
         "are excluded and counted below. Revenue = net revenue after credit notes."),
        ("Customer history and ABC", "Active = ordered in the last four quarters; lost = four quarters "
         "without an order. ABC classes by cumulative share of the last twelve months' revenue (cut-offs "
         "in the configuration)."),
        ("Four-field matrix and customer value", "Last twelve months' revenue against the latest assessed "
         "revenue potential, thresholds per business unit. The customer score weights normalised "
         "indicators (0–100) with the business unit's weights."),
        ("Revenue vs potential", "Rank correlation (Spearman) with bootstrap intervals. \"Positive\" only "
         "when ρ and its whole interval are above 0 and a one-sided permutation test of ρ > 0 is significant "
         "(sub-studies per measure with Holm correction); alongside, never as the verdict, the comparison "
         "with what the arithmetic potential − revenue alone gives."),
        ("Relationship phases and churn risk", "Phases from documented rules (tenure, revenue trajectory, "
         "engagement). The risk model is trained on the past only and checked on the next quarter each "
         "time (rolling backtest), against recency and P(alive) baselines."),
        ("Actions", "Standard measures from the configuration's playbook per quadrant, phase and risk, "
         "prioritised by margin at risk, within a contact budget per customer and each account manager's "
         "capacity."),
    ],
}


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
    run_rows = pd.DataFrame(
        [{i18n.t("notebook", lang): n["title"], i18n.t("seconds", lang): f'{n["seconds"]:.1f}'}
         for n in run.get("notebooks", [])]
    )
    excluded_html = None
    if excluded is not None and len(excluded):
        ex = excluded.copy()
        if "net_revenue" in ex:
            ex["net_revenue"] = ex["net_revenue"].map(lambda v: i18n.fmt_eur(v, lang, 2))
        excluded_html = _table_html(i18n.label_columns(ex, lang))
    title = config["report"].get(f"title_{lang}") or i18n.t("report_title", lang)
    page = _env.get_template("index.html.j2").render(
        lang=lang, title=title, quarter=quarter, company=config["report"].get("company", ""),
        data_until=i18n.fmt_date(run.get("data_until"), lang),
        generated_at=run.get("generated_at_display", ""), t=_Labels(lang), css=CSS,
        nav=nav_html(pages, "index", lang, extra=quarter_links(reports_root, quarter, lang)),
        sections=sections, notes=notes, methods=METHODS[lang],
        excluded_html=excluded_html, tables=tables,
        coverage_html=_table_html(coverage[0], text=True) if coverage is not None else "",
        skipped_html=_table_html(coverage[1], text=True) if coverage is not None and len(coverage[1]) else "",
        run_html=_table_html(run_rows) if len(run_rows) else "", footer=footer_text(run, lang),
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
