"""Repository invariants: committed notebooks carry no outputs, conda and pip list the same packages."""
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# conda-forge names that differ from PyPI names
CONDA_TO_PYPI = {"python-duckdb": "duckdb"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower()


def test_there_are_analysis_notebooks():
    assert any(re.match(r"\d\d_", p.name) for p in NOTEBOOKS)


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_committed_without_outputs(nb_path):
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{nb_path.name} cell {i} has outputs: strip them"
            assert cell.get("execution_count") is None, f"{nb_path.name} cell {i} has an execution count"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_the_standard_parameters(nb_path):
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{nb_path.name}: exactly one cell tagged 'parameters'"
    src = "".join(tagged[0]["source"])
    for name in ("quarter", "data_dir", "config", "lang", "output_dir"):
        assert re.search(rf"^{name}\s*=", src, re.M), f"{nb_path.name}: parameter {name} missing"
    assert nb["metadata"].get("kernelspec", {}).get("name"), f"{nb_path.name}: no kernelspec"


def test_environment_yml_and_pyproject_list_the_same_packages():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_names = {_name(r) for r in pyproject["dependencies"]}
    pip_names |= {_name(r) for r in pyproject["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_names, pip_section = set(), set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip_section |= {_name(r) for r in dep["pip"] if not r.startswith("-e")}
        else:
            n = _name(dep)
            if n not in {"python", "pip"}:
                conda_names.add(CONDA_TO_PYPI.get(n, n))
    assert conda_names | pip_section == pip_names


def test_data_and_reports_are_ignored_by_git():
    ignore = (ROOT / ".gitignore").read_text()
    assert "data/raw/*" in ignore and "reports/*" in ignore and "data/interim/" in ignore
    assert "filter=nbstripout" in (ROOT / ".gitattributes").read_text()


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_reads_every_parameter(nb_path):
    import papermill as pm

    found = pm.inspect_notebook(str(nb_path))
    assert {"quarter", "data_dir", "config", "lang", "output_dir"} <= set(found), nb_path.name
