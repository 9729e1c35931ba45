"""Exponential moving average, O(1) per value."""

from __future__ import annotations

from typing import Any


class EMA:
    """EMA with alpha = 2 / (period + 1), seeded with the mean of the first `period` values (as TA-Lib).

    `None` until `period` values have been seen.
    """

    __slots__ = ("_alpha", "_period", "_seed_count", "_seed_sum", "value")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"EMA period must be >= 1, got {period}")
        self._period = period
        self._alpha = 2.0 / (period + 1)
        self._seed_sum = 0.0
        self._seed_count = 0
        self.value: float | None = None

    @property
    def period(self) -> int:
        return self._period

    def update(self, x: float) -> float | None:
        value = self.value
        if value is None:
            self._seed_sum += x
            self._seed_count += 1
            if self._seed_count == self._period:
                self.value = self._seed_sum / self._period
            return self.value
        self.value = value + self._alpha * (x - value)
        return self.value

    def state(self) -> dict[str, Any]:
        return {"seed_sum": self._seed_sum, "seed_count": self._seed_count, "value": self.value}

    def restore(self, state: dict[str, Any]) -> None:
        self._seed_sum = float(state["seed_sum"])
        self._seed_count = int(state["seed_count"])
        self.value = None if state["value"] is None else float(state["value"])
