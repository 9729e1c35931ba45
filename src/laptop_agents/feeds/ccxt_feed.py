"""`CcxtFeed`: another venue's candles for live-paper, through CCXT (the optional `ccxt` extra).

History and backfill are CCXT's `fetch_ohlcv`; the stream polls it for each symbol every `poll_s` (CCXT
has no common socket API), so a candle reaches the strategy within one poll of its close. The newest row of
every answer is taken as still forming and left for the next poll, so no candle is seen before it closed.
The rows are the venue's own record of each candle, so there is nothing to confirm (`confirms_candles`).
CCXT's errors arrive as ours (`exchange/ccxt_client.py`): a failed poll is counted and tried again at the
next one; the runner's staleness guard judges a venue that stays silent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from laptop_agents.core.candle import Candle, interval_ms
from laptop_agents.core.errors import LaptopAgentsError
from laptop_agents.core.events import Error, Event
from laptop_agents.exchange import ccxt_client

PAGE = 500


class CcxtFeed:
    confirms_candles = False

    def __init__(
        self,
        name: str,
        *,
        rest_url: str | None,
        poll_s: float | None,
        on_event: Callable[[Event], None] | None,
        now_ms: Callable[[], int],
    ) -> None:
        self.name = name
        self._x: Any = ccxt_client.open_exchange(name, rest_url=rest_url, rate=None)
        self._poll_s = poll_s
        self._on_event = on_event
        self._now_ms = now_ms
        self._symbols: dict[str, str] = {}
        self.polls = 0
        self.failures = 0
        self.rejected = 0
        self._failing = False

    async def _unified(self, symbol: str) -> str:
        if symbol not in self._symbols:
            if not self._x.markets:
                await ccxt_client.call(self.name, self._x.load_markets)
            self._symbols[symbol] = ccxt_client.unified_symbol(self._x, self.name, symbol)
        return self._symbols[symbol]

    async def _ohlcv(self, symbol: str, interval: str, since: int | None, limit: int) -> list[Candle]:
        rows = await ccxt_client.call(
            self.name, self._x.fetch_ohlcv, await self._unified(symbol), interval, since, limit
        )
        found, rejected = ccxt_client.candles(rows, interval_ms(interval))
        self.rejected += rejected
        return found

    async def get_historical(self, symbol: str, interval: str, limit: int) -> list[Candle]:
        rows = await self._ohlcv(symbol, interval, None, limit + 1)
        return rows[:-1][-limit:]  # the newest is forming

    async def stream(self, symbols: list[str], interval: str) -> AsyncIterator[tuple[str, Candle]]:
        step = interval_ms(interval)
        poll_s = self._poll_s or min(max(step / 6_000.0, 1.0), 15.0)
        last: dict[str, int | None] = dict.fromkeys(symbols)
        while True:
            for symbol in symbols:
                self.polls += 1
                since = last[symbol]
                try:
                    rows = await self._ohlcv(symbol, interval, None if since is None else since + step, PAGE)
                except LaptopAgentsError as exc:
                    self._failed(symbol, exc)
                    continue
                self._failing = False
                for candle in rows[:-1]:  # the newest is forming: the next poll has it closed
                    if since is None or candle.ts > since:
                        last[symbol] = candle.ts
                        yield symbol, candle
                if since is None and len(rows) >= 2:
                    last[symbol] = rows[-2].ts
            await asyncio.sleep(poll_s)

    async def backfill(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> list[Candle]:
        out: list[Candle] = []
        cursor = start_ms
        while cursor < end_ms:
            page = [c for c in await self._ohlcv(symbol, interval, cursor, PAGE) if cursor <= c.ts < end_ms]
            if not page:
                break
            out.extend(page)
            cursor = page[-1].ts + interval_ms(interval)
        return out

    async def confirm(self, symbol: str, interval: str, candles: list[Candle]) -> list[Candle]:
        return candles

    async def funding_rate(self, symbol: str) -> float:
        """The venue's current funding rate as CCXT reports it (a fraction per period)."""
        info = await ccxt_client.call(self.name, self._x.fetch_funding_rate, await self._unified(symbol))
        return float(info["fundingRate"])

    def stream_stats(self) -> dict[str, int]:
        return {"polls": self.polls, "failed_polls": self.failures, "rejected_rows": self.rejected}

    async def reconnect(self) -> None:
        """Nothing to re-open: every poll is a new request."""

    async def close(self) -> None:
        await self._x.close()

    def _failed(self, symbol: str, exc: LaptopAgentsError) -> None:
        """The first failure of a run of them is an `Error` event (not fatal); the rest are counted."""
        self.failures += 1
        if not self._failing and self._on_event is not None:
            where = f"ccxt {self.name} {symbol}"
            self._on_event(Error(ts=self._now_ms(), where=where, message=str(exc)[:300], fatal=False))
        self._failing = True
