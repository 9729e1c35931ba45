"""Coverage per layer, and the floors make test holds them to.

pytest-cov writes one branch-coverage data file for the whole run (the pytest workers and every `la`
subprocess a test starts); this prints lines+branches covered per package of `laptop_agents` and exits 1
when a pure layer is under 90 % or the package as a whole is under 80 %. The pure layers are the
deterministic core the backtest and the live sessions share; the edges (daemon, exchange, dashboard, CLI)
are measured against the overall floor only, since parts of them run only in processes a test kills.

    python scripts/coverage_gate.py [--data .coverage]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import coverage

PURE_LAYERS = ("core", "indicators", "strategy", "risk", "execution", "engine")
PURE_FLOOR = 90.0
OVERALL_FLOOR = 80.0


@dataclass
class Tally:
    """Statements and branches of one package, as coverage counts them for its percentage."""

    statements: int = 0
    covered_lines: int = 0
    branches: int = 0
    covered_branches: int = 0

    def add(self, summary: dict[str, int]) -> None:
        self.statements += summary["num_statements"]
        self.covered_lines += summary["covered_lines"]
        self.branches += summary.get("num_branches", 0)
        self.covered_branches += summary.get("covered_branches", 0)

    @property
    def percent(self) -> float:
        total = self.statements + self.branches
        return 100.0 if total == 0 else 100.0 * (self.covered_lines + self.covered_branches) / total


def package_of(path: str) -> str:
    """`.../laptop_agents/engine/portfolio.py` -> `engine`; modules at the top level -> `(top level)`."""
    parts = Path(path).parts
    inner = parts[parts.index("laptop_agents") + 1 :]
    return inner[0] if len(inner) > 1 else "(top level)"


def tally(data_file: Path) -> tuple[dict[str, Tally], Tally]:
    cov = coverage.Coverage(data_file=str(data_file))
    cov.load()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "coverage.json"
        cov.json_report(outfile=str(out))
        files = json.loads(out.read_text())["files"]
    packages: dict[str, Tally] = {}
    overall = Tally()
    for path, entry in files.items():
        packages.setdefault(package_of(path), Tally()).add(entry["summary"])
        overall.add(entry["summary"])
    return packages, overall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(".coverage"), help="coverage data file")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"coverage_gate: no coverage data at {args.data}; run pytest with --cov first", file=sys.stderr)
        return 2
    packages, overall = tally(args.data)
    failures: list[str] = []
    print(f"{'package':<14} {'lines':>11} {'branches':>11} {'covered':>8}  floor")
    for name in sorted(packages):
        t = packages[name]
        floor = PURE_FLOOR if name in PURE_LAYERS else None
        mark = f"{floor:.0f} %" if floor is not None else ""
        if floor is not None and t.percent < floor:
            mark += "  UNDER"
            failures.append(f"{name} {t.percent:.1f} % < {floor:.0f} %")
        lines = f"{t.covered_lines}/{t.statements}"
        branches = f"{t.covered_branches}/{t.branches}"
        print(f"{name:<14} {lines:>11} {branches:>11} {t.percent:>7.1f}%  {mark}")
    if overall.percent < OVERALL_FLOOR:
        failures.append(f"overall {overall.percent:.1f} % < {OVERALL_FLOOR:.0f} %")
    print(f"{'overall':<14} {'':>11} {'':>11} {overall.percent:>7.1f}%  {OVERALL_FLOOR:.0f} %")
    if failures:
        print("coverage_gate: under the floor: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
