"""The async market-data interface the AsyncRunner reads: history to warm up, a live stream, backfill."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from laptop_agents.core.candle import Candle
from laptop_agents.core.rejected import RejectedCandle


class MarketDataFeed(Protocol):
    """Closed, OHLC-valid candles. The runner orders, deduplicates and gap-checks what `stream` yields.

    A feed whose streamed candles are assembled from pushes (`confirms_candles`) is asked to `confirm`
    them before a strategy sees one: on a real venue trades land after a candle's last push, and a final
    push can be lost, so the pushed candle is not the venue's record of it."""

    confirms_candles: bool

    async def get_historical(self, symbol: str, interval: str, limit: int) -> list[Candle]:
        """The last `limit` closed candles, ascending."""
        ...

    def stream(self, symbols: list[str], interval: str) -> AsyncIterator[tuple[str, Candle | RejectedCandle]]:
        """Closed candles as they close, for every symbol, on one connection; a `RejectedCandle` where the
        venue sent one that breaks the OHLC rules (the runner fetches its record over `backfill`)."""
        ...

    async def backfill(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> list[Candle]:
        """Closed candles with open time in [start_ms, end_ms), ascending (used to fill gaps)."""
        ...

    async def confirm(self, symbol: str, interval: str, candles: list[Candle]) -> list[Candle]:
        """The venue's own record of `candles` (consecutive closed candles, ascending), same open times."""
        ...

    def stream_stats(self) -> dict[str, int]:
        """The live connection's counters for the heartbeat (connects, reconnects, malformed and unknown
        frames); empty for a feed without one."""
        ...

    async def reconnect(self) -> None:
        """Drop and re-open the live connection (the runner asks when data went stale)."""
        ...

    async def close(self) -> None: ...
