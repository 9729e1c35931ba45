"""`ReplayFeed`, `CsvFeed`, `MockFeed`: a candle series replayed as a live feed, at a chosen speed.

The first `history` candles are the past (`get_historical`); the rest arrive one by one through `stream`,
one every `interval / speed` seconds (speed 0 = as fast as the consumer takes them). The series is read
lazily, so a file of millions of candles replays in flat memory; `backfill` answers from the last
`window` candles seen (a real gap in a file has nothing to fill it with, and gets nothing).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from laptop_agents.core.candle import Candle, interval_ms
from laptop_agents.feeds.csv_source import CsvCandles
from laptop_agents.feeds.mock_source import MockCandles


class ReplayFeed:
    confirms_candles = False

    def __init__(
        self, candles: Iterable[Candle], *, symbol: str, history: int, speed: float = 0.0, window: int = 10_000
    ) -> None:
        self._source = iter(candles)
        self._history = list(itertools.islice(self._source, history))
        self._seen: deque[Candle] = deque(self._history, maxlen=max(window, history))
        self.symbol = symbol.upper()
        self.speed = speed
        self.streamed = 0

    async def get_historical(self, symbol: str, interval: str, limit: int) -> list[Candle]:
        return self._history[-limit:] if limit else []

    async def stream(self, symbols: list[str], interval: str) -> AsyncIterator[tuple[str, Candle]]:
        delay = interval_ms(interval) / 1000.0 / self.speed if self.speed > 0 else 0.0
        symbol = self.symbol
        remember = self._seen.append
        for candle in self._source:
            if delay:
                await asyncio.sleep(delay)
            remember(candle)
            self.streamed += 1
            yield symbol, candle

    async def backfill(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> list[Candle]:
        return [c for c in self._seen if start_ms <= c.ts < end_ms]

    def stream_stats(self) -> dict[str, int]:
        return {}

    async def confirm(self, symbol: str, interval: str, candles: list[Candle]) -> list[Candle]:
        return candles  # a replay's candles are the record

    async def reconnect(self) -> None:
        return None

    async def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()


def csv_feed(path: Path, *, symbol: str, history: int, speed: float = 0.0) -> ReplayFeed:
    """Replay a candle CSV (`ts,open,high,low,close,volume`) as a live feed."""
    return ReplayFeed(CsvCandles(path), symbol=symbol, history=history, speed=speed)


def mock_feed(
    *, count: int, seed: int, symbol: str, history: int, interval: str = "1m", speed: float = 0.0
) -> ReplayFeed:
    """A seeded random walk as a live feed."""
    candles = MockCandles(
        count=count,
        seed=seed,
        start_price=30_000.0,
        volatility_bps=20.0,
        start_ts=1_640_995_200_000,
        step_ms=interval_ms(interval),
    )
    return ReplayFeed(candles, symbol=symbol, history=history, speed=speed)
