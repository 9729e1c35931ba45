"""`equity.csv` (one row per candle) and the statistics and chart points derived from it, in O(1) memory.

Each row is written when the next candle arrives, so the last row can carry the run's final equity
(after a position still open at the end is closed). Chart points are kept in at most `max_points`
buckets: each bucket keeps its last equity and its deepest drawdown, so no drawdown hides in a gap.
"""

from __future__ import annotations

import math
from pathlib import Path

DAY_MS = 86_400_000


class EquityCurve:
    def __init__(self, path: Path, *, starting_balance: float, max_points: int = 1200) -> None:
        self.path = path
        self._handle = path.open("w", encoding="utf-8", buffering=1 << 20)
        self._write = self._handle.write
        self._write("ts,equity,drawdown_pct\n")
        self.starting_balance = starting_balance
        self.peak = starting_balance
        self.max_drawdown_pct = 0.0
        self.bars = 0
        self.bars_in_market = 0
        # The row for a candle is written when the next one arrives. Equity is flat on most candles, so
        # the formatted ",equity,drawdown" tail is reused until the equity changes.
        self._pending_ts = -1
        self._equity = math.nan
        self._dd = 0.0
        self._tail = ""
        # chart buckets: (ts, equity, max drawdown in bucket)
        self.points: list[tuple[int, float, float]] = []
        self._max_points = max_points
        self._stride = 1
        self._in_bucket = 0
        self._bucket_dd = 0.0
        # daily returns for the Sharpe ratio (Welford's running mean and variance)
        self._next_day_ts = -1
        self._day_close = starting_balance
        self._prev_day_close = starting_balance
        self._n_days = 0
        self._mean = 0.0
        self._m2 = 0.0

    def record(self, ts: int, equity: float, in_market: bool) -> None:
        if self._pending_ts >= 0:
            self._write(f"{self._pending_ts}{self._tail}")
        if equity != self._equity:
            self._set_equity(equity)
        self._pending_ts = ts
        self.bars += 1
        if in_market:
            self.bars_in_market += 1
        if ts >= self._next_day_ts:
            if self._next_day_ts >= 0:
                self._close_day()
            self._next_day_ts = (ts // DAY_MS + 1) * DAY_MS
        self._day_close = equity
        if self._dd > self._bucket_dd:
            self._bucket_dd = self._dd
        self._in_bucket += 1
        if self._in_bucket >= self._stride:
            self._push_point(ts, equity)

    def finish(self, final_equity: float | None = None) -> None:
        """Write the last row (with `final_equity` when the run closed a position after the last mark)."""
        if self._pending_ts >= 0:
            if final_equity is not None and final_equity != self._equity:
                self._set_equity(final_equity)
                self._day_close = final_equity
                self._bucket_dd = max(self._bucket_dd, self._dd)
            self._write(f"{self._pending_ts}{self._tail}")
            self._push_point(self._pending_ts, self._equity)
            self._pending_ts = -1
            if self._next_day_ts >= 0:
                self._close_day()
                self._next_day_ts = -1
        if not self._handle.closed:
            self._handle.close()

    def _set_equity(self, equity: float) -> None:
        self._equity = equity
        if equity > self.peak:
            self.peak = equity
            dd = 0.0
        else:
            dd = (self.peak - equity) / self.peak * 100.0
            if dd > self.max_drawdown_pct:
                self.max_drawdown_pct = dd
        self._dd = dd
        self._tail = f",{equity!r},{dd!r}\n"

    @property
    def exposure_pct(self) -> float:
        return 100.0 * self.bars_in_market / self.bars if self.bars else 0.0

    @property
    def sharpe(self) -> float | None:
        """Annualised Sharpe ratio of daily returns (UTC days, √365, risk-free rate 0); None below 2 days."""
        if self._n_days < 2:
            return None
        var = self._m2 / (self._n_days - 1)
        if var <= 0:
            return None
        return self._mean / math.sqrt(var) * math.sqrt(365.0)

    @property
    def days(self) -> int:
        return self._n_days

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def _close_day(self) -> None:
        ret = self._day_close / self._prev_day_close - 1.0
        self._prev_day_close = self._day_close
        self._n_days += 1
        delta = ret - self._mean
        self._mean += delta / self._n_days
        self._m2 += delta * (ret - self._mean)

    def _push_point(self, ts: int, equity: float) -> None:
        if self._in_bucket == 0 and self.points and self.points[-1][0] == ts:
            return
        self.points.append((ts, equity, self._bucket_dd))
        self._in_bucket = 0
        self._bucket_dd = 0.0
        if len(self.points) >= 2 * self._max_points:
            pts = self.points
            self.points = [
                (pts[i + 1][0], pts[i + 1][1], max(pts[i][2], pts[i + 1][2])) for i in range(0, len(pts) - 1, 2)
            ]
            self._stride *= 2
