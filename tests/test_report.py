"""Report rendering helpers that need no notebook run."""
import nbformat

from bestandlib import report


def _nb(*sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(src) for src in sources]
    return nb


def test_headings_keep_the_reader_language():
    for sep in (" | ", " / "):
        nb = report.localise_markdown(_nb(f"# Kundenwert{sep}Customer value"), "en")
        assert nb.cells[0].source == "# Customer value"
        nb = report.localise_markdown(_nb(f"## Kundenwert{sep}Customer value"), "de")
        assert nb.cells[0].source == "## Kundenwert"


def test_paragraphs_with_italic_translations_keep_one_language():
    src = "# A | B\n\nDeutscher Text mit **Betonung**.\n\n*English text with **emphasis**.*"
    de = report.localise_markdown(_nb(src), "de").cells[0].source
    en = report.localise_markdown(_nb(src), "en").cells[0].source
    assert de == "# A\n\nDeutscher Text mit **Betonung**."
    assert en == "# B\n\nEnglish text with **emphasis**."


def test_cells_without_translation_and_bold_lead_ins_stay():
    src = "**Vorlaufzeit / lead time**: wie viele Quartale."
    assert report.localise_markdown(_nb(src), "en").cells[0].source == src


def test_cells_tagged_for_the_other_language_are_dropped():
    nb = _nb("nur deutsch", "english only")
    nb.cells[0].metadata["tags"] = ["lang-de"]
    nb.cells[1].metadata["tags"] = ["lang-en"]
    assert [c.source for c in report.localise_markdown(nb, "de").cells] == ["nur deutsch"]
