"""The Bitunix public WebSocket client: closed candles from running kline pushes, kept alive for weeks.

The server speaks first (`op: connect`); we then subscribe (through the shared rate limiter), send a JSON
ping every `ping_interval_s`, and treat `silence_after_pings` intervals with no message at all as a dead
connection. Any failure reconnects after an exponential, jittered delay (reset once data flows again),
resubscribes and reports a `Reconnected` event. Frames that are not JSON or not understood are counted
and skipped; they never stop the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from laptop_agents.core.candle import Candle
from laptop_agents.core.clock import Clock, LiveClock
from laptop_agents.core.errors import CandleError
from laptop_agents.core.events import Event, Reconnected
from laptop_agents.exchange.bitunix.errors import ParameterError
from laptop_agents.exchange.bitunix.wire import WS_INTERVAL_MS, kline_channel, num
from laptop_agents.runtime.rate_limiter import RateLimiter
from laptop_agents.runtime.retry import backoff_delays


class KlineAssembler:
    """Turns running pushes of one symbol into closed candles (§5.5).

    A push carries the candle so far and the push time, not the open time: its bucket is
    `ts // interval × interval`, and a bucket is closed when a push for a later bucket arrives. Pushes for
    an older bucket (late or reordered) are ignored. After a reconnect the candle in hand may have missed
    its last updates: if the next push belongs to a later bucket, that candle is discarded (the gap it
    leaves is backfilled over REST), never emitted incomplete.
    """

    __slots__ = ("bucket", "discarded", "interval_ms", "invalid", "stale", "suspect", "values")

    def __init__(self, interval_ms: int) -> None:
        self.interval_ms = interval_ms
        self.bucket: int | None = None
        self.values = (0.0, 0.0, 0.0, 0.0, 0.0)
        self.suspect = False
        self.stale = 0
        self.discarded = 0
        self.invalid = 0

    def on_push(self, ts: int, o: float, h: float, low: float, c: float, volume: float) -> Candle | None:
        bucket = ts - ts % self.interval_ms
        current = self.bucket
        if current is not None and bucket < current:
            self.stale += 1
            return None
        closed: Candle | None = None
        if current is not None and bucket > current:
            if self.suspect:
                self.discarded += 1
            else:
                try:
                    closed = Candle(current, *self.values)
                except CandleError:
                    self.invalid += 1
        if bucket != current:
            self.suspect = False
        self.bucket = bucket
        self.values = (o, h, low, c, volume)
        return closed

    def connection_lost(self) -> None:
        self.suspect = self.bucket is not None


@dataclass
class StreamStats:
    connects: int = 0
    reconnects: int = 0
    pushes: int = 0
    candles: int = 0
    malformed: int = 0
    unknown: int = 0
    pongs: int = 0


class _Silence(Exception):
    """No message for too long on an open connection."""


class BitunixPublicStream:
    """Closed candles for `symbols` at `interval`, as an async iterator of (symbol, candle)."""

    def __init__(
        self,
        url: str,
        *,
        symbols: list[str],
        interval: str,
        limiter: RateLimiter,
        ping_interval_s: float = 5.0,
        silence_after_pings: float = 3.0,
        connect_timeout_s: float = 10.0,
        backoff: Callable[[], Iterator[float]] = backoff_delays,
        on_event: Callable[[Event], None] | None = None,
        clock: Clock | None = None,
        queue_size: int = 10_000,
    ) -> None:
        self.url = url
        self.symbols = [s.upper() for s in symbols]
        self.channel = kline_channel(interval)
        step = WS_INTERVAL_MS[self.channel.rsplit("_", 1)[1]]
        self.assemblers = {s: KlineAssembler(step) for s in self.symbols}
        self.limiter = limiter
        self.ping_interval_s = ping_interval_s
        self.silence_s = ping_interval_s * silence_after_pings
        self.connect_timeout_s = connect_timeout_s
        self._backoff = backoff
        self._on_event = on_event
        self._clock = clock or LiveClock()
        self._queue: asyncio.Queue[tuple[str, Candle]] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self.stats = StreamStats()
        self.connected = asyncio.Event()
        self.last_message_monotonic = 0.0

    # -- Public interface --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="bitunix_public_ws")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def get(self) -> tuple[str, Candle]:
        """The next closed candle (starts the connection on first use)."""
        self.start()
        return await self._queue.get()

    async def __aiter__(self) -> AsyncIterator[tuple[str, Candle]]:
        while True:
            yield await self.get()

    # -- Connection loop ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        delays = self._backoff()
        lost_at: float | None = None
        reason = ""
        attempt = 0
        while True:
            try:
                async with connect(
                    self.url,
                    ping_interval=None,
                    open_timeout=self.connect_timeout_s,
                    close_timeout=1.0,
                    max_size=1 << 22,
                ) as ws:
                    await self._handshake(ws)
                    self.stats.connects += 1
                    if lost_at is not None:
                        self.stats.reconnects += 1
                        self._emit_reconnected(attempt, lost_at, reason)
                    self.connected.set()
                    pinger = asyncio.create_task(self._ping(ws), name="bitunix_public_ping")
                    try:
                        async for _ in self._read(ws):
                            delays = self._backoff()  # data flows: the next failure starts the backoff afresh
                            attempt = 0
                    finally:
                        pinger.cancel()
                        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                            await pinger
            except asyncio.CancelledError:
                raise
            except (_Silence, ConnectionClosed, InvalidHandshake, InvalidURI, OSError, TimeoutError, ValueError) as exc:
                reason = f"{type(exc).__name__}: {exc}"[:200]
            self.connected.clear()
            if lost_at is None or attempt == 0:
                lost_at = time.monotonic()
            for assembler in self.assemblers.values():
                assembler.connection_lost()
            attempt += 1
            await asyncio.sleep(next(delays))

    async def _handshake(self, ws: ClientConnection) -> None:
        first = await asyncio.wait_for(ws.recv(), self.connect_timeout_s)
        frame = orjson.loads(first)
        if not isinstance(frame, dict) or frame.get("op") != "connect":
            raise ValueError(f"expected the connect frame first, got {str(first)[:80]}")
        await self.limiter.acquire()
        args = [{"symbol": s, "ch": self.channel} for s in self.symbols]
        await ws.send(orjson.dumps({"op": "subscribe", "args": args}).decode())

    async def _ping(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.ping_interval_s)
            await ws.send(orjson.dumps({"op": "ping", "ping": int(time.time())}).decode())

    async def _read(self, ws: ClientConnection) -> AsyncIterator[None]:
        """Yields after each kline push (so the caller can reset its backoff); raises when the link dies."""
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), self.silence_s)
            except TimeoutError:
                raise _Silence(f"no message for {self.silence_s:.1f} s") from None
            self.last_message_monotonic = time.monotonic()
            pushed, closed = self._on_frame(raw)
            if closed is not None:
                await self._queue.put(closed)  # backpressure: a slow consumer slows the reader, nothing is lost
            if pushed:
                yield None

    def _on_frame(self, raw: str | bytes) -> tuple[bool, tuple[str, Candle] | None]:
        """(was it a kline push, the candle it closed if any). Bad frames are counted, never raised."""
        try:
            frame = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.stats.malformed += 1
            return False, None
        if not isinstance(frame, dict):
            self.stats.malformed += 1
            return False, None
        if frame.get("ch") == self.channel:
            return self._on_kline(frame)
        op = frame.get("op")
        if op == "ping" and "pong" in frame:
            self.stats.pongs += 1
        elif op not in ("subscribe", "unsubscribe", "connect"):
            self.stats.unknown += 1
        return False, None

    def _on_kline(self, frame: dict[str, object]) -> tuple[bool, tuple[str, Candle] | None]:
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
                num(data.get("o"), "o"),
                num(data.get("h"), "h"),
                num(data.get("l"), "l"),
                num(data.get("c"), "c"),
                num(data.get("b", 0), "b"),
            )
        except (KeyError, TypeError, ValueError, ParameterError):
            self.stats.malformed += 1
            return False, None
        self.stats.pushes += 1
        if closed is None:
            return True, None
        self.stats.candles += 1
        return True, (symbol, closed)

    def _emit_reconnected(self, attempt: int, lost_at: float, reason: str) -> None:
        if self._on_event is not None:
            self._on_event(
                Reconnected(
                    ts=self._clock.now_ms(),
                    channel=f"public:{self.channel}",
                    attempt=attempt,
                    downtime_ms=int((time.monotonic() - lost_at) * 1000),
                    reason=reason,
                )
            )
