"""`BitunixFeed`: REST history and backfill, WebSocket stream, one shared rate limiter (real or simulated).

A REST kline row that breaks the OHLC rules is left out of what the feed returns (the candle is missing,
which the session treats as a gap or a hole) and said once per candle (`CandleRejected` from `rest`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp

from laptop_agents.base.rate_limiter import RateLimiter
from laptop_agents.core.candle import Candle, interval_ms
from laptop_agents.core.clock import LiveClock, VenueClock
from laptop_agents.core.events import CandleRejected, Event, RateLimited
from laptop_agents.core.rejected import RejectedCandle
from laptop_agents.exchange.bitunix.errors import ExchangeUnavailable
from laptop_agents.exchange.bitunix.replies import TierInfo
from laptop_agents.exchange.bitunix.rest import KLINE_PAGE, BitunixRest, default_session
from laptop_agents.exchange.bitunix.ws_handover import MAX_CONNECTION_AGE_S
from laptop_agents.exchange.bitunix.ws_public import BitunixPublicStream


class BitunixFeed:
    """`confirms_candles`: every candle the public socket closes is replaced by the REST kline of its bucket
    before a strategy sees it (see `confirm`)."""

    def __init__(
        self,
        *,
        rest_url: str,
        ws_url: str,
        limiter: RateLimiter,
        on_event: Callable[[Event], None] | None,
        session: aiohttp.ClientSession | None = None,
        ping_interval_s: float = 5.0,
        venue_clock: VenueClock | None = None,
        confirm_candles: bool = False,
        max_connection_age_s: float = MAX_CONNECTION_AGE_S,
    ) -> None:
        self._own_session = session is None
        self._session = session or default_session()
        self.limiter = limiter
        self.rest = BitunixRest(rest_url, session=self._session, limiter=limiter)
        if on_event is not None:
            wall = LiveClock()  # a rate limit happens to the daemon: dated on the wall clock
            self.rest.on_rate_limited = lambda penalty_s, code: on_event(
                RateLimited(
                    ts=wall.now_ms(), scope="bitunix-rest", retry_after_ms=int(penalty_s * 1000), code=str(code)
                )
            )
        self._ws_url = ws_url
        self._on_event = on_event
        self._ping_interval_s = ping_interval_s
        self._max_connection_age_s = max_connection_age_s
        self.ws: BitunixPublicStream | None = None
        self.venue_clock = venue_clock
        self.confirms_candles = confirm_candles
        self._broken: set[tuple[str, int]] = set()
        """(symbol, open time) of the candles whose REST record breaks the OHLC rules, each said once."""
        self.rest.on_invalid_kline = self._invalid_kline

    def _invalid_kline(self, symbol: str, rejected: RejectedCandle) -> None:
        key = (symbol, rejected.ts)
        if key in self._broken:
            return
        self._broken.add(key)
        if self._on_event is not None:
            self._on_event(CandleRejected(ts=rejected.ts, symbol=symbol, reason=rejected.reason, source="rest"))

    async def get_historical(self, symbol: str, interval: str, limit: int) -> list[Candle]:
        page = await self.rest.klines(symbol, interval, limit=limit + 1)  # the newest row is forming: dropped
        return page[-limit:]

    async def stream(self, symbols: list[str], interval: str) -> AsyncIterator[tuple[str, Candle | RejectedCandle]]:
        self.ws = BitunixPublicStream(
            self._ws_url,
            symbols=symbols,
            interval=interval,
            limiter=self.limiter,
            on_event=self._on_event,
            ping_interval_s=self._ping_interval_s,
            venue_clock=self.venue_clock,
            max_connection_age_s=self._max_connection_age_s,
        )
        try:
            async for item in self.ws:
                yield item
        finally:
            await self.ws.stop()

    async def position_tiers(self, symbol: str) -> list[TierInfo]:
        """The exchange's risk-limit tiers for `symbol`, for the paper broker's maintenance margin."""
        return await self.rest.position_tiers(symbol)

    async def funding_rate(self, symbol: str) -> float:
        """The exchange's current funding rate (per 8 h, fraction), for the strategies' funding gate."""
        return await self.rest.funding_rate(symbol)

    async def backfill(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> list[Candle]:
        step = interval_ms(interval)
        return await self.rest.history(
            symbol, interval, start_ms=start_ms, end_ms=end_ms, max_candles=(end_ms - start_ms) // step + 1
        )

    async def confirm(self, symbol: str, interval: str, candles: list[Candle]) -> list[Candle]:
        """One REST kline page over the span of `candles` (through the shared limiter): each bucket the
        venue lists replaces the pushed candle. A bucket it does not list yet raises `ExchangeUnavailable`
        (the caller retries; the strategy waits rather than see a candle with part of its trades). A bucket
        whose record breaks the OHLC rules keeps the pushed candle: the venue's own is unusable, and the
        pushed one is valid (`Candle` checked it)."""
        step = interval_ms(interval)
        first, last = candles[0].ts, candles[-1].ts
        count = (last - first) // step + 1
        if count > KLINE_PAGE:
            rows = await self.backfill(symbol, interval, first, last + step)
        else:
            rows = await self.rest.klines(symbol, interval, end_ms=last + step, limit=count)
        record = {c.ts: c for c in rows}
        missing = [c.ts for c in candles if c.ts not in record and (symbol, c.ts) not in self._broken]
        if missing:
            raise ExchangeUnavailable(f"bitunix /market/kline: no record yet of the {symbol} candle at {missing[0]}")
        return [record.get(c.ts, c) for c in candles]

    def stream_stats(self) -> dict[str, int]:
        """The socket's counters, with `invalid` (closed candles it refused: broken OHLC) and
        `rest_invalid` (REST kline rows refused, each candle once)."""
        if self.ws is None:
            return {"rest_invalid": len(self._broken)} if self._broken else {}
        st = self.ws.stats
        return {"connects": st.connects, "reconnects": st.reconnects, "rotations": st.rotations,
                "malformed": st.malformed, "unknown": st.unknown, "rest_invalid": len(self._broken),
                "invalid": sum(a.invalid for a in self.ws.assemblers.values())}  # fmt: skip

    async def reconnect(self) -> None:
        if self.ws is not None:
            await self.ws.stop()
            self.ws.start()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.stop()
        if self._own_session:
            await self._session.close()
