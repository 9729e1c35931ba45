"""`CsvFeed` and `MockFeed`: a candle series replayed as a live feed, at a chosen speed.

The first `history` candles are the past (`get_historical`); the rest arrive one by one through `stream`,
one every `interval / speed` seconds (speed 0 = as fast as the consumer takes them).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from laptop_agents.core.candle import Candle, interval_ms


class ReplayFeed:
    def __init__(self, candles: Sequence[Candle], *, symbol: str, history: int, speed: float = 0.0) -> None:
        self._candles = list(candles)
        self.symbol = symbol.upper()
        self.history = min(history, len(self._candles))
        self.speed = speed
        self.streamed = 0

    async def get_historical(self, symbol: str, interval: str, limit: int) -> list[Candle]:
        return self._candles[max(0, self.history - limit) : self.history]

    async def stream(self, symbols: list[str], interval: str) -> AsyncIterator[tuple[str, Candle]]:
        delay = interval_ms(interval) / 1000.0 / self.speed if self.speed > 0 else 0.0
        for candle in self._candles[self.history :]:
            if delay:
                await asyncio.sleep(delay)
            self.streamed += 1
            yield self.symbol, candle

    async def backfill(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> list[Candle]:
        return [c for c in self._candles if start_ms <= c.ts < end_ms]

    async def reconnect(self) -> None:
        return None

    async def close(self) -> None:
        return None
