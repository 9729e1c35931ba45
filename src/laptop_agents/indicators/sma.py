"""Simple moving average, O(1) per value."""

from __future__ import annotations

from typing import Any


class SMA:
    """Mean of the last `period` values; `None` until `period` values have been seen.

    A running sum is O(1) but collects rounding error over millions of updates, so the sum is recomputed
    from the window each time the ring buffer wraps (amortised O(1), error bounded to one window's worth).
    """

    __slots__ = ("_buf", "_full", "_i", "_period", "_sum", "value")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"SMA period must be >= 1, got {period}")
        self._period = period
        self._buf = [0.0] * period
        self._i = 0
        self._full = False
        self._sum = 0.0
        self.value: float | None = None

    @property
    def period(self) -> int:
        return self._period

    def update(self, x: float) -> float | None:
        buf = self._buf
        i = self._i
        self._sum += x - buf[i]
        buf[i] = x
        i += 1
        if i == self._period:
            i = 0
            self._full = True
            self._sum = sum(buf)
        self._i = i
        if self._full:
            self.value = value = self._sum / self._period
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
