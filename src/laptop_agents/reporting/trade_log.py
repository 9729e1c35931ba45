"""`trades.csv`: one row per closed trade, written as each `PositionClosed` event arrives."""

from __future__ import annotations

import csv
import os
from collections import deque
from pathlib import Path
from typing import Any

from laptop_agents.core.events import Event, PositionClosed
from laptop_agents.reporting.csv_rows import reprs

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
    """A trade as CSV cells; floats print with `repr` precision (`reprs`, several times faster than the
    csv module's own str(), which equals repr())."""
    entry_price, exit_price, qty, pnl, fees, net_pnl = reprs(
        (t.entry_price, t.exit_price, t.qty, t.pnl, t.fees, t.net_pnl)
    ).split(",")
    return [
        t.trade_id,
        t.symbol,
        t.side,
        t.entry_ts,
        entry_price,
        t.ts,
        exit_price,
        qty,
        pnl,
        fees,
        net_pnl,
        t.exit_reason,
        t.setup,
    ]


class TradeLog:
    """Writes `trades.csv` and keeps running statistics plus the most recent trades for the report."""

    def __init__(self, path: Path, *, keep_recent: int = 500, resume: dict[str, Any] | None = None) -> None:
        self.path = path
        self.recent: deque[PositionClosed] = deque(maxlen=keep_recent)
        self.count = 0
        self.wins = 0
        self.gross_profit = 0.0
        self.gross_loss = 0.0
        self.fees = 0.0
        self.funding = 0.0
        self.exit_reasons: dict[str, int] = {}
        if resume is None:
            self._handle = path.open("w", newline="", encoding="utf-8")
            self._writer = csv.writer(self._handle, lineterminator="\n")
            self._writer.writerow(TRADE_COLUMNS)
        else:
            for key in ("count", "wins", "gross_profit", "gross_loss", "fees", "funding"):
                setattr(self, key, resume[key])
            self.exit_reasons = dict(resume["exit_reasons"])
            self.recent.extend(_read_recent(path, keep_recent))
            self._handle = path.open("a", newline="", encoding="utf-8")
            self._writer = csv.writer(self._handle, lineterminator="\n")

    def state(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "wins": self.wins,
            "gross_profit": self.gross_profit,
            "gross_loss": self.gross_loss,
            "fees": self.fees,
            "funding": self.funding,
            "exit_reasons": dict(self.exit_reasons),
        }

    def offset(self, *, sync: bool = False) -> int:
        """Bytes written (flushed; with `sync` fsynced too, for a checkpoint)."""
        self._handle.flush()
        if sync:
            os.fsync(self._handle.fileno())
        return self._handle.tell()

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


def _read_recent(path: Path, keep: int) -> list[PositionClosed]:
    """The last `keep` trades of an existing trades.csv, for the report after a resume (funding not kept)."""
    rows: deque[dict[str, str]] = deque(maxlen=keep)
    with path.open(newline="", encoding="utf-8") as handle:
        rows.extend(csv.DictReader(handle))
    out = []
    for r in rows:
        out.append(
            PositionClosed(
                ts=int(r["exit_ts"]),
                symbol=r["symbol"],
                trade_id=int(r["trade_id"]),
                side="long" if r["side"] == "long" else "short",
                qty=float(r["qty"]),
                entry_ts=int(r["entry_ts"]),
                entry_price=float(r["entry_price"]),
                exit_price=float(r["exit_price"]),
                pnl=float(r["pnl"]),
                fees=float(r["fees"]),
                net_pnl=float(r["net_pnl"]),
                funding=0.0,
                exit_reason=r["exit_reason"],  # type: ignore[arg-type]
                setup=r["setup"],
            )
        )
    return out
