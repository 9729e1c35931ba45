"""The simulated exchange itself: replay, funding, admin endpoint, state inspection and wire variants."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
import pytest
import websockets

from laptop_agents.base.rate_limiter import RateLimiter
from laptop_agents.core.candle import Candle
from laptop_agents.exchange.bitunix.errors import (
    DuplicateClientId,
    ExchangeError,
    OrderNotFound,
    ParameterError,
    QtyOutOfRange,
)
from laptop_agents.exchange.bitunix.rest import BitunixRest
from laptop_agents.exchange.bitunix.signing import new_nonce, sign_ws_login
from laptop_agents.exchange.bitunix.sim.market import partial
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.exchange.bitunix.wire import fmt
from laptop_agents.exchange.bitunix.ws_public import BitunixPublicStream
from tests.exchange.conftest import KEY, SECRET, bundled_candles, eventually, sim_config


def test_partial_candle_walks_open_low_high_close_and_ends_exact() -> None:
    up = Candle(0, 100.0, 110.0, 95.0, 108.0, 40.0)
    assert partial(up, 1 / 3) == (100.0, 100.0, 95.0, 95.0, pytest.approx(40 / 3))
    o, h, lo, c, _ = partial(up, 0.5)
    assert (o, lo, h) == (100.0, 95.0, pytest.approx(102.5)) and c == h  # halfway up the middle leg
    assert partial(up, 1.0) == (100.0, 110.0, 95.0, 108.0, 40.0)
    down = Candle(0, 100.0, 104.0, 90.0, 92.0, 8.0)
    assert partial(down, 1 / 3)[1:4] == (104.0, 100.0, 104.0)  # a down candle visits the high first


async def test_rest_serves_only_what_the_replay_reached(sim: SimExchange, rest: BitunixRest) -> None:
    file = bundled_candles()
    assert (await rest.klines("BTCUSDT", "1m"))[-1].ts == file[1499].ts
    await sim.hub.advance(4 * 10 + 1)
    assert (await rest.klines("BTCUSDT", "1m"))[-1] == file[1509]


async def test_funding_is_charged_every_8_hours_of_market_time(sim: SimExchange, rest: BitunixRest) -> None:
    await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.100", order_type="market", client_id="f-1")
    account = sim.ledger.accounts[KEY]
    before = account.balance
    period = 8 * 3_600_000
    next_funding = (sim.market.now_ms() // period + 1) * period
    pushes = (next_funding - sim.market.now_ms()) // 15_000 + 4
    await sim.hub.advance(int(pushes))
    position = account.positions["BTCUSDT"]
    assert position.funding > 0  # a long pays a positive rate
    assert account.balance == pytest.approx(before - position.funding)
    assert position.funding == pytest.approx(0.1 * sim.market.last_price("BTCUSDT") * 0.0001, rel=0.02)


async def test_admin_endpoint_sets_faults_advances_and_reports_state(
    sim: SimExchange, session: aiohttp.ClientSession
) -> None:
    async with session.post(sim.rest_url + "/admin/faults", json={"latency_ms": 5, "rate_limit_next": 1}) as r:
        assert (await r.json())["rate_limit_next"] == 1
    async with session.post(sim.rest_url + "/admin/faults", json={"no_such_fault": 1}) as r:
        assert r.status == 400 and "unknown fault" in (await r.json())["error"]
    async with session.post(sim.rest_url + "/admin/advance", json={"candles": 2}) as r:
        assert (await r.json())["pushes_sent"] == 8
    async with session.get(sim.rest_url + "/api/v1/futures/market/tickers") as r:
        assert (await r.json())["code"] == 10006  # the fault set over HTTP fired
    async with session.get(sim.rest_url + "/admin/state") as r:
        state = await r.json()
    assert state["pushes_sent"] == 8 and state["faults"]["counts"]["rate_limit_next"] == 1
    assert state["accounts"][KEY]["balance"] == 10_000
    async with session.get(sim.rest_url + "/admin/requests") as r:
        log = await r.json()
    assert log[-1]["path"] == "/api/v1/futures/market/tickers" and log[-1]["code"] == 10006
    async with session.post(sim.rest_url + "/admin/drop") as r:
        assert (await r.json())["dropped"] == 0


async def test_a_contracts_rules_changed_over_admin_apply_to_the_listing_and_the_next_order(
    sim: SimExchange, rest: BitunixRest, session: aiohttp.ClientSession
) -> None:
    """`POST /admin/contract`: the venue changes a contract's filters at runtime (§6 #19's rehearsal)."""
    change = {"symbol": "btcusdt", "min_qty": 0.01, "base_precision": 2, "quote_precision": 2}
    async with session.post(sim.rest_url + "/admin/contract", json=change) as r:
        assert r.status == 200 and (await r.json())["minTradeVolume"] == "0.01"
    (spec,) = await rest.trading_pairs(["BTCUSDT"])
    assert (spec.min_qty, spec.qty_step, spec.tick) == (0.01, 0.01, 0.01)
    with pytest.raises(QtyOutOfRange):  # 30017: below the new minimum
        await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.005", order_type="market", client_id="c-1")
    with pytest.raises(ParameterError, match="more than 2 decimals"):  # off the new lot
        await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.015", order_type="market", client_id="c-2")
    await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.02", order_type="market", client_id="c-3")
    for bad, fragment in [
        ({"symbol": "NOPE", "min_qty": 1}, "symbol must be one of"),
        ({"symbol": "BTCUSDT", "tick": 0.1}, "unknown contract rule 'tick'"),
        ({"symbol": "BTCUSDT", "base_precision": 1.5}, "must be a whole number"),
        ({"symbol": "BTCUSDT", "min_qty": "0.1"}, "must be a number"),
        ({"symbol": "BTCUSDT", "min_qty": 0}, "must be > 0"),
        ({"symbol": "BTCUSDT", "min_qty": 1000}, "min_qty must be <= max_qty"),
    ]:
        async with session.post(sim.rest_url + "/admin/contract", json=bad) as r:
            assert r.status == 400 and fragment in (await r.json())["error"], bad
    assert sim.ledger.contract("BTCUSDT").min_qty == 0.01  # a refused change leaves the rules as they were
    assert sim.faults.counts["contract_changed"] == 1


async def test_refuse_order_next_refuses_with_its_code_and_places_nothing(sim: SimExchange, rest: BitunixRest) -> None:
    sim.faults.update({"refuse_order_next": 1, "refuse_order_code": 30017})
    with pytest.raises(QtyOutOfRange):
        await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.010", order_type="market", client_id="r-1")
    assert sim.ledger.accounts[KEY].orders == {} and sim.faults.counts["refuse_order_next"] == 1
    await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.010", order_type="market", client_id="r-2")
    with pytest.raises(ValueError, match="not 0"):
        sim.faults.update({"refuse_order_code": 0})


async def test_request_log_and_fills_are_inspectable(sim: SimExchange, rest: BitunixRest) -> None:
    await rest.place_order(symbol="BTCUSDT", side="sell", qty="0.010", order_type="market", client_id="i-1")
    (record,) = sim.requests_to("/trade/place_order")
    assert (record.method, record.api_key, record.code, record.http_status) == ("POST", KEY, 0, 200)
    (fill,) = sim.ledger.accounts[KEY].fills
    assert (fill["clientId"], fill["side"], fill["roleType"]) == ("i-1", "SELL", "TAKER")


async def test_wire_variants_are_understood_by_our_clients(sim: SimExchange, rest: BitunixRest) -> None:
    sim.config.subscribe_ack = True  # C7
    sim.config.position_side = "BUY"  # C10
    sim.config.accept_last_kline_prefix = True  # C3
    await rest.place_order(symbol="BTCUSDT", side="sell", qty="0.010", order_type="market", client_id="v-1")
    (position,) = await rest.pending_positions()
    assert position.side == "short"
    stream = BitunixPublicStream(sim.ws_public_url, symbols=["BTCUSDT"], interval="1m", limiter=RateLimiter(50, 10))
    stream.start()
    try:
        await eventually(lambda: any(("BTCUSDT", "market_kline_1min") in c.subs for c in sim.hub.conns))
        await sim.hub.advance(9)
        (_, candle) = await asyncio.wait_for(stream.get(), 5)
        assert candle == bundled_candles()[1500]
        assert stream.stats.unknown == 0  # the subscribe ack is understood, not counted as unknown
    finally:
        await stream.stop()
    async with websockets.connect(sim.ws_public_url) as ws:
        await ws.recv()
        await ws.send('{"op":"subscribe","args":[{"symbol":"BTCUSDT","ch":"last_kline_1min"}]}')
        ack = orjson.loads(await ws.recv())
        assert ack["data"] == {"result": True}


async def test_private_pushes_in_title_case_when_switched(sim: SimExchange) -> None:
    sim.config.ws_enum_case = "title"  # C9
    async with websockets.connect(sim.ws_private_url) as ws:
        await ws.recv()
        stamp, nonce = int(time.time()), new_nonce()
        await ws.send(
            orjson.dumps(
                {
                    "op": "login",
                    "args": [
                        {
                            "apiKey": KEY,
                            "timestamp": stamp,
                            "nonce": nonce,
                            "sign": sign_ws_login(api_key=KEY, secret=SECRET, nonce=nonce, timestamp=stamp),
                        }
                    ],
                }
            ).decode()
        )
        assert orjson.loads(await ws.recv())["data"] == {"result": True}
        sim.hub.private_push(KEY, "order", {"side": "BUY", "type": "LIMIT", "clientId": "x"})
        push = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
    assert (push["ch"], push["data"]["side"], push["data"]["type"]) == ("order", "Buy", "Limit")


@pytest.mark.parametrize(
    ("mode", "window_s", "refused_after_fill"),
    [("forever", 0.0, True), ("open", 0.0, False), ("window", 60.0, True), ("window", 0.0, False)],
)
async def test_client_id_dedupe_switch(
    sim: SimExchange, rest: BitunixRest, mode: str, window_s: float, refused_after_fill: bool
) -> None:
    """30042 for a repeated client id forever, only while its order is open, or only within a window."""
    sim.faults.update({"client_id_dedupe": mode, "client_id_dedupe_window_s": window_s})
    last = sim.market.last_price("BTCUSDT")
    await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.01", order_type="limit", client_id="c1",
                           price=f"{round(last * 0.8, 1)}")  # fmt: skip
    if mode != "window" or window_s:  # an open order's id is refused in every mode but a zero window
        with pytest.raises(DuplicateClientId):
            await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.01", order_type="market", client_id="c1")
    await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.01", order_type="market", client_id="c2")
    if refused_after_fill:
        with pytest.raises(DuplicateClientId):
            await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.01", order_type="market", client_id="c2")
    else:
        await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.01", order_type="market", client_id="c2")
        assert sim.faults.counts["client_id_reused"] >= 1
        assert sum(1 for o in sim.ledger.accounts[KEY].orders.values() if o.client_id == "c2") == 2
    with pytest.raises(ValueError, match="client_id_dedupe must be one of"):
        sim.faults.update({"client_id_dedupe": "sometimes"})


async def test_lookups_miss_a_fresh_order_while_not_found_for_s(sim: SimExchange, rest: BitunixRest) -> None:
    sim.faults.update({"not_found_for_s": 0.3})
    last = sim.market.last_price("BTCUSDT")
    await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.01", order_type="limit", client_id="c1",
                           price=f"{round(last * 0.8, 1)}")  # fmt: skip
    with pytest.raises(OrderNotFound):
        await rest.order_detail(client_id="c1")
    assert await rest.pending_orders("BTCUSDT") == []
    await asyncio.sleep(0.35)
    assert (await rest.order_detail(client_id="c1")).status == "NEW"
    assert [o.client_id for o in await rest.pending_orders("BTCUSDT")] == ["c1"]


async def test_history_trades_page_by_skip(sim: SimExchange, rest: BitunixRest) -> None:
    for n in range(3):
        await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.01", order_type="market", client_id=f"p{n}")
    newest_first = [t.client_id for t in await rest.history_trades("BTCUSDT")]
    assert newest_first == ["p2", "p1", "p0"]
    assert [t.client_id for t in await rest.history_trades("BTCUSDT", skip=1, limit=1)] == ["p1"]
    assert sorted(t.client_id for t in await rest.trades_since("BTCUSDT", start_ms=0)) == ["p0", "p1", "p2"]


async def test_position_mode_switch_and_hedge_refusals(sim: SimExchange, rest: BitunixRest) -> None:
    account = sim.ledger.accounts[KEY]
    await rest.change_position_mode("HEDGE")
    assert account.position_mode == "HEDGE" and (await rest.account()).position_mode == "HEDGE"
    with pytest.raises(ParameterError, match="tradeSide"):  # an order that does not name its leg
        await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.01", order_type="market", client_id="h1")
    await rest.change_position_mode("ONE_WAY")
    await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.01", order_type="market", client_id="h2")
    with pytest.raises(ExchangeError, match="20009"):  # not while a position is open
        await rest.change_position_mode("HEDGE")


async def test_partial_fills_are_executions_of_their_own_one_per_push(sim: SimExchange, rest: BitunixRest) -> None:
    sim.faults.update({"partial_fill_parts": 3})
    await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.03", order_type="market", client_id="pf")
    first = await rest.order_detail(client_id="pf")
    assert (first.status, first.filled_qty) == ("PART_FILLED", pytest.approx(0.01))
    assert [o.client_id for o in await rest.pending_orders("BTCUSDT")] == ["pf"]  # still open
    await sim.hub.advance(2)
    done = await rest.order_detail(client_id="pf")
    trades = [t for t in await rest.history_trades("BTCUSDT") if t.client_id == "pf"]
    assert (done.status, done.filled_qty) == ("FILLED", pytest.approx(0.03))
    assert len(trades) == 3 and len({t.trade_id for t in trades}) == 3
    assert sum(t.qty for t in trades) == pytest.approx(0.03)
    assert done.avg_price == pytest.approx(sum(t.qty * t.price for t in trades) / 0.03)
    assert sim.ledger.accounts[KEY].positions["BTCUSDT"].qty == pytest.approx(0.03)


async def test_a_part_filled_order_cancels_the_rest_and_a_filled_one_cannot_be_cancelled(
    sim: SimExchange, rest: BitunixRest
) -> None:
    sim.faults.update({"partial_fill_parts": 2})
    await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.02", order_type="market", client_id="half")
    reply = await rest.cancel_orders("BTCUSDT", client_ids=["half"])
    assert reply["successList"] and not reply["failureList"]
    cancelled = await rest.order_detail(client_id="half")
    assert (cancelled.status, cancelled.filled_qty) == ("PART_FILLED_CANCELED", pytest.approx(0.01))
    await sim.hub.advance(2)
    assert sim.ledger.accounts[KEY].positions["BTCUSDT"].qty == pytest.approx(0.01)  # the rest never filled
    sim.faults.update({"partial_fill_parts": 0})
    await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.01", order_type="market", client_id="whole")
    reply = await rest.cancel_orders("BTCUSDT", client_ids=["whole"])
    assert not reply["successList"] and reply["failureList"][0]["errorCode"] == "20007"


async def test_fill_before_ack_pushes_the_fill_before_the_placement_is_answered(
    sim: SimExchange, rest: BitunixRest
) -> None:
    sim.faults.update({"fill_before_ack_next": 1, "fill_before_ack_ms": 200})
    async with websockets.connect(sim.ws_private_url) as ws:
        await ws.recv()
        stamp, nonce = int(time.time()), new_nonce()
        sign = sign_ws_login(api_key=KEY, secret=SECRET, nonce=nonce, timestamp=stamp)
        login = {"apiKey": KEY, "timestamp": stamp, "nonce": nonce, "sign": sign}
        await ws.send(orjson.dumps({"op": "login", "args": [login]}).decode())
        assert orjson.loads(await ws.recv())["data"] == {"result": True}
        pushes: list[tuple[float, dict[str, object]]] = []

        async def listen() -> None:
            while True:
                pushes.append((time.monotonic(), orjson.loads(await ws.recv())))

        listener = asyncio.create_task(listen())
        await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.01", order_type="market", client_id="early")
        answered = time.monotonic()
        listener.cancel()
    filled = [t for t, p in pushes if p.get("ch") == "order" and p["data"]["orderStatus"] == "FILLED"]  # type: ignore[index]
    assert filled and filled[0] < answered - 0.1  # the fill was heard well before the order id
    assert sim.faults.counts["fill_before_ack_next"] == 1


async def test_liquidation_flattens_the_position_with_an_execution_that_is_none_of_our_orders(
    sim: SimExchange, rest: BitunixRest, session: aiohttp.ClientSession
) -> None:
    await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.02", order_type="market", client_id="doomed",
                           extra={"slPrice": fmt(sim.market.last_price("BTCUSDT") * 0.5)})  # fmt: skip
    account = sim.ledger.accounts[KEY]
    assert account.tpsl.pending  # its stop rests on the venue
    async with session.post(sim.rest_url + "/admin/liquidate", json={"symbol": "BTCUSDT"}) as r:
        (closed,) = (await r.json())["liquidated"]
    assert closed["qty"] == pytest.approx(0.02) and "BTCUSDT" not in account.positions
    assert await rest.pending_positions("BTCUSDT") == []
    last = (await rest.history_trades("BTCUSDT"))[0]
    assert (last.client_id, last.side, last.qty) == ("", "sell", pytest.approx(0.02))
    assert not account.tpsl.pending  # the stop went with it
    async with session.post(sim.rest_url + "/admin/liquidate", json={"symbol": "NOPE"}) as r:
        assert r.status == 400


async def test_the_admin_ledger_is_the_accounts_whole_record(
    sim: SimExchange, rest: BitunixRest, session: aiohttp.ClientSession
) -> None:
    """`GET /admin/ledger` (scripts/torture.py reads the venue's side of exactly-once from it)."""
    await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.02", order_type="market", client_id="mine")
    async with session.post(sim.rest_url + "/admin/liquidate", json={"symbol": "BTCUSDT"}) as r:
        assert r.status == 200
    await rest.place_order(symbol="BTCUSDT", side="sell", qty="0.01", order_type="market", client_id="again")
    async with session.get(sim.rest_url + "/admin/ledger", params={"api_key": KEY}) as r:
        ledger = await r.json()
    assert [(o["clientId"], o["side"], o["status"]) for o in ledger["orders"]] == [
        ("mine", "BUY", "FILLED"), ("", "SELL", "FILLED"), ("again", "SELL", "FILLED")]  # fmt: skip
    assert [f["clientId"] for f in ledger["fills"]] == ["mine", "", "again"]
    assert ledger["positions"] == {"BTCUSDT": pytest.approx(-0.01)}
    async with session.get(sim.rest_url + "/admin/ledger", params={"api_key": "nope"}) as r:
        assert r.status == 400


async def test_a_paused_replay_sends_nothing_and_goes_on_from_where_it_stood() -> None:
    """`POST /admin/pause` and `/admin/play` (the RUNBOOK's liquidation rehearsal pauses the venue's TP/SL)."""
    async with (
        SimExchange(sim_config(speed=60_000.0), {"BTCUSDT": bundled_candles()}) as sim,
        aiohttp.ClientSession() as session,
    ):
        await eventually(lambda: sim.market.pushes_sent > 5, what="the replay running")
        async with session.post(sim.rest_url + "/admin/pause") as r:
            assert (await r.json())["paused"] is True
        await asyncio.sleep(0.05)
        frozen = sim.market.pushes_sent
        await asyncio.sleep(0.2)  # 0.2 s at 60,000x would be 200 minutes of market
        assert sim.market.pushes_sent == frozen
        async with session.post(sim.rest_url + "/admin/play") as r:
            assert (await r.json())["paused"] is False
        await eventually(lambda: sim.market.pushes_sent > frozen, what="the replay going on")
        assert sim.market.pushes_sent < frozen + 4 * 60  # no catch-up burst for the paused time
