"""The simulated exchange's signed account and trade endpoints (the server verifies the signature first)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from laptop_agents.exchange.bitunix import codes
from laptop_agents.exchange.bitunix.sim import params, shapes
from laptop_agents.exchange.bitunix.sim.ledger import Refusal, SimAccount
from laptop_agents.exchange.bitunix.wire import fmt

if TYPE_CHECKING:
    from laptop_agents.exchange.bitunix.sim.server import SimExchange


class PrivateApi:
    def __init__(self, exchange: SimExchange) -> None:
        self.x = exchange

    async def json_body(self, request: web.Request) -> dict[str, Any]:
        return await params.json_body(request)

    async def account(self, request: web.Request, account: SimAccount | None) -> Any:
        assert account is not None
        data = shapes.account_wire(self.x.ledger, account)
        return [data] if self.x.config.account_shape == "array" else data

    async def change_leverage(self, request: web.Request, account: SimAccount | None) -> Any:
        assert account is not None
        body = await self.json_body(request)
        try:
            leverage = int(body.get("leverage", 0))
        except (TypeError, ValueError):
            raise Refusal(codes.INVALID_LEVERAGE) from None
        symbol = str(body.get("symbol", "")).upper()
        self.x.ledger.change_leverage(account, symbol, leverage)
        return [{"marginCoin": "USDT", "leverage": leverage, "symbol": symbol}]

    async def leverage_mode(self, request: web.Request, account: SimAccount | None) -> Any:
        assert account is not None
        symbol = self.x.symbol_param(request)
        leverage = account.leverage.get(symbol, self.x.ledger.rules[symbol].default_leverage)
        mode = account.margin_mode.get(symbol, "CROSS")
        return {"symbol": symbol, "marginCoin": "USDT", "leverage": leverage, "marginMode": mode}

    async def change_margin_mode(self, request: web.Request, account: SimAccount | None) -> Any:
        """Refused (20006) while the symbol has open orders or a position, as on the venue (§4.9)."""
        assert account is not None
        body = await self.json_body(request)
        mode = str(body.get("marginMode", ""))
        if mode not in ("ISOLATION", "CROSS"):
            raise Refusal(codes.VALUE_NOT_ALLOWED, "marginMode must be one of ISOLATION, CROSS")
        symbol = str(body.get("symbol", "")).upper()
        self.x.ledger.change_margin_mode(account, symbol, mode)
        return [{"marginCoin": "USDT", "marginMode": mode, "symbol": symbol}]

    async def change_position_mode(self, request: web.Request, account: SimAccount | None) -> Any:
        assert account is not None
        body = await self.json_body(request)
        mode = str(body.get("positionMode", ""))
        self.x.ledger.change_position_mode(account, mode)
        return [{"positionMode": mode}]

    async def place_order(self, request: web.Request, account: SimAccount | None) -> Any:
        assert account is not None
        body = await self.json_body(request)
        refused = self.x.faults.refusal_due()
        if refused is not None:
            raise Refusal(refused)
        insufficient = self.x.faults.take("insufficient_balance_next")
        order = self.x.ledger.place_order(
            account, body, insufficient=insufficient, refuses_duplicate=self.x.faults.refuses_duplicate
        )
        if self.x.faults.take("fill_before_ack_next"):
            await self.x.hub.flush_private(account.api_key)
            await asyncio.sleep(self.x.faults.fill_before_ack_ms / 1000)
        lost = params.lost_ack(self.x, request)
        return lost or {"orderId": order.order_id, "clientId": order.client_id}

    async def cancel_orders(self, request: web.Request, account: SimAccount | None) -> Any:
        assert account is not None
        body = await self.json_body(request)
        symbol = str(body.get("symbol", ""))
        ok, failed = [], []
        for item in body.get("orderList") or []:
            oid, cid = item.get("orderId"), item.get("clientId")
            try:
                order = self.x.ledger.cancel(account, symbol, oid, cid)
                ok.append({"orderId": order.order_id, "clientId": order.client_id})
            except Refusal as refusal:
                failed.append(
                    {
                        "orderId": oid or "",
                        "clientId": cid or "",
                        "errorMsg": refusal.msg,
                        "errorCode": str(refusal.code),
                    }
                )
        return {"successList": ok, "failureList": failed}

    async def order_detail(self, request: web.Request, account: SimAccount | None) -> Any:
        assert account is not None
        if self.x.faults.take("order_detail_error_next"):
            return web.Response(status=500, text="upstream error")
        order = self.x.ledger.find(account, request.query.get("orderId"), request.query.get("clientId"))
        if order is None or self.x.faults.lookup_hidden(order.placed_monotonic):
            raise Refusal(codes.ORDER_NOT_FOUND)
        return shapes.order_wire(order)

    async def pending_orders(self, request: web.Request, account: SimAccount | None) -> Any:
        assert account is not None
        symbol = request.query.get("symbol", "").upper()
        orders = [
            o
            for o in account.orders.values()
            if o.open and (not symbol or o.symbol == symbol) and not self.x.faults.lookup_hidden(o.placed_monotonic)
        ]
        orders.sort(key=lambda o: o.ctime, reverse=True)
        limit = min(int(request.query.get("limit", "10")), 100)
        skip = int(request.query.get("skip", "0"))
        return {"orderList": [shapes.order_wire(o) for o in orders[skip : skip + limit]], "total": len(orders)}

    async def history_trades(self, request: web.Request, account: SimAccount | None) -> Any:
        assert account is not None
        symbol = request.query.get("symbol", "").upper()
        start = int(request.query.get("startTime", "0") or 0)
        limit = min(int(request.query.get("limit", "20") or 20), 100)
        skip = int(request.query.get("skip", "0") or 0)
        trades = [
            {**f, "qty": fmt(f["qty"]), "price": fmt(f["price"]), "fee": fmt(f["fee"]),
             "realizedPNL": fmt(f["realizedPNL"])} for f in reversed(account.fills)
            if (not symbol or f["symbol"] == symbol) and f["ctime"] >= start
        ]  # fmt: skip
        return {"tradeList": trades[skip : skip + limit], "total": len(trades)}

    async def pending_positions(self, request: web.Request, account: SimAccount | None) -> Any:
        assert account is not None
        symbol = request.query.get("symbol", "").upper()
        return [
            shapes.position_wire(self.x.ledger, account, p, self.x.config.position_side)
            for p in account.positions.values()
            if not symbol or p.symbol == symbol
        ]
