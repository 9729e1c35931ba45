"""Where history comes from: the `HistoryVenue` protocol, and Bitunix over our own REST client.

A venue answers three questions: which candle is still forming (everything before it is closed), the
candles that open in a window `[start, end)` of at most `page` buckets, and the first candle at or after a
time (history starts at a symbol's listing). Bitunix pages backwards from `endTime` (bitunix-api.md §3.1),
so a window is asked as the `page` candles before its end, and the first candle is found by bisection.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from laptop_agents.core.candle import Candle, on_grid
from laptop_agents.core.errors import CandleError, InputError
from laptop_agents.exchange.bitunix.errors import ParameterError
from laptop_agents.exchange.bitunix.rest import KLINE_PAGE, BitunixRest
from laptop_agents.exchange.bitunix.wire import REST_INTERVALS, parse_kline_rows

BITUNIX_REST = "https://fapi.bitunix.com"
BITUNIX_RATE = 9.0
"""Requests per second: Bitunix allows 10 per IP on its market endpoints (bitunix-api.md §3)."""


class HistoryVenue(Protocol):
    name: str
    page: int
    """Candles one request may return."""
    rejected: int
    """Rows the venue sent that were not valid candles (skipped, so they show up as gaps)."""

    async def check(self, symbol: str, interval: str) -> None:
        """An `InputError` naming the field when the venue has no such symbol or interval."""
        ...

    async def forming(self, symbol: str, interval: str) -> int | None:
        """Open time of the candle still forming (None: the venue has no candles for the symbol)."""
        ...

    async def window(self, symbol: str, interval: str, start: int, end: int) -> list[Candle]:
        """The candles opening in `[start, end)`, ascending, at most `page` buckets wide."""
        ...

    async def first_at_or_after(self, symbol: str, interval: str, start: int, end: int) -> int | None:
        """Open time of the venue's first candle in `[start, end)`; None when it has none there."""
        ...

    async def funding(self, symbol: str, start: int, end: int) -> list[tuple[int, float]]:
        """Funding settlements (time, rate as a fraction) in `[start, end)`, ascending."""
        ...


class BitunixHistory:
    name = "bitunix"
    page = KLINE_PAGE

    def __init__(self, rest: BitunixRest, *, interval_ms: int) -> None:
        self._rest = rest
        self._step = interval_ms
        self.rejected = 0

    async def check(self, symbol: str, interval: str) -> None:
        if interval not in REST_INTERVALS:
            raise InputError(
                f"--interval {interval}: Bitunix's REST klines have {', '.join(REST_INTERVALS)} "
                "(3m exists on its socket only)"
            )
        if not await self._rest.trading_pairs([symbol]):
            raise InputError(f"--symbol {symbol}: Bitunix lists no such futures contract; e.g. BTCUSDT, ETHUSDT")

    async def forming(self, symbol: str, interval: str) -> int | None:
        newest = await self._page(symbol, interval, end=None, limit=1)
        return newest[-1].ts if newest else None

    async def window(self, symbol: str, interval: str, start: int, end: int) -> list[Candle]:
        # The venue answers the `page` candles before endTime; `- 1` makes that the same set whether it
        # reads endTime as exclusive (documented: "before") or inclusive.
        candles = await self._page(symbol, interval, end=start + self.page * self._step - 1, limit=self.page)
        return [c for c in candles if start <= c.ts < end]

    async def first_at_or_after(self, symbol: str, interval: str, start: int, end: int) -> int | None:
        """Bisection over whole pages: `a candle in [start, start + k pages)` only grows with k, and at the
        smallest such k the probe's page is exactly the k-th window, which holds the first candle. About
        log2(pages) + 1 requests: 13 for a year of minutes before a listing."""
        width = self.page * self._step

        def end_of(k: int) -> int:
            return min(start + k * width, end)

        lo, hi = 1, max(1, -(-(end - start) // width))
        found = await self._in_range(symbol, interval, start, end_of(hi))
        if not found:
            return None
        while lo < hi:
            mid = (lo + hi) // 2
            page = await self._in_range(symbol, interval, start, end_of(mid))
            if page:
                hi, found = mid, page
            else:
                lo = mid + 1
        return found[0].ts

    async def funding(self, symbol: str, start: int, end: int) -> list[tuple[int, float]]:
        """Pages backwards from `end`, 200 settlements at a time, until one reaches before `start`."""
        out: dict[int, float] = {}
        cursor = end - 1
        while cursor >= start:
            page = await self._rest.funding_history(symbol, end_ms=cursor)
            fresh = [(ts, rate) for ts, rate in page if ts <= cursor]
            for ts, rate in fresh:
                if start <= ts < end:
                    out[ts] = rate
            if not fresh:
                break
            cursor = fresh[0][0] - 1
        return sorted(out.items())

    async def _in_range(self, symbol: str, interval: str, start: int, end: int) -> list[Candle]:
        return [c for c in await self._page(symbol, interval, end=end - 1, limit=self.page) if c.ts >= start]

    async def _page(self, symbol: str, interval: str, *, end: int | None, limit: int) -> list[Candle]:
        return self._candles(await self._rest.kline_rows(symbol, interval, end_ms=end, limit=limit))

    def _candles(self, rows: list[Any]) -> list[Candle]:
        """Each row on its own: one the venue got wrong (high below the close, a missing field) is skipped
        and counted, and its bucket is then a gap in the report, never a made-up candle."""
        out: dict[int, Candle] = {}
        for row in rows:
            try:
                if not isinstance(row, Mapping):
                    raise ParameterError(f"kline row {row!r:.60}")
                (candle,) = parse_kline_rows([row])
            except (ParameterError, CandleError):
                self.rejected += 1
                continue
            if on_grid(candle.ts, self._step):
                out[candle.ts] = candle
            else:
                self.rejected += 1
        return [out[ts] for ts in sorted(out)]


@contextlib.asynccontextmanager
async def open_venue(
    exchange: str, *, rest_url: str | None, rate: float | None, step: int
) -> AsyncIterator[HistoryVenue]:
    """The venue's history: Bitunix over one HTTP session and one rate limiter (`rate` requests a second,
    9 by default), any other id through CCXT (its own rate limiting, unless `rate` is given)."""
    if exchange != "bitunix":
        from laptop_agents.download.ccxt_venue import open_ccxt

        async with open_ccxt(exchange, rest_url=rest_url, rate=rate, step=step) as venue:
            yield venue
        return
    from laptop_agents.base.rate_limiter import RateLimiter
    from laptop_agents.exchange.bitunix.rest_transport import default_session

    async with default_session() as session:
        rest = BitunixRest(rest_url or BITUNIX_REST, session=session, limiter=RateLimiter(rate or BITUNIX_RATE, 1))
        yield BitunixHistory(rest, interval_ms=step)
