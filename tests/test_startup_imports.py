"""Start-up (issue 20): what a fresh interpreter imports on the way to `la --help` and to a backtest's first
candle. Each module a command does not use is time on every start; these pin the cuts `bench/process.py`
measures (a timing test would fail on a busy machine, an import does not)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from tests.conftest import REPO

PARSER_MODULES = {
    "laptop_agents", "laptop_agents.cli", "laptop_agents.core", "laptop_agents.core.errors",
    "laptop_agents.core.intervals", "laptop_agents.exchange", "laptop_agents.exchange.bitunix",
    "laptop_agents.exchange.bitunix.sim", "laptop_agents.exchange.bitunix.sim.parser", "laptop_agents.catalog",
    "laptop_agents.catalog.parser", "laptop_agents.download", "laptop_agents.download.parser",
}  # fmt: skip
"""Ours that building `la`'s parser may import: the CLI, the errors it prints, each command's parser module."""


def _fresh(code: str, cwd: Path) -> object:
    """Run `code` in a new interpreter (nothing imported yet) and return what it printed, as JSON."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LA_")}, "LA_CONFIG_DIR": str(REPO / "config")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    return orjson.loads(proc.stdout.strip().splitlines()[-1])


def test_building_the_parser_imports_the_standard_library_and_the_parser_modules_only(tmp_path: Path) -> None:
    """`la --help` and a usage error cost what argparse costs: it imported orjson, the candle module and
    the simulator's command (for its `--interval` choices) before; 0.055 s -> 0.04 s."""
    code = (
        "import json, sys\nbefore = set(sys.modules)\nimport laptop_agents.cli as cli\ncli.build_parser()\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    loaded = _fresh(code, tmp_path)
    assert isinstance(loaded, list)
    ours = {m for m in loaded if m.split(".")[0] == "laptop_agents"}
    others = {m for m in loaded if m.split(".")[0] != "laptop_agents"}
    assert {m for m in others if m.split(".")[0] not in sys.stdlib_module_names} == set()  # no orjson, pydantic
    assert ours - PARSER_MODULES == set()


def test_a_backtest_imports_the_report_page_after_its_candles(tmp_path: Path) -> None:
    """The HTML report's modules are imported when `summary.html` is written, not before the first candle
    goes in; the run still writes the page."""
    code = (
        "import io, json, sys, contextlib\nimport laptop_agents.cli as cli\n"
        "import laptop_agents.backtest.driver as driver\nreal, seen = driver.run_backtest, []\n"
        "def spy(*args, **kwargs):\n"
        "    seen.extend(m for m in sys.modules if m.startswith('laptop_agents.reporting'))\n"
        "    return real(*args, **kwargs)\n"
        "driver.run_backtest = spy\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    code = cli.main(['run', '--source', 'mock', '--set', 'data.mock_candles=60', '--run-id', 'r',\n"
        "                     '--set', 'run.runs_dir=runs'])\n"
        "print(json.dumps([code, sorted(seen)]))"
    )
    result = _fresh(code, tmp_path)
    assert isinstance(result, list)
    code_, before_run = result
    assert code_ == 0 and (tmp_path / "runs" / "r" / "summary.html").stat().st_size > 0
    assert "laptop_agents.reporting.trade_log" in before_run  # the spy saw the run's listeners being imported
    assert not {"laptop_agents.reporting.html_report", "laptop_agents.reporting.journal_view"} & set(before_run)
