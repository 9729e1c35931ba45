"""A live session's warm-up: the strategy reads the history, decides nothing, and trades afterwards."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from laptop_agents.runs.run_folder import RunFolder
from laptop_agents.strategy.supervisor import Supervisor
from tests.daemon.live_helpers import start_replay
from tests.exchange.conftest import bundled_candles, eventually
from tests.helpers import settings


async def test_a_supervisor_warm_up_decides_nothing_and_leaves_no_pending_plan(tmp_path: Path) -> None:
    """With `vwap_bars=400` the supervisor warms up on 401 candles while A1 is ready after 50: setups appear
    inside the history. They must not become plans (an entry on a past candle is never sent, and a plan
    left waiting for it would block every later entry as `order_pending`)."""
    s = settings(
        "strategy.name=supervisor",
        'strategy.params={"vwap_bars": 400, "cooldown_bars": 0, "blocked_regimes": []}',
        "circuit_breaker.enabled=false",
        "data.stale_after_intervals=1000",
    )
    candles = bundled_candles()[:1400]
    folder = RunFolder.create(tmp_path / "runs", "w")
    task, runner = await start_replay(s, folder, candles, history=1000)
    await eventually(lambda: runner.core.candles >= 400, within_s=30, what="400 live candles")
    runner.stop("test done")
    await asyncio.wait_for(task, 30)
    strategy = runner.core.strategy
    assert isinstance(strategy, Supervisor)
    assert strategy.warmup_candles() == 401
    events = [orjson.loads(line) for line in folder.events.read_bytes().splitlines()]
    ideas = [e["ts_event"] for e in events if e["event"] in ("SignalGenerated", "JournalRecord")]
    assert ideas and min(ideas) >= candles[1000].ts  # the replay's history is its first 1,000 candles
    assert [e for e in events if e["event"] == "OrderPlaced"]  # nothing stale blocks the live candles
