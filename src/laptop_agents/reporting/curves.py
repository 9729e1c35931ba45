"""The per-candle curves of a run, in O(1) memory: `equity.csv`, statistics, and the report's chart points.

`record` runs once per candle, so it only appends to a bounded chunk; the chunk is processed in one tight
loop (rows of `equity.csv`, drawdown and its episodes, daily returns, chart buckets) every `CHUNK`
candles. The last candle is always held back, so `finish` can give the last row the run's final equity
(after a position still open at the end is closed). Chart points are kept in at most about 2 × `max_points`
buckets; a bucket keeps its last equity and close, its equity's low and high, its deepest drawdown and its
price range, so no drawdown or spike hides between points. `origin` is the first candle (its time, the
starting balance, its open): the chart starts there, however wide the first bucket has grown.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from laptop_agents.core.candle import Candle
from laptop_agents.reporting.csv_rows import reprs

CandleTap = Callable[[list[Candle]], None]

DAY_MS = 86_400_000
CHUNK = 4096
_STATE_KEYS = (
    "peak",
    "max_drawdown_pct",
    "bars",
    "bars_in_market",
    "first_ts",
    "_dd",
    "_tail",
    "_stride",
    "_in_bucket",
    "_bucket_dd",
    "_bucket_high",
    "_bucket_low",
    "_next_day_ts",
    "_day_close",
    "_prev_day_close",
    "_n_days",
    "_mean",
    "_m2",
)
# added after checkpoints were first written: a resumed older checkpoint starts them from these values
_NEWER_STATE: dict[str, Any] = {
    "origin": None,
    "_bucket_emin": None,
    "_bucket_emax": None,
    "_down2": 0.0,
    "dd_start_ts": -1,
    "longest_dd_ms": 0,
    "max_dd_start_ts": -1,
    "max_dd_trough_ts": -1,
    "max_dd_recovered_ts": -1,
}

Point = tuple[int, float, float, float, float]
"""A chart bucket of the equity: (last ts, last equity, deepest drawdown %, lowest equity, highest equity)."""


class Curves:
    def __init__(
        self,
        path: Path,
        *,
        starting_balance: float,
        max_points: int = 1200,
        recent: int = 240,
        resume: dict[str, Any] | None = None,
    ) -> None:
        self.path = path
        self._handle = path.open("w" if resume is None else "a", encoding="utf-8", buffering=1 << 20)
        if resume is None:
            self._handle.write("ts,equity,drawdown_pct\n")
        self.starting_balance = starting_balance
        self.peak = starting_balance
        self.max_drawdown_pct = 0.0
        self.bars = 0
        self.bars_in_market = 0
        self.first_ts: int | None = None
        self.recent: deque[Candle] = deque(maxlen=recent)
        # the chunk not yet processed (its last element is held back for `finish`)
        self._candles: list[Candle] = []
        self._equities: list[float] = []
        self._add_candle = self._candles.append
        self._add_equity = self._equities.append
        # state carried between chunks
        self._equity = math.nan
        self._dd = 0.0
        self._tail = ""  # ",equity,drawdown\n" of the current equity, reused while it does not change
        self.points: list[Point] = []
        self.prices: list[tuple[int, float, float, float]] = []  # (ts, close, high, low)
        self.origin: tuple[int, float, float] | None = None  # (first ts, starting balance, first open)
        self._max_points = max_points
        self._stride = 1
        self._in_bucket = 0
        self._bucket_dd = 0.0
        self._bucket_high = 0.0
        self._bucket_low = math.inf
        self._bucket_emin = starting_balance
        self._bucket_emax = starting_balance
        # drawdown episodes: the one under water now (-1: none), the longest, and the deepest one's times
        self.dd_start_ts = -1
        self.longest_dd_ms = 0
        self.max_dd_start_ts = -1
        self.max_dd_trough_ts = -1
        self.max_dd_recovered_ts = -1
        # daily returns for the Sharpe ratio (Welford's running mean and variance)
        self._next_day_ts = -1
        self._day_close = starting_balance
        self._prev_day_close = starting_balance
        self._n_days = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._down2 = 0.0  # Σ of squared negative daily returns, for the Sortino ratio
        self.taps: list[CandleTap] = []
        """Called with each processed chunk of candles (the report's trade windows)."""
        if resume is not None:
            self._restore(resume)

    def _restore(self, resume: dict[str, Any]) -> None:
        for key in _STATE_KEYS:
            setattr(self, key, resume[key])
        for key, default in _NEWER_STATE.items():
            setattr(self, key, resume.get(key, default))
        self._equity = math.nan if resume["_equity"] is None else resume["_equity"]
        self._bucket_low = math.inf if resume["_bucket_low"] is None else resume["_bucket_low"]
        # points of an older checkpoint lack the bucket's equity range: its last equity stands for both
        self.points = [(p[0], p[1], p[2], p[1], p[1]) if len(p) == 3 else tuple(p) for p in resume["points"]]
        self.prices = [tuple(p) for p in resume["prices"]]
        origin = resume.get("origin")
        if origin is not None:
            self.origin = (int(origin[0]), float(origin[1]), float(origin[2]))
        elif self.first_ts is not None:
            first_price = self.prices[0][1] if self.prices else math.nan
            self.origin = (self.first_ts, self.starting_balance, first_price)
        current = self.starting_balance if math.isnan(self._equity) else self._equity
        emin, emax = resume.get("_bucket_emin"), resume.get("_bucket_emax")
        self._bucket_emin = current if emin is None else float(emin)
        self._bucket_emax = current if emax is None else float(emax)

    def state(self) -> dict[str, Any]:
        """Everything to continue the curves after a restart; call `offset()` first so nothing is pending."""
        state = {key: getattr(self, key) for key in (*_STATE_KEYS, *_NEWER_STATE)}
        state["points"], state["prices"] = self.points, self.prices
        state["_equity"] = None if math.isnan(self._equity) else self._equity  # JSON has no NaN or inf
        state["_bucket_low"] = None if math.isinf(self._bucket_low) else self._bucket_low
        return state

    def offset(self, *, sync: bool = False) -> int:
        """Write every recorded candle's row and flush (with `sync` fsync too); the byte size of equity.csv
        for a checkpoint."""
        if self._candles:
            self._process(len(self._candles))
        self._handle.flush()
        if sync:
            os.fsync(self._handle.fileno())
        return self._handle.tell()

    def record(self, candle: Candle, equity: float, in_market: bool) -> None:
        self._add_candle(candle)
        self._add_equity(equity)
        if in_market:
            self.bars_in_market += 1
        if len(self._candles) > CHUNK:
            self._process(len(self._candles) - 1)

    @property
    def last_ts(self) -> int | None:
        if self._candles:
            return self._candles[-1].ts
        return self.recent[-1].ts if self.recent else None

    def finish(self, final_equity: float | None = None) -> None:
        """Process everything; the last row carries `final_equity` when the run closed a position at the end."""
        if self._candles:
            if final_equity is not None:
                self._equities[-1] = final_equity
            self._process(len(self._candles))
            if self._in_bucket:
                self._push_point(self.recent[-1].ts, self._equity, self.recent[-1].close)
            if self.dd_start_ts >= 0:  # still under water at the end: that episode counts as it stands
                last = self.recent[-1].ts
                self.longest_dd_ms = max(self.longest_dd_ms, last - self.dd_start_ts)
            if self._next_day_ts >= 0:
                self._close_day()
                self._next_day_ts = -1
        if not self._handle.closed:
            self._handle.close()

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
    def sortino(self) -> float | None:
        """Annualised Sortino ratio of daily returns (downside deviation against 0, √365); None below 2
        days or without a losing day."""
        if self._n_days < 2 or self._down2 <= 0:
            return None
        return self._mean / math.sqrt(self._down2 / self._n_days) * math.sqrt(365.0)

    @property
    def days(self) -> int:
        return self._n_days

    def chart_points(self) -> list[Point]:
        """The equity buckets with the origin in front (the chart starts at the first candle)."""
        if self.origin is None:
            return list(self.points)
        ts, equity, _ = self.origin
        return [(ts, equity, 0.0, equity, equity), *self.points]

    def chart_prices(self) -> list[tuple[int, float, float, float]]:
        """The price buckets with the first candle's open in front."""
        if self.origin is None or not self.prices:
            return list(self.prices)
        ts, _, first_open = self.origin
        return [(ts, first_open, first_open, first_open), *self.prices]

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def _process(self, n: int) -> None:
        """Handle the first `n` recorded candles in one loop over locals (attribute access is the slow part)."""
        candles, equities = self._candles, self._equities
        if self.first_ts is None:
            self.first_ts = candles[0].ts
            self.origin = (candles[0].ts, self.starting_balance, candles[0].open)
        rows: list[str] = []
        add_row = rows.append
        last_equity, tail, dd = self._equity, self._tail, self._dd
        peak, max_dd = self.peak, self.max_drawdown_pct
        next_day, day_close = self._next_day_ts, self._day_close
        stride, in_bucket = self._stride, self._in_bucket
        bucket_dd, high, low = self._bucket_dd, self._bucket_high, self._bucket_low
        emin, emax = self._bucket_emin, self._bucket_emax
        for k in range(n):
            candle = candles[k]
            equity = equities[k]
            ts = candle.ts
            if equity != last_equity:
                last_equity = equity
                if equity < emin:
                    emin = equity
                if equity > emax:
                    emax = equity
                if equity >= peak:
                    peak = equity
                    dd = 0.0
                    if self.dd_start_ts >= 0:
                        self._recovered(ts)
                else:
                    dd = (peak - equity) / peak * 100.0
                    if self.dd_start_ts < 0:
                        self.dd_start_ts = ts
                    if dd > max_dd:
                        max_dd = dd
                        self.max_dd_start_ts, self.max_dd_trough_ts = self.dd_start_ts, ts
                        self.max_dd_recovered_ts = -1
                tail = f",{reprs((equity, dd))}\n"
            add_row(f"{ts}{tail}")
            if ts >= next_day:
                if next_day >= 0:
                    self._day_close = day_close
                    self._close_day()
                next_day = (ts // DAY_MS + 1) * DAY_MS
            day_close = equity
            if dd > bucket_dd:
                bucket_dd = dd
            if candle.high > high:
                high = candle.high
            if candle.low < low:
                low = candle.low
            in_bucket += 1
            if in_bucket >= stride:
                self._bucket_dd, self._bucket_high, self._bucket_low = bucket_dd, high, low
                self._bucket_emin, self._bucket_emax = emin, emax
                self._push_point(ts, equity, candle.close)
                stride, in_bucket = self._stride, 0
                bucket_dd, high, low = 0.0, 0.0, math.inf
                emin = emax = equity
        self._handle.write("".join(rows))
        self._bucket_emin, self._bucket_emax = emin, emax
        self._equity, self._tail, self._dd = last_equity, tail, dd
        self.peak, self.max_drawdown_pct = peak, max_dd
        self._next_day_ts, self._day_close = next_day, day_close
        self._in_bucket = in_bucket
        self._bucket_dd, self._bucket_high, self._bucket_low = bucket_dd, high, low
        self.bars += n
        done = candles[:n]
        self.recent.extend(done)
        for tap in self.taps:
            tap(done)
        del candles[:n]
        del equities[:n]

    def _recovered(self, ts: int) -> None:
        """Equity is back at its peak: the episode under water since `dd_start_ts` ends at `ts`."""
        if ts - self.dd_start_ts > self.longest_dd_ms:
            self.longest_dd_ms = ts - self.dd_start_ts
        if self.max_dd_start_ts == self.dd_start_ts:
            self.max_dd_recovered_ts = ts
        self.dd_start_ts = -1

    def _close_day(self) -> None:
        ret = self._day_close / self._prev_day_close - 1.0
        if ret < 0:
            self._down2 += ret * ret
        self._prev_day_close = self._day_close
        self._n_days += 1
        delta = ret - self._mean
        self._mean += delta / self._n_days
        self._m2 += delta * (ret - self._mean)

    def _push_point(self, ts: int, equity: float, close: float) -> None:
        self.points.append((ts, equity, self._bucket_dd, self._bucket_emin, self._bucket_emax))
        self.prices.append((ts, close, self._bucket_high, self._bucket_low))
        self._in_bucket = 0
        self._bucket_dd = 0.0
        self._bucket_high = 0.0
        self._bucket_low = math.inf
        self._bucket_emin = self._bucket_emax = equity
        if len(self.points) >= 2 * self._max_points:
            pts, px = self.points, self.prices
            self.points = [
                (
                    pts[i + 1][0],
                    pts[i + 1][1],
                    max(pts[i][2], pts[i + 1][2]),
                    min(pts[i][3], pts[i + 1][3]),
                    max(pts[i][4], pts[i + 1][4]),
                )
                for i in range(0, len(pts) - 1, 2)
            ]
            self.prices = [
                (px[i + 1][0], px[i + 1][1], max(px[i][2], px[i + 1][2]), min(px[i][3], px[i + 1][3]))
                for i in range(0, len(px) - 1, 2)
            ]
            self._stride *= 2
