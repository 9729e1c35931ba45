"""Price history for the report's charts, in bounded memory: bucketed closes plus the last few candles."""

from __future__ import annotations

from collections import deque

from laptop_agents.core.candle import Candle


class PriceTrack:
    def __init__(self, *, max_points: int = 1200, recent: int = 240) -> None:
        self.points: list[tuple[int, float, float, float]] = []  # (ts, close, bucket high, bucket low)
        self.recent: deque[Candle] = deque(maxlen=recent)
        self._max_points = max_points
        self._stride = 1
        self._n = 0
        self._high = 0.0
        self._low = float("inf")
        self.first_ts: int | None = None

    @property
    def last_ts(self) -> int | None:
        return self.recent[-1].ts if self.recent else None

    def record(self, candle: Candle) -> None:
        self.recent.append(candle)
        if self.first_ts is None:
            self.first_ts = candle.ts
        if candle.high > self._high:
            self._high = candle.high
        if candle.low < self._low:
            self._low = candle.low
        self._n += 1
        if self._n >= self._stride:
            self.points.append((candle.ts, candle.close, self._high, self._low))
            self._n = 0
            self._high = 0.0
            self._low = float("inf")
            if len(self.points) >= 2 * self._max_points:
                p = self.points
                self.points = [
                    (p[i + 1][0], p[i + 1][1], max(p[i][2], p[i + 1][2]), min(p[i][3], p[i + 1][3]))
                    for i in range(0, len(p) - 1, 2)
                ]
                self._stride *= 2

    def finish(self) -> None:
        """Keep the last, partly filled bucket so the chart reaches the final candle."""
        if self._n and self.recent:
            last = self.recent[-1]
            self.points.append((last.ts, last.close, self._high, self._low))
            self._n = 0
