"""A backfill that fails is retried, not skipped: the strategy still sees every candle in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from laptop_agents.core.candle import Candle
from laptop_agents.core.clock import LiveClock
from laptop_agents.daemon.runner import AsyncRunner, RunnerSettings
from laptop_agents.engine.portfolio import Portfolio
from laptop_agents.engine.trading_core import TradingCore
from laptop_agents.exchange.bitunix.errors import ExchangeUnavailable
from laptop_agents.feeds.replay_feed import ReplayFeed
from laptop_agents.runs.event_log import EventLog
from laptop_agents.runs.run_folder import RunFolder
from tests.exchange.conftest import bundled_candles
from tests.helpers import make_core, settings


class FlakyBackfillFeed(ReplayFeed):
    """A replayed feed with a hole in its stream, whose REST backfill fails `failures` times first."""

    def __init__(self, candles: list[Candle], hole: slice, failures: int) -> None:
        self._all = candles
        streamed = candles[: hole.start] + candles[hole.stop :]
        super().__init__(streamed, symbol="BTCUSDT", history=30)
        self.failures = failures
        self.calls = 0

    async def backfill(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> list[Candle]:
        self.calls += 1
        if self.calls <= self.failures:
            raise ExchangeUnavailable("bitunix /market/kline: HTTP 503")
        return [c for c in self._all if start_ms <= c.ts < end_ms]


async def run_session(
    tmp_path: Path, core: TradingCore, feed: ReplayFeed, **runner: Any
) -> tuple[str, AsyncRunner, list[dict[str, Any]]]:
    """The AsyncRunner over `feed` until it ends, its run folder in `tmp_path`: (reason, runner, events)."""
    folder = RunFolder.create(tmp_path, "bf")
    log = EventLog(folder.events, run_id="bf", wall_clock=LiveClock(), durable=True)
    session = AsyncRunner(
        RunnerSettings(interval="1m", stale_after_s=60, **runner),
        feed=feed,
        portfolio=Portfolio.of(core),
        log_=log,
        folder=folder,
        wall_clock=LiveClock(),
    )
    await session.warm_up(30)
    reason = await session.run()
    log.close()
    return reason, session, [orjson.loads(line) for line in folder.events.read_bytes().splitlines()]


async def test_failed_backfill_is_retried_until_the_gap_is_filled(tmp_path: Path) -> None:
    candles = bundled_candles()[:400]
    core, _, marks = make_core(settings("circuit_breaker.enabled=false"))
    feed = FlakyBackfillFeed(candles, slice(200, 240), failures=2)
    reason, runner, events = await run_session(tmp_path, core, feed, backfill_retry_s=0.01)
    assert reason == "market data ended"
    assert [ts for ts, _, _ in marks] == [c.ts for c in candles[30:]]  # every candle, the hole filled, in order
    assert feed.calls == 3 and runner.errors == 2
    retries = [e for e in events if e["event"] == "Error"]
    assert len(retries) == 2 and all(not e["fatal"] and e["where"] == "backfill" for e in retries)
    assert [e["count"] for e in events if e["event"] == "GapBackfilled"] == [40]


async def test_live_exchange_halts_a_symbols_entries_until_its_core_is_past_the_backfill(tmp_path: Path) -> None:
    """Backfilled candles are history: with `halt_entries_while_backfilling` (live-exchange) the core sees
    them, and the candles held behind them, with entries halted; the halt lifts once it is past them."""
    candles = bundled_candles()[:400]
    core, _, _ = make_core(settings("circuit_breaker.enabled=false"))
    seen: list[tuple[int, bool]] = []
    on_candle = core.on_candle

    def watch(candle: Candle) -> None:
        seen.append((candle.ts, "backfilling" in core.halts))
        on_candle(candle)

    core.on_candle = watch  # type: ignore[method-assign]
    feed = FlakyBackfillFeed(candles, slice(200, 240), failures=1)
    await run_session(tmp_path, core, feed, backfill_retry_s=0.01, halt_entries_while_backfilling=True)
    assert [ts for ts, _ in seen] == [c.ts for c in candles[30:]]
    halted = {ts for ts, h in seen if h}
    assert {c.ts for c in candles[200:241]} <= halted  # the backfill and the candle that revealed the gap
    assert not any(h for ts, h in seen if ts < candles[200].ts)
    assert core.halts == {}  # lifted once the core was past them


async def test_a_core_that_raised_mid_candle_is_never_checkpointed_as_if_its_candle_completed(
    tmp_path: Path,
) -> None:
    """The strategy raises on a candle after the broker has already processed that candle's exits: the
    books are half a candle further than the strategy. Writing the final checkpoint then would resume
    from a state no candle boundary ever had (issue 13, item 9)."""
    candles = bundled_candles()[:200]
    core, _, _ = make_core(settings("circuit_breaker.enabled=false"))
    on_candle = core.strategy.on_candle
    boom = candles[120].ts

    def strategy_on_candle(candle: Candle, position: object) -> object:
        if candle.ts == boom:
            raise RuntimeError("strategy bug")
        return on_candle(candle, position)  # type: ignore[arg-type]

    core.strategy.on_candle = strategy_on_candle  # type: ignore[assignment, method-assign]
    feed = ReplayFeed(candles, symbol="BTCUSDT", history=30)
    _, runner, events = await run_session(tmp_path, core, feed, checkpoint_interval_s=3_600)
    assert [e["where"] for e in events if e["event"] == "Error"] == ["core:BTCUSDT", "checkpoint"]
    assert not [e for e in events if e["event"] == "CheckpointSaved"]
    assert not runner.folder.state.exists()  # no checkpoint was ever due: a resume starts from the beginning
