"""The rolling windows the agents read, shared: A1's swing high, the sweep's prior swing and the CVD's
N-candle low are one window when their lengths agree, so each candle pays for each window once.

Agents read a window's value (the statistic of the *prior* candles) while deciding; `push` then adds the
candle, once, after every agent has read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from laptop_agents.core.candle import Candle
from laptop_agents.indicators.rolling import RollingMax, RollingMin, RollingSum

Series = Literal["high", "low", "volume", "price_volume", "cvd"]

_VALUES: dict[Series, str] = {
    "high": "candle.high",
    "low": "candle.low",
    "volume": "candle.volume",
    "price_volume": "(candle.high + candle.low + candle.close) / 3.0 * candle.volume",
    "cvd": "cvd",
}
"""What each series adds per candle, as the pushes made by `bind` compute it."""


class WindowBank:
    def __init__(self) -> None:
        self._windows: dict[str, RollingMax | RollingSum] = {}
        self._by_series: dict[Series, list[RollingMax | RollingSum]] = {}
        self.push: Callable[[Candle, float], None] = _unbound
        """Add a candle (and its CVD) to every window: made by `bind`."""

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
        """Fix what `push` does once every agent has asked for its windows: one straight run of calls, made
        here for the windows there are (a loop per series cost more than the pushes of a one-window series)."""
        namespace: dict[str, Any] = {}
        lines = ["def push(candle, cvd):"]
        for series, value in _VALUES.items():
            windows = self._by_series.get(series, [])
            if not windows:
                continue
            lines.append(f"    value = {value}")
            for k, window in enumerate(windows):
                namespace[f"_{series}_{k}"] = window.push
                lines.append(f"    _{series}_{k}(value)")
        if len(lines) == 1:
            lines.append("    pass")
        exec("\n".join(lines), namespace)  # our own text, made from the names above
        self.push = namespace["push"]

    def state(self) -> dict[str, Any]:
        return {key: window.state() for key, window in self._windows.items()}

    def restore(self, state: dict[str, Any]) -> None:
        if set(state) != set(self._windows):
            raise ValueError("checkpoint windows do not match these supervisor parameters; resume with the same ones")
        for key, window in self._windows.items():
            window.restore(state[key])


def _unbound(candle: Candle, cvd: float) -> None:
    raise RuntimeError("WindowBank.push before bind(): the agents have not all asked for their windows")
