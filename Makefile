# The README names two commands: `make demo` (the whole system, locally) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: demo test lint format bench screenshots system-deps clean help

help:
	@echo "make demo   - run the whole system locally (broker, hub, console, mail sink, 3 dwellings)"
	@echo "make test   - install what the tests need and run them (unit, integration, e2e)"
	@echo "make lint   - ruff and mypy --strict"
	@echo "make bench  - run the benchmarks and print figures"
	@echo "make screenshots - the console's browser tests, saving their screenshots to docs/img"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=25.1"

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e '.[all]'
	@touch $@

$(DEV_STAMP): pyproject.toml $(RUN_STAMP)
	$(BIN)/pip install -q -e '.[all]' --group dev
	@touch $@

demo: $(RUN_STAMP)
	$(BIN)/mz demo

system-deps:
	bash scripts/system-deps.sh

# One worker per core, at most 4: each test starts its own servers on free ports and its
# own directories, so the workers share nothing (a session server is one per worker).
test: $(DEV_STAMP) system-deps lint
	$(BIN)/pytest -n auto --maxprocesses 4

screenshots: $(DEV_STAMP) system-deps
	MZ_SCREENSHOTS=docs/img $(BIN)/pytest -q tests/e2e -k "browser"

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(RUN_STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .demo
