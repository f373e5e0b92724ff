# Every task of the project; `make install` is run by the others when needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test demo lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Assay needs Python 3.11 or newer" if sys.version_info < (3, 11) else 0)'
	@echo "Setting up $(VENV): Assay and what it needs (a minute or two, once)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar off -e '.[all,dev]'
	touch $(STAMP)

# Bytecode is kept even where the environment says not to write it (PYTHONDONTWRITEBYTECODE):
# without it every worker and every server process the tests start compiles Assay, and
# pytest rewrites every test module, again (about 6 s a worker).
test: install
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest -n auto

demo: install
	$(VENV)/bin/assay demo

lint: install
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/mypy

bench: install
	$(PY) benchmarks/tracing_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
