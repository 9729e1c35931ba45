"""The README's commands go through the Makefile: a broken target (a bad edit once turned `backtest:` into a
line make refuses) must fail here, not only on a fresh machine."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine (Windows: scripts/la.ps1)")
def test_every_target_the_readme_names_parses_and_runs_what_it_says() -> None:
    plans = {}
    for target in ("run", "backtest", "test", "bench"):
        done = subprocess.run(["make", "-n", target], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"make -n {target}: {done.stderr.strip()}"
        plans[target] = done.stdout
    assert "la run --profile demo --mode live-paper --duration 60" in plans["run"]
    assert "la run --profile demo" in plans["backtest"]
    assert "mypy --strict src" in plans["test"] and "pytest -q -n 2 --cov" in plans["test"]
    assert plans["test"].index("pytest -q -n 2") < plans["test"].index("scripts/coverage_gate.py")
    assert "bench/download.py" in plans["bench"] and "bench/validate_dask.py" in plans["bench"]
