"""The core stays pure: no asyncio, sockets, wall-clock reads or randomness in the deterministic layers.

Layers checked: core, indicators, strategy, risk, execution, engine. A line may opt out with the marker
`# edge-ok` (used by `LiveClock`, the one sanctioned reader of real time), so every exception is visible.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

PURE_LAYERS = ("core", "indicators", "strategy", "risk", "execution", "engine")
BANNED_MODULES = {"asyncio", "aiohttp", "websockets", "socket", "random", "threading", "secrets"}
BANNED_CALLS = {
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "monotonic"),
    ("time", "sleep"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("date", "today"),
}
SRC = REPO / "src" / "laptop_agents"


def _files() -> list[Path]:
    return sorted(p for layer in PURE_LAYERS for p in (SRC / layer).rglob("*.py"))


def _unmarked_nodes(path: Path, marker: str) -> list[ast.AST]:
    """Every node of the module, except those on a line that carries `marker` (a visible exception)."""
    source = path.read_text()
    lines = source.splitlines()
    return [
        node
        for node in ast.walk(ast.parse(source))
        if not (hasattr(node, "lineno") and marker in lines[node.lineno - 1])
    ]


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(SRC)))
def test_pure_layer_has_no_io_clock_or_randomness(path: Path) -> None:
    problems = []
    for node in _unmarked_nodes(path, "# edge-ok"):
        if isinstance(node, ast.Import):
            problems += [a.name for a in node.names if a.name.split(".")[0] in BANNED_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in BANNED_MODULES:
            problems.append(node.module)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in BANNED_CALLS
        ):
            problems.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
    assert not problems, f"{path.name} is in a pure layer but uses {problems}"


def test_the_checker_sees_something() -> None:
    assert len(_files()) > 15


_PURE = {"core", "config", "indicators", "risk", "execution", "strategy", "engine"}
_EDGES = {"base", "exchange", "feeds", "reporting", "runs"}
ALLOWED_BELOW = {
    "core": set(),
    "base": {"core"},
    "config": {"core"},
    "indicators": {"core", "config"},
    "risk": {"core", "config"},
    "execution": {"core", "config"},
    "strategy": {"core", "config", "indicators", "risk"},
    "engine": {"core", "config", "indicators", "risk", "execution", "strategy"},
    "exchange": {"base", "core", "config"},
    "exchange/bitunix/sim": {"base", "core", "config", "exchange", "feeds"},  # the simulator replays candle files
    "feeds": {"base", "core", "config", "exchange"},
    "download": {"base", "core", "config", "exchange", "feeds"},
    "reporting": {"base"} | _PURE,
    "runs": {"base", "reporting"} | _PURE,
    "backtest": _EDGES | _PURE,
    "validate": {"backtest"} | _EDGES | _PURE,
    "daemon": _EDGES | _PURE,
    "live": {"daemon"} | _EDGES | _PURE,
    "replay": {"backtest", "daemon", "live"} | _EDGES | _PURE,
    "dashboard": {"daemon", "live"} | _EDGES | _PURE,
    "monitor": {"daemon", "live", "dashboard"} | _EDGES | _PURE,
    "catalog": {"daemon", "live", "dashboard"} | _EDGES | _PURE,
}
"""What each package may import, bottom to top: the pure core, then `base`, the run folder (`runs`), the
modes (`backtest`, `validate`), the daemon (`daemon`), the live-exchange session on it (`live`), and what
watches a session from outside (`dashboard`, `monitor`: handed to the daemon as a factory), and `la runs`
over a runs folder (`catalog`, which reads runs as the dashboard does). Only the
CLI modules at the very top (`cli.py`, `cli_live.py`, `__main__.py`) may import everything."""
TOP_MODULES = {"__init__.py", "__main__.py", "cli.py", "cli_live.py"}


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "laptop_agents" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED_BELOW))
def test_no_package_imports_one_above_it(package: str) -> None:
    """Issue 14's layout: `exchange/` and `reporting/` used to import the daemon's package for its rate
    limiter, retry and atomic writer; those are in `base/` now."""
    own = package.split("/")[0]
    nested = [other for other in ALLOWED_BELOW if other != package and other.startswith(package + "/")]
    wrong = {
        f"{path.relative_to(SRC)} imports laptop_agents.{imported}"
        for path in (SRC / package).rglob("*.py")
        if not any(path.is_relative_to(SRC / other) for other in nested)  # checked under its own rule
        for imported in _imported_packages(path)
        if imported not in ALLOWED_BELOW[package] | {own}
    }
    assert not wrong, sorted(wrong)


def test_every_package_has_a_rule() -> None:
    """A new package must say where it sits, or the import-direction check would silently skip it."""
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.name for p in SRC.glob("*.py")}
    assert packages == {name for name in ALLOWED_BELOW if "/" not in name}
    assert modules == TOP_MODULES


def test_the_daemon_and_the_run_folder_are_separate_packages() -> None:
    """Issue 14's layout: `runtime/` held both the run folder every mode writes and the daemon on top.
    A backtest must not need the daemon, and the daemon's pieces must not live with the run folder."""
    assert not (SRC / "runtime").exists()
    for mode in ("backtest", "validate", "reporting", "runs"):
        assert "daemon" not in ALLOWED_BELOW[mode]
    daemon = {p.stem for p in (SRC / "daemon").glob("*.py")}
    assert {"runner", "live_paper", "market_data_task", "kill_switch", "controls", "watchdog"} <= daemon


FILE_CALLS = {"read_text", "read_bytes", "write_text", "write_bytes", "open"}


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(SRC)))
def test_the_core_reads_nothing_but_its_inputs(path: Path) -> None:
    """Issue 16: what decides reaches the core as an input (a candle, a halt, a funding answer, a flatten),
    so a replay can give it all. The pure layers keep no global state, read no environment and open no
    file, except configuration read while the core is assembled (marked `# build-time`)."""
    problems = []
    for node in _unmarked_nodes(path, "# build-time"):
        if isinstance(node, ast.Global):
            problems.append(f"global {', '.join(node.names)} (line {node.lineno})")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("open", "input"):
            problems.append(f"{node.func.id}() (line {node.lineno})")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in FILE_CALLS
            and isinstance(node.func.value, ast.Name)
            and ("path" in node.func.value.id.lower() or "file" in node.func.value.id.lower())
        ):
            problems.append(f"{node.func.value.id}.{node.func.attr}() (line {node.lineno})")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and (node.value.id, node.attr) in {
            ("os", "environ"), ("os", "getenv"), ("sys", "stdin"), ("sys", "argv")
        }:  # fmt: skip
            problems.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
    assert not problems, f"{path.name} is in a pure layer but reads outside its inputs: {problems}"


def test_the_funding_side_channel_is_gone() -> None:
    """Issue 16: a live strategy read the funding poller directly, and the poller judged freshness on the
    wall clock at the moment the strategy asked. Now the poller tells the core (`FundingObserved`, recorded)
    and the strategy reads what the core was told; no strategy source lives outside the pure layers."""
    poller = ast.parse((SRC / "feeds" / "funding_rates.py").read_text())
    methods = {n.name for n in ast.walk(poller) if isinstance(n, ast.FunctionDef)}
    assert "current_rate" not in methods and "source" not in methods
    assembly = ast.parse((SRC / "engine" / "assembly.py").read_text())
    (build,) = [n for n in ast.walk(assembly) if isinstance(n, ast.FunctionDef) and n.name == "build_portfolio"]
    params = {a.arg for a in build.args.args + build.args.kwonlyargs}
    assert "observed_funding" in params and not {p for p in params if "funding" in p} - {"observed_funding"}
    readers = {p.relative_to(SRC).parts[0] for p in SRC.rglob("*.py") if "def current_rate(" in p.read_text()}
    assert readers <= set(PURE_LAYERS), readers  # every funding source a strategy can be given is pure
