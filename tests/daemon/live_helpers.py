"""Helpers for tests that run live-paper sessions against a hand-stepped simulator or a replayed feed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from laptop_agents.config.models import Settings
from laptop_agents.core.candle import Candle
from laptop_agents.core.clock import LiveClock
from laptop_agents.daemon.live_paper import LiveResult, run_live_paper, run_session
from laptop_agents.daemon.runner import AsyncRunner
from laptop_agents.daemon.watchers import WatchFactory
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.feeds.replay_feed import ReplayFeed
from laptop_agents.runs.run_folder import RunFolder
from tests.exchange.conftest import eventually


def sim_settings(base: Settings, sim: SimExchange) -> Settings:
    """`base` pointed at a running simulator (REST and public WebSocket)."""
    exchange = base.exchange.model_copy(update={"rest_url": sim.rest_url, "ws_public_url": sim.ws_public_url})
    return base.model_copy(update={"exchange": exchange})


async def start_live(
    sim: SimExchange, s: Settings, folder: RunFolder, *, resume: bool = False, watch: WatchFactory | None = None
) -> tuple[asyncio.Task[LiveResult], AsyncRunner]:
    """Start a live-paper session on `sim` and wait until its runner has subscribed."""
    runners: list[AsyncRunner] = []
    task = asyncio.create_task(
        run_live_paper(
            sim_settings(s, sim),
            folder=folder,
            wall_clock=LiveClock(),
            sim=sim,
            resume=resume,
            install_signals=False,
            on_runner=runners.append,
            watch=watch,
        )
    )
    await eventually(lambda: task.done() or (runners and any(c.subs for c in sim.hub.conns)), what="a subscription")
    if task.done():
        task.result()  # raises what went wrong
    return task, runners[0]


async def start_replay(
    s: Settings, folder: RunFolder, candles: Sequence[Candle], *, speed: float = 0.0, history: int = 30
) -> tuple[asyncio.Task[LiveResult], AsyncRunner]:
    """Start a session over a replayed candle list (its first `history` candles are the past); returns once
    its runner exists."""
    runners: list[AsyncRunner] = []
    task = asyncio.create_task(
        run_session(
            s,
            folder=folder,
            wall_clock=LiveClock(),
            install_signals=False,
            source="replay",
            on_runner=runners.append,
            feed_factory=lambda limiter, emit: ReplayFeed(candles, symbol="BTCUSDT", history=history, speed=speed),
        )
    )
    await eventually(lambda: bool(runners), what="the runner")
    return task, runners[0]


async def advance_until(sim: SimExchange, runner: AsyncRunner, candles: int) -> None:
    """Step the simulator one candle at a time until the core has seen `candles` candles."""
    while runner.core.candles < candles:
        await sim.hub.advance(sim.market.k)
        await asyncio.sleep(0.002)
