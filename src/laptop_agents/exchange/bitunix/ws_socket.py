"""A Bitunix WebSocket that stays up for weeks: the connection loop shared by the public and private streams.

The server speaks first (`op: connect`); the subclass then does its handshake (subscribe, or login and
subscribe), with every message through the shared rate limiter. We send a JSON ping every
`ping_interval_s` and treat `silence_after_pings` intervals with no message at all as a dead link. Any
failure reconnects after an exponential, jittered delay (reset once data flows again), redoes the
handshake and reports a `Reconnected` event. Frames that are not JSON or not understood are counted and
skipped; they never stop the stream. What the subclass extracts goes to a bounded queue; a slow consumer
slows the reader (backpressure), nothing is dropped.

No connection is kept past `max_connection_age_s` (on the monotonic clock; venues cut connections at a
fixed age) or after a shutdown notice: it is rotated with no gap (`ws_handover.py`), counted in the
stats' `rotations` and said by one `ConnectionRotated` event, not as a fault.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from laptop_agents.base.rate_limiter import RateLimiter
from laptop_agents.base.retry import RECONNECT, Backoff
from laptop_agents.base.tasks import cancel_and_wait
from laptop_agents.core.clock import Clock, LiveClock
from laptop_agents.core.events import ConnectionRotated, Error, Event, Reconnected
from laptop_agents.exchange.bitunix.ws_handover import (
    MAX_CONNECTION_AGE_S,
    ROTATION_OVERLAP_S,
    SHUTDOWN_OPS,
    Echoes,
    Raw,
    Silence,
    Takeover,
    hand_over,
    overlap_key,
)

T = TypeVar("T")
MALFORMED_REPORT_S = 60.0
"""At most one `Error` per this long about malformed frames, however many arrive."""

__all__ = ["HandshakeRefused", "ReconnectingSocket", "Silence", "StreamStats"]


@dataclass
class StreamStats:
    connects: int = 0
    reconnects: int = 0
    messages: int = 0
    data: int = 0
    malformed: int = 0
    unknown: int = 0
    pongs: int = 0
    rotations: int = 0
    """Connections replaced at their age limit or on a shutdown notice, overlapping: not drops."""
    rotation_failures: int = 0
    """Successors that could not be opened (the old connection streamed on; tried again after a backoff)."""
    overlap_duplicates: int = 0
    """Frames a rotation's two connections both received, handed out once."""
    shutdown_notices: int = 0


class HandshakeRefused(Exception):
    """The server answered the handshake with a refusal (for example a failed login)."""


LINK_ERRORS = (
    Silence, HandshakeRefused, ConnectionClosed, InvalidHandshake, InvalidURI, OSError, TimeoutError, ValueError
)  # fmt: skip
"""What ends a connection (or a successor's opening), never the stream."""


class ReconnectingSocket(Generic[T]):
    name = "bitunix_ws"

    def __init__(
        self,
        url: str,
        *,
        limiter: RateLimiter,
        ping_interval_s: float = 5.0,
        silence_after_pings: float = 3.0,
        connect_timeout_s: float = 10.0,
        backoff: Backoff = RECONNECT,
        on_event: Callable[[Event], None] | None = None,
        clock: Clock | None = None,
        queue_size: int = 10_000,
        max_connection_age_s: float = MAX_CONNECTION_AGE_S,
        rotation_overlap_s: float = ROTATION_OVERLAP_S,
    ) -> None:
        """`max_connection_age_s`: rotate a connection this old (0: never, the venue's cutoff then drops it)."""
        self.url = url
        self.limiter = limiter
        self.ping_interval_s = ping_interval_s
        self.silence_s = ping_interval_s * silence_after_pings
        self.connect_timeout_s = connect_timeout_s
        self.max_connection_age_s = max_connection_age_s
        self.rotation_overlap_s = rotation_overlap_s
        self._backoff = backoff
        self._on_event = on_event
        self._clock = clock or LiveClock()
        self._queue: asyncio.Queue[T] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self.stats = StreamStats()
        self._reported_malformed = 0
        self._malformed_said_at: float | None = None
        self.connected = asyncio.Event()
        self.last_error = ""
        self._stopping = False
        self._notice = False
        self._backlog: list[Raw] = []
        self._echoes = Echoes()
        self._live_since = 0.0
        """When the last connection opened became live (monotonic): a successor's age counts from there."""

    # -- For subclasses ----------------------------------------------------------------------------------

    async def handshake(self, ws: ClientConnection) -> None:
        """After the connect frame: subscribe (and log in). Raise `HandshakeRefused` to retry later."""
        raise NotImplementedError

    def handle(self, frame: dict[str, Any]) -> tuple[bool, T | None]:
        """(was it a data frame, the item to hand out if any) for one parsed frame."""
        raise NotImplementedError

    def connection_lost(self) -> None:
        """Called after every lost connection, before the reconnect delay."""

    # -- Interface ---------------------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            task, self._task = self._task, None
            await cancel_and_wait(task)
            self.connection_lost()  # whatever was in flight when we hung up may be incomplete
        self.connected.clear()
        self._backlog, self._notice = [], False  # a rotation cut short: a new start begins afresh

    async def get(self) -> T:
        """The next item (starts the connection on first use)."""
        self.start()
        return await self._queue.get()

    async def __aiter__(self) -> AsyncIterator[T]:
        while True:
            yield await self.get()

    async def send_limited(self, ws: ClientConnection, message: dict[str, Any]) -> None:
        """A subscribe or login message, through the shared rate limiter."""
        await self.limiter.acquire()
        await ws.send(orjson.dumps(message).decode())

    async def recv_frame(self, ws: ClientConnection) -> dict[str, Any]:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that races a completed recv.
        async with asyncio.timeout(self.connect_timeout_s):
            raw = await ws.recv()
        frame = orjson.loads(raw)
        if not isinstance(frame, dict):
            raise ValueError(f"expected a JSON object, got {str(raw)[:80]}")
        return frame

    # -- For the handover --------------------------------------------------------------------------------

    async def open_successor(self) -> ClientConnection | None:
        try:
            return await self._open()
        except LINK_ERRORS as exc:
            self.stats.rotation_failures += 1
            self.last_error = f"rotation: {type(exc).__name__}: {exc}"[:200]
            return None

    async def take_frame(self, raw: Raw) -> bool:
        """One received frame: counted, dropped if a rotation's predecessor already handed it out, else
        handled. True for a data frame."""
        self.stats.messages += 1
        if self._echoes.active:
            key = overlap_key(raw)
            if key is not None and self._echoes.drop(key):
                self.stats.overlap_duplicates += 1
                return False
        try:
            frame = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self._malformed(raw)
            return False
        if not isinstance(frame, dict):
            self._malformed(raw)
            return False
        op = frame.get("op")
        if op == "ping" and "pong" in frame:
            self.stats.pongs += 1
            return False
        if op in SHUTDOWN_OPS:
            self.stats.shutdown_notices += 1
            self._notice = True
            return False
        is_data, item = self.handle(frame)
        if item is not None:
            await self._queue.put(item)
        if is_data:
            self.stats.data += 1
        return is_data

    # -- Connection loop ---------------------------------------------------------------------------------

    async def _open(self) -> ClientConnection:
        """Connect, read the server's connect frame, do the handshake: a live connection."""
        ws = await connect(
            self.url, ping_interval=None, open_timeout=self.connect_timeout_s, close_timeout=1.0, max_size=1 << 22
        )
        try:
            first = await self.recv_frame(ws)
            if first.get("op") != "connect":
                raise ValueError(f"expected the connect frame first, got {first}")
            await self.handshake(ws)
        except BaseException:
            await ws.close()
            raise
        self.stats.connects += 1
        self._live_since = time.monotonic()
        return ws

    async def _run(self) -> None:
        delays = self._backoff.delays()
        lost_at: float | None = None
        reason = ""
        attempt = 0

        def flowing() -> None:
            nonlocal delays, attempt
            delays = self._backoff.delays()  # data flows: the next failure starts the backoff afresh
            attempt = 0

        ws: ClientConnection | None = None
        while not self._stopping:
            try:
                if ws is None:
                    ws = await self._open()
                    if lost_at is not None:
                        self.stats.reconnects += 1
                        self._emit_reconnected(attempt, lost_at, reason)
                self.connected.set()
                ws = await self._serve(ws, flowing)  # a successor took over: go on with it
                continue
            except asyncio.CancelledError:
                if ws is not None:
                    await ws.close()
                raise
            except LINK_ERRORS as exc:
                reason = f"{type(exc).__name__}: {exc}"[:200]
                self.last_error = reason
            if ws is not None:
                await ws.close()
                ws = None
            self.connected.clear()
            if lost_at is None or attempt == 0:
                lost_at = time.monotonic()
            self.connection_lost()
            attempt += 1
            await asyncio.sleep(next(delays))

    async def _serve(self, ws: ClientConnection, flowing: Callable[[], None]) -> ClientConnection:
        """Stream from `ws` until it dies (raises) or, at its age limit or on a shutdown notice, a successor
        has taken over (returned, `ws` closed)."""
        opened = self._live_since  # `ws` is the connection opened last
        retries = self._backoff.delays()
        due = opened + self.max_connection_age_s if self.max_connection_age_s > 0 else None
        pinger = asyncio.create_task(self._ping(ws), name=f"{self.name}_ping")
        try:
            while True:
                async for _ in self._read(ws, until=due):
                    flowing()
                why = "shutdown notice" if self._notice else "max connection age"
                self._notice = False
                takeover = await hand_over(self, ws, flowing)
                if takeover is not None:
                    break
                due = time.monotonic() + next(retries)  # the successor failed: this one streams on meanwhile
        finally:
            await cancel_and_wait(pinger)
        try:
            await ws.close()
        except asyncio.CancelledError:  # stopped while the old one closes: the successor is ours to close too
            await takeover.successor.close()
            raise
        self._took_over(takeover, time.monotonic() - opened, why)
        return takeover.successor

    def _took_over(self, takeover: Takeover, age_s: float, why: str) -> None:
        self.stats.rotations += 1
        self._notice = False  # the old connection's notice is done with; one on the successor is in its backlog
        self._backlog = takeover.held
        self._echoes.arm(takeover.seen, self.rotation_overlap_s)
        if takeover.lost:  # the old one ended before the overlap was proven: what it had in flight may be missing
            self.connection_lost()
            self.stats.reconnects += 1
            self._emit_reconnected(0, time.monotonic(), f"{takeover.lost} (during a rotation)"[:200])
        if self._on_event is not None:
            self._on_event(
                ConnectionRotated(
                    ts=self._clock.now_ms(),
                    channel=self.name,
                    age_ms=int(age_s * 1000),
                    reason=why,
                    overlap_ms=int(takeover.overlap_s * 1000),
                )
            )

    async def _ping(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.ping_interval_s)
            await ws.send(orjson.dumps({"op": "ping", "ping": int(time.time())}).decode())

    async def _read(self, ws: ClientConnection, until: float | None = None) -> AsyncIterator[None]:
        """Yields after each data frame (so the loop can reset its backoff); returns at `until` (monotonic)
        or on a shutdown notice; raises when the link dies. A successor's held frames come first."""
        backlog, self._backlog = self._backlog, []
        for raw in backlog:
            if await self.take_frame(raw):
                yield None
        while not self._notice:
            wait_s, capped = self.silence_s, False
            if until is not None:
                left = until - time.monotonic()
                if left <= 0:
                    return
                wait_s, capped = min(wait_s, left), left < wait_s
            try:
                async with asyncio.timeout(wait_s):
                    raw = await ws.recv()
            except TimeoutError:
                if capped:
                    return
                raise Silence(f"no message for {self.silence_s:.2f} s") from None
            if await self.take_frame(raw):
                yield None

    def _malformed(self, raw: str | bytes) -> None:
        """Counted and skipped: a bad frame never stops the stream. The first is reported as a non-fatal
        `Error` at once; a flood is summed up in one `Error` per `MALFORMED_REPORT_S` (the counts are in
        the stream's stats, which the heartbeat shows), never one event per frame."""
        self.stats.malformed += 1
        now = time.monotonic()
        said = self._malformed_said_at
        if said is not None and now - said < MALFORMED_REPORT_S:
            return
        text = raw if isinstance(raw, str) else raw.decode("utf-8", errors="replace")
        new = self.stats.malformed - self._reported_malformed
        self._reported_malformed, self._malformed_said_at = self.stats.malformed, now
        if new == 1:
            message = f"malformed frame skipped: {text[:80]!r}"
        else:
            message = (
                f"{new} malformed frames skipped in the last {now - (said or now):.0f} s; the latest: {text[:80]!r}"
            )
        if self._on_event is not None:
            self._on_event(Error(ts=self._clock.now_ms(), where=self.name, fatal=False, message=message))

    def _emit_reconnected(self, attempt: int, lost_at: float, reason: str) -> None:
        if self._on_event is not None:
            self._on_event(
                Reconnected(
                    ts=self._clock.now_ms(),
                    channel=self.name,
                    attempt=attempt,
                    downtime_ms=int((time.monotonic() - lost_at) * 1000),
                    reason=reason,
                )
            )
