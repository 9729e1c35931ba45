# The two commands a new user needs: `make run` (a one-minute live-paper session against the embedded
# simulated exchange, which replays the bundled real BTC month as 15-minute candles at 9,000x: the demo
# profile) and `make test` (lint, types and the whole test suite). Both create .venv first.
# `make backtest` backtests that month with the same profile (docs/STRATEGIES.md says why) in a second.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run backtest test bench lock clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "laptop-agents needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

# An editable install leaves src/ without bytecode, and where PYTHONDONTWRITEBYTECODE is set every `la`
# process would compile each module it imports again (a backtest's first candle 0.7 s instead of 0.45 s);
# compileall writes it, and rewrites only what changed since.
COMPILE := $(BIN)/python -m compileall -q -j 0 src

# Every package comes from requirements/dev.lock, each file checked against its SHA-256 (--require-hashes: a
# tampered or substituted download fails the install), pip and the build backend included; then the project
# itself without touching the network. `pip check` fails when pyproject.toml wants what the lock lacks
# (`make lock` after changing dependencies).
LOCK := requirements/dev.lock

$(STAMP): pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	$(COMPILE)
	@touch $(STAMP)

# Re-resolve the lock from pyproject.toml (needs the network; uv runs from a throwaway venv).
lock:
	$(PYTHON) -m venv $(VENV)-uv && $(VENV)-uv/bin/python -m pip install --quiet uv
	$(VENV)-uv/bin/uv pip compile pyproject.toml requirements/build.in --extra dev --universal \
		--python-version 3.11 --generate-hashes --quiet -o $(LOCK)
	rm -rf $(VENV)-uv

run: $(STAMP)
	@$(COMPILE)
	$(BIN)/la run --profile demo --mode live-paper --duration 60

backtest: $(STAMP)
	@$(COMPILE)
	$(BIN)/la run --profile demo

# Two pytest workers (pytest-xdist): most tests wait on `la` subprocesses and loopback sockets, so two at a
# time use the 2 cores CI has; 12 min -> under 6 (8 with coverage). Branch coverage of the package, its `la`
# subprocesses included ([tool.coverage] in pyproject.toml), is then held to its floors per layer.
test: $(STAMP)
	$(BIN)/ruff check src tests bench scripts examples
	$(BIN)/ruff format --check src tests bench scripts examples
	$(BIN)/mypy --strict src
	@$(COMPILE)
	rm -f .coverage .coverage.*
	$(BIN)/python -m pytest -q -n 2 --cov --cov-report=
	$(BIN)/python scripts/coverage_gate.py

bench: $(STAMP)
	@$(COMPILE)
	$(BIN)/python bench/backtest.py
	$(BIN)/python bench/exchange.py
	$(BIN)/python bench/runner.py
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/validate_dask.py
	$(BIN)/python bench/download.py
	$(BIN)/python bench/process.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .coverage .coverage.*
	find src tests bench -name __pycache__ -prune -exec rm -rf {} +
