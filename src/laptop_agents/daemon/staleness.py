"""The staleness guard: a symbol without a closed candle for `threshold_s` halts its entries (exits keep
working) and the feed's socket is re-opened, again every `threshold_s` while any symbol stays stale. The
next closed candle lifts the halt. Every age is on the monotonic clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from laptop_agents.core.events import DataStale, Event
from laptop_agents.daemon.symbol_pipe import SymbolPipe
from laptop_agents.feeds.market_data import MarketDataFeed

HALT_STALE = "data_stale"


class StalenessGuard:
    def __init__(
        self,
        pipes: Mapping[str, SymbolPipe],
        *,
        threshold_s: float,
        feed: MarketDataFeed,
        emit: Callable[[Event], None],
        ts: Callable[[], int],
    ) -> None:
        self.pipes = pipes
        self.threshold_s = threshold_s
        self._feed = feed
        self._emit = emit
        self._ts = ts
        self._last_reconnect = time.monotonic()

    async def run(self) -> None:
        threshold = self.threshold_s
        while True:
            await asyncio.sleep(min(1.0, threshold / 4))
            now = time.monotonic()
            for pipe in self.pipes.values():
                age = now - pipe.last_fresh
                if not pipe.stale and age > threshold:
                    pipe.stale = True
                    pipe.core.halts[HALT_STALE] = f"no closed candle for {age:.0f} s"
                    self._event(pipe, int(age * 1000), cleared=False)
            stale = any(pipe.stale for pipe in self.pipes.values())
            if stale and now - self._last_reconnect > threshold:
                self._last_reconnect = now
                await self._feed.reconnect()

    def fresh(self, pipe: SymbolPipe) -> None:
        """A closed candle of `pipe`'s symbol just arrived."""
        pipe.last_fresh = time.monotonic()
        if pipe.stale:
            pipe.stale = False
            pipe.core.halts.pop(HALT_STALE, None)
            self._event(pipe, 0, cleared=True)

    def _event(self, pipe: SymbolPipe, age_ms: int, *, cleared: bool) -> None:
        self._emit(DataStale(ts=self._ts(), symbol=pipe.symbol, age_ms=age_ms,
                             threshold_ms=int(self.threshold_s * 1000), cleared=cleared))  # fmt: skip
