"""Average true range with Wilder's smoothing, O(1) per candle, as TA-Lib defines it."""

from __future__ import annotations

from typing import Any


class ATR:
    """Wilder ATR.

    True range exists from the second candle on: TR = max(high − low, |high − prev_close|,
    |low − prev_close|). The first ATR is the mean of the first `period` true ranges (so it is defined on
    candle number `period + 1`); after that ATR_t = (ATR_{t−1}·(period − 1) + TR_t) / period.
    """

    __slots__ = ("_period", "_prev_close", "_tr_count", "_tr_sum", "value")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError(f"ATR period must be >= 1, got {period}")
        self._period = period
        self._prev_close: float | None = None
        self._tr_sum = 0.0
        self._tr_count = 0
        self.value: float | None = None

    @property
    def period(self) -> int:
        return self._period

    def update(self, high: float, low: float, close: float) -> float | None:
        prev = self._prev_close
        self._prev_close = close
        if prev is None:
            return None
        tr = high - low
        up = high - prev
        if up > tr:
            tr = up
        down = prev - low
        if down > tr:
            tr = down
        value = self.value
        if value is None:
            self._tr_sum += tr
            self._tr_count += 1
            if self._tr_count == self._period:
                self.value = self._tr_sum / self._period
            return self.value
        self.value = (value * (self._period - 1) + tr) / self._period
        return self.value

    def state(self) -> dict[str, Any]:
        """Everything needed to continue exactly after a restart (Wilder's ATR remembers all history)."""
        return {
            "period": self._period,
            "prev_close": self._prev_close,
            "tr_sum": self._tr_sum,
            "tr_count": self._tr_count,
            "value": self.value,
        }

    def restore(self, state: dict[str, Any]) -> None:
        if int(state["period"]) != self._period:
            raise ValueError(f"ATR state for period {state['period']} cannot restore ATR({self._period})")
        self._prev_close, self._tr_sum = state["prev_close"], float(state["tr_sum"])
        self._tr_count, self.value = int(state["tr_count"]), state["value"]
