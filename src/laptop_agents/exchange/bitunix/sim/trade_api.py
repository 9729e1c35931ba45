"""The simulated exchange's bulk and amending trade endpoints, answered from the ledger's state.

batch_order places every entry through `Ledger.place_order`, like place_order itself, so the fault switches
(a refusal, insufficient balance, the lost ack) and client-id dedupe apply per entry; closes (close_all_position,
flash_close_position) are reduce-only market orders without a client id, as the venue's own closes.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from aiohttp import web

from laptop_agents.exchange.bitunix import codes
from laptop_agents.exchange.bitunix.sim import shapes
from laptop_agents.exchange.bitunix.sim.params import Routes, json_body, lost_ack
from laptop_agents.exchange.bitunix.sim.rules import Refusal, check_step, decimal, one_of, present
from laptop_agents.exchange.bitunix.sim.tpsl import parse_legs

if TYPE_CHECKING:
    from laptop_agents.exchange.bitunix.sim.ledger import SimAccount, SimOrder, SimPosition
    from laptop_agents.exchange.bitunix.sim.server import SimExchange

BATCH_MAX = 20
"""The older doc page's limit (the newer mirror says 5: conflict C8); more is 20016."""


def _failure(refusal: Refusal, order_id: str = "", client_id: str = "") -> dict[str, Any]:
    return {"orderId": order_id, "clientId": client_id, "errorMsg": refusal.msg, "errorCode": str(refusal.code)}


class TradeApi:
    def __init__(self, exchange: SimExchange) -> None:
        self.x = exchange

    def routes(self) -> Routes:
        return {
            "/account/adjust_position_margin": ("POST", self.adjust_position_margin),
            "/trade/batch_order": ("POST", self.batch_order),
            "/trade/cancel_all_orders": ("POST", self.cancel_all_orders),
            "/trade/close_all_position": ("POST", self.close_all_position),
            "/trade/flash_close_position": ("POST", self.flash_close_position),
            "/trade/modify_order": ("POST", self.modify_order),
        }

    async def batch_order(self, request: web.Request, account: SimAccount | None) -> Any:
        assert account is not None
        body = await json_body(request)
        symbol = self.x.ledger.contract(str(body.get("symbol") or "")).symbol
        entries = body.get("orderList")
        if not isinstance(entries, list) or not entries:
            raise Refusal(codes.PARAMETER_ERROR, "orderList must be a non-empty list")
        if len(entries) > BATCH_MAX:
            raise Refusal(codes.BATCH_TOO_LARGE)
        faults = self.x.faults
        ok, failed = [], []
        for entry in entries:
            client_id = str(entry.get("clientId") or "") if isinstance(entry, dict) else ""
            try:
                if not isinstance(entry, dict):
                    raise Refusal(codes.PARAMETER_ERROR, "each orderList entry must be an object")
                if present(entry, "symbol") and str(entry["symbol"]).upper() != symbol:
                    raise Refusal(codes.PARAMETER_ERROR, f"orderList entry for {entry['symbol']} in a {symbol} batch")
                refused = faults.refusal_due()
                if refused is not None:
                    raise Refusal(refused)
                order = self.x.ledger.place_order(
                    account,
                    {**entry, "symbol": symbol},
                    insufficient=faults.take("insufficient_balance_next"),
                    refuses_duplicate=faults.refuses_duplicate,
                )
                ok.append({"orderId": order.order_id, "clientId": order.client_id})
            except Refusal as refusal:
                failed.append(_failure(refusal, client_id=client_id))
        return lost_ack(self.x, request) or {"successList": ok, "failureList": failed}

    async def cancel_all_orders(self, request: web.Request, account: SimAccount | None) -> Any:
        """Every open order (of `symbol`, when given), oldest first; same reply shape as cancel_orders."""
        assert account is not None
        body = await json_body(request)
        one_of(body.get("marginCoin"), ("USDT",), default="USDT")
        symbol = self.x.ledger.contract(str(body["symbol"])).symbol if present(body, "symbol") else ""
        ok, failed = [], []
        for order in sorted(account.orders.values(), key=lambda o: int(o.order_id)):
            if not order.open or (symbol and order.symbol != symbol):
                continue
            try:
                self.x.ledger.cancel(account, order.symbol, order.order_id, None)
                ok.append({"orderId": order.order_id, "clientId": order.client_id})
            except Refusal as refusal:
                failed.append(_failure(refusal, order.order_id, order.client_id))
        return {"successList": ok, "failureList": failed}

    async def close_all_position(self, request: web.Request, account: SimAccount | None) -> Any:
        assert account is not None
        body = await json_body(request)
        symbol = self.x.ledger.contract(str(body["symbol"])).symbol if present(body, "symbol") else ""
        for position in list(account.positions.values()):
            if not symbol or position.symbol == symbol:
                self.x.ledger.market_close(account, position)
        return ""

    async def flash_close_position(self, request: web.Request, account: SimAccount | None) -> Any:
        assert account is not None
        body = await json_body(request)
        one_of(body.get("marginCoin"), ("USDT",), default="USDT")
        self.x.ledger.market_close(account, self.x.ledger.position(account, body.get("positionId")))
        return ""

    async def modify_order(self, request: web.Request, account: SimAccount | None) -> Any:
        """A resting LIMIT order's qty, price and attached TP/SL (qty and price are required, §4.6)."""
        assert account is not None
        body = await json_body(request)
        ledger = self.x.ledger
        order = ledger.find(account, str(body.get("orderId") or "") or None, str(body.get("clientId") or "") or None)
        if order is None or order.status != "NEW" or order.order_type != "LIMIT":
            raise Refusal(codes.ORDER_NOT_FOUND)
        if present(body, "symbol") and str(body["symbol"]).upper() != order.symbol:
            raise Refusal(codes.ORDER_NOT_FOUND)
        rules = ledger.contract(order.symbol)
        qty = decimal(body.get("qty"), "qty")
        rules.check_qty(qty)
        price = decimal(body.get("price"), "price")
        check_step(price, "price", rules.quote_precision)
        legs = parse_legs(body, rules, order_types=True, qty=False, base=order, not_positive=codes.PARAMETER_ERROR)
        self._check_margin(account, order, qty, price)
        order.qty, order.price, order.mtime = qty, price, self.x.market.now_ms()
        order.tp, order.sl = legs.get("tp", order.tp), legs.get("sl", order.sl)
        ledger.emit(account, "order", shapes.order_push(order, "UPDATE"))
        ledger.emit(account, "balance", shapes.balance_push(ledger, account))
        return {"orderId": order.order_id, "clientId": order.client_id}

    def _check_margin(self, account: SimAccount, order: SimOrder, qty: float, price: float) -> None:
        """The opening part of the new size must fit in what is available once the old order's hold is freed."""
        position = account.positions.get(order.symbol)
        held = position.qty if position else 0.0
        direction = 1.0 if order.side == "BUY" else -1.0
        opening = qty if held * direction >= 0 else max(0.0, qty - abs(held))
        freed = 0.0 if order.reduce_only else order.qty * (order.price or 0.0) / order.leverage
        if not order.reduce_only and opening * price / order.leverage > self.x.ledger.available(account) + freed:
            raise Refusal(codes.INSUFFICIENT_BALANCE)

    async def adjust_position_margin(self, request: web.Request, account: SimAccount | None) -> Any:
        """Add (amount > 0) margin to a position or take back (< 0) what was added before (§4.9)."""
        assert account is not None
        body = await json_body(request)
        ledger = self.x.ledger
        symbol = ledger.contract(str(body.get("symbol") or "")).symbol
        one_of(body.get("marginCoin"), ("USDT",), default="USDT")
        raw = body.get("amount", "")
        try:
            amount = float(raw)  # a string or a JSON number (the Java SDK sends BigDecimal)
        except (TypeError, ValueError):
            raise Refusal(codes.PARAMETER_ERROR, "amount must be a decimal string") from None
        if not math.isfinite(amount) or amount == 0 or isinstance(raw, bool):
            raise Refusal(codes.PARAMETER_ERROR, "amount must be a non-zero decimal")
        position = self._margin_position(account, body, symbol)
        if amount > ledger.available(account):
            raise Refusal(codes.INSUFFICIENT_BALANCE)
        if -amount > position.extra_margin + 1e-9:
            raise Refusal(codes.INSUFFICIENT_AMOUNT, "cannot take back more margin than was added")
        position.extra_margin = max(0.0, position.extra_margin + amount)
        position.mtime = self.x.market.now_ms()
        ledger.emit(account, "position", shapes.position_push(ledger, account, position, "UPDATE"))
        ledger.emit(account, "balance", shapes.balance_push(ledger, account))
        return ""

    def _margin_position(self, account: SimAccount, body: dict[str, Any], symbol: str) -> SimPosition:
        if present(body, "positionId"):
            return self.x.ledger.position(account, body["positionId"], symbol)
        if not present(body, "side"):
            raise Refusal(codes.PARAMETER_ERROR, "side or positionId is required")
        side = one_of(body["side"], ("LONG", "SHORT", "BUY", "SELL"))
        position = account.positions.get(symbol)
        if position is None or (position.qty > 0) != (side in ("LONG", "BUY")):
            raise Refusal(codes.POSITION_NOT_EXIST)
        return position
