"""The simulated market: candle files replayed as a sequence of intra-candle kline pushes.

Push number k belongs to candle `start_index + k // K` at fraction `(k % K + 1) / K` of its interval
(K = pushes per candle). Within a candle the price walks open → low → high → close (open → high → low →
close for a down candle), so a push carries the running open/high/low/close so far, as the real feed does,
and the last push of a candle carries exactly the candle from the file. "Now" on the simulated exchange is
the time of the last push sent, so REST answers and WebSocket pushes always agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from laptop_agents.core.candle import Candle


@dataclass(frozen=True, slots=True)
class Push:
    """One kline update: running values of the candle opened at `candle_ts`, sent at market time `ts`."""

    symbol: str
    ts: int
    candle_ts: int
    open: float
    high: float
    low: float
    close: float
    base_volume: float
    final: bool


def partial(candle: Candle, fraction: float) -> tuple[float, float, float, float, float]:
    """Running (open, high, low, close, volume) of `candle` after `fraction` (0..1] of its interval."""
    o, h, lo, c = candle.open, candle.high, candle.low, candle.close
    path = (o, lo, h, c) if c >= o else (o, h, lo, c)
    if fraction <= 0.0:
        return o, o, o, o, 0.0  # just opened
    position = min(fraction, 1.0) * 3.0  # three equal legs
    leg = min(int(position), 2)
    t = position - leg
    price = path[leg] + (path[leg + 1] - path[leg]) * t
    visited = (*path[: leg + 1], price)
    if fraction >= 1.0:
        return o, h, lo, c, candle.volume
    return o, max(visited), min(visited), price, candle.volume * fraction


class MarketReplay:
    """Candles per symbol on one shared timeline, stepped one push at a time.

    Every symbol's series is re-based onto the timeline of the first one (candle i of every symbol opens
    at the same time), so a test may reuse one file for several symbols.
    """

    def __init__(
        self, series: Mapping[str, Sequence[Candle]], *, interval_ms: int, start_index: int, pushes_per_candle: int = 4
    ) -> None:
        if not series:
            raise ValueError("the simulated market needs at least one symbol")
        lengths = {len(c) for c in series.values()}
        self.length = min(lengths)
        if not 0 <= start_index < self.length:
            raise ValueError(f"start_index {start_index} outside the data (0..{self.length - 1})")
        first = next(iter(series.values()))
        t0 = first[0].ts
        self.interval_ms = interval_ms
        self.series: dict[str, list[Candle]] = {}
        for symbol, candles in series.items():
            self.series[symbol.upper()] = [
                c
                if c.ts == t0 + i * interval_ms
                else Candle(t0 + i * interval_ms, c.open, c.high, c.low, c.close, c.volume)
                for i, c in enumerate(candles[: self.length])
            ]
        self.start_index = start_index
        self.k = pushes_per_candle
        self.pushes_sent = 0  # pushes stepped so far; "now" is the time of the last one

    @property
    def symbols(self) -> list[str]:
        return list(self.series)

    @property
    def exhausted(self) -> bool:
        return self.start_index + self.pushes_sent // self.k >= self.length

    @property
    def current_index(self) -> int:
        """The candle being formed (the one the last push belonged to)."""
        return self.start_index + max(self.pushes_sent - 1, 0) // self.k

    @property
    def current_fraction(self) -> float:
        if self.pushes_sent == 0:
            return 0.0
        return ((self.pushes_sent - 1) % self.k + 1) / self.k

    def now_ms(self) -> int:
        """Market time: the time of the last push (the start candle's open before any push)."""
        first = next(iter(self.series.values()))
        if self.pushes_sent == 0:
            return first[self.start_index].ts
        return self._push_ts(first[self.current_index].ts, self.current_fraction)

    def next_push_ts(self) -> int | None:
        """Market time of the next push, or None when the data is used up."""
        if self.exhausted:
            return None
        index = self.start_index + self.pushes_sent // self.k
        fraction = (self.pushes_sent % self.k + 1) / self.k
        return self._push_ts(next(iter(self.series.values()))[index].ts, fraction)

    def step(self) -> list[Push]:
        """Advance by one push; return it for every symbol (empty when the data is used up)."""
        if self.exhausted:
            return []
        index = self.start_index + self.pushes_sent // self.k
        fraction = (self.pushes_sent % self.k + 1) / self.k
        self.pushes_sent += 1
        out = []
        for symbol, candles in self.series.items():
            candle = candles[index]
            o, h, lo, c, v = partial(candle, fraction)
            out.append(Push(symbol, self._push_ts(candle.ts, fraction), candle.ts, o, h, lo, c, v, fraction >= 1.0))
        return out

    def candle_at(self, symbol: str, candle_ts: int) -> Candle:
        """The whole candle (from the file) that opened at `candle_ts`."""
        candles = self.series[symbol]
        return candles[(candle_ts - candles[0].ts) // self.interval_ms]

    def last_price(self, symbol: str) -> float:
        candles = self.series[symbol]
        if self.pushes_sent == 0:
            return candles[self.start_index].open
        return partial(candles[self.current_index], self.current_fraction)[3]

    def klines(
        self, symbol: str, *, end_ms: int | None, limit: int
    ) -> list[tuple[int, float, float, float, float, float]]:
        """The `limit` candles opened before `end_ms` (or up to now, the forming one included), newest first.

        Only what the replay has reached exists: closed candles, and the forming one with its running values.
        """
        candles = self.series[symbol]
        current = self.current_index  # before the first push, the start candle has just opened
        newest = current if end_ms is None else min(current, (end_ms - candles[0].ts - 1) // self.interval_ms)
        out = []
        for i in range(newest, max(newest - limit, -1), -1):
            candle = candles[i]
            if i == current:
                o, h, lo, c, v = partial(candle, self.current_fraction)
                out.append((candle.ts, o, h, lo, c, v))
            else:
                out.append(candle.as_tuple())
        return out

    def _push_ts(self, candle_ts: int, fraction: float) -> int:
        # The last push of a candle is sent 1 ms before the next one opens, so it stays in its own bucket.
        return candle_ts + int(self.interval_ms * fraction) - (1 if fraction >= 1.0 else 0)
