"""The live books of one symbol: position, cash and totals, changed only by journaled records.

The records are our orders' fills, fills of orders that are not ours (the exchange's TP/SL closes), a
position adopted from the exchange, a position closed by reconciliation, and the funding the exchange
settled on a position (its running total: the difference to the last one booked is paid from cash, counts
toward the daily loss, and shows in the closed trade's `funding`). `apply` books one; after a
restart the broker replays them all, so the books never depend on when the last checkpoint was written.
Positions closed between two candles wait in `closed` for the core (see `funding_due_ts`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from laptop_agents.core.errors import InvariantError
from laptop_agents.core.events import Event, ExitReason, Fill, FundingApplied, PositionClosed, Side
from laptop_agents.core.orders import Position
from laptop_agents.execution.account import Account
from laptop_agents.execution.paper_broker import PendingEntry
from laptop_agents.execution.position_events import position_closed, position_opened
from laptop_agents.live.journal import OrderJournal
from laptop_agents.live.limits import HardLimits


def funding_key(position_id: object, trade_id: object) -> str:
    return f"{position_id}:{trade_id}"


@dataclass(slots=True)
class _ExitTally:
    """The exits of the open position so far (a close may fill in parts)."""

    qty: float = 0.0
    value: float = 0.0
    fee: float = 0.0
    pnl: float = 0.0


class LiveBooks:
    def __init__(
        self,
        *,
        symbol: str,
        qty_step: float,
        journal: OrderJournal,
        limits: HardLimits,
        account: Account,
        emit: Callable[[Event], None],
    ) -> None:
        self.symbol = symbol
        self.journal = journal
        self.limits = limits
        self.account = account
        self.position: Position | None = None
        self.realized_pnl = 0.0
        self.fees_paid = 0.0
        self.funding_paid = 0.0
        """Funding the exchange settled, booked from its position records (`funding` journal records)."""
        self.funding_seen: dict[str, float] = {}
        """`<exchange position id>:<our trade id>` → the funding total last booked for it (a position the
        exchange reopens under the same id starts again from zero)."""
        self.next_trade_id = 1
        self.applied = 0
        """How many of this symbol's journal book records are in the books."""
        self.market_ts = 0
        """The newest time on the exchange's clock seen here (candles, fills): what books closes are dated."""
        self.pending: dict[str, PendingEntry] = {}
        """Resting entries by client id (kept by the broker; an entry's fill removes it here)."""
        self._qty_step = qty_step
        self._emit_event = emit
        self._silent = False
        self._closed: list[PositionClosed] = []
        self._exit = _ExitTally()
        self._net_fill_qty = 0.0
        account.register(self)

    @property
    def cash(self) -> float:
        return self.account.cash

    @property
    def funding_due_ts(self) -> float:
        """-inf while closed trades wait for the core (so it calls `on_candle_open`), else never."""
        return -math.inf if self._closed else math.inf

    def equity(self, price: float) -> float:
        position = self.position
        return self.cash if position is None else self.cash + position.unrealized(price)

    def apply(self, record: dict[str, Any], *, silent: bool = False) -> None:
        """Book one journal record of this symbol (`silent`: replayed, its events are already written)."""
        self._silent = silent
        try:
            op = record["op"]
            if op == "fill":
                order = self.journal.orders[record["client_id"]]
                self._fill(order.side, record, order.client_id, order.meta)
            elif op == "trade":
                self._fill(record["side"], record, str(record.get("client_id") or record["trade_id"]), {})
            elif op == "adopt":
                self._adopt(record)
            elif op == "book_close":
                self._book_close(float(record["price"]), int(record["at_ms"]))
            elif op == "funding":
                self._funding(record)
            self.applied += 1
        finally:
            self._silent = False

    def check_invariants(self) -> None:
        self.account.check_invariants()
        position = self.position
        held = 0.0 if position is None else position.direction * position.qty
        if abs(held - self._net_fill_qty) > 1e-9 * max(1.0, abs(held)):
            raise InvariantError(f"{self.symbol}: position {held!r} != sum of fills {self._net_fill_qty!r}")

    def _emit(self, event: Event) -> None:
        if not self._silent:
            self._emit_event(event)

    def _fill(self, side: str, record: dict[str, Any], cid: str, meta: dict[str, Any]) -> None:
        d = 1.0 if side == "BUY" else -1.0
        qty, price, fee = float(record["qty"]), float(record["price"]), float(record["fee"])
        ts = int(record["at_ms"])
        self.market_ts = max(self.market_ts, ts)
        self._emit(
            Fill(
                ts=ts,
                symbol=self.symbol,
                fill_id=str(record["trade_id"]),
                client_order_id=cid,
                side="buy" if d > 0 else "sell",
                qty=qty,
                price=price,
                fee=fee,
                liquidity="taker",
            )
        )
        self.account.cash -= fee
        self.fees_paid += fee
        position = self.position
        if position is None or position.direction == d:
            self._net_fill_qty += d * qty
            self._open_or_add(d, qty, price, fee, ts, cid, meta)
            return
        closing = min(qty, position.qty)
        self._reduce(position, closing, price, fee)
        if position.qty > self._qty_step / 2:
            return
        self._net_fill_qty -= position.direction * position.qty  # a dust remainder closes with it
        self._finish(ts, self._exit_reason(position, price, meta))
        rest = qty - closing
        if rest > self._qty_step / 2:  # an outside order went through zero: the rest is a new position
            self._net_fill_qty += d * rest
            self._open_or_add(d, rest, price, 0.0, ts, cid, {})

    def _reduce(self, position: Position, qty: float, price: float, fee: float) -> None:
        """Take `qty` off the position at `price`: realized PnL into cash, the exit into the tally (the
        fill's fee is already booked; `fee` goes to the tally for the closed trade's fees)."""
        pnl = position.direction * qty * (price - position.entry_price)
        self.account.cash += pnl
        self.realized_pnl += pnl
        self._net_fill_qty -= position.direction * qty
        tally = self._exit
        tally.qty += qty
        tally.value += qty * price
        tally.fee += fee
        tally.pnl += pnl
        position.qty -= qty

    def _open_or_add(
        self, d: float, qty: float, price: float, fee: float, ts: int, cid: str, meta: dict[str, Any]
    ) -> None:
        position = self.position
        if position is not None:  # an entry filling in parts
            position.entry_price = (position.qty * position.entry_price + qty * price) / (position.qty + qty)
            position.qty += qty
            position.entry_fee += fee
            return
        side: Side = "long" if d > 0 else "short"
        self.pending.pop(cid, None)
        stop = meta.get("stop")
        trade_id = self.next_trade_id
        self.next_trade_id += 1
        position = Position(
            trade_id=trade_id,
            client_order_id=cid,
            side=side,
            qty=qty,
            entry_ts=ts,
            entry_price=price,
            entry_fee=fee,
            stop=price if stop is None else float(stop),  # an outside position has no stop of ours
            target=meta.get("target"),
            setup=str(meta.get("setup", "external")),
            trail_activation_r=meta.get("trail_activation_r"),
            trail_distance_r=meta.get("trail_distance_r"),
        )
        self.position = position
        self._emit(position_opened(self.symbol, position))

    def _exit_reason(self, position: Position, price: float, meta: dict[str, Any]) -> ExitReason:
        """Our close says why; an exchange TP/SL fill is the stop or the target, whichever it is nearer."""
        reason = meta.get("reason")
        if reason is not None:
            return reason  # type: ignore[no-any-return]
        if position.target is not None and abs(price - position.target) < abs(price - position.stop):
            return "target"
        return "trail" if position.stop_moved else "stop"

    def _finish(self, ts: int, reason: ExitReason) -> None:
        position = self.position
        assert position is not None
        tally, self._exit = self._exit, _ExitTally()
        exit_price = tally.value / tally.qty if tally.qty else position.entry_price
        closed = position_closed(
            self.symbol, position, ts=ts, qty=tally.qty, exit_price=exit_price, pnl=tally.pnl, exit_fee=tally.fee,
            reason=reason,
        )  # fmt: skip
        self.position = None
        self.limits.record_pnl(ts, closed.net_pnl)
        self._emit(closed)
        if not self._silent:
            self._closed.append(closed)

    def _adopt(self, record: dict[str, Any]) -> None:
        """A position found on the exchange that the books do not have: taken in as it is."""
        d = 1.0 if record["side"] == "long" else -1.0
        qty = float(record["qty"])
        self._net_fill_qty += d * qty
        self._open_or_add(d, qty, float(record["price"]), 0.0, int(record["at_ms"]), f"adopted-{record['at_ms']}", {})

    def _funding(self, record: dict[str, Any]) -> None:
        key, total, ts = (
            funding_key(record["position_id"], record["trade_id"]),
            float(record["total"]),
            int(record["at_ms"]),
        )
        amount = total - self.funding_seen.get(key, 0.0)
        self.funding_seen[key] = total
        position = self.position
        self.account.cash -= amount
        self.funding_paid += amount
        self.limits.record_pnl(ts, -amount)
        if position is not None:
            position.funding += amount
        notional = 0.0 if position is None else position.qty * position.entry_price
        self._emit(
            FundingApplied(
                ts=ts,
                symbol=self.symbol,
                trade_id=0 if position is None else position.trade_id,
                rate=amount / notional if notional else 0.0,  # the rate it amounts to, at the entry price
                mark_price=0.0 if position is None else position.entry_price,
                qty=0.0 if position is None else position.qty,
                amount=amount,
            )
        )

    def _book_close(self, price: float, ts: int) -> None:
        """A position the exchange no longer has: closed in the books at the exchange's price, no order."""
        position = self.position
        if position is None:
            return
        self._reduce(position, position.qty, price, 0.0)
        self._finish(ts, "reconcile")
