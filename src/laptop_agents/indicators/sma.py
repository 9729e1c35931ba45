"""Simple moving average, O(1) per value."""

from __future__ import annotations

from typing import Any

from laptop_agents.indicators.rolling import trailing_run


class SMA:
    """Mean of the last `period` values; `None` until `period` values have been seen.

    A running sum is O(1) but collects rounding error, so the sum is recomputed from the window each time
    the ring buffer wraps (amortised O(1), error bounded to one window's worth). And a window of equal
    values has that value as its mean, exactly: a sum of n copies divided by n need not
    give the copy back in floating point, and two averages of the same flat prices that differ in their
    last bit are a crossing that is not there (issue 15). The run of equal values at the end is counted;
    once it covers the window, the mean is the value itself.
    """

    __slots__ = ("_buf", "_full", "_i", "_period", "_run", "_sum", "value")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"SMA period must be >= 1, got {period}")
        self._period = period
        self._buf = [0.0] * period
        self._i = 0
        self._full = False
        self._sum = 0.0
        self._run = 0  # how many values in a row equal the newest one
        self.value: float | None = None

    @property
    def period(self) -> int:
        return self._period

    def update(self, x: float) -> float | None:
        buf = self._buf
        i = self._i
        total = self._sum + x - buf[i]
        run = self._run + 1 if x == buf[i - 1] else 1  # buf[i - 1] is the previous value (the ring wraps)
        buf[i] = x
        self._run = run
        i += 1
        period = self._period
        if i == period:
            i = 0
            self._full = True
            total = sum(buf)
        self._sum = total
        self._i = i
        if self._full:
            self.value = value = x if run >= period else total / period
            return value
        return None

    def window(self) -> list[float]:
        """The values in the window, oldest first."""
        if not self._full:
            return self._buf[: self._i]
        return self._buf[self._i :] + self._buf[: self._i]

    def state(self) -> dict[str, Any]:
        """Everything needed to continue exactly (bit for bit) after a restart."""
        return {"buf": list(self._buf), "i": self._i, "full": self._full, "sum": self._sum, "value": self.value}

    def restore(self, state: dict[str, Any]) -> None:
        if len(state["buf"]) != self._period:
            raise ValueError(f"SMA state for period {len(state['buf'])} cannot restore SMA({self._period})")
        self._buf = [float(x) for x in state["buf"]]
        self._i, self._full, self._sum, self.value = (
            int(state["i"]),
            bool(state["full"]),
            float(state["sum"]),
            state["value"],
        )
        self._run = trailing_run(reversed(self.window()))
