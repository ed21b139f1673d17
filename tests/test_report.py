"""Report rendering helpers that need no notebook run."""
import nbformat

from bestandlib import report


def _nb(*sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(src) for src in sources]
    return nb


def test_cells_tagged_for_the_other_language_are_dropped():
    nb = _nb("nur deutsch", "english only")
    nb.cells[0].metadata["tags"] = ["lang-de"]
    nb.cells[1].metadata["tags"] = ["lang-en"]
    assert [c.source for c in report.localise_markdown(nb, "de").cells] == ["nur deutsch"]


def test_every_markdown_cell_of_the_notebooks_has_one_language_tag():
    from bestandlib import pipeline

    for path in pipeline.discover_notebooks():
        nb = nbformat.read(str(path), as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "markdown":
                tags = set(cell.metadata.get("tags", [])) & {"lang-de", "lang-en"}
                assert len(tags) == 1, f"{path.name} cell {i}: tags {sorted(tags)}"
                assert "TODO" not in cell.source, f"{path.name} cell {i} is not translated"


def test_page_title_is_the_first_heading_of_the_language(tmp_path):
    nb = _nb("# Kundenwert", "# Customer value")
    nb.cells[0].metadata["tags"] = ["lang-de"]
    nb.cells[1].metadata["tags"] = ["lang-en"]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, str(path))
    assert report.page_title(path, "de") == "Kundenwert"
    assert report.page_title(path, "en") == "Customer value"
