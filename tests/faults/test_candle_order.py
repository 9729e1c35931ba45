"""§6 market data, scenarios 3 and 4 inside a session: a candle delivered twice, and an older candle
delivered after newer ones (a venue's replay after a reconnect, a backfill overlapping what arrived), past
the feed's own dedupe. Each reaches the strategy once, in order; "last closed" never moves back; both are
counted (`md.duplicates`, `md.out_of_order`, which the metrics export); the trades and the equity curve are
those of the clean series."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from laptop_agents.core.candle import Candle
from laptop_agents.daemon.runner import AsyncRunner
from laptop_agents.runs.run_folder import RunFolder
from tests.daemon.live_helpers import start_replay
from tests.daemon.test_live_paper import read_trades
from tests.exchange.conftest import bundled_candles, eventually
from tests.helpers import settings

N = 600
HISTORY = 30


async def _session(tmp_path: Path, name: str, candles: list[Candle]) -> tuple[RunFolder, AsyncRunner]:
    s = settings("circuit_breaker.enabled=false", "data.stale_after_intervals=1000", "run.heartbeat_interval_s=0.05")
    folder = RunFolder.create(tmp_path, name)
    session, runner = await start_replay(s, folder, candles, history=HISTORY)
    await eventually(lambda: runner.core.candles >= N - HISTORY, within_s=60, what="every candle")
    await asyncio.sleep(0.2)  # anything more the feed had would have arrived by now
    runner.stop("test done")
    await asyncio.wait_for(session, 30)
    return folder, runner


async def test_s03_s04_a_repeated_and_an_older_candle_in_a_session_reach_the_strategy_never(tmp_path: Path) -> None:
    clean = bundled_candles()[1500 : 1500 + N]
    dirty = [*clean[:200], clean[199], *clean[200:320], clean[250], clean[319], *clean[320:]]
    folder, runner = await _session(tmp_path, "dirty", dirty)
    assert runner.md.duplicates == 2 and runner.md.out_of_order == 1  # clean[199] and clean[319]; clean[250]
    events = [orjson.loads(line) for line in folder.events.read_bytes().splitlines()]
    seen = [e["ts_event"] for e in events if e["event"] == "CandleClosed"]
    assert seen == [c.ts for c in clean]  # the history, then each once, in order: last closed never moved back
    assert runner.core.candles == N - HISTORY
    reference, _ = await _session(tmp_path, "clean", clean)
    assert read_trades(folder.trades) == read_trades(reference.trades) and read_trades(reference.trades)
    assert folder.equity.read_text().splitlines()[1:] == reference.equity.read_text().splitlines()[1:]
