"""The candles around each recent trade, for the report's trade pane: entry, stop, target, exit and the path.

Events arrive as the core decides; candles reach `Curves` in chunks a little later. So a trade registers
the span it wants when it opens (`pre` candles before its entry) and when it closes (`post` after its
exit), and each processed chunk hands every open span its slice (two bisections, no loop per candle). A
span longer than `max_bars` is halved by merging neighbouring bars, so a week-long trade costs what an
hour-long one does. Only the most recent `keep` trades (those the report's table lists) keep their windows;
older ones are shown on the overview's price buckets. A short window keeps its candles as they came and
makes its bars when the report asks: a busy run's thousands of trades that fall out of the kept ones never
pay for theirs.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from dataclasses import dataclass, field

from laptop_agents.core.candle import Candle
from laptop_agents.core.events import Event, PositionClosed, PositionOpened

Bar = tuple[int, float, float, float, float]
"""(open time, open, high, low, close)."""


@dataclass(slots=True)
class TradeWindow:
    trade_id: int
    start_ts: int
    stop_price: float
    target_price: float | None
    end_ts: int | None = None
    """The last candle wanted (the exit's plus `post`); None while the trade is open."""
    made: list[Bar] = field(default_factory=list)
    """The bars made so far; `raw` holds the candles after them, not made into bars yet."""
    raw: list[Candle] = field(default_factory=list)
    per_bar: int = 1
    """Candles merged into one bar (a long trade's window is halved until it fits)."""
    _filling: int = 0
    """Candles in the last bar while it is not full yet (0: full, the next candle starts a bar)."""

    @property
    def bars(self) -> list[Bar]:
        """(open time, open, high, low, close) of each bar, the candles kept raw made into theirs."""
        if self.raw:
            self.made.extend([(c.ts, c.open, c.high, c.low, c.close) for c in self.raw])
            self.raw = []
        return self.made


class TradeWindows:
    def __init__(self, symbol: str, step_ms: int, *, pre: int = 20, post: int = 10, max_bars: int = 100,
                 keep: int = 100) -> None:  # fmt: skip
        self._symbol = symbol
        self._step = step_ms
        self._pre, self._post, self._max_bars = pre, post, max_bars
        self._open: dict[int, TradeWindow] = {}
        self.done: deque[TradeWindow] = deque(maxlen=keep)
        self._tail: deque[Candle] = deque(maxlen=pre)
        """The last processed candles: a trade opened at the start of a chunk takes its first bars here."""

    def on_event(self, event: Event) -> None:
        if event.symbol != self._symbol:
            return
        if type(event) is PositionOpened:
            assert isinstance(event, PositionOpened)
            start = event.ts - self._pre * self._step
            window = TradeWindow(event.trade_id, start, event.stop_price, event.target_price)
            self._open[event.trade_id] = window
            self._extend(window, [c for c in self._tail if c.ts >= start])
        elif type(event) is PositionClosed:
            assert isinstance(event, PositionClosed)
            closing = self._open.get(event.trade_id)
            if closing is not None:
                closing.end_ts = event.ts + self._post * self._step

    def on_candles(self, candles: list[Candle]) -> None:
        """A processed chunk of candles, in time order."""
        if self._open and candles:
            last_ts = candles[-1].ts
            times = [c.ts for c in candles]  # bisected without a key function: no Python call per step
            for trade_id, window in list(self._open.items()):
                lo = bisect_left(times, window.start_ts)  # chunks never overlap: no bar comes twice
                hi = len(candles) if window.end_ts is None else bisect_right(times, window.end_ts)
                self._extend(window, candles[lo:hi])
                if window.end_ts is not None and last_ts >= window.end_ts:
                    self.done.append(self._open.pop(trade_id))
        self._tail.extend(candles[-self._pre :] if self._pre else ())

    def windows(self) -> list[TradeWindow]:
        """Every window kept, the closed trades' and (at the end of a run) the still-open ones'."""
        return [*self.done, *(w for w in self._open.values() if w.end_ts is not None)]

    def _extend(self, window: TradeWindow, candles: list[Candle]) -> None:
        if window.per_bar == 1 and len(window.made) + len(window.raw) + len(candles) <= self._max_bars:
            window.raw.extend(candles)  # the common case: bars are made if the report shows this trade
            return
        bars = window.bars
        for c in candles:
            if window._filling:
                ts, o, h, lo, _ = bars[-1]
                bars[-1] = (ts, o, max(h, c.high), min(lo, c.low), c.close)
                window._filling += 1
            else:
                bars.append((c.ts, c.open, c.high, c.low, c.close))
                window._filling = 1
            if window._filling == window.per_bar:
                window._filling = 0
                if len(bars) > self._max_bars:
                    odd = len(bars) % 2
                    window.made = bars = _halve(bars)
                    window._filling = window.per_bar if odd else 0  # an odd last bar is half of a new one
                    window.per_bar *= 2


def _halve(bars: list[Bar]) -> list[Bar]:
    out = [(a[0], a[1], max(a[2], b[2]), min(a[3], b[3]), b[4]) for a, b in zip(bars[0::2], bars[1::2], strict=False)]
    if len(bars) % 2:
        out.append(bars[-1])
    return out
