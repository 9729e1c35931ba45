"""Rolling windows over the last `size` values: sum, maximum, minimum. O(1) amortised per value.

The extremes are kept lazily: a new value that beats the current extreme replaces it at once; only when
the extreme leaves the window is the window rescanned. On market data that happens about once per window,
so the cost per value stays a handful of operations.

`value` is the statistic of the values pushed so far (None before the first); read it *before* `push`
to get the statistic of the prior bars (a swing high "before this candle").
"""

from __future__ import annotations

from collections.abc import Iterable
from math import fsum
from typing import Any


def trailing_run(newest_first: Iterable[float]) -> int:
    """How many values in a row, from the newest, equal the newest (0 for none): what an average's exact
    mean of equal values needs after a restore, derived from the window itself."""
    run, first = 0, None
    for value in newest_first:
        if run and value != first:
            break
        first, run = value, run + 1
    return run


class _Ring:
    __slots__ = ("_buf", "_t", "size")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"window size must be >= 1, got {size}")
        self.size = size
        self._buf: list[float] = []
        self._t = 0  # values pushed so far; the newest sits at (_t − 1) % size

    @property
    def full(self) -> bool:
        return self._t >= self.size

    def _ring_state(self) -> dict[str, Any]:
        return {"buf": list(self._buf), "t": self._t}

    def _ring_restore(self, state: dict[str, Any]) -> None:
        self._buf = [float(x) for x in state["buf"]]
        self._t = int(state["t"])


class RollingSum(_Ring):
    """Sum (and mean) of the last `size` values.

    Like `SMA`: the running total is re-summed exactly (`math.fsum`) each time the ring wraps, so rounding
    error never outgrows one window, and the mean of a window of equal values is that value exactly."""

    __slots__ = ("_last", "_run", "total")

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.total = 0.0
        self._last = float("nan")
        self._run = 0

    def push(self, x: float) -> None:
        t = self._t
        size = self.size
        if x == self._last:
            self._run += 1
        else:
            self._last = x
            self._run = 1
        if t < size:
            self._buf.append(x)
            self.total += x
        else:
            i = t % size
            self.total += x - self._buf[i]
            self._buf[i] = x
        t += 1
        self._t = t
        if t % size == 0:
            self.total = fsum(self._buf)

    def oldest(self) -> float:
        """The value the next push drops (0.0 while the window is not full)."""
        return self._buf[self._t % self.size] if self._t >= self.size else 0.0

    @property
    def mean(self) -> float | None:
        n = min(self._t, self.size)
        if not n:
            return None
        return self._last if self._run >= n else self.total / n

    def state(self) -> dict[str, Any]:
        return {**self._ring_state(), "total": self.total}

    def restore(self, state: dict[str, Any]) -> None:
        self._ring_restore(state)
        self.total = float(state["total"])
        t, size, buf = self._t, self.size, self._buf
        newest_first = [buf[(t - 1 - k) % size] for k in range(min(t, size))]
        self._last = newest_first[0] if newest_first else float("nan")
        self._run = trailing_run(newest_first)


class RollingMax(_Ring):
    """Maximum of the last `size` values."""

    __slots__ = ("_at", "value")

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.value: float | None = None
        self._at = -1  # push number of the current extreme

    def push(self, x: float) -> None:
        t = self._t
        size = self.size
        buf = self._buf
        if t < size:
            buf.append(x)
        else:
            buf[t % size] = x
        self._t = t + 1
        value = self.value
        if value is None or x >= value:
            self.value = x
            self._at = t
        elif self._at <= t - size:  # the extreme just left the window
            self._rescan(max(buf))

    def _rescan(self, best: float) -> None:
        """Point at an occurrence of `best` (found at C speed; an equal value left behind is found by the
        next rescan)."""
        self.value = best
        t = self._t - 1
        self._at = t - (t - self._buf.index(best)) % self.size

    def state(self) -> dict[str, Any]:
        return {**self._ring_state(), "value": self.value, "at": self._at}

    def restore(self, state: dict[str, Any]) -> None:
        self._ring_restore(state)
        self.value = None if state["value"] is None else float(state["value"])
        self._at = int(state["at"])


class RollingMin(RollingMax):
    """Minimum of the last `size` values."""

    __slots__ = ()

    def push(self, x: float) -> None:
        t = self._t
        size = self.size
        buf = self._buf
        if t < size:
            buf.append(x)
        else:
            buf[t % size] = x
        self._t = t + 1
        value = self.value
        if value is None or x <= value:
            self.value = x
            self._at = t
        elif self._at <= t - size:
            self._rescan(min(buf))
