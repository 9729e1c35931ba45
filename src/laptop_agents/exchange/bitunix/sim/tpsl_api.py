"""The simulated exchange's TP/SL endpoints (§4.10), over the ledger's `TpslDesk`.

`/tpsl/position/modify_order` is how a client moves a position's stop (a trailing stop); a TP/SL order's
legs left out of a modify stay as they were. `side` and `positionMode` filters are integers whose meaning
is not documented: they are checked to be integers and otherwise ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from laptop_agents.exchange.bitunix import codes
from laptop_agents.exchange.bitunix.sim import shapes
from laptop_agents.exchange.bitunix.sim.params import Routes, int_param, json_body, page, window, within
from laptop_agents.exchange.bitunix.sim.rules import Refusal, present
from laptop_agents.exchange.bitunix.sim.tpsl import TpslOrder, held_qty

if TYPE_CHECKING:
    from laptop_agents.exchange.bitunix.sim.ledger import SimAccount
    from laptop_agents.exchange.bitunix.sim.server import SimExchange


class TpslApi:
    def __init__(self, exchange: SimExchange) -> None:
        self.x = exchange
        self.desk = exchange.ledger.tpsl

    def routes(self) -> Routes:
        return {
            "/tpsl/place_order": ("POST", self.place),
            "/tpsl/position/place_order": ("POST", self.place_position),
            "/tpsl/modify_order": ("POST", self.modify),
            "/tpsl/position/modify_order": ("POST", self.modify_position),
            "/tpsl/cancel_order": ("POST", self.cancel),
            "/tpsl/get_pending_orders": ("GET", self.pending),
            "/tpsl/get_history_orders": ("GET", self.history),
        }

    async def place(self, request: web.Request, account: SimAccount | None) -> Any:
        """A partial TP/SL: closes tpQty/slQty of the position when triggered."""
        assert account is not None
        order = self.desk.place(account, await json_body(request), whole=False)
        reply = {"orderId": order.order_id}
        return [reply] if self.x.config.tpsl_place_shape == "array" else reply

    async def place_position(self, request: web.Request, account: SimAccount | None) -> Any:
        """The whole-position TP/SL (one per position): closes all of it at market when triggered."""
        assert account is not None
        order = self.desk.place(account, await json_body(request), whole=True)
        return {"orderId": order.order_id}

    async def modify(self, request: web.Request, account: SimAccount | None) -> Any:
        assert account is not None
        body = await json_body(request)
        if not present(body, "orderId"):
            raise Refusal(codes.PARAMETER_ERROR, "orderId is required")
        order = self.desk.modify(account, self.desk.find(account, body["orderId"]), body)
        return {"orderId": order.order_id}

    async def modify_position(self, request: web.Request, account: SimAccount | None) -> Any:
        assert account is not None
        order = self.desk.modify_position(account, await json_body(request))
        return {"orderId": order.order_id}

    async def cancel(self, request: web.Request, account: SimAccount | None) -> Any:
        assert account is not None
        body = await json_body(request)
        if not present(body, "orderId"):
            raise Refusal(codes.PARAMETER_ERROR, "orderId is required")
        order = self.desk.find(account, body["orderId"], body.get("symbol"))
        self.desk.cancel(account, order)
        return {"orderId": order.order_id}

    def _matching(self, request: web.Request, orders: list[TpslOrder]) -> list[TpslOrder]:
        q = request.query
        symbol = q.get("symbol", "").upper()
        for name in ("side", "positionMode"):
            int_param(request, name)
        kept = [
            o for o in orders
            if (not symbol or o.symbol == symbol) and q.get("positionId", o.position_id) in ("", o.position_id)
        ]  # fmt: skip
        return sorted(kept, key=lambda o: (o.ctime, int(o.order_id)), reverse=True)

    async def pending(self, request: web.Request, account: SimAccount | None) -> Any:
        """A plain list (TpslPendingOrderResp rows), newest first, paged by skip/limit."""
        assert account is not None
        orders = self._matching(request, list(account.tpsl.pending.values()))
        skip, limit = page(request)
        return [shapes.tpsl_wire(o, held_qty(account, o)) for o in orders[skip : skip + limit]]

    async def history(self, request: web.Request, account: SimAccount | None) -> Any:
        """Triggered (FILLED) and cancelled TP/SL orders, newest first: {"orderList", "total"}."""
        assert account is not None
        span = window(request)
        orders = [o for o in self._matching(request, account.tpsl.history) if within(o.ctime, span)]
        skip, limit = page(request)
        rows = [shapes.tpsl_wire(o, o.final_qty, history=True) for o in orders[skip : skip + limit]]
        return {"orderList": rows, "total": len(orders)}
