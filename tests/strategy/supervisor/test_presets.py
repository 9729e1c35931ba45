"""The strategy parameter files in config/strategies/, and a supervisor backtest of the bundled real data."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from laptop_agents.config.models import StrategyConfig
from laptop_agents.core.errors import ConfigError
from laptop_agents.strategy.registry import build_strategy, preset_names, resolve
from laptop_agents.strategy.supervisor import Supervisor, SupervisorParams

REPO = Path(__file__).resolve().parents[3]


def test_the_three_parameter_files_exist_and_validate() -> None:
    assert {"default", "scalp_1m_sweep", "scalp_1m_sweep_optimized"} <= set(preset_names())
    for name in preset_names():
        config = resolve(StrategyConfig(name=name))
        assert config.name == "supervisor"
        SupervisorParams.model_validate(config.params)


def test_default_file_holds_the_model_defaults() -> None:
    default = json.loads((REPO / "config" / "strategies" / "default.json").read_text())
    assert default["params"] == SupervisorParams().model_dump(mode="json")


def test_params_given_with_a_file_override_single_keys() -> None:
    config = resolve(StrategyConfig(name="scalp_1m_sweep", params={"cooldown_bars": 99}))
    assert config.params["cooldown_bars"] == 99
    assert config.params["setups"] == ["sweep_invalidation"]  # the rest still from the file


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("nosuch", {}, "strategy.name = 'nosuch': no such built-in or config/strategies/nosuch.json; known: sma_atr"),
        ("supervisor", {"cooldown_bar": 1}, "strategy.params.cooldown_bar: Extra inputs are not permitted"),
        ("supervisor", {"sweep_target": "moon"}, "strategy.params.sweep_target: Input should be 'vwap' or 'r'"),
    ],
)
def test_bad_strategy_input_is_one_line_naming_the_field(name: str, params: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_strategy(StrategyConfig(name=name, params=params), emit=lambda _: None, symbol="X")
    assert str(info.value).startswith(message)


def test_build_uses_the_file_and_names_it() -> None:
    strategy = build_strategy(StrategyConfig(name="scalp_1m_sweep"), emit=lambda _: None, symbol="X")
    assert isinstance(strategy, Supervisor)
    assert [s.name for s in strategy.setups] == ["sweep_invalidation"]


def test_supervisor_backtest_of_the_bundled_data_trades_and_names_each_setup(tmp_path: Path) -> None:
    """The CLI, as a user runs it: scalp_1m_sweep over the bundled month of real 1-minute BTC candles."""
    proc = subprocess.run(
        [sys.executable, "-m", "laptop_agents.cli", "run", "--mode", "backtest", "--strategy", "scalp_1m_sweep",
         "--run-id", "sweep", "--set", f"run.runs_dir={tmp_path}"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "sweep"
    with (folder / "trades.csv").open() as handle:
        trades = list(csv.DictReader(handle))
    assert len(trades) >= 5
    assert {t["setup"] for t in trades} == {"sweep_invalidation"}
    journal = [json.loads(line) for line in (folder / "journal.jsonl").read_text().splitlines()]
    plans = [r for r in journal if r["kind"] == "plan"]
    exits = [r for r in journal if r["kind"] == "exit"]
    assert len(plans) >= len(trades) and len(exits) == len(trades)
    assert all(r["setup"] == "sweep_invalidation" and r["tags"] for r in exits)
    assert "scalp_1m_sweep" in proc.stdout
