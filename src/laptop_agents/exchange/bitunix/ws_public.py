"""Closed candles from the public kline channel (§5.5), for one or many symbols on one connection."""

from __future__ import annotations

from typing import Any

from websockets.asyncio.client import ClientConnection

from laptop_agents.core.candle import Candle
from laptop_agents.core.clock import VenueClock
from laptop_agents.core.errors import CandleError
from laptop_agents.core.rejected import RejectedCandle
from laptop_agents.exchange.bitunix.errors import ParameterError
from laptop_agents.exchange.bitunix.wire import WS_INTERVAL_MS, kline_channel, num
from laptop_agents.exchange.bitunix.ws_socket import ReconnectingSocket


class KlineAssembler:
    """Turns running pushes of one symbol into closed candles.

    A push carries the candle so far and the push time, not the open time: its bucket is
    `ts // interval × interval`, and a bucket is closed when a push for a later bucket arrives. A push not
    newer than the last one applied (a duplicate, or a late or reordered push, even inside one bucket) is
    ignored, so the running values never go back in time. After a reconnect the candle in hand may have
    missed its last updates: a push for the same bucket refreshes it completely (pushes carry running
    values), but if the next push belongs to a later bucket, that candle is discarded (the gap it leaves is
    backfilled over REST), never emitted incomplete. A closed bucket whose values break the OHLC rules is
    handed out as a `RejectedCandle` (counted in `invalid`): never a candle, but its place, so the venue's
    record of it can be fetched at once.
    """

    __slots__ = ("bucket", "discarded", "interval_ms", "invalid", "last_ts", "stale", "suspect", "values")

    def __init__(self, interval_ms: int) -> None:
        self.interval_ms = interval_ms
        self.bucket: int | None = None
        self.last_ts = -1
        self.values = (0.0, 0.0, 0.0, 0.0, 0.0)
        self.suspect = False
        self.stale = 0
        self.discarded = 0
        self.invalid = 0

    def on_push(
        self, ts: int, o: float, h: float, low: float, c: float, volume: float
    ) -> Candle | RejectedCandle | None:
        if ts <= self.last_ts:
            self.stale += 1
            return None
        self.last_ts = ts
        bucket = ts - ts % self.interval_ms
        current = self.bucket
        closed: Candle | RejectedCandle | None = None
        if current is not None and bucket > current:
            if self.suspect:
                self.discarded += 1
            else:
                try:
                    closed = Candle(current, *self.values)
                except CandleError as exc:
                    self.invalid += 1
                    closed = RejectedCandle(current, str(exc))
        self.suspect = False
        self.bucket = bucket
        self.values = (o, h, low, c, volume)
        return closed

    def connection_lost(self) -> None:
        self.suspect = self.bucket is not None


class BitunixPublicStream(ReconnectingSocket[tuple[str, Candle | RejectedCandle]]):
    """Closed candles for `symbols` at `interval`: `await stream.get()` → (symbol, candle), or (symbol,
    `RejectedCandle`) for a closed candle whose values break the OHLC rules (a NaN price included)."""

    name = "bitunix_public_ws"

    def __init__(
        self, url: str, *, symbols: list[str], interval: str, venue_clock: VenueClock | None = None, **kwargs: Any
    ) -> None:
        """`venue_clock` learns the venue's time from every push (its `ts`)."""
        super().__init__(url, **kwargs)
        self.venue_clock = venue_clock
        self.symbols = [s.upper() for s in symbols]
        self.channel = kline_channel(interval)
        step = WS_INTERVAL_MS[self.channel.rsplit("_", 1)[1]]
        self.assemblers = {s: KlineAssembler(step) for s in self.symbols}

    async def handshake(self, ws: ClientConnection) -> None:
        await self.send_limited(
            ws, {"op": "subscribe", "args": [{"symbol": s, "ch": self.channel} for s in self.symbols]}
        )

    def connection_lost(self) -> None:
        for assembler in self.assemblers.values():
            assembler.connection_lost()

    def handle(self, frame: dict[str, Any]) -> tuple[bool, tuple[str, Candle | RejectedCandle] | None]:
        if frame.get("ch") != self.channel:
            if frame.get("op") not in ("subscribe", "unsubscribe"):
                self.stats.unknown += 1
            return False, None
        symbol = str(frame.get("symbol", "")).upper()
        assembler = self.assemblers.get(symbol)
        data = frame.get("data")
        if assembler is None or not isinstance(data, dict):
            self.stats.unknown += 1
            return False, None
        try:
            ts = int(str(frame["ts"]))
            closed = assembler.on_push(
                ts,
                num(data.get("o"), "o", finite=False),
                num(data.get("h"), "h", finite=False),
                num(data.get("l"), "l", finite=False),
                num(data.get("c"), "c", finite=False),
                num(data.get("b", 0), "b", finite=False),
            )
        except (KeyError, TypeError, ValueError, ParameterError):
            self.stats.malformed += 1
            return False, None
        if self.venue_clock is not None:
            self.venue_clock.observe(ts)
        return True, None if closed is None else (symbol, closed)
