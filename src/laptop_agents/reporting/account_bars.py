"""One equity row per bar for a multi-symbol run: the symbols' marks merged into the account's curve.

Each symbol's core marks the account's equity at its own candle's close. A bar (one open time) goes to
`Curves` once every symbol has marked it, or when a later bar begins (a symbol whose candle is late, say
while its gap is backfilled, does not hold the curve back). Its equity is the account's after the last
mark; its price is the first symbol's candle, which the report charts. Rows never go backwards: a
backfilled candle older than the current bar moves the account but adds no row.
"""

from __future__ import annotations

from typing import Any

from laptop_agents.core.candle import Candle
from laptop_agents.engine.trading_core import EquitySink


class AccountBars:
    def __init__(self, symbols: tuple[str, ...], record: EquitySink, state: dict[str, Any] | None = None) -> None:
        self._symbols = symbols
        self._record = record
        self._bar_ts = -1
        self._marks = 0
        self._equity = 0.0
        self._in_market = False
        self._price: Candle | None = None  # the first symbol's latest candle
        if state is not None:
            self._bar_ts, self._marks = int(state["bar_ts"]), int(state["marks"])
            self._equity, self._in_market = float(state["equity"]), bool(state["in_market"])
            price = state["price"]
            self._price = None if price is None else Candle.from_list(price)

    def sink(self, symbol: str) -> EquitySink:
        """The equity sink for one symbol's core."""
        primary = symbol == self._symbols[0]

        def mark(candle: Candle, equity: float, in_market: bool) -> None:
            self._mark(candle, equity, in_market, primary)

        return mark

    def _mark(self, candle: Candle, equity: float, in_market: bool, primary: bool) -> None:
        if primary:
            self._price = candle
        ts = candle.ts
        if ts > self._bar_ts:
            self.flush()
            self._bar_ts, self._marks, self._in_market = ts, 0, False
        self._equity = equity
        if ts < self._bar_ts:
            return
        self._marks += 1
        self._in_market = self._in_market or in_market
        if self._marks == len(self._symbols):
            self.flush()

    def flush(self) -> None:
        """Record the bar being built, if it has marks (call once more at the end of a run)."""
        if self._marks == 0 or self._price is None:
            return
        p = self._price
        self._record(Candle(self._bar_ts, p.open, p.high, p.low, p.close, p.volume), self._equity, self._in_market)
        self._marks = 0

    def state(self) -> dict[str, Any]:
        price = self._price
        return {
            "bar_ts": self._bar_ts,
            "marks": self._marks,
            "equity": self._equity,
            "in_market": self._in_market,
            "price": None if price is None else list(price.as_tuple()),
        }
