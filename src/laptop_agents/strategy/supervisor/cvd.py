"""Cumulative volume delta from candles alone, and its divergence from price.

There is no trade tape in a candle, so the delta is synthetic: the close's place in the candle's range
times its volume, ((close − low) − (high − close)) / (high − low) × volume: +volume for a close on the
high, −volume on the low, 0 for a doji or a zero range. CVD is its running sum.

- bullish divergence: the low makes a new `cvd_lookback`-candle low but CVD stays above its lowest value
  of those candles (sellers did not follow through);
- bearish divergence: the high makes a new high while CVD stays below its highest value.

The divergence needs four rolling windows; it is tracked only when a setup reads it (`divergence=True`,
the supervisor's `sweep_cvd_confirm`). CVD itself is always kept: the journal records it.
"""

from __future__ import annotations

from typing import Any

from laptop_agents.core.candle import Candle
from laptop_agents.strategy.supervisor.windows import WindowBank


class CvdDivergence:
    __slots__ = ("_windows", "bearish", "bullish", "cvd", "ready")

    def __init__(self, lookback: int, windows: WindowBank, *, divergence: bool = True) -> None:
        self._windows = (
            (windows.min("low", lookback), windows.max("high", lookback), windows.min("cvd", lookback),
             windows.max("cvd", lookback))
            if divergence else None
        )  # fmt: skip
        """The prior candles' lowest low, highest high, lowest and highest CVD; None without divergence."""
        self.cvd = 0.0
        self.bullish = False
        self.bearish = False
        self.ready = False

    def update(self, candle: Candle) -> float:
        high, low, close = candle.high, candle.low, candle.close
        span = high - low
        cvd = self.cvd
        if span > 0.0:
            cvd += ((close - low) - (high - close)) / span * candle.volume
            self.cvd = cvd
        windows = self._windows
        if windows is not None and (self.ready or windows[0].full):
            self.ready = True
            lows, highs, cvd_lows, cvd_highs = windows
            low_min, high_max, cvd_min, cvd_max = lows.value, highs.value, cvd_lows.value, cvd_highs.value
            assert low_min is not None  # full windows
            assert cvd_min is not None
            assert high_max is not None
            assert cvd_max is not None
            self.bullish = low < low_min and cvd > cvd_min
            self.bearish = high > high_max and cvd < cvd_max
        return cvd

    def state(self) -> dict[str, Any]:
        return {"cvd": self.cvd}

    def restore(self, state: dict[str, Any]) -> None:
        self.cvd = float(state["cvd"])
