"""BitunixBroker: the PaperBroker's interface over real orders, for one symbol (its books: `LiveBooks`).

What the core asks for becomes an order in the journal (fsynced) and a command for the executor, which
sends it; nothing is sent that the local checks refuse. The broker reads no clock: it dates and counts its
orders by the `SessionTime` set (and recorded, `ClockTick`) when the core's input arrived, so a replay
decides the same. Those checks, in order: the decision's age (its
candle closed longer ago than `live.max_decision_age_s` on the exchange's clock, `VenueClock`: after a
restart, a reconnect or a backfill the core catches up on old candles, and an entry decided on one of
them would be a market order now, sized and bracketed from an old close), an order already open on
this symbol (one at a time, so a decision is never doubled while its order is in flight), a client id
already used, quantity rounded down to the lot and at least the contract's minimum, margin within
`MARGIN_USE` of equity at the symbol's leverage, then the account's hard limits (`HardLimits`). A refusal
is an `OrderRejected` event.

Entries carry the stop and target as exchange-side stop-loss / take-profit (`slPrice`, `tpPrice`): the
position stays protected while the daemon is down. When the trailing stop moves, the exchange-side stop
is moved with it (`MoveStop`: `/tpsl/position/modify_order`), so the exchange closes the position inside
the candle that reaches it, as the paper broker does; only while that move has not been confirmed does
a candle that traded through the trailed stop send a reduce-only market close (a candle late). Closes
are reduce-only market orders.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from laptop_agents.config.models import MARGIN_USE, BrokerConfig
from laptop_agents.core.candle import Candle
from laptop_agents.core.clock import SessionTime
from laptop_agents.core.events import (
    Event,
    ExitReason,
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
    PositionClosed,
    Side,
)
from laptop_agents.core.orders import EntryIntent
from laptop_agents.exchange.bitunix.wire import ContractSpec
from laptop_agents.execution.account import Account
from laptop_agents.execution.fill_rules import market_price, move_stop, protective_exit, trailed_stop
from laptop_agents.execution.paper_broker import PendingEntry
from laptop_agents.live.books import LiveBooks
from laptop_agents.live.journal import JournalOrder, JournalUnwritable, OrderJournal, OrderSide
from laptop_agents.live.limits import HardLimits

DONE_STATES = frozenset({"CANCELLED", "REJECTED", "NOT_FOUND"})


@dataclass(frozen=True, slots=True)
class Place:
    order: JournalOrder


@dataclass(frozen=True, slots=True)
class Cancel:
    symbol: str
    client_id: str


@dataclass(frozen=True, slots=True)
class MoveStop:
    """Move the exchange-side stop of this symbol's position to `stop` (keeping `target`)."""

    symbol: str
    stop: float
    target: float | None


Command = Place | Cancel | MoveStop


def round_to_step(value: float, step: float, mode: Literal["down", "up", "nearest"]) -> float:
    """`value` on the grid of `step` (a power of ten), without binary-float residue."""
    units = value / step
    n = math.floor(units + 1e-9) if mode == "down" else math.ceil(units - 1e-9) if mode == "up" else round(units)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return round(n * step, decimals)


class BitunixBroker(LiveBooks):
    venue_prices_closes = True

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
        time: SessionTime,
        submit: Callable[[Command], None],
        interval_ms: int,
        max_decision_age_ms: int,
    ) -> None:
        super().__init__(
            symbol=symbol, qty_step=spec.qty_step, journal=journal, limits=limits, account=account, emit=emit
        )
        self.spec = spec
        self.configured_leverage = leverage
        """The leverage the preflight set on the exchange (`leverage` is it within the contract's maximum)."""
        self.leverage = min(leverage, spec.max_leverage)
        self.time = time
        self._interval_ms = interval_ms
        self._max_age_ms = max_decision_age_ms
        self._submit = submit
        self._market_cost = (config.half_spread_bps + config.slippage_bps) / 1e4
        self._saved_trailing: dict[str, Any] | None = None
        self.seen_lines = 0
        """The journal's lines the checkpoint this process resumed from had seen (0: a new run)."""
        self.exchange_stop: float | None = None
        """The stop the exchange is known to hold for the open position after a `MoveStop` (None: the
        entry's own stop-loss, or not confirmed)."""

    # -- Queries -----------------------------------------------------------------------------------------

    def market_fill_price(self, side: Side, ref_price: float) -> float:
        """The expected price of a market order: the close crossing half the spread and slippage."""
        return market_price(side, ref_price, self._market_cost)

    def entry_refusal(self, qty: float, price: float) -> tuple[str, str] | None:
        """The exchange applies its own margin rules (and the preflight set the leverage): none here."""
        return None

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

    def place_resting(
        self, *, ts: int, client_order_id: str, qty: float, intent: EntryIntent, ref_price: float | None = None
    ) -> bool:
        """A limit entry goes to the venue as a limit order (which fills as a taker there if it crosses)."""
        if intent.limit_price is None:  # a trigger entry: Bitunix plan orders are not used (yet)
            self._emit(
                OrderRejected(
                    ts=ts,
                    symbol=self.symbol,
                    client_order_id=client_order_id,
                    side=intent.order_side,
                    reason="entry_type_unsupported",
                    detail="live-exchange sends market and limit entries; trigger entries are backtest/live-paper only",
                )
            )
            return False
        # a buy limit never pays more, a sell limit never gets less, than the strategy asked for
        price = round_to_step(intent.limit_price, self.spec.tick, "down" if intent.side == "long" else "up")
        return self._entry(ts, client_order_id, qty, intent, price, price)

    def cancel(self, *, ts: int, client_order_id: str, reason: str) -> bool:
        if client_order_id not in self.pending:
            return False
        self._submit(Cancel(self.symbol, client_order_id))
        return True

    def close_market(self, *, ts: int, ref_price: float, reason: ExitReason) -> PositionClosed | None:
        """Send a reduce-only market close; the closed trade reaches the core when its fill is booked. `ts`
        0: decided before any candle (a stop's flatten right after a restart): dated by the exchange's time
        as the input's `ClockTick` read it."""
        ts = ts or self.time.venue_ms or self.market_ts
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
            "close", self.time.wall_ms, meta={"reason": reason, "decided_ts": ts},
        )  # fmt: skip
        self._send(order, ts)
        return None

    def on_candle_open(self, candle: Candle) -> tuple[PositionClosed, ...]:
        """Trades closed since the last candle; and a close when this candle went through a trailed stop
        (the exchange holds the initial stop only)."""
        position = self.position
        if (
            position is not None
            and position.stop_moved
            and self.exchange_stop != position.stop  # the exchange does not hold the trailed stop
            and protective_exit(candle, position, stop_only=True)
        ):
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
            # the exchange's stop must be on the tick grid, and never behind the books' (a long's rounds up)
            exchange = round_to_step(position.stop, self.spec.tick, "up" if position.side == "long" else "down")
            self._submit(MoveStop(self.symbol, exchange, position.target))

    def contract_changed(self, spec: ContractSpec) -> None:
        """The exchange's rules for this contract changed mid-session: orders are rounded, sized and checked
        against the new ones from the next decision on."""
        self.spec = spec
        self.leverage = min(self.configured_leverage, spec.max_leverage)
        self._qty_step = spec.qty_step

    # -- Outcomes (from the executor) --------------------------------------------------------------------

    def order_failed(self, order: JournalOrder, reason: str, detail: str, *, at_ms: int) -> None:
        """The exchange refused the order, or it was never found: nothing of it will fill."""
        self.pending.pop(order.client_id, None)
        self._emit(
            OrderRejected(
                ts=at_ms,
                symbol=self.symbol,
                client_order_id=order.client_id,
                side="buy" if order.side == "BUY" else "sell",
                reason=reason,
                detail=detail,
            )
        )

    def order_cancelled(self, order: JournalOrder, reason: str, *, at_ms: int) -> None:
        if self.pending.pop(order.client_id, None) is not None or order.purpose == "entry":
            self._emit(OrderCancelled(ts=at_ms, symbol=self.symbol, client_order_id=order.client_id, reason=reason))

    # -- Books -------------------------------------------------------------------------------------------

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
        return {"applied": self.applied, "trailing": trailing, "journal_lines": self.journal.lines}

    def restore(self, state: dict[str, Any]) -> None:
        """Remember what the checkpoint saw; `replay` rebuilds the books from the journal."""
        self.applied = int(state.get("applied", 0))
        self._saved_trailing = state.get("trailing")
        self.seen_lines = int(state.get("journal_lines", 0))

    # -- Internals ---------------------------------------------------------------------------------------

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
        tick = self.spec.tick
        stop, target = intent.stop_and_target(est_price)
        meta = {
            "stop": round_to_step(stop, tick, "nearest"),
            "target": None if target is None else round_to_step(target, tick, "nearest"),
            "setup": intent.setup, "stop_distance": intent.stop_distance, "side": intent.side,
            "trail_activation_r": intent.trail_activation_r, "trail_distance_r": intent.trail_distance_r,
            "decided_ts": ts, "est_price": est_price,
        }  # fmt: skip
        order_type: Literal["MARKET", "LIMIT"] = "MARKET" if price is None else "LIMIT"
        order = JournalOrder(
            cid, self.symbol, side, order_type, qty, price, False, "entry", self.time.wall_ms, meta=meta
        )
        if not self._send(order, ts):
            return False
        if price is not None:
            self.pending[cid] = PendingEntry(cid, qty, intent, ts)
        return True

    def decision_age_refusal(self, decided_ts: int | None, now: int | None) -> tuple[str, str] | None:
        """`stale_decision` when the candle `decided_ts` (its open time) closed too long ago to act on at `now`
        (the exchange's clock; None: no push from it yet)."""
        if now is None or decided_ts is None:
            return "stale_decision", "no time from the exchange yet to date the decision by"
        age_ms = now - (decided_ts + self._interval_ms)
        if age_ms > self._max_age_ms:
            return "stale_decision", (
                f"its candle closed {age_ms / 1000:.0f} s ago on the exchange's clock, more than "
                f"live.max_decision_age_s = {self._max_age_ms / 1000:g}"
            )
        return None

    def _entry_refusal(self, ts: int, cid: str, qty: float, price: float) -> tuple[str, str] | None:
        spec = self.spec
        stale = self.decision_age_refusal(ts, self.time.venue_ms)
        if stale is not None:
            return stale
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
            day_ms=ts, notional=notional, position_notional=held, equity=equity, mono_s=self.time.mono_s
        )

    def _send(self, order: JournalOrder, ts: int) -> bool:
        """Journal the intent, then queue the send; False (refused, said) when the journal cannot be written."""
        try:
            self.journal.intent(order)  # fsynced: from here on the order can only be found, never forgotten
        except JournalUnwritable as exc:
            self.order_failed(order, "journal_unwritable", f"{exc}: not sent", at_ms=ts)
            return False
        self.limits.record_order(self.time.mono_s)
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
        return True


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
