"""`trades.csv`: one row per closed trade, written as each `PositionClosed` event arrives."""

from __future__ import annotations

import csv
from collections import deque
from pathlib import Path

from laptop_agents.core.events import Event, PositionClosed

TRADE_COLUMNS = (
    "trade_id",
    "symbol",
    "side",
    "entry_ts",
    "entry_price",
    "exit_ts",
    "exit_price",
    "qty",
    "pnl",
    "fees",
    "net_pnl",
    "exit_reason",
    "setup",
)


def trade_row(t: PositionClosed) -> list[object]:
    """A trade as CSV cells; floats print with `repr` precision (csv uses str(), equal to repr())."""
    return [
        t.trade_id,
        t.symbol,
        t.side,
        t.entry_ts,
        t.entry_price,
        t.ts,
        t.exit_price,
        t.qty,
        t.pnl,
        t.fees,
        t.net_pnl,
        t.exit_reason,
        t.setup,
    ]


class TradeLog:
    """Writes `trades.csv` and keeps running statistics plus the most recent trades for the report."""

    def __init__(self, path: Path, *, keep_recent: int = 500) -> None:
        self.path = path
        self._handle = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._handle, lineterminator="\n")
        self._writer.writerow(TRADE_COLUMNS)
        self.recent: deque[PositionClosed] = deque(maxlen=keep_recent)
        self.count = 0
        self.wins = 0
        self.gross_profit = 0.0
        self.gross_loss = 0.0
        self.fees = 0.0
        self.funding = 0.0
        self.exit_reasons: dict[str, int] = {}

    def on_event(self, event: Event) -> None:
        if type(event) is PositionClosed:
            self.record(event)

    def record(self, trade: PositionClosed) -> None:
        self._writer.writerow(trade_row(trade))
        self.recent.append(trade)
        self.count += 1
        net = trade.net_pnl
        if net > 0:
            self.wins += 1
            self.gross_profit += net
        else:
            self.gross_loss -= net
        self.fees += trade.fees
        self.funding += trade.funding
        self.exit_reasons[trade.exit_reason] = self.exit_reasons.get(trade.exit_reason, 0) + 1

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()
