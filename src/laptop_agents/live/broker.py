"""BitunixBroker: the PaperBroker's interface over real orders, for one symbol.

What the core asks for becomes an order in the journal (fsynced) and a command for the executor, which
sends it; nothing is sent that the local checks refuse. Those checks, in order: an order already open on
this symbol (one at a time, so a decision is never doubled while its order is in flight), quantity rounded
down to the lot and at least the contract's minimum, leverage at most the venue's and the configured one,
then the account's hard limits (`HardLimits`). A refusal is an `OrderRejected` event.

Entries carry the stop and target as exchange-side stop-loss / take-profit (`slPrice`, `tpPrice`): the
position stays protected while the daemon is down. A trailing stop is the daemon's: when a candle trades
through a trailed stop, a reduce-only market close is sent. Closes are reduce-only market orders.

The books (position, cash) change only from journaled records: our fills, the fills of the exchange's
TP/SL orders, positions adopted from the exchange and positions closed by reconciliation. `apply` books
one record; a restart replays them all, so the books never depend on when the last checkpoint was.
Positions closed between two candles reach the core at the next one (`on_candle_open`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from laptop_agents.config.models import BrokerConfig
from laptop_agents.core.candle import Candle
from laptop_agents.core.clock import Clock
from laptop_agents.core.errors import InvariantError
from laptop_agents.core.events import (
    Event,
    ExitReason,
    Fill,
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
    PositionClosed,
    PositionOpened,
    Side,
)
from laptop_agents.core.orders import EntryIntent, Position
from laptop_agents.exchange.bitunix.wire import ContractSpec
from laptop_agents.execution.account import Account
from laptop_agents.execution.fill_rules import move_stop, protective_exit, trailed_stop
from laptop_agents.execution.paper_broker import PendingEntry
from laptop_agents.live.journal import JournalOrder, OrderJournal, OrderSide
from laptop_agents.live.limits import HardLimits

DONE_STATES = frozenset({"CANCELLED", "REJECTED", "NOT_FOUND"})
MARGIN_USE = 0.95
"""At most this share of equity goes to initial margin: the rest pays fees and absorbs the spread."""


@dataclass(frozen=True, slots=True)
class Place:
    order: JournalOrder


@dataclass(frozen=True, slots=True)
class Cancel:
    symbol: str
    client_id: str


Command = Place | Cancel


@dataclass(slots=True)
class _ExitTally:
    """The exits of the open position so far (a close may fill in parts)."""

    qty: float = 0.0
    value: float = 0.0
    fee: float = 0.0
    pnl: float = 0.0


def round_to_step(value: float, step: float, mode: Literal["down", "up", "nearest"]) -> float:
    """`value` on the grid of `step` (a power of ten), without binary-float residue."""
    units = value / step
    n = math.floor(units + 1e-9) if mode == "down" else math.ceil(units - 1e-9) if mode == "up" else round(units)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return round(n * step, decimals)


class BitunixBroker:
    def __init__(
        self,
        config: BrokerConfig,
        *,
        symbol: str,
        spec: ContractSpec,
        leverage: int,
        journal: OrderJournal,
        limits: HardLimits,
        account: Account,
        emit: Callable[[Event], None],
        clock: Clock,
        submit: Callable[[Command], None],
    ) -> None:
        self.symbol = symbol
        self.spec = spec
        self.leverage = min(leverage, spec.max_leverage)
        self.journal = journal
        self.limits = limits
        self.account = account
        self.position: Position | None = None
        self.pending: dict[str, PendingEntry] = {}
        self.realized_pnl = 0.0
        self.fees_paid = 0.0
        self.funding_paid = 0.0
        """Funding is settled by the exchange on its balance; the books here hold trading PnL and fees."""
        self.next_trade_id = 1
        self.applied = 0
        """How many of this symbol's journal book records are in the books."""
        self.market_ts = 0
        """The newest time on the exchange's clock seen here (candles, fills): what books closes are dated."""
        self._emit_event = emit
        self._silent = False
        self._clock = clock
        self._submit = submit
        self._market_cost = (config.half_spread_bps + config.slippage_bps) / 1e4
        self._closed: list[PositionClosed] = []
        self._exit = _ExitTally()
        self._net_fill_qty = 0.0
        self._saved_trailing: dict[str, Any] | None = None
        account.register(self)

    # -- Queries -----------------------------------------------------------------------------------------

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

    def market_fill_price(self, side: Side, ref_price: float) -> float:
        """The expected price of a market order: the close crossing half the spread and slippage."""
        return ref_price * (1.0 + self._market_cost if side == "long" else 1.0 - self._market_cost)

    def open_orders(self) -> list[JournalOrder]:
        """This symbol's orders that are not finished: in flight, resting, or filled but not yet booked."""
        return [
            o
            for o in self.journal.orders.values()
            if o.symbol == self.symbol and o.state not in DONE_STATES and o.filled_qty < o.qty - self.spec.qty_step / 2
        ]

    # -- Orders (from the core) --------------------------------------------------------------------------

    def open_market(self, *, ts: int, client_order_id: str, qty: float, ref_price: float, intent: EntryIntent) -> bool:
        return self._entry(ts, client_order_id, qty, intent, None, self.market_fill_price(intent.side, ref_price))

    def place_limit(self, *, ts: int, client_order_id: str, qty: float, intent: EntryIntent) -> bool:
        assert intent.limit_price is not None  # EntryIntent validates it
        # a buy limit never pays more, a sell limit never gets less, than the strategy asked for
        price = round_to_step(intent.limit_price, self.spec.tick, "down" if intent.side == "long" else "up")
        return self._entry(ts, client_order_id, qty, intent, price, price)

    def cancel(self, *, ts: int, client_order_id: str, reason: str) -> bool:
        if client_order_id not in self.pending:
            return False
        self._submit(Cancel(self.symbol, client_order_id))
        return True

    def close_market(self, *, ts: int, ref_price: float, reason: ExitReason) -> PositionClosed | None:
        """Send a reduce-only market close; the closed trade reaches the core when its fill is booked."""
        position = self.position
        if position is None or any(o.reduce_only for o in self.open_orders()):
            return None
        side: OrderSide = "SELL" if position.side == "long" else "BUY"
        n = 1
        while f"{position.client_order_id}-x{n}" in self.journal.orders:  # a refused close is retried anew
            n += 1
        cid = f"{position.client_order_id}-x{n}"
        order = JournalOrder(
            cid, self.symbol, side, "MARKET", round_to_step(position.qty, self.spec.qty_step, "nearest"), None, True,
            "close", self._clock.now_ms(), meta={"reason": reason},
        )  # fmt: skip
        self._send(order, ts)
        return None

    def on_candle_open(self, candle: Candle) -> tuple[PositionClosed, ...]:
        """Trades closed since the last candle; and a close when this candle went through a trailed stop
        (the exchange holds the initial stop only)."""
        position = self.position
        if position is not None and position.stop_moved and protective_exit(candle, position, stop_only=True):
            self.close_market(ts=candle.ts, ref_price=candle.close, reason="trail")
        closed = tuple(self._closed)
        self._closed.clear()
        return closed

    def update_trailing(self, candle: Candle) -> None:
        self.market_ts = max(self.market_ts, candle.ts)
        position = self.position
        if position is None:
            return
        new_stop = trailed_stop(position, candle.close)
        if new_stop is not None:
            self._emit(move_stop(position, new_stop, ts=candle.ts, symbol=self.symbol))

    # -- Outcomes (from the executor) --------------------------------------------------------------------

    def order_failed(self, order: JournalOrder, reason: str, detail: str) -> None:
        """The exchange refused the order, or it was never found: nothing of it will fill."""
        self.pending.pop(order.client_id, None)
        self._emit(
            OrderRejected(
                ts=self._clock.now_ms(),
                symbol=self.symbol,
                client_order_id=order.client_id,
                side="buy" if order.side == "BUY" else "sell",
                reason=reason,
                detail=detail,
            )
        )

    def order_cancelled(self, order: JournalOrder, reason: str) -> None:
        if self.pending.pop(order.client_id, None) is not None or order.purpose == "entry":
            self._emit(
                OrderCancelled(
                    ts=self._clock.now_ms(), symbol=self.symbol, client_order_id=order.client_id, reason=reason
                )
            )

    # -- Books -------------------------------------------------------------------------------------------

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
            self.applied += 1
        finally:
            self._silent = False

    def replay(self) -> None:
        """After a restart: book the journal's records (those the checkpoint saw without events), rebuild
        the resting entries, and put back the trailed stop the checkpoint holds."""
        upto, self.applied = self.applied, 0
        for record in [r for r in self.journal.book_records if r["symbol"] == self.symbol]:
            self.apply(record, silent=self.applied < upto)
        for order in self.open_orders():
            if order.purpose == "entry" and order.order_type == "LIMIT" and order.price is not None:
                self.pending[order.client_id] = PendingEntry(order.client_id, order.qty, _intent_of(order), 0)
        saved, position = self._saved_trailing, self.position
        if saved and position is not None and saved.get("client_order_id") == position.client_order_id:
            position.stop, position.best_close = float(saved["stop"]), float(saved["best_close"])
            position.stop_moved = bool(saved["stop_moved"])

    def state(self) -> dict[str, Any]:
        position = self.position
        trailing = None
        if position is not None:
            trailing = {"client_order_id": position.client_order_id, "stop": position.stop,
                        "best_close": position.best_close, "stop_moved": position.stop_moved}  # fmt: skip
        return {"applied": self.applied, "next_trade_id": self.next_trade_id, "trailing": trailing}

    def restore(self, state: dict[str, Any]) -> None:
        """Remember what the checkpoint saw; `replay` rebuilds the books from the journal."""
        self.applied = int(state.get("applied", 0))
        self._saved_trailing = state.get("trailing")

    def check_invariants(self) -> None:
        self.account.check_invariants()
        position = self.position
        held = 0.0 if position is None else position.direction * position.qty
        if abs(held - self._net_fill_qty) > 1e-9 * max(1.0, abs(held)):
            raise InvariantError(f"{self.symbol}: position {held!r} != sum of fills {self._net_fill_qty!r}")

    # -- Internals ---------------------------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        if not self._silent:
            self._emit_event(event)

    def _entry(self, ts: int, cid: str, qty: float, intent: EntryIntent, price: float | None, est_price: float) -> bool:
        side: OrderSide = "BUY" if intent.side == "long" else "SELL"
        qty = round_to_step(qty, self.spec.qty_step, "down")
        refusal = self._entry_refusal(ts, cid, qty, est_price)
        if refusal is not None:
            self._emit(
                OrderRejected(
                    ts=ts,
                    symbol=self.symbol,
                    client_order_id=cid,
                    side="buy" if side == "BUY" else "sell",
                    reason=refusal[0],
                    detail=refusal[1],
                )
            )
            return False
        d = 1.0 if intent.side == "long" else -1.0
        tick = self.spec.tick
        stop = round_to_step(est_price - d * intent.stop_distance, tick, "nearest")
        target = intent.target_price
        if target is None and intent.target_r is not None:
            target = est_price + d * intent.target_r * intent.stop_distance
        meta = {
            "stop": stop, "target": None if target is None else round_to_step(target, tick, "nearest"),
            "setup": intent.setup, "stop_distance": intent.stop_distance, "side": intent.side,
            "trail_activation_r": intent.trail_activation_r, "trail_distance_r": intent.trail_distance_r,
        }  # fmt: skip
        order_type: Literal["MARKET", "LIMIT"] = "MARKET" if price is None else "LIMIT"
        order = JournalOrder(
            cid, self.symbol, side, order_type, qty, price, False, "entry", self._clock.now_ms(), meta=meta
        )
        self._send(order, ts)
        if price is not None:
            self.pending[cid] = PendingEntry(cid, qty, intent, ts)
        return True

    def _entry_refusal(self, ts: int, cid: str, qty: float, price: float) -> tuple[str, str] | None:
        spec = self.spec
        if cid in self.journal.orders:  # a decision replayed after a restart: its order exists already
            return "client_id_used", f"client id {cid} is already in the journal ({self.journal.orders[cid].state})"
        busy = self.open_orders()
        if busy:
            return "order_in_flight", f"order {busy[0].client_id} is {busy[0].state}; one order at a time per symbol"
        if qty < spec.min_qty:
            return "min_qty", f"quantity {qty:g} is below the contract's minimum {spec.min_qty:g} {spec.base}"
        if qty > spec.max_market_qty:
            return "max_qty", f"quantity {qty:g} is above the contract's maximum {spec.max_market_qty:g}"
        notional = qty * price
        equity = self.account.equity()
        committed = sum(self.account.exposure.values()) if self.account.shared else 0.0
        # the margin (notional / leverage) and the fees must fit in the equity: a venue refuses the rest
        if equity <= 0 or (notional + committed) / equity > self.leverage * MARGIN_USE:
            return "max_leverage", (
                f"notional {notional + committed:.2f} needs more than {MARGIN_USE:.0%} of equity {equity:.2f} "
                f"as margin at the {self.leverage}x leverage set on {self.symbol}"
            )
        held = 0.0 if self.position is None else self.position.qty * self.position.entry_price
        return self.limits.entry_refusal(
            day_ms=ts, now_ms=self._clock.now_ms(), notional=notional, position_notional=held, equity=equity
        )

    def _send(self, order: JournalOrder, ts: int) -> None:
        self.journal.intent(order)  # fsynced: from here on the order can only be found, never forgotten
        self.limits.record_order(order.created_ms)
        self._emit(
            OrderPlaced(
                ts=ts,
                symbol=self.symbol,
                client_order_id=order.client_id,
                side="buy" if order.side == "BUY" else "sell",
                order_type="market" if order.order_type == "MARKET" else "limit",
                qty=order.qty,
                price=order.price,
                reduce_only=order.reduce_only,
                purpose="exit" if order.reduce_only else "entry",
            )
        )
        self._submit(Place(order))

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
        pnl = position.direction * closing * (price - position.entry_price)
        self.account.cash += pnl
        self.realized_pnl += pnl
        self._net_fill_qty += d * closing
        tally = self._exit
        tally.qty += closing
        tally.value += closing * price
        tally.fee += fee
        tally.pnl += pnl
        position.qty -= closing
        if position.qty > self.spec.qty_step / 2:
            return
        self._net_fill_qty -= position.direction * position.qty  # a dust remainder closes with it
        self._finish(ts, self._exit_reason(position, price, meta))
        rest = qty - closing
        if rest > self.spec.qty_step / 2:  # an outside order went through zero: the rest is a new position
            self._net_fill_qty += d * rest
            self._open_or_add(d, rest, price, 0.0, ts, cid, {})

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
        self._emit(
            PositionOpened(
                ts=ts,
                symbol=self.symbol,
                trade_id=trade_id,
                side=side,
                qty=qty,
                entry_price=price,
                stop_price=position.stop,
                target_price=position.target,
                setup=position.setup,
            )
        )

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
        fees = position.entry_fee + tally.fee
        closed = PositionClosed(
            ts=ts,
            symbol=self.symbol,
            trade_id=position.trade_id,
            side=position.side,
            qty=tally.qty,
            entry_ts=position.entry_ts,
            entry_price=position.entry_price,
            exit_price=tally.value / tally.qty if tally.qty else position.entry_price,
            pnl=tally.pnl,
            fees=fees,
            net_pnl=tally.pnl - fees,
            funding=0.0,
            exit_reason=reason,
            setup=position.setup,
        )
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

    def _book_close(self, price: float, ts: int) -> None:
        """A position the exchange no longer has: closed in the books at the exchange's price, no order."""
        position = self.position
        if position is None:
            return
        pnl = position.direction * position.qty * (price - position.entry_price)
        self.account.cash += pnl
        self.realized_pnl += pnl
        self._net_fill_qty -= position.direction * position.qty
        tally = self._exit
        tally.qty += position.qty
        tally.value += position.qty * price
        tally.pnl += pnl
        position.qty = 0.0
        self._finish(ts, "reconcile")


def _intent_of(order: JournalOrder) -> EntryIntent:
    """The resting entry's intent, as far as the journal keeps it (for `pending` after a restart)."""
    meta = order.meta
    return EntryIntent(
        side=meta.get("side", "long" if order.side == "BUY" else "short"),
        stop_distance=float(meta.get("stop_distance", 1.0)),
        setup=str(meta.get("setup", "")),
        reason="resting before the restart",
        entry_type="limit",
        limit_price=order.price,
    )
