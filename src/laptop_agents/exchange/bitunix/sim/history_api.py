"""The simulated exchange's history endpoints: finished orders and closed positions, newest first.

Both page with skip/limit (default 10, at most 100) and report the number of matches as `total`.
Orders are matched on their create time, positions on their close time (`mtime`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from laptop_agents.exchange.bitunix.sim import shapes
from laptop_agents.exchange.bitunix.sim.params import Routes, page, window, within
from laptop_agents.exchange.bitunix.sim.rules import one_of

if TYPE_CHECKING:
    from laptop_agents.exchange.bitunix.sim.ledger import SimAccount
    from laptop_agents.exchange.bitunix.sim.server import SimExchange

HISTORY_STATUSES = ("FILLED", "CANCELED", "PART_FILLED_CANCELED", "EXPIRED")


class HistoryApi:
    def __init__(self, exchange: SimExchange) -> None:
        self.x = exchange

    def routes(self) -> Routes:
        return {
            "/trade/get_history_orders": ("GET", self.history_orders),
            "/position/get_history_positions": ("GET", self.history_positions),
        }

    async def history_orders(self, request: web.Request, account: SimAccount | None) -> Any:
        """Filled and cancelled orders; `queryCanceled` true keeps only cancelled ones, false the others."""
        assert account is not None
        q = request.query
        symbol = q.get("symbol", "").upper()
        status = one_of(q.get("status"), HISTORY_STATUSES, default="")
        kind = one_of(q.get("type"), ("LIMIT", "MARKET"), default="")
        canceled = one_of(q.get("queryCanceled"), ("TRUE", "FALSE"), default="")
        span, (skip, limit) = window(request), page(request)
        orders = [
            o for o in account.orders.values()
            if not o.open and within(o.ctime, span)
            and (not symbol or o.symbol == symbol) and (not status or o.status == status)
            and (not kind or o.order_type == kind) and q.get("orderId", o.order_id) in ("", o.order_id)
            and q.get("clientId", o.client_id) in ("", o.client_id)
            and (not canceled or (o.status == "CANCELED") == (canceled == "TRUE"))
        ]  # fmt: skip
        orders.sort(key=lambda o: (o.ctime, int(o.order_id)), reverse=True)
        return {"orderList": [shapes.order_wire(o) for o in orders[skip : skip + limit]], "total": len(orders)}

    async def history_positions(self, request: web.Request, account: SimAccount | None) -> Any:
        assert account is not None
        q = request.query
        symbol = q.get("symbol", "").upper()
        span, (skip, limit) = window(request), page(request)
        closed = [
            p for p in account.closed_positions
            if within(p.mtime, span) and (not symbol or p.symbol == symbol)
            and q.get("positionId", p.position_id) in ("", p.position_id)
        ]  # fmt: skip
        closed.sort(key=lambda p: (p.mtime, int(p.position_id)), reverse=True)
        style = self.x.config.position_side
        rows = [shapes.history_position_wire(self.x.ledger, account, p, style) for p in closed[skip : skip + limit]]
        return {"positionList": rows, "total": len(closed)}
