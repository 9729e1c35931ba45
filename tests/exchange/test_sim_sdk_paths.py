"""Every REST path of the official SDK's FuturesPath.java on the simulated exchange, over real loopback HTTP.

Paths our client has no method for go through its signed transport (`BitunixRest._call`), so each request
is signed, sent and answered exactly like the daemon's own. Each test checks the documented reply shape and
the state change behind it (a moved stop triggers at its new price, a cancelled one never does, ...).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import pytest

from laptop_agents.base.rate_limiter import RateLimiter
from laptop_agents.base.retry import Backoff
from laptop_agents.exchange.bitunix.errors import ExchangeError
from laptop_agents.exchange.bitunix.rest import BitunixRest, Credentials
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.exchange.bitunix.wire import fmt
from laptop_agents.exchange.bitunix.ws_private import BitunixPrivateStream
from tests.exchange.conftest import KEY, SECRET, eventually

SYMBOL = "BTCUSDT"
API = "/api/v1/futures"
# FuturesPath.java (BitunixOfficial/open-api, Demo/Java), REST paths only.
FUTURES_PATHS = {
    "/api/v1/futures/market/trading_pairs", "/api/v1/futures/market/tickers", "/api/v1/futures/market/kline",
    "/api/v1/futures/market/funding_rate", "/api/v1/futures/market/depth", "/api/v1/futures/account",
    "/api/v1/futures/account/get_leverage_margin_mode", "/api/v1/futures/account/change_position_mode",
    "/api/v1/futures/account/change_leverage", "/api/v1/futures/account/change_margin_mode",
    "/api/v1/futures/account/adjust_position_margin", "/api/v1/futures/trade/place_order",
    "/api/v1/futures/trade/batch_order", "/api/v1/futures/trade/cancel_all_orders",
    "/api/v1/futures/trade/cancel_orders", "/api/v1/futures/trade/close_all_position",
    "/api/v1/futures/trade/flash_close_position", "/api/v1/futures/trade/get_history_orders",
    "/api/v1/futures/trade/get_history_trades", "/api/v1/futures/trade/get_order_detail",
    "/api/v1/futures/trade/get_pending_orders", "/api/v1/futures/trade/modify_order",
    "/api/v1/futures/position/get_history_positions", "/api/v1/futures/position/get_pending_positions",
    "/api/v1/futures/position/get_position_tiers", "/api/v1/futures/tpsl/cancel_order",
    "/api/v1/futures/tpsl/get_history_orders", "/api/v1/futures/tpsl/get_pending_orders",
    "/api/v1/futures/tpsl/position/modify_order", "/api/v1/futures/tpsl/modify_order",
    "/api/v1/futures/tpsl/position/place_order", "/api/v1/futures/tpsl/place_order",
}  # fmt: skip
BEYOND_THE_SDK = {"/api/v1/futures/market/get_funding_rate_history"}
"""Documented (bitunix-api.md §3.5) but not in FuturesPath.java: `la download --funding` reads it."""
PENDING_TPSL_KEYS = {
    "id", "positionId", "symbol", "base", "quote", "tpPrice", "tpStopType", "slPrice", "slStopType", "tpOrderType",
    "tpOrderPrice", "slOrderType", "slOrderPrice", "tpQty", "slQty",
}  # fmt: skip
HISTORY_POSITION_KEYS = {
    "positionId", "symbol", "marginCoin", "maxQty", "qty", "entryPrice", "closePrice", "liqQty", "side", "marginMode",
    "positionMode", "leverage", "fee", "funding", "realizedPNL", "margin", "liqPrice", "ctime", "mtime",
}  # fmt: skip
TPSL_PUSH_KEYS = {
    "event", "orderId", "positionId", "symbol", "positionType", "positionMode", "side", "effect", "type", "qty",
    "reductionOnly", "price", "ctime", "mtime", "leverage", "status", "tpStopType", "tpPrice", "tpOrderType",
    "tpOrderPrice", "slStopType", "slPrice", "slOrderType", "slOrderPrice", "tpQty", "slQty",
}  # fmt: skip


@pytest.fixture(autouse=True)
def roomy_rate_limit(sim: SimExchange) -> None:
    """These tests send more than the venue's 10 signed calls per second; the limit has its own tests."""
    sim.config.rest_rate_per_s = 1_000


async def call(
    rest: BitunixRest, method: str, path: str, *, params: Mapping[str, str] | None = None, body: Any = None
) -> Any:
    """One signed request through our client's transport; the reply's `data`."""
    return await rest._call(method, path, params=params, body=body, signed=True, retry=False)


async def refused(code: int, rest: BitunixRest, method: str, path: str, **kwargs: Any) -> None:
    with pytest.raises(ExchangeError) as info:
        await call(rest, method, path, **kwargs)
    assert info.value.code == code, info.value


def px(value: float) -> str:
    """A price on BTCUSDT's 0.1 tick, written as the wire writes decimals."""
    return fmt(round(value, 1))


def last(sim: SimExchange) -> float:
    return sim.market.last_price(SYMBOL)


async def open_long(rest: BitunixRest, qty: str = "0.020", client_id: str = "e-1", **extra: Any) -> dict[str, Any]:
    await rest.place_order(symbol=SYMBOL, side="buy", qty=qty, order_type="market", client_id=client_id, extra=extra)
    (position,) = await call(rest, "GET", "/position/get_pending_positions", params={"symbol": SYMBOL})
    return dict(position)


async def advance_until(sim: SimExchange, done: Callable[[], bool], what: str, max_pushes: int = 4000) -> list[float]:
    """Step the replay one push at a time until `done()`; the last prices seen before each step."""
    seen = []
    for _ in range(max_pushes):
        if done():
            return seen
        seen.append(last(sim))
        await sim.hub.advance(1)
    raise AssertionError(f"the replay never reached: {what}")


def account(sim: SimExchange) -> Any:
    return sim.ledger.accounts[KEY]


# -- Routing ---------------------------------------------------------------------------------------------


def test_the_server_routes_exactly_the_sdk_paths(sim: SimExchange) -> None:
    routed = {r.resource.canonical for r in sim.app.router.routes() if r.resource is not None}
    assert {p for p in routed if p.startswith(API)} == FUTURES_PATHS | BEYOND_THE_SDK
    assert {"/public/", "/private/"} <= routed  # FuturesPath's WS_PUBLIC / WS_PRIVATE


# -- Account ---------------------------------------------------------------------------------------------


async def test_adjust_position_margin(sim: SimExchange, rest: BitunixRest) -> None:
    position = await open_long(rest)
    margin0, available0 = float(position["margin"]), (await rest.account()).available
    body = {"symbol": SYMBOL, "marginCoin": "USDT", "amount": 100, "positionId": int(position["positionId"])}
    assert await call(rest, "POST", "/account/adjust_position_margin", body=body) == ""  # a Long id, a number amount
    (after,) = await call(rest, "GET", "/position/get_pending_positions")
    assert float(after["margin"]) == pytest.approx(margin0 + 100)
    assert (await rest.account()).available == pytest.approx(available0 - 100, abs=0.5)
    body = {"symbol": SYMBOL, "marginCoin": "USDT", "amount": "-40", "side": "LONG"}
    assert await call(rest, "POST", "/account/adjust_position_margin", body=body) == ""
    assert account(sim).positions[SYMBOL].extra_margin == pytest.approx(60)
    path = "/account/adjust_position_margin"
    await refused(20008, rest, "POST", path, body={**body, "amount": "-61"})  # more than was added
    await refused(30004, rest, "POST", path, body={**body, "side": "SHORT"})
    await refused(20003, rest, "POST", path, body={**body, "amount": "1000000"})
    await refused(10002, rest, "POST", path, body={"symbol": SYMBOL, "amount": "0", "side": "LONG"})
    await refused(10002, rest, "POST", path, body={"symbol": SYMBOL, "amount": "5"})  # neither side nor positionId


# -- Trade -----------------------------------------------------------------------------------------------


async def test_batch_order(sim: SimExchange, rest: BitunixRest) -> None:
    low = px(last(sim) * 0.8)
    orders = [
        {"side": "BUY", "orderType": "MARKET", "qty": "0.010", "clientId": "b1"},
        {"side": "BUY", "orderType": "LIMIT", "qty": "0.010", "price": low, "effect": "GTC", "clientId": "b2"},
        {"side": "BUY", "orderType": "MARKET", "qty": "0.010", "clientId": "b1"},  # client id taken
        {"side": "BUY", "orderType": "MARKET", "qty": "0.0001", "clientId": "b3"},  # below the minimum
    ]
    data = await call(rest, "POST", "/trade/batch_order", body={"symbol": SYMBOL, "orderList": orders})
    assert [s["clientId"] for s in data["successList"]] == ["b1", "b2"]
    assert all(s["orderId"] for s in data["successList"])
    assert [(f["clientId"], f["errorCode"]) for f in data["failureList"]] == [("b1", "30042"), ("b3", "30017")]
    assert all(f["errorMsg"] for f in data["failureList"])
    assert account(sim).positions[SYMBOL].qty == pytest.approx(0.01)  # b1 filled once
    assert (await rest.order_detail(client_id="b2")).status == "NEW"  # b2 rests
    sim.faults.update({"insufficient_balance_next": 1})  # the faults apply per entry, as on place_order
    again = [{**orders[0], "clientId": "b4"}, {**orders[0], "clientId": "b5"}]
    data = await call(rest, "POST", "/trade/batch_order", body={"symbol": SYMBOL, "orderList": again})
    assert [f["errorCode"] for f in data["failureList"]] == ["20003"]
    assert [s["clientId"] for s in data["successList"]] == ["b5"]
    await refused(20016, rest, "POST", "/trade/batch_order", body={"symbol": SYMBOL, "orderList": [orders[0]] * 21})
    await refused(10002, rest, "POST", "/trade/batch_order", body={"symbol": SYMBOL, "orderList": []})


async def test_cancel_all_orders(sim: SimExchange, rest: BitunixRest) -> None:
    low = px(last(sim) * 0.8)
    for cid in ("r1", "r2"):
        await rest.place_order(symbol=SYMBOL, side="buy", qty="0.01", order_type="limit", client_id=cid, price=low)
    await rest.place_order(symbol=SYMBOL, side="buy", qty="0.01", order_type="market", client_id="m1")
    data = await call(rest, "POST", "/trade/cancel_all_orders", body={"symbol": SYMBOL, "marginCoin": "USDT"})
    assert [s["clientId"] for s in data["successList"]] == ["r1", "r2"] and data["failureList"] == []
    assert await rest.pending_orders(SYMBOL) == []
    assert {o.client_id: o.status for o in account(sim).orders.values()} == {
        "r1": "CANCELED", "r2": "CANCELED", "m1": "FILLED"
    }  # fmt: skip
    assert await call(rest, "POST", "/trade/cancel_all_orders", body={}) == {"successList": [], "failureList": []}
    await refused(20001, rest, "POST", "/trade/cancel_all_orders", body={"symbol": "NOPEUSDT"})


async def test_close_all_position(sim: SimExchange, rest: BitunixRest) -> None:
    await open_long(rest)
    assert await call(rest, "POST", "/trade/close_all_position", body={"symbol": SYMBOL}) == ""
    assert await rest.pending_positions() == [] and not account(sim).positions
    close = account(sim).fills[-1]
    assert (close["side"], close["clientId"], close["reduceOnly"], close["qty"]) == ("SELL", "", True, 0.02)
    assert await call(rest, "POST", "/trade/close_all_position", body={}) == ""  # nothing open: still fine


async def test_flash_close_position(sim: SimExchange, rest: BitunixRest) -> None:
    position = await open_long(rest)
    body = {"positionId": position["positionId"], "marginCoin": "USDT"}
    assert await call(rest, "POST", "/trade/flash_close_position", body=body) == ""
    assert not account(sim).positions
    assert account(sim).fills[-1]["reduceOnly"] and account(sim).fills[-1]["clientId"] == ""
    await refused(30004, rest, "POST", "/trade/flash_close_position", body=body)  # gone now
    await refused(10002, rest, "POST", "/trade/flash_close_position", body={})


async def test_get_history_orders(sim: SimExchange, rest: BitunixRest) -> None:
    low = px(last(sim) * 0.8)
    await rest.place_order(symbol=SYMBOL, side="buy", qty="0.01", order_type="limit", client_id="h1", price=low)
    await rest.cancel_orders(SYMBOL, client_ids=["h1"])
    await sim.hub.advance(1)
    await rest.place_order(symbol=SYMBOL, side="buy", qty="0.01", order_type="market", client_id="h2")
    await rest.place_order(symbol=SYMBOL, side="buy", qty="0.01", order_type="limit", client_id="h3", price=low)
    data = await call(rest, "GET", "/trade/get_history_orders", params={"symbol": SYMBOL})
    assert data["total"] == 2  # h3 is still open: not history
    assert [(o["clientId"], o["status"], o["orderType"]) for o in data["orderList"]] == [
        ("h2", "FILLED", "MARKET"), ("h1", "CANCELED", "LIMIT")
    ]  # fmt: skip
    assert isinstance(data["orderList"][0]["ctime"], int) and data["orderList"][0]["tradeQty"] == "0.01"
    only = await call(rest, "GET", "/trade/get_history_orders", params={"status": "CANCELED"})
    assert [o["clientId"] for o in only["orderList"]] == ["h1"]
    page = await call(rest, "GET", "/trade/get_history_orders", params={"skip": "1", "limit": "1"})
    assert [o["clientId"] for o in page["orderList"]] == ["h1"] and page["total"] == 2
    by_id = await call(rest, "GET", "/trade/get_history_orders", params={"clientId": "h2"})
    assert [o["clientId"] for o in by_id["orderList"]] == ["h2"]
    later = await call(rest, "GET", "/trade/get_history_orders", params={"startTime": str(sim.market.now_ms() + 1)})
    assert later == {"orderList": [], "total": 0}
    await refused(10008, rest, "GET", "/trade/get_history_orders", params={"status": "NEW"})


async def test_modify_order(sim: SimExchange, rest: BitunixRest) -> None:
    low = last(sim) * 0.8
    await rest.place_order(symbol=SYMBOL, side="buy", qty="0.01", order_type="limit", client_id="mo", price=px(low))
    body = {"clientId": "mo", "qty": "0.020", "price": px(low - 10), "slPrice": px(low - 500), "slStopType": "MARK"}
    data = await call(rest, "POST", "/trade/modify_order", body=body)
    (order,) = [o for o in account(sim).orders.values() if o.client_id == "mo"]
    assert data == {"orderId": order.order_id, "clientId": "mo"}
    info = await rest.order_detail(client_id="mo")
    assert (info.qty, info.price, info.status) == (0.02, round(low - 10, 1), "NEW")
    assert order.sl is not None and (order.sl.price, order.sl.stop_type) == (round(low - 500, 1), "MARK_PRICE")
    await refused(20007, rest, "POST", "/trade/modify_order", body={**body, "clientId": "nope"})
    await rest.place_order(symbol=SYMBOL, side="buy", qty="0.01", order_type="market", client_id="mk")
    await refused(20007, rest, "POST", "/trade/modify_order", body={**body, "clientId": "mk"})  # filled: not open
    await refused(20003, rest, "POST", "/trade/modify_order", body={**body, "qty": "400"})
    await refused(10002, rest, "POST", "/trade/modify_order", body={"clientId": "mo", "qty": "0.02"})  # no price


# -- Positions -------------------------------------------------------------------------------------------


async def test_get_history_positions(sim: SimExchange, rest: BitunixRest) -> None:
    position = await open_long(rest)
    await rest.place_order(symbol=SYMBOL, side="sell", qty="0.010", order_type="market", client_id="x1",
                           reduce_only=True)  # fmt: skip
    await sim.hub.advance(8)
    await rest.place_order(symbol=SYMBOL, side="sell", qty="0.010", order_type="market", client_id="x2",
                           reduce_only=True)  # fmt: skip
    data = await call(rest, "GET", "/position/get_history_positions", params={"symbol": SYMBOL})
    assert data["total"] == 1
    (row,) = data["positionList"]
    assert set(row) == HISTORY_POSITION_KEYS
    fills = account(sim).fills
    assert (row["positionId"], row["side"]) == (position["positionId"], "LONG")
    assert (row["maxQty"], row["qty"]) == ("0.02", "0.02")
    assert float(row["entryPrice"]) == pytest.approx(fills[0]["price"])
    assert float(row["closePrice"]) == pytest.approx((fills[1]["price"] + fills[2]["price"]) / 2)
    assert float(row["realizedPNL"]) == pytest.approx(fills[1]["realizedPNL"] + fills[2]["realizedPNL"])
    assert float(row["fee"]) == pytest.approx(sum(f["fee"] for f in fills))
    assert isinstance(row["ctime"], int) and row["mtime"] == fills[2]["ctime"] > row["ctime"]
    by_id = {"positionId": position["positionId"]}
    assert (await call(rest, "GET", "/position/get_history_positions", params=by_id))["total"] == 1
    later = {"startTime": str(row["mtime"] + 1)}
    assert await call(rest, "GET", "/position/get_history_positions", params=later) == {"positionList": [], "total": 0}


async def test_get_position_tiers(sim: SimExchange, rest: BitunixRest, session: aiohttp.ClientSession) -> None:
    tiers = await call(rest, "GET", "/position/get_position_tiers", params={"symbol": SYMBOL})  # signed, as the SDK
    assert [set(t) for t in tiers] == [
        {"symbol", "level", "startValue", "endValue", "leverage", "maintenanceMarginRate"}
    ] * len(tiers)  # fmt: skip
    assert [t["level"] for t in tiers] == list(range(1, len(tiers) + 1)) and len(tiers) >= 3
    assert tiers[0]["leverage"] == sim.ledger.rules[SYMBOL].max_leverage and tiers[0]["startValue"] == "0"
    assert all(
        a["endValue"] == b["startValue"] and a["leverage"] >= b["leverage"] for a, b in itertools.pairwise(tiers)
    )
    async with session.get(sim.rest_url + API + "/position/get_position_tiers", params={"symbol": SYMBOL}) as r:
        assert (await r.json())["data"] == tiers  # unsigned too: the docs list it as public
    await refused(20015, rest, "GET", "/position/get_position_tiers", params={"symbol": "NOPEUSDT"})


# -- TP/SL -----------------------------------------------------------------------------------------------


async def test_tpsl_place_order_closes_part_of_the_position(sim: SimExchange, rest: BitunixRest) -> None:
    position = await open_long(rest, "0.030")
    stop = round(last(sim) - 5, 1)
    body = {"symbol": SYMBOL, "positionId": position["positionId"], "slPrice": px(stop), "slStopType": "LAST_PRICE",
            "slOrderType": "MARKET", "slQty": "0.010"}  # fmt: skip
    data = await call(rest, "POST", "/tpsl/place_order", body=body)
    assert set(data) == {"orderId"}
    (pending,) = await call(rest, "GET", "/tpsl/get_pending_orders", params={"symbol": SYMBOL})
    assert (pending["id"], pending["slPrice"]) == (data["orderId"], px(stop))
    assert (pending["slQty"], pending["tpPrice"]) == ("0.01", None)
    held = account(sim).positions[SYMBOL]
    seen = await advance_until(sim, lambda: held.qty < 0.03 - 1e-9, "the partial stop")
    assert seen[-1] > stop and last(sim) <= stop  # fired on the first last price at or below the stop
    assert held.qty == pytest.approx(0.02) and SYMBOL in account(sim).positions  # only slQty of it
    assert account(sim).fills[-1]["qty"] == pytest.approx(0.01) and account(sim).fills[-1]["clientId"] == ""
    assert await call(rest, "GET", "/tpsl/get_pending_orders") == []
    path, pid = "/tpsl/place_order", position["positionId"]
    await refused(30038, rest, "POST", path, body={**body, "slPrice": px(last(sim) - 50), "slQty": "0.030"})
    await refused(30028, rest, "POST", path, body={**body, "slPrice": px(last(sim) + 50)})  # a long's SL above
    await refused(10002, rest, "POST", path, body={**body, "slPrice": px(last(sim) - 50), "slQty": ""})
    await refused(30006, rest, "POST", path, body={"symbol": SYMBOL, "positionId": pid})
    await refused(30004, rest, "POST", path, body={**body, "positionId": "123"})
    sim.config.tpsl_place_shape = "array"  # the live reply seen as [{"orderId"}] (and the SDK reads a list)
    tp = {"symbol": SYMBOL, "positionId": pid, "tpPrice": px(last(sim) + 500), "tpQty": "0.01"}
    assert [set(row) for row in await call(rest, "POST", path, body=tp)] == [{"orderId"}]


async def test_tpsl_position_place_order(sim: SimExchange, rest: BitunixRest) -> None:
    position = await open_long(rest)
    assert await call(rest, "GET", "/tpsl/get_pending_orders") == []  # no tpPrice/slPrice on the entry
    now = last(sim)
    body = {"symbol": SYMBOL, "positionId": position["positionId"], "tpPrice": px(now + 800), "tpStopType": "MARK",
            "slPrice": px(now - 800), "slStopType": "LAST_PRICE"}  # fmt: skip
    data = await call(rest, "POST", "/tpsl/position/place_order", body=body)
    (pending,) = await call(rest, "GET", "/tpsl/get_pending_orders", params={"positionId": position["positionId"]})
    assert set(pending) == PENDING_TPSL_KEYS and pending["id"] == data["orderId"]
    assert (pending["tpStopType"], pending["slStopType"]) == ("MARK_PRICE", "LAST_PRICE")  # MARK normalised
    assert (pending["tpOrderType"], pending["slOrderType"]) == ("MARKET", "MARKET")
    assert pending["tpQty"] == pending["slQty"] == "0.02"  # the whole position
    await refused(10002, rest, "POST", "/tpsl/position/place_order", body=body)  # one per position
    await call(rest, "POST", "/tpsl/cancel_order", body={"symbol": SYMBOL, "orderId": data["orderId"]})
    await refused(30027, rest, "POST", "/tpsl/position/place_order", body={**body, "tpPrice": px(now - 100)})  # MARK
    await refused(30026, rest, "POST", "/tpsl/position/place_order",
                  body={**body, "tpPrice": px(now - 100), "tpStopType": "LAST"})  # fmt: skip
    await refused(30041, rest, "POST", "/tpsl/position/place_order", body={**body, "slPrice": "0"})
    await refused(10008, rest, "POST", "/tpsl/position/place_order", body={**body, "slStopType": "INDEX"})


async def test_tpsl_modify_order(sim: SimExchange, rest: BitunixRest) -> None:
    position = await open_long(rest, "0.030")
    now = last(sim)
    body = {"symbol": SYMBOL, "positionId": position["positionId"], "tpPrice": px(now + 300), "tpQty": "0.010"}
    order_id = (await call(rest, "POST", "/tpsl/place_order", body=body))["orderId"]
    change = {"orderId": order_id, "tpPrice": px(now + 600), "tpQty": "0.020", "slPrice": px(now - 600),
              "slQty": "0.010", "slOrderType": "LIMIT", "slOrderPrice": px(now - 610)}  # fmt: skip
    assert await call(rest, "POST", "/tpsl/modify_order", body=change) == {"orderId": order_id}
    (pending,) = await call(rest, "GET", "/tpsl/get_pending_orders")
    assert (pending["tpPrice"], pending["tpQty"], pending["slPrice"], pending["slQty"]) == (
        px(now + 600), "0.02", px(now - 600), "0.01"
    )  # fmt: skip
    assert (pending["slOrderType"], pending["slOrderPrice"]) == ("LIMIT", px(now - 610))
    await refused(20007, rest, "POST", "/tpsl/modify_order", body={**change, "orderId": "42"})
    await refused(10002, rest, "POST", "/tpsl/modify_order", body={**change, "orderId": ""})
    await refused(10002, rest, "POST", "/tpsl/modify_order", body={**change, "tpPrice": "high"})
    await refused(30026, rest, "POST", "/tpsl/modify_order", body={**change, "tpPrice": px(now - 300)})
    await refused(30006, rest, "POST", "/tpsl/modify_order", body={"orderId": order_id})


async def test_tpsl_position_modify_order_moves_the_stop(sim: SimExchange, rest: BitunixRest) -> None:
    """The daemon's trailing stop: the entry's stop is moved up; it fires at the new price, never the old."""
    far = round(last(sim) * 0.7, 1)
    position = await open_long(rest, slPrice=px(far), slStopType="LAST_PRICE", slOrderType="MARKET",
                               tpPrice=px(last(sim) * 1.5))  # fmt: skip
    (entry_tpsl,) = await call(rest, "GET", "/tpsl/get_pending_orders", params={"symbol": SYMBOL})
    assert entry_tpsl["slPrice"] == px(far)  # the entry's slPrice/tpPrice became a real TP/SL order
    stop = round(last(sim) - 5, 1)
    body = {"symbol": SYMBOL, "positionId": position["positionId"], "slPrice": px(stop), "slStopType": "LAST_PRICE"}
    assert await call(rest, "POST", "/tpsl/position/modify_order", body=body) == {"orderId": entry_tpsl["id"]}
    (moved,) = await call(rest, "GET", "/tpsl/get_pending_orders")
    assert (moved["slPrice"], moved["tpPrice"]) == (px(stop), entry_tpsl["tpPrice"])  # the TP left as it was
    seen = await advance_until(sim, lambda: not account(sim).positions, "the moved stop")
    assert min(seen) > stop >= last(sim) and stop > far  # the first price through the new stop closed it
    close = account(sim).fills[-1]
    assert close["price"] == pytest.approx(last(sim) * (1 - 0.0002)) and close["clientId"] == ""
    (done,) = (await call(rest, "GET", "/tpsl/get_history_orders"))["orderList"]
    assert (done["id"], done["status"], done["slPrice"]) == (entry_tpsl["id"], "FILLED", px(stop))
    await refused(30004, rest, "POST", "/tpsl/position/modify_order", body=body)  # the position is gone
    other = await open_long(rest, client_id="e-2")
    await refused(20007, rest, "POST", "/tpsl/position/modify_order", body={**body, "positionId": other["positionId"]})
    above = {**body, "positionId": other["positionId"], "slPrice": px(last(sim) + 20)}
    await refused(30028, rest, "POST", "/tpsl/position/place_order", body=above)  # a long's SL above the price


async def test_tpsl_cancel_order(sim: SimExchange, rest: BitunixRest) -> None:
    stop = round(last(sim) - 5, 1)
    await open_long(rest, slPrice=px(stop), slStopType="LAST_PRICE", slOrderType="MARKET")
    (pending,) = await call(rest, "GET", "/tpsl/get_pending_orders")
    body = {"symbol": SYMBOL, "orderId": pending["id"]}
    assert await call(rest, "POST", "/tpsl/cancel_order", body=body) == {"orderId": pending["id"]}
    assert await call(rest, "GET", "/tpsl/get_pending_orders") == []
    await advance_until(sim, lambda: last(sim) < stop - 20, "a price well below the cancelled stop")
    assert SYMBOL in account(sim).positions  # the cancelled stop never fired
    (row,) = (await call(rest, "GET", "/tpsl/get_history_orders"))["orderList"]
    assert (row["status"], row["triggerTime"]) == ("CANCELED", None)
    await refused(20007, rest, "POST", "/tpsl/cancel_order", body=body)  # not pending any more
    await refused(10002, rest, "POST", "/tpsl/cancel_order", body={"symbol": SYMBOL})


async def test_tpsl_get_pending_orders(sim: SimExchange, rest: BitunixRest) -> None:
    now = last(sim)
    position = await open_long(rest, tpPrice=px(now + 900), slPrice=px(now - 900))
    rows = await call(rest, "GET", "/tpsl/get_pending_orders", params={"symbol": SYMBOL, "limit": "100"})
    assert isinstance(rows, list) and len(rows) == 1 and set(rows[0]) == PENDING_TPSL_KEYS
    row = rows[0]
    assert (row["positionId"], row["symbol"], row["base"], row["quote"]) == (
        position["positionId"],
        SYMBOL,
        "BTC",
        "USDT",
    )
    assert (row["tpPrice"], row["slPrice"]) == (px(now + 900), px(now - 900))
    assert (row["tpStopType"], row["slOrderType"], row["slOrderPrice"]) == ("LAST_PRICE", "MARKET", None)
    other = {"positionId": "1"}
    assert await call(rest, "GET", "/tpsl/get_pending_orders", params=other) == []
    assert await call(rest, "GET", "/tpsl/get_pending_orders", params={"skip": "1"}) == []
    await refused(10002, rest, "GET", "/tpsl/get_pending_orders", params={"side": "LONG"})  # an int32 field
    await call(rest, "POST", "/trade/close_all_position", body={})
    assert await call(rest, "GET", "/tpsl/get_pending_orders") == []  # a closed position's TP/SL is cancelled


async def test_tpsl_get_history_orders(sim: SimExchange, rest: BitunixRest) -> None:
    stop = round(last(sim) - 5, 1)
    position = await open_long(rest, slPrice=px(stop))
    await advance_until(sim, lambda: not account(sim).positions, "the stop")
    data = await call(rest, "GET", "/tpsl/get_history_orders", params={"symbol": SYMBOL})
    assert data["total"] == 1 and set(data["orderList"][0]) == PENDING_TPSL_KEYS | {"status", "ctime", "triggerTime"}
    row = data["orderList"][0]
    assert (row["positionId"], row["status"]) == (position["positionId"], "FILLED")
    assert (row["slPrice"], row["slQty"], row["tpPrice"]) == (px(stop), "0.02", None)
    assert isinstance(row["ctime"], int) and row["triggerTime"] == account(sim).fills[-1]["ctime"] >= row["ctime"]
    later = {"startTime": str(row["ctime"] + 1)}
    assert await call(rest, "GET", "/tpsl/get_history_orders", params=later) == {"orderList": [], "total": 0}
    assert await call(rest, "GET", "/tpsl/get_pending_orders") == []  # it left the pending list


async def test_tpsl_changes_are_pushed_on_the_private_tpsl_channel(sim: SimExchange, rest: BitunixRest) -> None:
    private = BitunixPrivateStream(
        sim.ws_private_url,
        credentials=Credentials(KEY, SECRET),
        limiter=RateLimiter(50, 10),
        ping_interval_s=0.2,
        backoff=Backoff(initial_s=0.02, max_s=0.1),
    )
    private.start()
    try:
        await eventually(lambda: any(("", "tpsl") in c.subs for c in sim.hub.conns), what="tpsl subscription")
        stop = round(last(sim) - 5, 1)
        position = await open_long(rest, slPrice=px(last(sim) * 0.7))
        body = {"symbol": SYMBOL, "positionId": position["positionId"], "slPrice": px(stop)}
        await call(rest, "POST", "/tpsl/position/modify_order", body=body)
        await advance_until(sim, lambda: not account(sim).positions, "the stop")
        pushes: list[dict[str, Any]] = []
        while len(pushes) < 3:
            channel, data = await asyncio.wait_for(private.get(), 5)
            if channel == "tpsl":
                pushes.append(data)
    finally:
        await private.stop()
    assert [(p["event"], p["status"]) for p in pushes] == [("CREATE", "NEW"), ("UPDATE", "NEW"), ("CLOSE", "FILLED")]
    assert all(set(p) == TPSL_PUSH_KEYS for p in pushes)
    assert {p["orderId"] for p in pushes} == {pushes[0]["orderId"]}
    assert (pushes[1]["slPrice"], pushes[1]["qty"]) == (px(stop), "0.02")  # the moved stop, the whole position
    assert (pushes[1]["type"], pushes[1]["side"], pushes[1]["reductionOnly"]) == ("POSITION_TPSL", "BUY", True)
    assert pushes[2]["ctime"].endswith("Z") and pushes[2]["positionId"] == position["positionId"]
