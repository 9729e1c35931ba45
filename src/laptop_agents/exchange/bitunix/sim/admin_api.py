"""`/admin/*` on the simulated exchange (not part of Bitunix): state, faults, stepping or pausing the replay,
drops, a liquidation, a contract's rules changed at runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from laptop_agents.exchange.bitunix.sim.server import SimExchange


class AdminApi:
    def __init__(self, exchange: SimExchange) -> None:
        self.x = exchange

    async def state(self, _: web.Request) -> web.Response:
        accounts = {
            key: {"balance": a.balance, "positions": {s: p.qty for s, p in a.positions.items()},
                  "orders": len(a.orders), "fills": len(a.fills)} for key, a in self.x.ledger.accounts.items()
        }  # fmt: skip
        return web.json_response(
            {
                "now_ms": self.x.market.now_ms(),
                "pushes_sent": self.x.market.pushes_sent,
                "connections": self.x.hub.connection_counts(),
                "faults": self.x.faults.as_dict(),
                "accounts": accounts,
            },
            dumps=lambda o: orjson.dumps(o).decode(),
        )

    async def faults(self, request: web.Request) -> web.Response:
        try:
            self.x.faults.update(await request.json())
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(self.x.faults.as_dict())

    async def contract(self, request: web.Request) -> web.Response:
        """`{"symbol": "BTCUSDT", "min_qty": 0.01, "base_precision": 2, ...}`: the venue changes that contract's
        filters (min/max qty, lot and tick precision, leverage bounds) now; trading_pairs and every order
        check use them from the next request on. Answers the contract as trading_pairs lists it."""
        body = await request.json() if request.can_read_body else {}
        if not isinstance(body, dict):
            return web.json_response({"error": "send a JSON object with symbol and the rules to change"}, status=400)
        symbol = str(body.pop("symbol", "")).upper()
        rules = self.x.ledger.rules.get(symbol)
        if rules is None:
            return web.json_response({"error": f"symbol must be one of {', '.join(self.x.ledger.rules)}"}, status=400)
        try:
            rules.update(body)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        self.x.faults.fired("contract_changed")
        return web.json_response(rules.wire())

    async def advance(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        pushes = int(body.get("pushes", 0)) + int(body.get("candles", 0)) * self.x.market.k
        await self.x.hub.advance(pushes)
        return web.json_response({"now_ms": self.x.market.now_ms(), "pushes_sent": self.x.market.pushes_sent})

    async def ledger(self, request: web.Request) -> web.Response:
        """`?api_key=K`: one account's own records, whole (the venue's side of an exactly-once check, e.g.
        scripts/torture.py): every order with its client id and creation time, every execution, the
        positions as signed quantities."""
        account = self.x.ledger.accounts.get(request.query.get("api_key", ""))
        if account is None:
            return web.json_response({"error": "api_key must be one of the simulator's accounts"}, status=400)
        orders = [
            {"orderId": o.order_id, "clientId": o.client_id, "symbol": o.symbol, "side": o.side, "qty": o.qty,
             "tradeQty": o.trade_qty, "status": o.status, "reduceOnly": o.reduce_only, "ctime": o.ctime}
            for o in account.orders.values()
        ]  # fmt: skip
        body = {"orders": orders, "fills": account.fills,
                "positions": {s: p.qty for s, p in account.positions.items()}}  # fmt: skip
        return web.json_response(body, dumps=lambda o: orjson.dumps(o).decode())

    async def pause(self, _: web.Request) -> web.Response:
        """Freeze the replay: no push, no fill and no TP/SL trigger until `/admin/play` (so that a rehearsal can
        kill the daemon and liquidate a position without the venue's own TP/SL closing it in between)."""
        self.x.hub.pause()
        return web.json_response({"paused": True, "now_ms": self.x.market.now_ms()})

    async def play(self, _: web.Request) -> web.Response:
        self.x.hub.play()
        return web.json_response({"paused": False, "now_ms": self.x.market.now_ms()})

    async def liquidate(self, request: web.Request) -> web.Response:
        """`{"symbol": "BTCUSDT", "api_key": optional}`: the venue's liquidation engine flattens that
        position of every account (or of one), as it may while the daemon is down."""
        body = await request.json() if request.can_read_body else {}
        symbol = str(body.get("symbol", "")).upper()
        if symbol not in self.x.market.series:
            return web.json_response({"error": f"symbol must be one of {', '.join(self.x.market.symbols)}"}, status=400)
        wanted = body.get("api_key")
        closed = []
        for key, account in self.x.ledger.accounts.items():
            if wanted in (None, key):
                order = self.x.ledger.liquidate(account, symbol)
                if order is not None:
                    closed.append({"api_key": key, "orderId": order.order_id, "qty": order.trade_qty,
                                   "price": order.avg_price})  # fmt: skip
        self.x.faults.fired("liquidate")
        return web.json_response({"liquidated": closed})

    async def drop(self, _: web.Request) -> web.Response:
        return web.json_response({"dropped": self.x.hub.drop_all()})

    async def requests(self, _: web.Request) -> web.Response:
        rows = [
            r.__dict__ if hasattr(r, "__dict__") else {f: getattr(r, f) for f in r.__slots__} for r in self.x.requests
        ]
        return web.json_response(rows, dumps=lambda o: orjson.dumps(o).decode())
