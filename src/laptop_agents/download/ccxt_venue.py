"""Any other venue's history through CCXT: `la download --exchange binanceusdm` (the optional `ccxt` extra).

CCXT pages forward (`fetch_ohlcv(since, limit)`: the candles from `since`), so a window is one request and
the first candle of a range is the first row from its start. The market is resolved once, in `check`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from laptop_agents.core.candle import Candle
from laptop_agents.core.errors import InputError
from laptop_agents.exchange import ccxt_client

PAGE = 500
"""Candles asked per request: within every large venue's maximum (Binance 1,500; CCXT asks OKX for less)."""


class CcxtHistory:
    def __init__(self, exchange: Any, *, name: str, interval_ms: int) -> None:
        self._x = exchange
        self.name = name
        self.page = PAGE
        self._step = interval_ms
        self.rejected = 0
        self._symbol = ""
        """CCXT's symbol for the user's, resolved by `check` (the other calls use it)."""

    async def check(self, symbol: str, interval: str) -> None:
        await ccxt_client.call(self.name, self._x.load_markets)
        if interval not in (self._x.timeframes or {}):
            raise InputError(f"--interval {interval}: {self.name} has {', '.join(self._x.timeframes or {})}")
        self._symbol = ccxt_client.unified_symbol(self._x, self.name, symbol)

    async def forming(self, symbol: str, interval: str) -> int | None:
        rows = await self._ohlcv(interval, since=None, limit=2)
        return rows[-1].ts if rows else None

    async def window(self, symbol: str, interval: str, start: int, end: int) -> list[Candle]:
        """Asked from `start` until the window is covered: a venue that answers fewer rows than asked (OKX
        300, some 100) is asked again from after its last row; a gap is skipped by the venue's own paging."""
        out: list[Candle] = []
        cursor = start
        while cursor < end:
            fresh = [c for c in await self._ohlcv(interval, since=cursor, limit=self.page) if cursor <= c.ts < end]
            if not fresh:
                break
            out.extend(fresh)
            cursor = fresh[-1].ts + self._step
        return out

    async def first_at_or_after(self, symbol: str, interval: str, start: int, end: int) -> int | None:
        rows = [c for c in await self._ohlcv(interval, since=start, limit=self.page) if start <= c.ts < end]
        return rows[0].ts if rows else None

    async def funding(self, symbol: str, start: int, end: int) -> list[tuple[int, float]]:
        if not self._x.has.get("fetchFundingRateHistory"):
            raise InputError(f"--funding: {self.name} has no funding history in CCXT; drop --funding")
        out: dict[int, float] = {}
        cursor = start
        while cursor < end:
            page = await ccxt_client.call(self.name, self._x.fetch_funding_rate_history, self._symbol, cursor, 1000)
            rows = [(int(r["timestamp"]), float(r["fundingRate"])) for r in page if r.get("timestamp") is not None]
            fresh = [(ts, rate) for ts, rate in rows if cursor <= ts < end]
            out.update(fresh)
            if not fresh:
                break
            cursor = max(ts for ts, _ in fresh) + 1
        return sorted(out.items())

    async def _ohlcv(self, interval: str, *, since: int | None, limit: int) -> list[Candle]:
        rows = await ccxt_client.call(self.name, self._x.fetch_ohlcv, self._symbol, interval, since, limit)
        found, rejected = ccxt_client.candles(rows, self._step)
        self.rejected += rejected
        return found


@contextlib.asynccontextmanager
async def open_ccxt(name: str, *, rest_url: str | None, rate: float | None, step: int) -> AsyncIterator[CcxtHistory]:
    exchange = ccxt_client.open_exchange(name, rest_url=rest_url, rate=rate)
    try:
        yield CcxtHistory(exchange, name=name, interval_ms=step)
    finally:
        await exchange.close()
