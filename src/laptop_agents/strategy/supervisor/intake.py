"""A1 MarketIntake: what the market is doing, read once per closed candle for the other agents.

- trend: UP when EMA(fast) > EMA(slow) and the close is above EMA(fast); DOWN mirrored; else CHOP.
- regime: ATR as a percent of the close: below `low_vol_atr_pct` LOW_VOL, at or above `high_vol_atr_pct`
  HIGH_VOL, else NORMAL.
- swing high / low: the highest high and lowest low of the `swing_lookback` candles before this one.
- equal high / low: this candle's high (low) within `equal_level_tol_pct` % of the swing high (low): a
  level tested twice, where stops rest.
"""

from __future__ import annotations

from typing import Any, Literal

from laptop_agents.core.candle import Candle
from laptop_agents.indicators import ATR, EMA
from laptop_agents.strategy.supervisor.params import Regime, SupervisorParams
from laptop_agents.strategy.supervisor.windows import WindowBank

Trend = Literal["UP", "DOWN", "CHOP"]


class MarketIntake:
    __slots__ = (
        "_atr",
        "_candle",
        "_fast",
        "_high_vol",
        "_highs",
        "_low_vol",
        "_lows",
        "_slow",
        "_tol",
        "atr",
        "atr_pct",
        "ema_fast",
        "ema_slow",
        "ready",
        "regime",
        "swing_high",
        "swing_low",
        "trend",
    )

    def __init__(self, params: SupervisorParams, windows: WindowBank) -> None:
        self._fast = EMA(params.ema_fast)
        self._slow = EMA(params.ema_slow)
        self._atr = ATR(params.atr_period)
        self._highs = windows.max("high", params.swing_lookback)
        self._lows = windows.min("low", params.swing_lookback)
        self._low_vol = params.low_vol_atr_pct
        self._high_vol = params.high_vol_atr_pct
        self._tol = params.equal_level_tol_pct / 100.0
        self.ema_fast: float | None = None
        self.ema_slow: float | None = None
        self.atr: float | None = None
        self.atr_pct = 0.0
        self.trend: Trend = "CHOP"
        self.regime: Regime = "NORMAL"
        self.swing_high: float | None = None
        self.swing_low: float | None = None
        self._candle: Candle | None = None
        """The last candle the levels were read on (the equal high and low are worked out when asked)."""
        self.ready = False
        """True once both EMAs, the ATR and a full swing window exist: before that no agent decides."""

    def update(self, candle: Candle) -> None:
        close = candle.close
        fast = self.ema_fast = self._fast.update(close)
        slow = self.ema_slow = self._slow.update(close)
        atr = self.atr = self._atr.update(candle.high, candle.low, close)
        highs, lows = self._highs, self._lows
        if not self.ready:  # once ready, always ready: indicators and windows only fill up
            if fast is None or slow is None or atr is None or not highs.full:
                return
            self.ready = True
        assert fast is not None and slow is not None and atr is not None  # noqa: PT018
        if fast > slow and close > fast:
            self.trend = "UP"
        elif fast < slow and close < fast:
            self.trend = "DOWN"
        else:
            self.trend = "CHOP"
        atr_pct = self.atr_pct = atr / close * 100.0
        self.regime = "LOW_VOL" if atr_pct < self._low_vol else "HIGH_VOL" if atr_pct >= self._high_vol else "NORMAL"
        swing_high = self.swing_high = highs.value
        swing_low = self.swing_low = lows.value
        assert swing_high is not None  # full windows
        assert swing_low is not None
        self._candle = candle

    @property
    def equal_high(self) -> bool:
        """The last candle's high within the tolerance of the swing high: a level tested twice."""
        candle, swing = self._candle, self.swing_high
        return candle is not None and swing is not None and abs(candle.high - swing) <= self._tol * swing

    @property
    def equal_low(self) -> bool:
        """The last candle's low within the tolerance of the swing low."""
        candle, swing = self._candle, self.swing_low
        return candle is not None and swing is not None and abs(candle.low - swing) <= self._tol * swing

    def state(self) -> dict[str, Any]:
        return {"fast": self._fast.state(), "slow": self._slow.state(), "atr": self._atr.state()}

    def restore(self, state: dict[str, Any]) -> None:
        self._fast.restore(state["fast"])
        self._slow.restore(state["slow"])
        self._atr.restore(state["atr"])
