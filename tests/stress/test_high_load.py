"""10,000 real candles through the AsyncRunner at full speed: no errors, every candle, trades, bounded memory."""

from __future__ import annotations

import resource
from pathlib import Path

from laptop_agents.core.clock import LiveClock
from laptop_agents.daemon.live_paper import run_session
from laptop_agents.feeds.replay_feed import ReplayFeed
from laptop_agents.runs.run_folder import RunFolder
from tests.exchange.conftest import bundled_candles
from tests.helpers import settings


async def test_ten_thousand_candles_through_the_runner(tmp_path: Path) -> None:
    s = settings("circuit_breaker.enabled=false", "run.heartbeat_interval_s=0.5", "data.stale_after_intervals=1000")
    candles = bundled_candles()[:10_030]
    folder = RunFolder.create(tmp_path, "stress")
    result = await run_session(
        s,
        folder=folder,
        wall_clock=LiveClock(),
        install_signals=False,
        source="replay",
        feed_factory=lambda limiter, emit: ReplayFeed(candles, symbol="BTCUSDT", history=30),
    )
    assert result.stop_reason == "market data ended"
    assert result.summary.candles == 10_000
    assert result.summary.trades > 0
    with folder.equity.open() as handle:
        assert sum(1 for _ in handle) == 10_001
    events = folder.events.read_text()
    assert '"event":"Error"' not in events
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 < 500
