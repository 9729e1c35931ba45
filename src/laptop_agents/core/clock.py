"""Injected time. The core never reads the wall clock; it asks a `Clock`.

`SimClock` is advanced by the data (backtests, tests), so a backtest is deterministic and its logs show
market time. `LiveClock` reads the real clocks and is chosen only at the edge, by mode.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Where the core gets time from."""

    def now_ms(self) -> int:
        """Current time, integer epoch milliseconds UTC."""
        ...

    def monotonic_s(self) -> float:
        """Seconds from an arbitrary origin that never goes backwards (for timeouts and ages)."""
        ...


class SimClock:
    """Simulated time, moved forward by whoever feeds the data; it never moves backwards.

    `ms` is public so a hot loop that feeds ascending times can set it without a call.
    """

    __slots__ = ("ms",)

    def __init__(self, start_ms: int = 0) -> None:
        self.ms = start_ms

    def now_ms(self) -> int:
        return self.ms

    def monotonic_s(self) -> float:
        return self.ms / 1000.0

    def advance_to(self, ts_ms: int) -> None:
        """Move time forward to `ts_ms`; a time in the past is ignored (time is monotonic)."""
        if ts_ms > self.ms:
            self.ms = ts_ms


class LiveClock:
    """The real clocks: wall time for timestamps, the monotonic clock for durations."""

    __slots__ = ()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000  # edge-ok: LiveClock is the sanctioned reader of real time

    def monotonic_s(self) -> float:
        return time.monotonic()  # edge-ok


class VenueClock:
    """The venue's time as its own messages tell it: the newest timestamp a venue push carried, moved on
    by the monotonic time since it arrived. It dates decisions by the exchange's clock, which is also the
    clock a replayed market (the simulator) runs on; until the first push it knows nothing (None)."""

    __slots__ = ("_clock", "_mono_s", "_venue_ms")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._venue_ms: int | None = None
        self._mono_s = 0.0

    def observe(self, venue_ms: int) -> None:
        """A venue timestamp just received; an older one than already known changes nothing."""
        now = self._clock.monotonic_s()
        current = self.now_ms()
        if current is None or venue_ms > current:
            self._venue_ms, self._mono_s = venue_ms, now

    def now_ms(self) -> int | None:
        if self._venue_ms is None:
            return None
        return self._venue_ms + int((self._clock.monotonic_s() - self._mono_s) * 1000)


class SessionTime:
    """The clocks as they read when the input being handled reached the core (a `ClockTick`): the live
    broker dates and counts its orders by these, so a replay that feeds the same ticks decides the same.
    `now_ms`/`monotonic_s` make it a `Clock`; `venue_ms` is the exchange's time (None: no push yet)."""

    __slots__ = ("mono_s", "venue_ms", "wall_ms")

    def __init__(self) -> None:
        self.venue_ms: int | None = None
        self.wall_ms = 0
        self.mono_s = 0.0

    def set(self, venue_ms: int | None, wall_ms: int, mono_s: float) -> None:
        self.venue_ms, self.wall_ms, self.mono_s = venue_ms, wall_ms, mono_s

    def now_ms(self) -> int:
        return self.wall_ms

    def monotonic_s(self) -> float:
        return self.mono_s
