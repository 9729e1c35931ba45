"""TP/SL orders of the simulated exchange: each position's whole-position TP/SL order and partial ones.

A position's TP/SL are real orders with ids (as on the venue), so a client can list, move and cancel them:
an entry's `tpPrice`/`slPrice` become the new position's whole-position order (`POSITION_TPSL`, one per
position, §4.10), `/tpsl/place_order` adds partial ones (`TPSL`, closing `tpQty`/`slQty`). On every push
the last price is checked, stop loss first; a trigger closes the position (or the leg's quantity of it) with
a reduce-only market order with no client id and moves the TP/SL order to history. A LIMIT execution type
(`tpOrderType`) is recorded and echoed, but the simulator closes at market. Mark price = last price here.
When a position closes or flips, its remaining TP/SL orders are cancelled. Every change is pushed on the
private `tpsl` channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from laptop_agents.exchange.bitunix import codes
from laptop_agents.exchange.bitunix.sim import shapes
from laptop_agents.exchange.bitunix.sim.rules import ContractRules, Refusal, check_step, decimal, one_of, present

if TYPE_CHECKING:
    from laptop_agents.exchange.bitunix.sim.ledger import Ledger, SimAccount, SimOrder, SimPosition

POSITION_TPSL, PARTIAL_TPSL = "POSITION_TPSL", "TPSL"
STOP_TYPES = {"LAST_PRICE": "LAST_PRICE", "LAST": "LAST_PRICE", "MARK_PRICE": "MARK_PRICE", "MARK": "MARK_PRICE"}
"""The documented MARK_PRICE/LAST_PRICE, and the MARK/LAST that the doc examples and demos send (C13)."""


@dataclass
class Leg:
    """One side (take profit or stop loss) of a TP/SL order."""

    price: float
    stop_type: str = "LAST_PRICE"
    order_type: str = "MARKET"
    order_price: float | None = None
    qty: float | None = None
    """Partial TP/SL only: how much it closes (None: the whole position at trigger time)."""


@dataclass
class TpslOrder:
    order_id: str
    position_id: str
    symbol: str
    kind: str  # POSITION_TPSL | TPSL
    tp: Leg | None
    sl: Leg | None
    ctime: int
    mtime: int
    long: bool
    """The direction of its position (a flip cancels it, so it never changes)."""
    status: str = "NEW"  # NEW (pending), FILLED (triggered), CANCELED
    trigger_time: int | None = None
    final_qty: float = 0.0
    """The position's quantity when the order left the book (history shows it for whole-position legs)."""


@dataclass
class TpslBook:
    """One account's TP/SL orders: the pending ones by id, and the finished ones in finishing order."""

    pending: dict[str, TpslOrder] = field(default_factory=dict)
    history: list[TpslOrder] = field(default_factory=list)

    def of_position(self, position_id: str) -> list[TpslOrder]:
        return [o for o in self.pending.values() if o.position_id == position_id]

    def whole(self, position_id: str) -> TpslOrder | None:
        return next((o for o in self.of_position(position_id) if o.kind == POSITION_TPSL), None)


class HasLegs(Protocol):
    """A TP/SL order, or an order with an attached TP/SL."""

    @property
    def tp(self) -> Leg | None: ...

    @property
    def sl(self) -> Leg | None: ...


def parse_legs(
    body: Mapping[str, Any],
    rules: ContractRules,
    *,
    order_types: bool,
    qty: bool,
    base: HasLegs | None = None,
    not_positive: int = codes.TRIGGER_PRICE_NOT_POSITIVE,
) -> dict[str, Leg]:
    """The `tp`/`sl` legs a request names (a leg is named by its trigger price). Fields left out keep the
    values of `base` (a modify) or take the documented defaults (last price, market execution)."""
    legs: dict[str, Leg] = {}
    for name in ("tp", "sl"):
        if not present(body, f"{name}Price"):
            continue
        old: Leg | None = getattr(base, name) if base is not None else None
        price = decimal(body[f"{name}Price"], f"{name}Price", not_positive=not_positive)
        check_step(price, f"{name}Price", rules.quote_precision)
        stop = one_of(body.get(f"{name}StopType"), STOP_TYPES, default=old.stop_type if old else "LAST_PRICE")
        leg = Leg(price, STOP_TYPES[stop])
        if order_types:
            leg.order_type = one_of(body.get(f"{name}OrderType"), ("LIMIT", "MARKET"),
                                    default=old.order_type if old else "MARKET")  # fmt: skip
            if leg.order_type == "LIMIT":
                leg.order_price = _optional(
                    body, f"{name}OrderPrice", rules.quote_precision, old.order_price if old else None
                )
                if leg.order_price is None:
                    raise Refusal(codes.PARAMETER_ERROR, f"{name}OrderPrice is required when {name}OrderType is LIMIT")
        if qty:
            leg.qty = _optional(body, f"{name}Qty", rules.base_precision, old.qty if old else None)
            if leg.qty is None:
                raise Refusal(codes.PARAMETER_ERROR, f"{name}Qty is required with {name}Price")
            if leg.qty < rules.min_qty:
                raise Refusal(codes.QTY_BELOW_MIN)
        legs[name] = leg
    return legs


def _optional(body: Mapping[str, Any], name: str, decimals: int, fallback: float | None) -> float | None:
    if not present(body, name):
        return fallback or None
    number = decimal(body[name], name)
    check_step(number, name, decimals)
    return number


def check_sides(legs: Mapping[str, Leg], *, long: bool, last: float) -> None:
    """A long's TP must be above the current price and its SL below (a short's the other way round), with
    the venue's codes for a last-price or a mark-price trigger."""
    tp, sl = legs.get("tp"), legs.get("sl")
    if tp is not None and (tp.price <= last if long else tp.price >= last):
        mark = tp.stop_type == "MARK_PRICE"
        raise Refusal((codes.TP_ABOVE_MARK if mark else codes.TP_ABOVE_LAST) if long else
                      (codes.TP_BELOW_MARK if mark else codes.TP_BELOW_LAST))  # fmt: skip
    if sl is not None and (sl.price >= last if long else sl.price <= last):
        mark = sl.stop_type == "MARK_PRICE"
        raise Refusal((codes.SL_BELOW_MARK if mark else codes.SL_BELOW_LAST) if long else
                      (codes.SL_ABOVE_MARK if mark else codes.SL_ABOVE_LAST))  # fmt: skip


def triggered(order: TpslOrder, *, long: bool, last: float) -> Leg | None:
    """The leg the last price reached, the stop loss checked first (as before TP/SL were orders)."""
    sl, tp = order.sl, order.tp
    if sl is not None and (last <= sl.price if long else last >= sl.price):
        return sl
    if tp is not None and (last >= tp.price if long else last <= tp.price):
        return tp
    return None


class TpslDesk:
    """The ledger's TP/SL operations (place, modify, cancel, trigger), on each account's `TpslBook`."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def attach(self, account: SimAccount, position: SimPosition, order: SimOrder) -> None:
        """An entry's tpPrice/slPrice become the position it opened's whole-position TP/SL order."""
        legs = {name: leg for name, leg in (("tp", order.tp), ("sl", order.sl)) if leg is not None}
        if legs:
            self._create(account, position, POSITION_TPSL, legs)

    def place(self, account: SimAccount, body: Mapping[str, Any], *, whole: bool) -> TpslOrder:
        rules = self.ledger.contract(str(body.get("symbol") or ""))  # required (20001 without one, as place_order)
        position = self.ledger.position(account, body.get("positionId"), rules.symbol)
        legs = parse_legs(body, rules, order_types=not whole, qty=not whole)
        if not legs:
            raise Refusal(codes.SELECT_TP_OR_SL)
        if whole and account.tpsl.whole(position.position_id) is not None:
            raise Refusal(codes.PARAMETER_ERROR, "this position already has a position TP/SL order: modify it")
        self._validate(position, legs)
        return self._create(account, position, POSITION_TPSL if whole else PARTIAL_TPSL, legs)

    def find(self, account: SimAccount, order_id: Any, symbol: Any = None) -> TpslOrder:
        order = account.tpsl.pending.get(str(order_id or ""))
        if order is None or (symbol not in (None, "") and order.symbol != str(symbol).upper()):
            raise Refusal(codes.ORDER_NOT_FOUND)
        return order

    def modify(self, account: SimAccount, order: TpslOrder, body: Mapping[str, Any]) -> TpslOrder:
        """Move the legs the request names; a leg it leaves out stays as it was."""
        position = self.ledger.position(account, order.position_id, order.symbol)
        whole = order.kind == POSITION_TPSL
        legs = parse_legs(body, self.ledger.contract(order.symbol), order_types=not whole, qty=not whole, base=order)
        if not legs:
            raise Refusal(codes.SELECT_TP_OR_SL)
        self._validate(position, legs)
        order.tp, order.sl = legs.get("tp", order.tp), legs.get("sl", order.sl)
        order.mtime = self.ledger.market.now_ms()
        self._push(account, order, "UPDATE")
        return order

    def modify_position(self, account: SimAccount, body: Mapping[str, Any]) -> TpslOrder:
        """`/tpsl/position/modify_order`: move the position's whole-position TP/SL (20007 when it has none)."""
        symbol = self.ledger.contract(str(body.get("symbol") or "")).symbol
        position = self.ledger.position(account, body.get("positionId"), symbol)
        order = account.tpsl.whole(position.position_id)
        if order is None:
            raise Refusal(codes.ORDER_NOT_FOUND)
        return self.modify(account, order, body)

    def cancel(self, account: SimAccount, order: TpslOrder) -> None:
        self._finish(account, order, "CANCELED")

    def drop(self, account: SimAccount, position: SimPosition) -> None:
        """The position closed or flipped: its TP/SL orders no longer apply."""
        for order in account.tpsl.of_position(position.position_id):
            self._finish(account, order, "CANCELED")

    def check(self, account: SimAccount, position: SimPosition, last: float) -> None:
        """Close (part of) the position for each TP/SL order the last price reached, in placing order."""
        for order in sorted(account.tpsl.of_position(position.position_id), key=lambda o: int(o.order_id)):
            if position.qty == 0 or order.order_id not in account.tpsl.pending:
                return
            leg = triggered(order, long=position.qty > 0, last=last)
            if leg is None:
                continue
            held = abs(position.qty)
            qty = held if order.kind == POSITION_TPSL or leg.qty is None else min(leg.qty, held)
            self._finish(account, order, "FILLED")
            self.ledger.market_close(account, position, qty, last)

    def _validate(self, position: SimPosition, legs: Mapping[str, Leg]) -> None:
        check_sides(legs, long=position.qty > 0, last=self.ledger.market.last_price(position.symbol))
        if any(leg.qty is not None and leg.qty > abs(position.qty) + 1e-12 for leg in legs.values()):
            raise Refusal(codes.TPSL_QTY_TOO_LARGE)

    def _create(self, account: SimAccount, position: SimPosition, kind: str, legs: Mapping[str, Leg]) -> TpslOrder:
        now = self.ledger.market.now_ms()
        order = TpslOrder(self.ledger.new_id(), position.position_id, position.symbol, kind, legs.get("tp"),
                          legs.get("sl"), now, now, position.qty > 0)  # fmt: skip
        account.tpsl.pending[order.order_id] = order
        self._push(account, order, "CREATE")
        return order

    def _finish(self, account: SimAccount, order: TpslOrder, status: str) -> None:
        account.tpsl.pending.pop(order.order_id, None)
        order.status, order.mtime = status, self.ledger.market.now_ms()
        order.final_qty = _held(account, order)
        if status == "FILLED":
            order.trigger_time = order.mtime
        account.tpsl.history.append(order)
        self._push(account, order, "CLOSE")

    def _push(self, account: SimAccount, order: TpslOrder, event: str) -> None:
        leverage = self.ledger.leverage(account, order.symbol)
        self.ledger.emit(account, "tpsl", shapes.tpsl_push(order, event, leverage, held_qty(account, order)))


def held_qty(account: SimAccount, order: TpslOrder) -> float:
    """The quantity of the order's position now, or when the order left the book if it has."""
    return _held(account, order) if order.status == "NEW" else order.final_qty


def _held(account: SimAccount, order: TpslOrder) -> float:
    position = account.positions.get(order.symbol)
    return abs(position.qty) if position is not None and position.position_id == order.position_id else 0.0
