"""Stale data: no closed candle for too long raises DataStale, halts entries and reconnects; fresh data clears it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.runs.run_folder import RunFolder
from tests.daemon.live_helpers import advance_until, start_live
from tests.daemon.test_live_paper import LIVE_SETTINGS
from tests.exchange.conftest import bundled_candles, eventually, sim_config
from tests.helpers import settings


async def test_stale_data_halts_entries_reconnects_and_clears(tmp_path: Path) -> None:
    base = settings(*LIVE_SETTINGS, "data.stale_after_s=0.4")
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:
        folder = RunFolder.create(tmp_path / "runs", "stale")
        task, runner = await start_live(sim, base, folder)
        await advance_until(sim, runner, 20)
        connects = runner.feed.ws.stats.connects  # type: ignore[attr-defined]
        await eventually(lambda: "data_stale" in runner.core.halts, what="DataStale")  # the market stands still
        await eventually(
            lambda: "data_stale" in orjson.loads((folder.path / "heartbeat.json").read_bytes())["halts"],
            what="the heartbeat to show the halt",
        )
        beat = orjson.loads((folder.path / "heartbeat.json").read_bytes())
        await eventually(lambda: runner.feed.ws.stats.connects > connects, what="a reconnect")  # type: ignore[attr-defined]
        await eventually(lambda: any(c.subs for c in sim.hub.conns), what="a resubscription")
        await advance_until(sim, runner, 40)
        assert "data_stale" not in runner.core.halts
        runner.stop("test done")
        await asyncio.wait_for(task, 30)
    stale = [orjson.loads(line) for line in folder.events.read_bytes().splitlines() if b'"event":"DataStale"' in line]
    assert [e["cleared"] for e in stale][:2] == [False, True]
    assert stale[0]["threshold_ms"] == 400 and stale[0]["age_ms"] >= 400
    assert beat["state"] == "degraded" and beat["halts"] == ["data_stale"]
