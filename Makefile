# treadle: `make demo` installs and runs the end-to-end example; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev

.PHONY: install demo test lint test-fast bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of torch that this machine kind keeps on disk (any other resolves to GBs of CUDA).
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[dev]" -c constraints.txt
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/treadle demo --port 8765

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint
	$(PY) -m pytest

# Everything but the multi-process, SIGKILL and browser suites.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

bench: $(STAMP)
	$(PY) bench/tracking.py
	$(PY) bench/registry.py
	$(PY) bench/features.py
	$(PY) bench/datasets.py
	$(PY) bench/serving.py
	$(PY) bench/pipelines.py
	$(PY) bench/tuning.py
	$(PY) bench/drift.py
	$(PY) bench/evaluation.py
	$(PY) bench/mlflow_client.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
