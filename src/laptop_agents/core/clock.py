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
