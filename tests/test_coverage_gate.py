"""scripts/coverage_gate.py: make test fails when a pure layer is under 90 % or the package under 80 %."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

GATE = REPO / "scripts" / "coverage_gate.py"

ENGINE = """
def used(x):
    if x > 0:
        return "up"
    return "down"


def unused(x):
    total = 0
    for i in range(x):
        total += i
    return total
"""


def _measure(tmp_path: Path, call: str) -> Path:
    """A tiny `laptop_agents` with one engine module, run under coverage with branch measurement."""
    pkg = tmp_path / "src" / "laptop_agents" / "engine"
    pkg.mkdir(parents=True)
    (pkg.parent / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "rules.py").write_text(ENGINE)
    (tmp_path / "main.py").write_text(f"from laptop_agents.engine.rules import used, unused\n{call}\n")
    data = tmp_path / ".coverage"
    subprocess.run([sys.executable, "-m", "coverage", "run", "--branch", f"--data-file={data}",
                    "--source=laptop_agents", "main.py"],
                   cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "src"), "PATH": ""},
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    return data


def _gate(data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(GATE), "--data", str(data)], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip


def test_a_pure_layer_under_its_floor_fails_the_gate_and_names_it(tmp_path: Path) -> None:
    done = _gate(_measure(tmp_path, "used(1)"))
    assert done.returncode == 1, done.stdout + done.stderr
    engine = next(line for line in done.stdout.splitlines() if line.startswith("engine"))
    assert "UNDER" in engine
    assert "under the floor: engine" in done.stderr and "overall" in done.stderr


def test_every_line_and_branch_covered_passes_the_gate(tmp_path: Path) -> None:
    done = _gate(_measure(tmp_path, "used(1); used(-1); unused(0); unused(2)"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "100.0%" in done.stdout


def test_no_data_file_is_a_clear_error(tmp_path: Path) -> None:
    done = _gate(tmp_path / ".coverage")
    assert done.returncode == 2 and "run pytest with --cov first" in done.stderr
