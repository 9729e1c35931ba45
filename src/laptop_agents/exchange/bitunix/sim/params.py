"""Request parsing shared by the simulator's handlers: JSON bodies, paging, time windows, the lost ack.

Malformed input is a `Refusal` (10002), never an exception that would surface as an HTTP 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from laptop_agents.exchange.bitunix import codes
from laptop_agents.exchange.bitunix.sim.rules import Refusal

if TYPE_CHECKING:
    from laptop_agents.exchange.bitunix.sim.ledger import SimAccount
    from laptop_agents.exchange.bitunix.sim.server import SimExchange

Handler = Callable[[web.Request, "SimAccount | None"], Awaitable[Any]]
Routes = dict[str, tuple[str, Handler]]
"""Path under /api/v1/futures → (HTTP method, handler)."""

PAGE_MAX = 100


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError:
        raise Refusal(codes.PARAMETER_ERROR, "body is not JSON") from None
    if not isinstance(body, dict):
        raise Refusal(codes.PARAMETER_ERROR, "body must be a JSON object")
    return body


def int_param(request: web.Request, name: str) -> int | None:
    """An integer query parameter (absent or empty: None)."""
    text = request.query.get(name, "")
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise Refusal(codes.PARAMETER_ERROR, f"{name} must be an integer") from None


def page(request: web.Request, default_limit: int = 10) -> tuple[int, int]:
    """(skip, limit) as documented: skip default 0, limit default 10, at most 100."""
    skip = int_param(request, "skip") or 0
    limit = int_param(request, "limit") or default_limit
    if skip < 0 or limit < 0:
        raise Refusal(codes.PARAMETER_ERROR, "skip and limit must not be negative")
    return skip, min(limit, PAGE_MAX)


def window(request: web.Request) -> tuple[int | None, int | None]:
    """The query's (startTime, endTime) in ms; either may be absent."""
    return int_param(request, "startTime"), int_param(request, "endTime")


def within(ts: int, span: tuple[int | None, int | None]) -> bool:
    start, end = span
    return (start is None or ts >= start) and (end is None or ts <= end)


def lost_ack(exchange: SimExchange, request: web.Request) -> web.Response | None:
    """The `drop_order_response_next` fault: the orders exist (and may have filled) but the caller never
    hears of it, because the connection is cut before the answer."""
    if not exchange.faults.take("drop_order_response_next"):
        return None
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=200)
