# quiver — run `make help` for the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP_INSTALL := $(PY) -m pip install --disable-pip-version-check -q -c constraints.txt

.DEFAULT_GOAL := help
.PHONY: help install install-bench run test test-fast lint format typecheck bench bench-full bench-partitioned clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e '.[dev]'
	touch $@

install: $(VENV)/.installed ## Create the venv and install quiver with its test/dev tools (pinned)

run: install ## Load an example event stream into a local Delta table, print LoadInfo and rows
	$(PY) examples/quickstart.py

test: install ## Run the test suite on both cores (each worker starts its own S3 server on 127.0.0.1)
	$(PY) -m pytest -q -p no:cacheprovider -n 2

test-fast: install ## The test suite without tests marked slow
	$(PY) -m pytest -q -p no:cacheprovider -n 2 -m "not slow"

lint: install ## Lint and check formatting with ruff
	$(VENV)/bin/ruff check src tests benches examples scripts
	$(VENV)/bin/ruff format --check src tests benches examples scripts

format: install ## Format the code with ruff
	$(VENV)/bin/ruff format src tests benches examples
	$(VENV)/bin/ruff check --fix src tests benches examples

typecheck: install ## Type-check src/ with mypy --strict
	$(VENV)/bin/mypy

$(VENV)/.installed-bench: $(VENV)/.installed
	$(PIP_INSTALL) -e '.[dev,bench]'
	touch $@

install-bench: $(VENV)/.installed-bench ## Install the benchmark extras (dlt, matplotlib)

bench: install-bench ## Every scenario at small sizes (quiver vs dlt vs the floor, ratios, peak RSS), then 200k streamed dicts -> Delta
	$(PY) benches/run.py --quick
	$(PY) benches/run.py --scenarios stream-dicts-delta --rows 200000 --no-readme --tag $$(date +%F)-200k-stream

bench-full: install-bench ## All benchmark scenarios at full size
	$(PY) benches/run.py --full

bench-partitioned: install ## Partitioned vs unpartitioned loads (issue 17): 3M and 10M Arrow rows, 1M nested dicts
	$(PY) benches/bench_partitioned.py

clean: ## Remove the venv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
