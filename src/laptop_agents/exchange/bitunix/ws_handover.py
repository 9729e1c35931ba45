"""Rotating a WebSocket with no gap: a successor opens while the old connection streams on, then takes over.

Venues cut a connection at a fixed age (Binance at 24 h; Bitunix documents no lifetime and no notice) or
warn before a restart (Binance's `serverShutdown`). So before the cutoff the socket opens a second
connection and does its handshake there. The old one keeps handing out frames meanwhile, each remembered;
the successor's are held back. A held frame the old one already handed out proves the overlap (from
there on both got every frame). Then, or after `rotation_overlap_s` if nothing came that could prove it
(a quiet private socket), the successor takes over: its held frames come first, and every copy of a
frame the old one handed out is dropped (late copies too, for `rotation_overlap_s`). The server sends its
frames in one order on both, so what comes out is that sequence, each frame once.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

MAX_CONNECTION_AGE_S = 23 * 3600.0
"""Rotate a connection this old: under a 24 h cutoff. Bitunix states none, so it costs one overlap a day."""
ROTATION_OVERLAP_S = 5.0
"""The longest a live successor waits for proof of the overlap, and how long late copies are dropped."""
SHUTDOWN_OPS = frozenset({"serverShutdown"})
"""Control frames that announce the server is about to close the connection: rotate at once."""
Raw = str | bytes


class Silence(Exception):
    """No message for too long on an open connection."""


def overlap_key(raw: Raw) -> bytes | None:
    """What the two connections' copies of one frame share: its JSON with sorted keys (the bytes if it is not
    JSON). None for a pong: it answers one connection's own ping, the other never gets it."""
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw if isinstance(raw, bytes) else raw.encode()
    if isinstance(frame, dict) and frame.get("op") == "ping" and "pong" in frame:
        return None
    return orjson.dumps(frame, option=orjson.OPT_SORT_KEYS)


class Echoes:
    """Copies still to come on a successor of frames its predecessor handed out: each dropped once, for a while."""

    __slots__ = ("_counts", "_until")

    def __init__(self) -> None:
        self._counts: Counter[bytes] = Counter()
        self._until = -math.inf

    def arm(self, seen: Counter[bytes], for_s: float) -> None:
        self._counts = +seen
        self._until = time.monotonic() + for_s

    @property
    def active(self) -> bool:
        if self._counts and time.monotonic() > self._until:
            self._counts = Counter()
        return bool(self._counts)

    def drop(self, key: bytes) -> bool:
        """Whether this frame is such a copy (used up)."""
        left = self._counts.get(key, 0)
        if left <= 0:
            return False
        if left == 1:
            del self._counts[key]
        else:
            self._counts[key] = left - 1
        return True


class Host(Protocol):
    """The socket being rotated."""

    silence_s: float
    rotation_overlap_s: float

    async def open_successor(self) -> ClientConnection | None:
        """A live connection (handshake done), or None when it could not be opened (said by the host)."""
        ...

    async def take_frame(self, raw: Raw) -> bool:
        """Hand one frame of the current connection out; True for a data frame."""
        ...


@dataclass
class Takeover:
    successor: ClientConnection
    held: list[Raw]
    """What the successor received before it took over, in order (the host hands it out first)."""
    seen: Counter[bytes]
    """What the old connection handed out during the rotation, by `overlap_key`."""
    overlap_s: float
    """How long both connections were live."""
    lost: str
    """Why the old connection ended before the overlap was proven ("" if it did not): frames may be missing."""


async def hand_over(host: Host, old: ClientConnection, flowing: Callable[[], None]) -> Takeover | None:
    """Rotate `old` (see the module's docstring). None: the successor failed and `old` streams on. Raises
    when `old` dies before a successor is live (a plain reconnect then)."""
    loop = asyncio.get_running_loop()
    seen: Counter[bytes] = Counter()
    held: list[Raw] = []
    opening = asyncio.ensure_future(host.open_successor())
    old_next: asyncio.Future[Raw] = asyncio.ensure_future(old.recv())
    new: ClientConnection | None = None
    new_next: asyncio.Future[Raw] | None = None
    heard, live_at, deadline = loop.time(), math.inf, math.inf
    held_keys: set[bytes] = set()
    proven, lost, taken = False, "", False
    try:
        while not proven and loop.time() < deadline:
            waits: set[asyncio.Future[Any]] = {old_next, opening if new_next is None else new_next}
            wait_s = max(0.0, min(heard + host.silence_s, deadline) - loop.time())
            done, _ = await asyncio.wait(waits, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
            if new_next is None and opening in done:
                new = opening.result()
                if new is None:
                    return None
                live_at, deadline = loop.time(), loop.time() + host.rotation_overlap_s
                new_next = asyncio.ensure_future(new.recv())
            elif new is not None and new_next in done:
                try:
                    raw = new_next.result()
                except ConnectionClosed:
                    return None  # the successor died: the old connection streams on
                key = overlap_key(raw)
                held.append(raw)
                if key is not None:
                    held_keys.add(key)
                    proven = seen[key] > 0
                new_next = asyncio.ensure_future(new.recv())
            if old_next in done:
                try:
                    raw = old_next.result()
                except ConnectionClosed as exc:
                    if new is None:
                        raise
                    lost = f"{type(exc).__name__}: {exc}"
                    break
                heard = loop.time()
                key = overlap_key(raw)
                if key is not None:
                    seen[key] += 1
                    proven = proven or key in held_keys
                if await host.take_frame(raw):
                    flowing()
                old_next = asyncio.ensure_future(old.recv())
            elif loop.time() >= heard + host.silence_s:
                if new is None:
                    raise Silence(f"no message for {host.silence_s:.2f} s")
                lost = f"Silence: no message for {host.silence_s:.2f} s"
                break
        assert new is not None
        assert new_next is not None
        if new_next.done() and not new_next.cancelled() and new_next.exception() is None:
            held.append(new_next.result())  # it came while the last old frame was handed out
        taken = True
        return Takeover(new, held, seen, loop.time() - live_at, lost)
    finally:
        pending = [f for f in (old_next, new_next, opening) if f is not None and not f.done()]
        for future in pending:
            future.cancel()  # a cancelled recv loses nothing: the next one returns the next message
        try:
            if pending:
                await asyncio.wait(pending)
        finally:  # a successor not taken over is closed, one opened as the rotation was cancelled too
            if new is None and opening.done() and not opening.cancelled() and opening.exception() is None:
                new = opening.result()
            if new is not None and not taken:
                await new.close()
