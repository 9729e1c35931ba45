"""The rolling windows the agents read, shared: A1's swing high, the sweep's prior swing and the CVD's
N-candle low are one window when their lengths agree, so each candle pays for each window once.

Agents read a window's value (the statistic of the *prior* candles) while deciding; `push` then adds the
candle, once, after every agent has read."""

from __future__ import annotations

from typing import Any, Literal

from laptop_agents.core.candle import Candle
from laptop_agents.indicators.rolling import RollingMax, RollingMin, RollingSum

Series = Literal["high", "low", "volume", "price_volume", "cvd"]


class WindowBank:
    def __init__(self) -> None:
        self._windows: dict[str, RollingMax | RollingSum] = {}
        self._by_series: dict[Series, list[RollingMax | RollingSum]] = {}

    def max(self, series: Series, size: int) -> RollingMax:
        window = self._get(f"max:{series}:{size}", series, lambda: RollingMax(size))
        assert isinstance(window, RollingMax)
        return window

    def min(self, series: Series, size: int) -> RollingMin:
        window = self._get(f"min:{series}:{size}", series, lambda: RollingMin(size))
        assert isinstance(window, RollingMin)
        return window

    def sum(self, series: Series, size: int) -> RollingSum:
        window = self._get(f"sum:{series}:{size}", series, lambda: RollingSum(size))
        assert isinstance(window, RollingSum)
        return window

    def _get(self, key: str, series: Series, make: Any) -> RollingMax | RollingSum:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = make()
            self._by_series.setdefault(series, []).append(window)
        return window

    def bind(self) -> None:
        """Fix the push lists once every agent has asked for its windows."""
        by = self._by_series
        self._high = [w.push for w in by.get("high", ())]
        self._low = [w.push for w in by.get("low", ())]
        self._volume = [w.push for w in by.get("volume", ())]
        self._pv = [w.push for w in by.get("price_volume", ())]
        self._cvd = [w.push for w in by.get("cvd", ())]

    def push(self, candle: Candle, cvd: float) -> None:
        for push in self._high:
            push(candle.high)
        for push in self._low:
            push(candle.low)
        if self._volume:
            for push in self._volume:
                push(candle.volume)
        if self._pv:
            typical = (candle.high + candle.low + candle.close) / 3.0 * candle.volume
            for push in self._pv:
                push(typical)
        for push in self._cvd:
            push(cvd)

    def state(self) -> dict[str, Any]:
        return {key: window.state() for key, window in self._windows.items()}

    def restore(self, state: dict[str, Any]) -> None:
        if set(state) != set(self._windows):
            raise ValueError("checkpoint windows do not match these supervisor parameters; resume with the same ones")
        for key, window in self._windows.items():
            window.restore(state[key])
