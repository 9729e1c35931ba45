"""Faults during a live-paper session: it keeps running, every candle reaches the strategy exactly once,
and each fault is recorded as an event."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.runs.run_folder import RunFolder
from tests.daemon.live_helpers import advance_until, start_live
from tests.daemon.test_live_paper import LIVE_SETTINGS, START, backtest_trades, read_trades
from tests.exchange.conftest import bundled_candles, eventually, sim_config
from tests.helpers import settings


async def test_drop_silence_429_storm_and_malformed_frames_in_one_session(tmp_path: Path) -> None:
    # Silence is noticed after 3 pings (0.3 s). Checkpoints (fsync) are kept rare here so a slow disk cannot
    # stall the loop long enough to look like silence and cost the frames under test.
    base = settings(*LIVE_SETTINGS, "exchange.ws_ping_interval_s=0.1", "run.checkpoint_interval_s=5")
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:
        folder = RunFolder.create(tmp_path / "runs", "faults")
        task, runner = await start_live(sim, base, folder)
        await advance_until(sim, runner, 60)
        sim.hub.drop_all()  # 1. the socket drops
        await eventually(lambda: any(c.subs for c in sim.hub.conns), what="a resubscription")
        await advance_until(sim, runner, 120)
        sim.faults.update({"silent": True})  # 2. silence with the TCP connection open; pushes are lost
        await sim.hub.advance(3 * sim.market.k)
        await eventually(
            lambda: sim.faults.counts.get("silent", 0) and not runner.feed.ws.connected.is_set(),  # type: ignore[attr-defined]
            what="the silence to be noticed",
        )
        sim.faults.update({"silent": False, "rate_limit_next": 3})  # 3. the backfill meets a 10006 storm
        await eventually(lambda: any(c.subs for c in sim.hub.conns), what="a resubscription after silence")
        await advance_until(sim, runner, 200)
        sim.faults.update({"malformed_frames": 2})  # 4. garbage on the wire
        while runner.feed.ws.stats.malformed < 2 and runner.core.candles < 400:  # type: ignore[attr-defined]
            await sim.hub.advance(sim.market.k)
            await asyncio.sleep(0.002)
        await advance_until(sim, runner, max(260, runner.core.candles + 5))
        runner.stop("test done")
        result = await asyncio.wait_for(task, 30)
    events = [orjson.loads(line) for line in folder.events.read_bytes().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds.count("Reconnected") >= 2  # after the drop and after the silence
    assert any("Silence" in e["reason"] for e in events if e["event"] == "Reconnected")
    assert kinds.count("RateLimited") == 3 and kinds.count("GapBackfilled") >= 1
    malformed = [e for e in events if e["event"] == "Error" and "malformed" in e["message"]]
    assert len(malformed) == 1 and not any(e["fatal"] for e in malformed)  # the second is counted, not said
    assert runner.errors == 2  # both counted in the heartbeat's errors
    equity_ts = [int(line.split(",")[0]) for line in folder.equity.read_text().splitlines()[1:]]
    assert equity_ts == [c.ts for c in bundled_candles()[START : START + len(equity_ts)]]  # each candle once
    assert result.summary.candles == len(equity_ts) >= 260
    assert read_trades(folder.trades) == backtest_trades(tmp_path, base, START - 30, START + len(equity_ts))
