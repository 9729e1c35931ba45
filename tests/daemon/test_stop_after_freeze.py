"""A stop right after the event loop was frozen (a laptop waking from sleep, SIGSTOP/SIGCONT): the data
went stale meanwhile, so the staleness guard was re-opening the socket when the stop cancelled it. The
socket's stop swallowed that cancellation (`suppress(CancelledError)` around `await task`), the guard ran
on, and the session never finished: SIGTERM after SIGCONT hung the daemon. Found while testing systemd's
watchdog (issue 14)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from laptop_agents.core.clock import LiveClock
from laptop_agents.daemon.live_paper import LiveResult, run_live_paper
from laptop_agents.daemon.runner import AsyncRunner
from laptop_agents.runs.run_folder import RunFolder
from tests.exchange.conftest import eventually
from tests.helpers import settings


async def test_a_stop_right_after_a_frozen_loop_finishes(tmp_path: Path) -> None:
    s = settings("exchange.sim_speed=1200")
    for attempt in range(3):  # the freeze lands the stop inside the reconnect on most tries; each must finish
        runners: list[AsyncRunner] = []
        folder = RunFolder.create(tmp_path, f"f{attempt}")
        session: asyncio.Task[LiveResult] = asyncio.create_task(
            run_live_paper(s, folder=folder, wall_clock=LiveClock(), install_signals=False, on_runner=runners.append)
        )
        await eventually(lambda r=runners: bool(r) and r[0].core.candles > 5, within_s=30, what="candles")
        time.sleep(0.8)  # noqa: ASYNC251 - the whole loop stops: 16 candles of market time at 1200x, the data goes stale
        runners[0].stop("signal SIGTERM")
        done, _ = await asyncio.wait([session], timeout=15)
        assert done, "the session did not finish after the stop"
        assert session.result().stop_reason == "signal SIGTERM"
