"""docs/RELIABILITY.md is true: every §6 scenario of the reliability guide (1-35) has a row, every row names
at least one test, and every test it names exists (a module-level test function of that name in that file).
A `test_sNN_...` test in tests/faults/ is listed in row NN."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import REPO

TABLE = REPO / "docs" / "RELIABILITY.md"
SCENARIOS = range(1, 36)
NODE = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def rows() -> dict[int, str]:
    found: dict[int, str] = {}
    for line in TABLE.read_text().splitlines():
        match = re.match(r"\|\s*(\d+)\s*\|", line)
        if match:
            number = int(match.group(1))
            assert number not in found, f"scenario {number} has two rows"
            found[number] = line
    return found


def defined_tests(path: Path) -> set[str]:
    """Test functions, and tests bound to a name (a Hypothesis state machine's `TestCase`)."""
    tree = ast.parse(path.read_text())
    names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    bound = [t for node in tree.body if isinstance(node, ast.Assign) for t in node.targets]
    names |= {t.id for t in bound if isinstance(t, ast.Name)}
    return {name for name in names if name.startswith("test_")}


def test_every_scenario_has_a_row_naming_tests_that_exist() -> None:
    table = rows()
    assert sorted(table) == list(SCENARIOS), "rows missing or extra"
    missing = []
    for number, line in table.items():
        nodes = NODE.findall(line)
        assert nodes, f"scenario {number} names no test"
        for file, name in nodes:
            path = REPO / file
            if not path.is_file() or name not in defined_tests(path):
                missing.append(f"{number}: {file}::{name}")
    assert not missing, "named tests that do not exist: " + ", ".join(missing)


def test_every_scenario_test_in_tests_faults_is_in_its_row() -> None:
    table = rows()
    for path in sorted((REPO / "tests" / "faults").glob("test_*.py")):
        for name in defined_tests(path):
            match = re.match(r"test_s(\d+)_", name)
            if match:
                number = int(match.group(1))
                node = f"`{path.relative_to(REPO)}::{name}`"
                assert node in table.get(number, ""), f"{node} is not in row {number} of {TABLE.name}"
