"""A download's progress: a bar with candles and ETA on a terminal, one line per 10 % otherwise (a log)."""

from __future__ import annotations

import time
from typing import TextIO

from laptop_agents.core.timespec import format_ms


class Progress:
    def __init__(self, out: TextIO, *, label: str, tty: bool | None = None) -> None:
        self._out = out
        self._label = label
        self._tty = out.isatty() if tty is None else tty
        self.total = 0
        self.done = 0
        self._fetched = 0
        self._started = 0.0
        self._next_tenth = 1
        self._drawn = 0.0
        self._newest: int | None = None

    def begin(self, buckets: int) -> None:
        self.total = max(buckets, 1)
        self._started = time.monotonic()

    def skip(self, buckets: int) -> None:
        """Buckets known to hold nothing to fetch (before the listing, or already in the side file)."""
        self.done += max(buckets, 0)

    def advance(self, buckets: int, newest: int | None) -> None:
        self.done += buckets
        self._fetched += buckets
        if newest is not None:
            self._newest = newest
        if self._tty:
            now = time.monotonic()
            if now - self._drawn >= 0.2 or self.done >= self.total:
                self._drawn = now
                self._out.write("\r" + self._line() + "\x1b[K")
                self._out.flush()
            return
        tenth = min(self.done * 10 // self.total, 10)
        if tenth >= self._next_tenth:  # one line however many tenths this step crossed
            self._next_tenth = tenth + 1
            self._out.write(self._line() + "\n")
            self._out.flush()

    def end(self) -> None:
        if self._tty and self._drawn:
            self._out.write("\n")
            self._out.flush()

    def _line(self) -> str:
        share = min(self.done / self.total, 1.0)
        elapsed = time.monotonic() - self._started
        left = self.total - self.done
        eta = left * elapsed / self._fetched if self._fetched and left > 0 else 0.0
        at = f" · at {format_ms(self._newest)}" if self._newest is not None else ""
        bar = "#" * int(share * 24)
        return f"{self._label} [{bar:<24}] {share:4.0%} {self.done:,}/{self.total:,} candles{at} · ETA {_clock(eta)}"


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"
