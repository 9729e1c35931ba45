"""A user's own strategy, loaded by 'package.module:ClassName', runs in backtest and in live-paper."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest

from laptop_agents.runs.run_folder import RunFolder
from tests.conftest import REPO
from tests.daemon.live_helpers import start_replay
from tests.exchange.conftest import bundled_candles
from tests.helpers import settings
from tests.test_cli import la

EXAMPLE = "examples.breakout:DonchianBreakout"


def test_the_documented_example_runs_in_a_backtest(tmp_path: Path) -> None:
    proc = la(
        "run",
        "--mode",
        "backtest",
        "--strategy",
        EXAMPLE,
        "--set",
        "circuit_breaker.enabled=false",
        "--set",
        f'run.runs_dir="{tmp_path}"',
        "--set",
        'strategy.params={"lookback": 40}',
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    with (tmp_path / "latest" / "trades.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) > 10
    assert {r["setup"] for r in rows} == {"donchian_breakout"}


async def test_the_documented_example_runs_in_live_paper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    s = settings(f"strategy.name={EXAMPLE}", "circuit_breaker.enabled=false", "data.stale_after_intervals=1000")
    folder = RunFolder.create(tmp_path, "user")
    task, runner = await start_replay(s, folder, bundled_candles()[:3_000])
    result = await asyncio.wait_for(task, 60)
    assert runner.core.strategy.name == "donchian_breakout"
    assert result.summary.candles == 2_970 and result.summary.trades > 0
    with folder.trades.open() as handle:
        assert {r["setup"] for r in csv.DictReader(handle)} == {"donchian_breakout"}


@pytest.mark.parametrize(
    ("spec", "extra", "fragment"),
    [
        ("nope_module:Thing", (), "cannot import nope_module"),
        ("examples.breakout:Nope", (), "examples.breakout has no class Nope"),
        (
            "collections:OrderedDict",
            (),
            "not a whole strategy (lacks on_candle, warmup_candles, state, restore, warm_up, "
            "on_entry_taken, on_order_event, attach_risk_gate); subclass laptop_agents.strategy.base.BaseStrategy",
        ),
        (EXAMPLE, ("--set", 'strategy.params={"lookback": 1}'), "need lookback >= 2"),
        ("not a name", (), "use a built-in (sma_atr, supervisor), a config/strategies/ name or 'package.module:"),
        ("nosuch", (), "no such built-in or config/strategies/nosuch.json; known: sma_atr, supervisor, default"),
    ],
)
def test_a_bad_strategy_is_one_line_and_no_run_folder(
    tmp_path: Path, spec: str, extra: tuple[str, ...], fragment: str
) -> None:
    proc = la(
        "run", "--mode", "backtest", "--strategy", spec, *extra, "--set", f'run.runs_dir="{tmp_path / "r"}"', cwd=REPO
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
    assert not (tmp_path / "r").exists()
