"""The REST client against the simulated exchange over real loopback sockets (no mocks of our client)."""

from __future__ import annotations

import asyncio
import itertools
import time

import aiohttp
import orjson
import pytest

from laptop_agents.base.rate_limiter import RateLimiter
from laptop_agents.base.retry import RetryPolicy
from laptop_agents.exchange.bitunix.errors import (
    DuplicateClientId,
    ExchangeUnavailable,
    InsufficientBalance,
    InvalidLeverage,
    OrderNotFound,
    QtyOutOfRange,
    SignatureError,
    UnknownSymbol,
)
from laptop_agents.exchange.bitunix.rest import BitunixRest, Credentials
from laptop_agents.exchange.bitunix.signing import new_nonce, query_string_for_signing, sign
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from tests.exchange.conftest import KEY, SECRET, bundled_candles, eventually


async def test_kline_paging_across_more_than_1000_candles(sim: SimExchange, rest: BitunixRest) -> None:
    """1,200 closed candles, paged 200 at a time newest first, come back ascending, unique and exact."""
    candles = bundled_candles()
    forming = candles[sim.market.current_index]
    got = await rest.history("BTCUSDT", "1m", start_ms=forming.ts - 1200 * 60_000)
    assert [c.ts for c in got] == [c.ts for c in candles[300:1500]]
    assert got == candles[300:1500]  # values exact, volume recognised despite the doc's inverted names
    assert len(sim.requests_to("/market/kline")) >= 6


async def test_first_page_drops_the_forming_candle(sim: SimExchange, rest: BitunixRest) -> None:
    await sim.hub.advance(2)  # half of candle 1500 has traded
    page = await rest.klines("BTCUSDT", "1m")
    assert page[-1].ts == bundled_candles()[1499].ts
    assert len(page) == 199


async def test_both_volume_orientations_are_understood(sim: SimExchange, rest: BitunixRest) -> None:
    before = await rest.klines("BTCUSDT", "1m", end_ms=bundled_candles()[1400].ts)
    sim.config.kline_volume_names = "intuitive"
    sim.config.numbers = "number"
    after = await rest.klines("BTCUSDT", "1m", end_ms=bundled_candles()[1400].ts)
    assert before == after == bundled_candles()[1200:1400]


async def test_contract_specs_ticker_depth_funding(rest: BitunixRest) -> None:
    (spec,) = await rest.trading_pairs(["BTCUSDT"])
    assert (spec.symbol, spec.min_qty, spec.qty_step, spec.tick, spec.max_leverage) == (
        "BTCUSDT",
        0.001,
        0.001,
        0.1,
        125,
    )
    (ticker,) = await rest.tickers(["BTCUSDT"])
    assert float(ticker["lastPrice"]) > 0
    book = await rest.depth("BTCUSDT", "5")
    assert len(book["bids"]) == 5 and book["bids"][0][0] < book["asks"][0][0]
    assert await rest.funding_rate("BTCUSDT") == pytest.approx(0.0001)
    with pytest.raises(UnknownSymbol):
        await rest.depth("NOPEUSDT")


async def test_signed_calls_are_accepted_and_a_tampered_body_is_rejected(
    sim: SimExchange, rest: BitunixRest, session: aiohttp.ClientSession
) -> None:
    account = await rest.account()
    assert account.available == pytest.approx(10_000)
    body = orjson.dumps({"symbol": "BTCUSDT", "marginCoin": "USDT", "leverage": 5})
    nonce, stamp = new_nonce(), str(time.time_ns() // 1_000_000)
    signature = sign(api_key=KEY, secret=SECRET, nonce=nonce, timestamp=stamp, body=body.decode())
    tampered = body.replace(b"5", b"50")
    headers = {
        "api-key": KEY,
        "nonce": nonce,
        "timestamp": stamp,
        "sign": signature,
        "Content-Type": "application/json",
    }
    async with session.post(
        sim.rest_url + "/api/v1/futures/account/change_leverage", data=tampered, headers=headers
    ) as response:
        assert response.status == 200  # business errors are HTTP 200
        assert (await response.json())["code"] == 10007
    async with session.post(
        sim.rest_url + "/api/v1/futures/account/change_leverage", data=body, headers=headers
    ) as response:
        assert (await response.json())["code"] == 0  # the exact bytes that were signed pass
    async with session.post(
        sim.rest_url + "/api/v1/futures/account/change_leverage", data=body, headers=headers
    ) as response:
        assert (await response.json())["code"] == 10007  # the same nonce again is a replay: refused


async def test_a_wrong_secret_is_a_signature_error_and_a_stale_clock_is_re_measured(
    sim: SimExchange, session: aiohttp.ClientSession
) -> None:
    wrong = BitunixRest(
        sim.rest_url, session=session, limiter=RateLimiter(50, 10), credentials=Credentials(KEY, "not-the-secret")
    )

    class Past:
        def now_ms(self) -> int:
            return time.time_ns() // 1_000_000 - 120_000

        def monotonic_s(self) -> float:
            return time.monotonic()

    stale = BitunixRest(
        sim.rest_url,
        session=session,
        limiter=RateLimiter(50, 10),
        credentials=Credentials(KEY, SECRET),
        wall_clock=Past(),
    )
    signing: list[bool] = []
    stale.on_signing = lambda ok, _detail: signing.append(ok)
    before = len(sim.requests_to("/account"))
    assert (await stale.account()).available > 0  # refused (timestamp 120 s off), re-measured, signed right
    assert [r.code for r in sim.requests_to("/account")][before:] == [10007, 0]
    assert stale.clock_offset_ms == pytest.approx(120_000, abs=1_500) and signing == []
    wrong_signing: list[tuple[bool, str]] = []
    wrong.on_signing = lambda ok, detail: wrong_signing.append((ok, detail))
    with pytest.raises(SignatureError):
        await wrong.account()
    assert len(wrong_signing) == 1 and not wrong_signing[0][0] and "re-measuring" in wrong_signing[0][1]


async def test_signed_get_with_query_parameters(rest: BitunixRest) -> None:
    await rest.place_order(
        symbol="BTCUSDT", side="buy", qty="0.010", order_type="limit", price="30000.0", client_id="q-1"
    )
    (order,) = await rest.pending_orders("BTCUSDT")
    assert (order.client_id, order.status, order.price) == ("q-1", "NEW", 30000.0)
    assert query_string_for_signing({"symbol": "BTCUSDT", "limit": "100"}) == "limit100symbolBTCUSDT"


async def test_rate_limit_storm_backs_off_and_sends_nothing_during_the_wait(
    sim: SimExchange, rest: BitunixRest, limiter: RateLimiter
) -> None:
    sim.faults.update({"rate_limit_next": 3})
    pairs = await rest.trading_pairs()
    assert pairs and rest.rate_limited == 3 and sim.faults.counts["rate_limit_next"] == 3
    log = sim.requests_to("/market/trading_pairs")
    assert [r.code for r in log] == [10006, 10006, 10006, 0]
    gaps = [b.monotonic - a.monotonic for a, b in itertools.pairwise(log)]
    assert gaps[0] >= 0.05 * 0.95 and gaps[1] >= 0.10 * 0.95 and gaps[2] >= 0.20 * 0.95  # 50, 100, 200 ms


async def test_the_penalty_holds_back_every_caller_sharing_the_limiter(
    sim: SimExchange, rest: BitunixRest, session: aiohttp.ClientSession, limiter: RateLimiter
) -> None:
    other = BitunixRest(sim.rest_url, session=session, limiter=limiter, credentials=Credentials(KEY, SECRET))
    sim.faults.update({"rate_limit_next": 1})
    first = asyncio.create_task(rest.tickers())
    # once the 10006 has come back the limiter is blocked (waiting on that, not a guessed 20 ms: under load
    # the answer may take longer, and the other caller would have gone out before the penalty existed)
    await eventually(lambda: limiter.penalties >= 1, what="the rate-limit answer and its penalty")
    await other.tickers()
    await first
    log = sim.requests_to("/market/tickers")
    rejected = next(r for r in log if r.code == 10006)
    later = [r for r in log if r is not rejected]
    assert all(r.monotonic - rejected.monotonic >= 0.05 * 0.95 for r in later)


async def test_rate_limit_for_a_while_then_recovers(sim: SimExchange, rest: BitunixRest) -> None:
    sim.faults.update({"rate_limit_for_s": 0.12})
    assert await rest.tickers()
    assert sim.faults.counts["rate_limit_for_s"] >= 1


@pytest.mark.parametrize("status", [500, 503])
async def test_http_5xx_is_retried(sim: SimExchange, rest: BitunixRest, status: int) -> None:
    sim.faults.update({"http_error_next": 2, "http_error_status": status})
    assert await rest.trading_pairs()
    assert [r.http_status for r in sim.requests_to("/market/trading_pairs")] == [status, status, 200]


async def test_persistent_5xx_gives_up_with_a_typed_error(sim: SimExchange, rest: BitunixRest) -> None:
    sim.faults.update({"http_error_next": 10})
    with pytest.raises(ExchangeUnavailable, match="HTTP 503"):
        await rest.trading_pairs()
    assert len(sim.requests_to("/market/trading_pairs")) == 4  # the policy's attempts, no more


async def test_added_latency_is_waited_out(sim: SimExchange, rest: BitunixRest) -> None:
    sim.faults.update({"latency_ms": 80})
    started = time.monotonic()
    await rest.tickers()
    assert time.monotonic() - started >= 0.08


async def test_market_order_fills_and_opens_a_position(sim: SimExchange, rest: BitunixRest) -> None:
    await sim.hub.advance(1)
    order_id = await rest.place_order(
        symbol="BTCUSDT", side="buy", qty="0.050", order_type="market", client_id="run1-000001"
    )
    detail = await rest.order_detail(client_id="run1-000001")
    assert (detail.order_id, detail.status, detail.filled_qty) == (order_id, "FILLED", 0.05)
    (position,) = await rest.pending_positions("BTCUSDT")
    assert (position.side, position.qty) == ("long", 0.05)
    assert position.entry_price == pytest.approx(sim.market.last_price("BTCUSDT") * (1 + 2 / 1e4))


async def test_order_refusals_are_typed(sim: SimExchange, rest: BitunixRest) -> None:
    await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.010", order_type="market", client_id="dup-1")
    with pytest.raises(DuplicateClientId):
        await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.010", order_type="market", client_id="dup-1")
    with pytest.raises(QtyOutOfRange):
        await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.0001", order_type="market", client_id="tiny")
    with pytest.raises(InsufficientBalance):
        await rest.place_order(symbol="BTCUSDT", side="buy", qty="400", order_type="market", client_id="huge")
    with pytest.raises(InvalidLeverage):
        await rest.change_leverage("BTCUSDT", 500)
    with pytest.raises(OrderNotFound):
        await rest.order_detail(client_id="never-sent")


async def test_insufficient_balance_fault(sim: SimExchange, rest: BitunixRest) -> None:
    sim.faults.update({"insufficient_balance_next": 1})
    with pytest.raises(InsufficientBalance):
        await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.010", order_type="market", client_id="ib-1")
    await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.010", order_type="market", client_id="ib-2")


async def test_lost_ack_order_exists_and_is_found_by_client_id(sim: SimExchange, rest: BitunixRest) -> None:
    """The simulator accepts the order and cuts the connection: the client sees an error, the order exists."""
    sim.faults.update({"drop_order_response_next": 1})
    with pytest.raises(ExchangeUnavailable):
        await rest.place_order(symbol="BTCUSDT", side="sell", qty="0.020", order_type="market", client_id="lost-1")
    assert len(sim.requests_to("/trade/place_order")) == 1  # never resent by the client
    found = await rest.order_detail(client_id="lost-1")
    assert (found.status, found.side, found.qty) == ("FILLED", "sell", 0.02)


async def test_limit_order_rests_fills_on_a_cross_and_cancel_works(sim: SimExchange, rest: BitunixRest) -> None:
    candles = bundled_candles()
    low_ahead = min(c.low for c in candles[1500:1510])
    await rest.place_order(
        symbol="BTCUSDT", side="buy", qty="0.010", order_type="limit", price=f"{low_ahead:.1f}", client_id="lim-1"
    )
    await rest.place_order(
        symbol="BTCUSDT", side="buy", qty="0.010", order_type="limit", price="1000.0", client_id="lim-2"
    )
    await sim.hub.advance(40)
    assert (await rest.order_detail(client_id="lim-1")).status == "FILLED"
    result = await rest.cancel_orders("BTCUSDT", client_ids=["lim-2", "nope"])
    assert [r["clientId"] for r in result["successList"]] == ["lim-2"]
    assert result["failureList"][0]["errorCode"] == "20007"
    assert (await rest.order_detail(client_id="lim-2")).status == "CANCELED"
    assert await rest.pending_orders("BTCUSDT") == []


async def test_unknown_path_is_an_http_200_envelope(sim: SimExchange, session: aiohttp.ClientSession) -> None:
    async with session.get(sim.rest_url + "/api/v1/futures/market/nope") as response:
        assert response.status == 200
        assert await response.json() == {"code": 404, "data": None, "msg": "Not Found"}


async def test_account_shape_variants(sim: SimExchange, rest: BitunixRest, session: aiohttp.ClientSession) -> None:
    array = await rest.account()
    sim.config.account_shape = "object"
    assert await rest.account() == array
    plain = BitunixRest(
        sim.rest_url,
        session=session,
        limiter=RateLimiter(50, 10),
        credentials=Credentials(KEY, SECRET),
        retry=RetryPolicy(attempts=1),
    )
    assert (await plain.account()).available == array.available
    assert "secret" not in repr(Credentials(KEY, SECRET)).lower().replace("secret=***", "")
