# bestand: the two commands of the README are `make report` and `make test`.
# Everything else here is a building block of those two, or a convenience for analysts.

PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
BESTAND := $(VENV)/bin/bestand
STAMP   := $(VENV)/.installed
DEMO    := data/raw/demo/customers.csv
QUARTER ?=
LANG_REPORT ?= de
# Parallel test workers: 2 matches the project's machines; `make test WORKERS=0` runs serially.
WORKERS ?= 2

.PHONY: install demo report report-en test test-fast lab clean-cache clean help

help:
	@echo "make report      build .venv, generate demo data, render the latest quarter into reports/"
	@echo "make test        run all tests (unit, notebooks via nbval, end-to-end, browser)"
	@echo "make lab         open JupyterLab on notebooks/ with the project's kernel"
	@echo "make report QUARTER=2025Q3 LANG_REPORT=en   another quarter / English"

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

$(DEMO): | $(STAMP)
	$(BESTAND) demo

demo: $(STAMP) $(DEMO)

report: demo
	$(BESTAND) report $(if $(QUARTER),--quarter $(QUARTER)) --lang $(LANG_REPORT)

report-en:
	$(MAKE) report LANG_REPORT=en

test: demo
	$(PY) -m pytest -n $(WORKERS) --dist loadscope --nbval-lax --nbval-current-env \
	    --ignore=tests/fixtures --ignore=tests/bad_inputs tests notebooks

test-fast: $(STAMP)
	$(PY) -m pytest -n $(WORKERS) -m "not slow" --ignore=tests/fixtures --ignore=tests/bad_inputs tests

lab: $(STAMP) demo
	$(PY) -m ipykernel install --sys-prefix --name bestand --display-name "Python (bestand)"
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/jupyter lab notebooks/

clean-cache:
	rm -rf data/interim

clean: clean-cache
	rm -rf $(VENV) reports/*/ reports/index.html
