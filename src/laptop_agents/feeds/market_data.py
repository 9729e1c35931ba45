"""The async market-data interface the AsyncRunner reads: history to warm up, a live stream, backfill."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from laptop_agents.core.candle import Candle


class MarketDataFeed(Protocol):
    """Closed, OHLC-valid candles. The runner orders, deduplicates and gap-checks what `stream` yields."""

    async def get_historical(self, symbol: str, interval: str, limit: int) -> list[Candle]:
        """The last `limit` closed candles, ascending."""
        ...

    def stream(self, symbols: list[str], interval: str) -> AsyncIterator[tuple[str, Candle]]:
        """Closed candles as they close, for every symbol, on one connection."""
        ...

    async def backfill(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> list[Candle]:
        """Closed candles with open time in [start_ms, end_ms), ascending (used to fill gaps)."""
        ...

    async def reconnect(self) -> None:
        """Drop and re-open the live connection (the runner asks when data went stale)."""
        ...

    async def close(self) -> None: ...
