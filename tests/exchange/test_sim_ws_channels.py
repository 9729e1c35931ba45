"""The public WebSocket channels of Bitunix's SDK (`trade`, `ticker`, `depth_book1`, and `price`,
`depth_book5/15`) on the simulated exchange, read the way the SDK's Python demo reads them: one socket,
one subscribe frame with a list of `{"symbol","ch"}`, frames routed by `ch`. Each channel's frame is checked
against the documented shape (bitunix-api.md §5.6) and against the REST answer for the same moment.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import orjson
import pytest
import websockets

from laptop_agents.exchange.bitunix.rest import BitunixRest
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.exchange.bitunix.wire import fmt
from tests.exchange.conftest import eventually

SYMBOL = "BTCUSDT"


async def _subscribe(sim: SimExchange, *channels: str, symbol: str = SYMBOL) -> Any:
    ws = await websockets.connect(sim.ws_public_url)
    assert orjson.loads(await ws.recv())["op"] == "connect"
    await ws.send(orjson.dumps({"op": "subscribe", "args": [{"symbol": symbol, "ch": c} for c in channels]}).decode())
    wanted = {(symbol, c) for c in channels}
    await eventually(lambda: any(wanted <= conn.subs for conn in sim.hub.conns), what="the subscribe to land")
    return ws


async def _frames(ws: Any, channel: str, count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while len(out) < count:
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame.get("ch") == channel:
            out.append(frame)
    return out


async def _drain(ws: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        try:
            out.append(orjson.loads(await asyncio.wait_for(ws.recv(), 0.3)))
        except TimeoutError:
            return out


async def test_depth_book1_is_the_top_of_the_rest_book_snapshot_then_every_step(
    sim: SimExchange, rest: BitunixRest
) -> None:
    ws = await _subscribe(sim, "depth_book1")
    try:
        (snapshot,) = await _frames(ws, "depth_book1", 1)  # sent on subscribe, before any market step
        assert set(snapshot) == {"ch", "symbol", "ts", "data"} and snapshot["symbol"] == SYMBOL
        assert set(snapshot["data"]) == {"b", "a"}
        (bid,), (ask,) = snapshot["data"]["b"], snapshot["data"]["a"]
        assert all(isinstance(v, str) for v in (*bid, *ask)) and float(bid[0]) < float(ask[0])
        await sim.hub.advance(3)
        pushed = await _frames(ws, "depth_book1", 3)
        book = await rest.depth(SYMBOL, limit="1")
        top = pushed[-1]["data"]
        assert (float(top["b"][0][0]), float(top["a"][0][0])) == (book["bids"][0][0], book["asks"][0][0])
        assert pushed[-1]["ts"] == sim.market.now_ms()
    finally:
        await ws.close()


@pytest.mark.parametrize(("channel", "levels"), [("depth_book5", 5), ("depth_book15", 15)])
async def test_deeper_books_are_sorted_windows_of_the_asked_depth(sim: SimExchange, channel: str, levels: int) -> None:
    ws = await _subscribe(sim, channel)
    try:
        await sim.hub.advance(1)
        frame = (await _frames(ws, channel, 2))[-1]
        bids = [float(p) for p, _ in frame["data"]["b"]]
        asks = [float(p) for p, _ in frame["data"]["a"]]
        assert len(bids) == len(asks) == levels
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
    finally:
        await ws.close()


async def test_ticker_carries_the_rest_tickers_numbers_with_the_change_in_percent(
    sim: SimExchange, rest: BitunixRest
) -> None:
    ws = await _subscribe(sim, "ticker")
    try:
        await sim.hub.advance(5)
        data = (await _frames(ws, "ticker", 6))[-1]["data"]
        assert set(data) == {"s", "o", "h", "l", "la", "b", "q", "r"} and data["s"] == SYMBOL
        (row,) = await rest.tickers([SYMBOL])
        assert data["la"] == fmt(float(row["lastPrice"])) and data["o"] == fmt(float(row["open"]))
        assert data["b"] == fmt(float(row["baseVol"])) and data["h"] == fmt(float(row["high"]))
        change = (float(data["la"]) - float(data["o"])) / float(data["o"]) * 100
        assert float(data["r"]) == pytest.approx(change)  # percent, not a fraction
    finally:
        await ws.close()


async def test_trades_of_a_whole_candle_add_up_to_its_volume_and_end_at_its_close(sim: SimExchange) -> None:
    ws = await _subscribe(sim, "trade")
    try:
        k = sim.market.k
        await sim.hub.advance(k)  # exactly one candle, pushed from its first fraction to its close
        frames = await _frames(ws, "trade", k)
        candle = sim.market.candle_at(SYMBOL, sim.market.series[SYMBOL][sim.market.start_index].ts)
        prints = [t for f in frames for t in f["data"]]
        assert all(set(t) == {"t", "p", "v", "s"} and t["s"] in ("buy", "sell") for t in prints)
        assert sum(float(t["v"]) for t in prints) == pytest.approx(candle.volume)
        assert float(prints[-1]["p"]) == candle.close
        first = datetime.fromisoformat(prints[0]["t"])
        assert first.utcoffset() is not None and int(first.timestamp() * 1000) == frames[0]["ts"]
        assert await _drain(ws) == []  # no snapshot for trades: nothing is sent without a step
    finally:
        await ws.close()


async def test_price_frame_has_mark_index_funding_percent_and_iso_times(sim: SimExchange) -> None:
    ws = await _subscribe(sim, "price")
    try:
        await sim.hub.advance(1)
        data = (await _frames(ws, "price", 2))[-1]["data"]
        assert set(data) == {"ip", "mp", "fr", "ft", "nft"}
        assert float(data["fr"]) == pytest.approx(sim.ledger.funding_rate * 100)
        last, after = datetime.fromisoformat(data["ft"]), datetime.fromisoformat(data["nft"])
        assert (after - last).total_seconds() == 8 * 3600 and data["nft"].endswith("Z")
        assert last.timestamp() * 1000 <= sim.market.now_ms() < after.timestamp() * 1000
    finally:
        await ws.close()


async def test_an_unknown_symbol_gets_one_empty_book_then_nothing(sim: SimExchange) -> None:
    ws = await _subscribe(sim, "depth_book1", "ticker", symbol="NOPEUSDT")
    try:
        await sim.hub.advance(2)
        (frame,) = await _drain(ws)
        assert (frame["ch"], frame["symbol"], frame["data"]) == ("depth_book1", "NOPEUSDT", {"b": [], "a": []})
    finally:
        await ws.close()


async def test_sdk_style_subscribe_of_trade_ticker_depth_on_one_socket_routes_each_by_ch(sim: SimExchange) -> None:
    ws = await _subscribe(sim, "trade", "ticker", "depth_book1")
    try:
        await sim.hub.advance(2)
        seen = {f.get("ch") for f in await _drain(ws)}
        assert {"trade", "ticker", "depth_book1"} <= seen
        assert "market_kline_1min" not in seen  # only what was asked for
    finally:
        await ws.close()
