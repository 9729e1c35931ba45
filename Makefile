# The two commands a new user needs: `make run` (a one-minute live-paper session against the embedded
# simulated exchange, which replays the bundled real BTC candles at 600x) and `make test` (lint, types and
# the whole test suite). Both create .venv first. `make backtest` backtests the same month as 15-minute
# candles (the demo profile, docs/STRATEGIES.md says why) in a second.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run backtest test bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "laptop-agents needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/la run --mode live-paper --duration 60

backtest: $(STAMP)
	$(BIN)/la run --profile demo

test: $(STAMP)
	$(BIN)/ruff check src tests bench scripts examples
	$(BIN)/ruff format --check src tests bench scripts examples
	$(BIN)/mypy --strict src
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/backtest.py
	$(BIN)/python bench/exchange.py
	$(BIN)/python bench/runner.py
	$(BIN)/python bench/validate.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
