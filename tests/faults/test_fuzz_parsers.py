"""Every wire parser of the project, fuzzed with Hypothesis (issue 21): whatever arrives, a parse gives a typed,
valid value or raises the project's typed error, and a stream counts a bad frame and skips it; no KeyError,
TypeError, ValueError, AttributeError, IndexError or ZeroDivisionError ever comes out of one.

- REST: the reply models (`replies.py`); the kline rows, contract specs and numbers (`wire.py`); and whole
  answers through every parsing endpoint of `BitunixRest`, so the transport's decoding too (any status, a
  `Date` or `Retry-After` header of any text, a body that is not JSON, an envelope of the wrong shape, `data`
  of the wrong shape, fields of the wrong type): an `ExchangeError` (a kline row that breaks the OHLC rules:
  a `CandleError`) or typed values with finite numbers.
- WebSocket: `handle`, which takes one parsed frame (public and private stream), and `_read`, the loop that
  decodes each raw frame (text, bytes, junk) before `handle`, driven by a stand-in connection whose `recv()`
  hands the frames out. Every frame is data, counted (malformed or unknown), a pong or a subscription's
  acknowledgement. No socket is opened here: the socket path (connect, reconnect, silence, floods of junk
  over loopback) is tested in tests/exchange/test_ws_client.py.
- `KlineAssembler`: pushes in any order, repeated, with broken prices, and dropped connections between them;
  each candle it emits is valid, later than the one before, and the one its docstring's rules say.
- The CSV readers (`csv_source.py`; the funding table, `funding_rows.py`) and the input-file digests
  (`input_files.py`): a `DataError` naming the line, or exactly the candles (rows) the file holds.
- The config loader: JSON files, `--set` and `LA_*` variables: a `ConfigError`, or settings that are saved as
  `config.json` and read back the same.

The example counts below are multiplied by `LA_FUZZ_EXAMPLES` (default 1; read at import, before the autouse
fixture clears `LA_*`), so `LA_FUZZ_EXAMPLES=50 .venv/bin/python -m pytest tests/faults/test_fuzz_parsers.py`
is a long run. Examples are derandomized and no database is kept: every run tries the same ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import io
import itertools
import math
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, cast
from unittest import mock

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection

from laptop_agents.base.rate_limiter import RateLimiter
from laptop_agents.base.retry import RetryPolicy
from laptop_agents.config.loader import load_settings, redacted_dump
from laptop_agents.config.models import Settings
from laptop_agents.core.candle import Candle
from laptop_agents.core.clock import VenueClock
from laptop_agents.core.errors import CandleError, ConfigError, DataError
from laptop_agents.core.events import Error, Event
from laptop_agents.core.funding_rows import read_funding_rows
from laptop_agents.core.rejected import RejectedCandle
from laptop_agents.exchange.bitunix.errors import ExchangeError, MalformedReply, ParameterError
from laptop_agents.exchange.bitunix.replies import (
    AccountInfo,
    OrderInfo,
    PlaceReply,
    PositionInfo,
    Reply,
    TierInfo,
    TradeInfo,
)
from laptop_agents.exchange.bitunix.rest import BitunixRest, Credentials
from laptop_agents.exchange.bitunix.rest_transport import SignedTransport, retry_after_s
from laptop_agents.exchange.bitunix.wire import ContractSpec, int_ms, num, parse_kline_rows
from laptop_agents.exchange.bitunix.ws_private import PRIVATE_CHANNELS, BitunixPrivateStream
from laptop_agents.exchange.bitunix.ws_public import BitunixPublicStream, KlineAssembler
from laptop_agents.feeds import csv_source
from laptop_agents.feeds.csv_source import CsvCandles
from laptop_agents.feeds.input_files import file_digest, input_file_events
from tests.conftest import REPO
from tests.helpers import MINUTE, T0

MULTIPLIER = float(os.environ.get("LA_FUZZ_EXAMPLES", "1"))
CONFIG = REPO / "config"


def fuzz(examples: int) -> hyp_settings:
    """`examples` × LA_FUZZ_EXAMPLES examples, the same ones on every run."""
    return hyp_settings(
        max_examples=max(1, round(examples * MULTIPLIER)),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    )


# -- What a venue may send -------------------------------------------------------------------------------

NASTY: tuple[Any, ...] = (
    "", " ", "NaN", "nan", "-nan", "inf", "-Infinity", "1e400", "-1e400", "1e-400", "0", "-0", "-1", "0.0", "1",
    "2.5", "40000", "1640995200000", "true", "false", "TRUE", "null", "BUY", "SELL", "buy",
    "LONG", "SHORT", "market", "LIMIT", "NEW_", "ONE_WAY", "12abc", " 7 ", "٣", "²", "1_000", "0x1f", "\x00", "é",
    "[]", "{}", 0, -1, 1, 2**63, 2**64 - 1, -(2**63), 1e19, 1.8446744073709552e19, 1e300, -1e300, 5e-324, 0.0,
)  # fmt: skip
LONG_DIGITS = st.sampled_from([400, 5000]).map(lambda n: "9" * n)  # past float's range; past int()'s 4300 digits
SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),  # orjson reads a longer integer as a float
    st.floats(allow_nan=False, allow_infinity=False),  # JSON has no NaN: it comes as a string
    st.text(max_size=12),
    st.sampled_from(NASTY),
    LONG_DIGITS,
)
JSON: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
FIELD = st.one_of(SCALARS, SCALARS, JSON)


@st.composite
def records(draw: st.DrawFn, valid: Mapping[str, Any]) -> Any:
    """A row as a venue might send it: a valid one with up to four of its fields dropped or replaced by any
    value, and unknown fields added; one time in eight, any JSON at all."""
    if draw(st.integers(0, 7)) == 0:
        return draw(JSON)
    row: dict[str, Any] = draw(st.dictionaries(st.text(max_size=6), SCALARS, max_size=2))
    row.update(valid)
    for key in draw(st.lists(st.sampled_from(sorted(valid)), max_size=4, unique=True)):
        if draw(st.booleans()):
            del row[key]
        else:
            row[key] = draw(FIELD)
    return row


def wire(value: Any) -> Any:
    """What the transport hands a parser: the value after a trip through orjson."""
    return orjson.loads(orjson.dumps(value))


ORDER = {"orderId": "11", "clientId": "c1", "symbol": "btcusdt", "side": "BUY", "orderType": "LIMIT",
         "qty": "0.01", "tradeQty": "0", "price": "40000", "avgPrice": "", "status": "NEW_", "fee": "0",
         "reduceOnly": False}  # fmt: skip
POSITION = {"positionId": "p1", "symbol": "BTCUSDT", "side": "LONG", "qty": "0.5", "avgOpenPrice": "40000",
            "entryValue": "20000", "unrealizedPNL": "-3", "funding": "0.1", "leverage": "10", "ctime": "5"}  # fmt: skip
ACCOUNT = {"available": "1000", "frozen": "0", "margin": "10", "crossUnrealizedPNL": "1",
           "isolationUnrealizedPNL": "-2", "positionMode": "ONE_WAY"}  # fmt: skip
TRADE = {"tradeId": "t1", "orderId": "11", "clientId": "c1", "symbol": "BTCUSDT", "side": "SELL", "qty": "0.01",
         "price": "40000", "fee": "0.2", "realizedPNL": "-1", "reduceOnly": "false",
         "ctime": "1640995200000"}  # fmt: skip
TIER = {"level": 1, "startValue": "0", "endValue": "200000", "leverage": "125", "maintenanceMarginRate": "0.004"}
PLACE = {"orderId": "1947302001882128384", "clientId": "c1"}
KLINE = {"time": T0, "open": "100", "high": "101", "low": "99", "close": "100.5", "quoteVol": "2010", "baseVol": "20"}
CONTRACT = {"symbol": "BTCUSDT", "base": "BTC", "quote": "USDT", "minTradeVolume": "0.0001",
            "maxMarketOrderVolume": "50", "maxLimitOrderVolume": "500", "basePrecision": 4, "quotePrecision": 1,
            "minLeverage": 1, "maxLeverage": 125, "defaultLeverage": 20, "symbolStatus": "OPEN",
            "isApiSupported": True}  # fmt: skip
FUNDING = {"symbol": "BTCUSDT", "fundingRate": "0.01", "fundingTime": T0, "markPrice": "40000"}
LEVERAGE = {"symbol": "BTCUSDT", "leverage": 10, "marginMode": "ISOLATION", "marginCoin": "USDT"}

REPLIES: dict[str, tuple[Callable[[Any], Reply], dict[str, Any]]] = {
    "place": (PlaceReply.from_wire, PLACE),
    "order": (OrderInfo.from_wire, ORDER),
    "position": (PositionInfo.from_wire, POSITION),
    "account": (AccountInfo.from_wire, ACCOUNT),
    "trade": (TradeInfo.from_wire, TRADE),
    "tier": (TierInfo.from_wire, TIER),
}


def assert_valid_candle(candle: Candle) -> None:
    """The rules of core/candle.py, checked here on their own (not by constructing one)."""
    o, h, low, c, v = candle.open, candle.high, candle.low, candle.close, candle.volume
    assert type(candle.ts) is int and candle.ts >= 0, candle
    assert all(math.isfinite(x) and x > 0 for x in (o, h, low, c)), candle
    assert h >= max(o, c) and low <= min(o, c), candle
    assert math.isfinite(v) and v >= 0, candle


NON_EMPTY: dict[type[Reply], tuple[str, ...]] = {
    PlaceReply: ("order_id",),
    OrderInfo: ("order_id",),
    TradeInfo: ("trade_id",),
}
"""The ids a reply must carry (a trade's order id and any client id may be empty)."""


def assert_typed(value: Any) -> None:
    """A parsed value holds no NaN or infinity, no empty id, no side outside its words."""
    if isinstance(value, Candle):
        assert_valid_candle(value)
    elif isinstance(value, Reply):
        for name, field in value.model_dump().items():
            assert not isinstance(field, float) or math.isfinite(field), (name, value)
            if name in NON_EMPTY.get(type(value), ()):
                assert isinstance(field, str) and field, value
            if name == "side":
                assert field in ("buy", "sell", "long", "short"), value
    elif isinstance(value, ContractSpec):
        numbers = (value.min_qty, value.max_market_qty, value.max_limit_qty, value.qty_step, value.tick)
        assert all(math.isfinite(x) for x in numbers) and value.qty_step > 0 and value.tick > 0, value
    elif isinstance(value, float):
        assert math.isfinite(value), value
    elif isinstance(value, list | tuple):
        for item in value:
            assert_typed(item)
    elif isinstance(value, dict):
        for item in value.values():
            assert_typed(item)


# -- REST ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", sorted(REPLIES))
@fuzz(100)
@given(data=st.data())
def test_fuzz_replies_are_typed_or_a_malformed_reply(model: str, data: st.DataObject) -> None:
    parse, valid = REPLIES[model]
    row = wire(data.draw(st.one_of(records(valid), st.lists(records(valid), max_size=2))))
    try:
        reply = parse(row)
    except MalformedReply:
        return
    assert_typed(reply)


@pytest.mark.parametrize(
    ("model", "row"),
    [
        ("order", {**ORDER, "price": "NaN"}),  # a NaN limit price before the fix
        ("order", {**ORDER, "price": "-Infinity"}),
        ("account", {**ACCOUNT, "crossUnrealizedPNL": "1e308", "isolationUnrealizedPNL": "1e308"}),  # inf
    ],
)
def test_fuzz_replies_found_broken_are_a_malformed_reply(model: str, row: dict[str, Any]) -> None:
    """What a long run of the fuzzing above found parsed as a non-finite number, now refused."""
    with pytest.raises(MalformedReply):
        REPLIES[model][0](row)


@fuzz(200)
@example([None])  # AttributeError before the fix
@example([{**KLINE, "close": "0"}])  # ZeroDivisionError (base_volume)
@example([{**KLINE, "close": "1e10", "quoteVol": "1e300"}])  # ValueError: math domain error (a ratio overflowed)
@given(st.lists(records(KLINE), max_size=6).map(wire))
def test_fuzz_wire_kline_rows_are_ascending_valid_candles_or_a_typed_error(rows: Any) -> None:
    try:
        candles = parse_kline_rows(rows)
    except (ExchangeError, CandleError):
        return
    assert len(candles) == len(rows)
    assert_typed(candles)
    assert [c.ts for c in candles] == sorted(c.ts for c in candles)


@fuzz(200)
@example({})  # KeyError
@example(None)  # AttributeError
@example({**CONTRACT, "minLeverage": ""})  # ValueError
@example({**CONTRACT, "basePrecision": -400})  # OverflowError
@example({**CONTRACT, "basePrecision": 400})  # a quantity step of 0.0
@given(records(CONTRACT).map(wire))
def test_fuzz_wire_contract_spec_is_usable_or_a_typed_error(row: Any) -> None:
    try:
        spec = ContractSpec.from_wire(row)
    except ExchangeError:
        return
    assert_typed(spec)


@fuzz(300)
@given(FIELD.map(wire))
def test_fuzz_wire_numbers_are_finite_or_a_parameter_error(value: Any) -> None:
    with contextlib.suppress(ParameterError):
        assert math.isfinite(num(value, "x"))
    with contextlib.suppress(ParameterError):
        assert type(int_ms(value)) is int


class FakeTime:
    """A monotonic clock that the limiter's and the retries' sleeps move on at once."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class CannedResponse:
    """What `aiohttp`'s `session.request(...)` gives inside `async with`: one status, headers and body."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self._body = body

    async def read(self) -> bytes:
        return self._body

    async def __aenter__(self) -> CannedResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class CannedSession:
    """Answers every request with the same response (a retry or a re-measure of the clock gets it again)."""

    def __init__(self, response: CannedResponse) -> None:
        self.response = response
        self.requests = 0

    def request(self, method: str, url: str, **kwargs: Any) -> CannedResponse:
        self.requests += 1
        return self.response


Call = Callable[[BitunixRest], Awaitable[object]]
KLINES = st.lists(records(KLINE), max_size=4)
ORDERS = st.lists(records(ORDER), max_size=3)
TRADES = st.lists(records(TRADE), max_size=3)
ENDPOINTS: dict[str, tuple[Call, st.SearchStrategy[Any]]] = {
    "klines": (lambda r: r.klines("BTCUSDT", "1m"), KLINES),
    "history": (lambda r: r.history("BTCUSDT", "1m", start_ms=0, end_ms=T0 + 10 * MINUTE, max_candles=50), KLINES),
    "trading_pairs": (lambda r: r.trading_pairs(["BTCUSDT"]), st.lists(records(CONTRACT), max_size=3)),
    "position_tiers": (lambda r: r.position_tiers("BTCUSDT"), st.lists(records(TIER), max_size=3)),
    "depth": (
        lambda r: r.depth("BTCUSDT"),
        st.fixed_dictionaries({"bids": st.lists(st.lists(FIELD, max_size=3)), "asks": st.lists(st.just(["1", "2"]))}),
    ),
    "funding_rate": (lambda r: r.funding_rate("BTCUSDT"), records(FUNDING) | st.lists(records(FUNDING), max_size=2)),
    "funding_history": (lambda r: r.funding_history("BTCUSDT"), st.lists(records(FUNDING), max_size=3)),
    "place_order": (
        lambda r: r.place_order(symbol="BTCUSDT", side="buy", qty="0.01", order_type="market", client_id="c1"),
        records(PLACE),
    ),
    "order_detail": (lambda r: r.order_detail(client_id="c1"), records(ORDER) | ORDERS),
    "pending_orders": (lambda r: r.pending_orders("BTCUSDT"), st.fixed_dictionaries({"orderList": ORDERS})),
    "pending_positions": (lambda r: r.pending_positions("BTCUSDT"), st.lists(records(POSITION), max_size=3)),
    "history_trades": (lambda r: r.history_trades("BTCUSDT"), st.fixed_dictionaries({"tradeList": TRADES})),
    "trades_since": (lambda r: r.trades_since("BTCUSDT", start_ms=0, max_pages=2),
                     st.fixed_dictionaries({"tradeList": TRADES})),
    "account": (lambda r: r.account(), records(ACCOUNT) | st.lists(records(ACCOUNT), max_size=2)),
    "leverage_margin_mode": (lambda r: r.leverage_margin_mode("BTCUSDT"), records(LEVERAGE)),
}  # fmt: skip
CANDLE_ENDPOINTS = ("klines", "history")
CODES = st.sampled_from([0, 0, 0, 0, 0, 1, 10001, 10002, 10003, 10005, 10007, 20003, 20007, 30042, 99999, -1, "0",
                         "x", None, 1.5, True, 2**64 - 1, 1e300])  # fmt: skip
DATES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "Sat, 01 Jan 2022 00:00:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 -2359",
            "Mon, 01 Jan 0001 00:00:00 +2359",
            "0",
            "-5",
            "nan",
            "inf",
            "1e400",
            "-inf",
            " 30 ",
            "Sun, 06 Nov 1994 08:49:37",
        ]
    ),
    st.builds(
        "{}, {:02d} {} {} {:02d}:{:02d}:{:02d} {}".format,
        st.sampled_from(["Mon", "Tue", "xx", ""]),
        st.integers(-1, 99),
        st.sampled_from(["Jan", "Feb", "Dec", "Foo"]),
        st.integers(-10_000, 100_000),
        st.integers(-1, 99),
        st.integers(-1, 99),
        st.integers(-1, 99),
        st.sampled_from(["GMT", "+0000", "-2359", "+9999", "-99999", "UT", "EST", "Z", ""]),
    ),
)


@st.composite
def answers(draw: st.DrawFn, data: st.SearchStrategy[Any]) -> CannedResponse:
    """An HTTP answer: mostly 200 with the JSON envelope around `data` or any JSON; sometimes junk bytes, a
    cut-off body, an envelope of the wrong shape, an error status; any `Date` and `Retry-After`."""
    status = draw(st.sampled_from([200] * 8 + [400, 403, 404, 418, 429, 500, 503]))
    headers = {name: draw(DATES) for name in ("Date", "Retry-After") if draw(st.booleans())}
    kind = draw(st.sampled_from(["envelope"] * 5 + ["any data", "wrong envelope", "any json", "bytes", "cut"]))
    envelope = {"code": draw(CODES), "msg": draw(st.text(max_size=8)), "data": None}
    if kind in ("envelope", "cut"):
        envelope["data"] = draw(data)
    elif kind == "any data":
        envelope["data"] = draw(JSON)
    if kind == "wrong envelope":
        body = orjson.dumps(draw(st.dictionaries(st.sampled_from(["code", "msg", "data", "x"]), JSON, max_size=3)))
    elif kind == "any json":
        body = orjson.dumps(draw(JSON))
    elif kind == "bytes":
        body = draw(st.binary(max_size=40))
    else:
        body = orjson.dumps(envelope)
        if kind == "cut":
            body = body[: draw(st.integers(0, len(body)))]
    return CannedResponse(status, headers, body)


async def ask(call: Call, response: CannedResponse) -> object:
    time = FakeTime()
    rest = BitunixRest(
        "http://venue.invalid",
        session=cast(aiohttp.ClientSession, CannedSession(response)),
        limiter=RateLimiter(1000, 100, monotonic=time.monotonic, sleep=time.sleep),
        credentials=Credentials("key", "secret"),
        retry=RetryPolicy(attempts=2, sleep=time.sleep),
    )
    return await call(rest)


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
@fuzz(40)
@given(data=st.data())
def test_fuzz_rest_endpoints_give_typed_values_or_an_exchange_error(endpoint: str, data: st.DataObject) -> None:
    call, shape = ENDPOINTS[endpoint]
    response = data.draw(answers(shape))
    typed: tuple[type[Exception], ...] = (
        (ExchangeError, CandleError) if endpoint in CANDLE_ENDPOINTS else (ExchangeError,)
    )
    try:
        result = asyncio.run(ask(call, response))
    except typed:
        return
    assert response.status == 200
    assert_typed(result)


@pytest.mark.parametrize(
    ("endpoint", "data"),
    [
        ("depth", None),  # AttributeError before the fix
        ("depth", {"bids": [[]]}),  # ValueError: not enough values to unpack
        ("funding_rate", None),  # AttributeError
        ("trading_pairs", {"BTCUSDT": {}}),  # AttributeError ('str' has no 'get')
        ("trading_pairs", 5),  # TypeError: not iterable
        ("klines", [{**KLINE, "close": "0"}]),  # ZeroDivisionError
    ],
)
def test_fuzz_rest_endpoints_found_crashing_give_an_exchange_error(endpoint: str, data: Any) -> None:
    """The smallest answers the fuzzing above found crashing the old code, each now a typed error."""
    body = orjson.dumps({"code": 0, "msg": "", "data": data})
    with pytest.raises((ExchangeError, CandleError)):
        asyncio.run(ask(ENDPOINTS[endpoint][0], CannedResponse(200, {}, body)))


@fuzz(300)
@example("inf")  # an endless ban
@given(DATES)
def test_fuzz_rest_headers_retry_after_and_date_read_as_seconds_or_nothing(text: str) -> None:
    wait = retry_after_s(text, T0)
    assert wait is None or (math.isfinite(wait) and wait >= 0), wait
    transport = SignedTransport(
        "http://venue.invalid", session=cast(aiohttp.ClientSession, None), limiter=RateLimiter(1, 1)
    )
    transport._clock_sample(text, T0)
    offset = transport.clock_offset_ms
    assert offset is None or math.isfinite(offset)


# -- WebSocket -------------------------------------------------------------------------------------------

CH = "market_kline_1min"
SYMBOLS = ["BTCUSDT", "ETHUSDT"]
PUSH_DATA = {"o": "100", "h": "101", "l": "99", "c": "100.5", "b": "3", "q": "300"}
PUSH = {"ch": CH, "symbol": "BTCUSDT", "ts": T0 + 1_000, "data": PUSH_DATA}


@st.composite
def kline_pushes(draw: st.DrawFn) -> Any:
    """A kline push with its fields kept, dropped or of any type, its time anywhere near the last ones."""
    push: Any = draw(records({k: v for k, v in PUSH.items() if k != "data"}))
    if not isinstance(push, dict):
        return push
    if draw(st.booleans()):
        push["ts"] = T0 + draw(st.integers(-MINUTE, 5 * MINUTE))
    push["data"] = draw(st.one_of(records(PUSH_DATA), records(PUSH_DATA), FIELD))
    push["symbol"] = draw(st.sampled_from([*SYMBOLS, "ethusdt", "XRPUSDT", push.get("symbol")]))
    return push


CONTROL = st.one_of(
    st.fixed_dictionaries(
        {"op": st.sampled_from(["subscribe", "unsubscribe", "login", "connect", "ping", "x"])},
        optional={"ch": FIELD, "data": FIELD, "pong": FIELD},
    ),
    st.fixed_dictionaries(
        {"ch": st.sampled_from([*PRIVATE_CHANNELS, CH, "market_kline_5min", ""]), "data": st.one_of(JSON, JSON, JSON)}
    ),
)
FRAMES = st.one_of(kline_pushes(), kline_pushes(), CONTROL, JSON).map(wire)


def public_stream(events: list[Event] | None = None) -> BitunixPublicStream:
    return BitunixPublicStream(
        "ws://venue.invalid",
        symbols=SYMBOLS,
        interval="1m",
        limiter=RateLimiter(50, 10),
        venue_clock=VenueClock(FakeClockForVenue()),
        on_event=None if events is None else events.append,
    )


def private_stream(events: list[Event] | None = None) -> BitunixPrivateStream:
    return BitunixPrivateStream(
        "ws://venue.invalid",
        credentials=Credentials("key", "secret"),
        limiter=RateLimiter(50, 10),
        on_event=None if events is None else events.append,
    )


class FakeClockForVenue:
    def now_ms(self) -> int:
        return T0

    def monotonic_s(self) -> float:
        return 0.0


def silent(stream: BitunixPublicStream | BitunixPrivateStream, frame: dict[str, Any]) -> bool:
    """A frame a stream takes in without counting it: a subscription's (or login's) acknowledgement."""
    if isinstance(stream, BitunixPublicStream):
        return frame.get("ch") != CH and frame.get("op") in ("subscribe", "unsubscribe")
    data = frame.get("data")
    return not (frame.get("ch") in PRIVATE_CHANNELS and isinstance(data, dict)) and frame.get("op") in (
        "subscribe",
        "unsubscribe",
        "login",
    )


def counted(stream: BitunixPublicStream | BitunixPrivateStream) -> int:
    s = stream.stats
    return s.data + s.malformed + s.unknown + s.pongs


@fuzz(150)
@given(st.lists(FRAMES.filter(lambda f: isinstance(f, dict)), max_size=12))
def test_fuzz_ws_public_handle_gives_closed_candles_or_counts_the_frame(frames: list[dict[str, Any]]) -> None:
    stream = public_stream()
    last: dict[str, int] = {}
    for frame in frames:
        before = (stream.stats.malformed, stream.stats.unknown)
        is_data, item = stream.handle(frame)
        after = (stream.stats.malformed, stream.stats.unknown)
        assert is_data + (after != before) + silent(stream, frame) == 1, frame  # exactly one of the three
        assert sum(after) - sum(before) <= 1
        if item is not None:
            symbol, candle = item
            assert is_data and symbol in SYMBOLS
            if isinstance(candle, Candle):
                assert_valid_candle(candle)
            else:  # a closed candle that broke the OHLC rules: its place, and the rule, never a candle
                assert isinstance(candle, RejectedCandle) and candle.reason
            assert candle.ts > last.get(symbol, -1) and candle.ts % MINUTE == 0
            last[symbol] = candle.ts


@fuzz(100)
@given(st.lists(FRAMES.filter(lambda f: isinstance(f, dict)), max_size=12))
def test_fuzz_ws_private_handle_gives_channel_data_or_counts_the_frame(frames: list[dict[str, Any]]) -> None:
    stream = private_stream()
    for frame in frames:
        before = stream.stats.unknown
        is_data, item = stream.handle(frame)
        assert is_data + (stream.stats.unknown - before) + silent(stream, frame) == 1, frame
        if item is not None:
            channel, data = item
            assert is_data and channel in PRIVATE_CHANNELS and isinstance(data, dict)


class Hangup(Exception):
    """The stand-in connection has no frame left."""


class ScriptedConnection:
    """The part of a websockets connection `_read` uses: `recv()`, handing out the given frames in turn."""

    def __init__(self, frames: list[str | bytes]) -> None:
        self._frames = list(frames)

    async def recv(self) -> str | bytes:
        if not self._frames:
            raise Hangup
        return self._frames.pop(0)


RAW_FRAMES: st.SearchStrategy[str | bytes] = st.one_of(
    FRAMES.map(lambda f: orjson.dumps(f).decode()),
    FRAMES.map(orjson.dumps),  # a binary frame of JSON
    st.binary(max_size=30),
    st.text(max_size=30),
    st.sampled_from(
        [
            '{"op":"ping","pong":1}',
            b'{"op":"ping","pong":1}',
            "[]",
            "null",
            '"text"',
            "1e400",
            "{",
            b"\xff\xfe{}",
            b"\x00",
            "",
            b"",
            '{"ch":"market_kline_1min","data":{}}',
        ]
    ),
)


async def read_all(stream: BitunixPublicStream | BitunixPrivateStream, frames: list[str | bytes]) -> list[Any]:
    """Every frame through `_read`, to the hang-up; the items it queued."""
    with pytest.raises(Hangup):
        async for _ in stream._read(cast(ClientConnection, ScriptedConnection(frames))):
            pass
    queued = stream._queue  # what `get()` would hand out
    return [queued.get_nowait() for _ in range(queued.qsize())]


@pytest.mark.parametrize("kind", ["public", "private"])
@fuzz(100)
@given(frames=st.lists(RAW_FRAMES, max_size=10))
def test_fuzz_ws_read_counts_and_skips_every_frame_it_cannot_use(kind: str, frames: list[str | bytes]) -> None:
    events: list[Event] = []
    stream = public_stream(events) if kind == "public" else private_stream(events)
    items = asyncio.run(read_all(stream, frames))
    acknowledged = 0
    for raw in frames:
        try:
            frame = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        acknowledged += (
            isinstance(frame, dict) and not ("pong" in frame and frame.get("op") == "ping") and silent(stream, frame)
        )
    assert stream.stats.messages == len(frames)
    assert counted(stream) + acknowledged == len(frames)
    assert all(isinstance(e, Error) and not e.fatal for e in events)
    assert len(events) <= 1  # malformed frames are summed up, at most one report per minute
    for item in items:
        assert isinstance(item, tuple) and len(item) == 2
        if kind == "public":
            assert item[0] in SYMBOLS
            assert_valid_candle(item[1])
        else:
            assert item[0] in PRIVATE_CHANNELS and isinstance(item[1], dict)


PRICES = st.one_of(
    st.floats(min_value=90.0, max_value=110.0),
    st.floats(min_value=90.0, max_value=110.0),
    st.sampled_from([0.0, -0.0, -1.0, math.nan, math.inf, -math.inf, 5e-324, 1e308]),
    st.floats(),
)
PUSHES = st.one_of(
    st.tuples(
        st.integers(-2, 40).map(lambda q: T0 + q * MINUTE // 4),  # four pushes a minute, buckets of one minute
        PRICES,
        PRICES,
        PRICES,
        PRICES,
        st.one_of(st.floats(0, 1e6), st.sampled_from([0.0, -1.0, math.nan, math.inf]), st.floats()),
    ),
    st.none(),  # the connection is lost here
)


def is_valid(o: float, h: float, low: float, c: float, v: float) -> bool:
    prices = (o, h, low, c)
    return all(math.isfinite(x) and x > 0 for x in prices) and h >= max(o, c) and low <= min(o, c) and 0 <= v < math.inf


@fuzz(300)
@given(st.lists(PUSHES, max_size=40))
def test_fuzz_kline_assembler_emits_only_valid_increasing_candles(
    script: list[tuple[int, float, float, float, float, float] | None],
) -> None:
    """What should come out, from the docstring's rules alone: a push is applied when it is later than every
    push applied before; a bucket closes at the first applied push of a later bucket, and gives the values
    of its last applied push, unless the connection was lost between the two (discarded) or they break the
    OHLC rules (invalid: handed out as a `RejectedCandle` of that bucket)."""
    assembler = KlineAssembler(MINUTE)
    emitted: list[Candle] = []
    rejected: list[int] = []
    applied: list[tuple[int, tuple[float, ...], bool]] = []  # (bucket, values, lost after it)
    newest = -1
    for step in script:
        if step is None:
            assembler.connection_lost()
            if applied:
                applied[-1] = (applied[-1][0], applied[-1][1], True)
            continue
        ts, *values = step
        candle = assembler.on_push(ts, *values)
        if isinstance(candle, RejectedCandle):
            rejected.append(candle.ts)
        elif candle is not None:
            emitted.append(candle)
        if ts > newest:
            newest = ts
            applied.append((ts - ts % MINUTE, tuple(values), False))
    closed = [(b, v, lost) for (b, v, lost), (nxt, _, _) in itertools.pairwise(applied) if nxt > b]
    expected = [Candle(b, *v) for b, v, lost in closed if not lost and is_valid(*v)]
    assert emitted == expected
    assert rejected == [b for b, v, lost in closed if not lost and not is_valid(*v)]
    for candle in emitted:
        assert_valid_candle(candle)
    assert all(a.ts < b.ts for a, b in itertools.pairwise(emitted))
    assert assembler.stale == sum(s is not None for s in script) - len(applied)
    assert assembler.discarded == sum(lost for _, _, lost in closed)
    assert assembler.invalid == sum(not lost and not is_valid(*v) for _, v, lost in closed)


# -- CSV files -------------------------------------------------------------------------------------------

GOOD_CELLS = {
    "open": ["100", "100.0", "1e2", " 100 ", "100.00000000000001"],
    "high": ["101", "1.01e2", "101.5"],
    "low": ["99", "9.9e1", "99.5"],
    "close": ["100.5", "100.25"],
    "volume": ["0", "3", "1.5e-3", "12345.678"],
}
BAD_CELLS = ["", " ", "nan", "inf", "-inf", "abc", "1e400", "-1", "0", "1.5", "٣", "1_0", '"5"', '"1,2"', "0x10",
             "1e12", "NaN", "99999999999999999999999", "\x00", "é"]  # fmt: skip


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """A candle file as a user may have one: columns in any order, case or spacing, extra or missing ones;
    a BOM; rows with good, bad and missing cells, blank lines, times in order, repeated, out of order or in
    seconds; LF, CRLF or CR; a last line with or without its newline; now and then raw bytes in between."""
    names = list(draw(st.permutations(["ts", "open", "high", "low", "close", "volume"])))
    names += draw(st.lists(st.sampled_from(["x", "symbol", ""]), max_size=2))
    if draw(st.integers(0, 9)) == 0:
        names.remove(draw(st.sampled_from(names)))
    header = ",".join(draw(st.sampled_from([n, n.upper(), f" {n} "])) for n in names)
    lines = [("\ufeff" if draw(st.integers(0, 9)) == 0 else "") + header]
    bad = draw(st.sampled_from([0.0, 0.0, 0.02, 0.2]))
    for i in range(draw(st.integers(0, 25))):
        if draw(st.integers(0, 19)) == 0:
            lines.append(draw(st.sampled_from(["", " ", ",,", "1,2"])))
            continue
        cells = []
        for name in names:
            if bad and draw(st.floats(0, 1)) < bad:
                cells.append(draw(st.sampled_from(BAD_CELLS)))
            elif name == "ts":
                step = draw(st.sampled_from([1, 1, 1, 1, 0, -1])) if i else 1
                cells.append(str(T0 + (i + step) * MINUTE))
            elif name in GOOD_CELLS:
                cells.append(draw(st.sampled_from(GOOD_CELLS[name])))
            else:
                cells.append("z")
        lines.append(",".join(cells))
    newline = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    text = newline.join(lines) + (newline if draw(st.booleans()) else "")
    data = text.encode()
    if draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    return data


Row = tuple[int, float, float, float, float, float]


def reference_csv(data: bytes) -> list[Row]:
    """The file as `csv` and `int`/`float` read it, row by row: what the reader must give; raises when the
    reader must refuse it."""
    first, _, rest = data.decode("utf-8").partition("\n")  # the header is the first line up to "\n"
    names = [h.strip().lower() for h in next(csv.reader([first]), [])]
    index = [names.index(c) for c in ("ts", "open", "high", "low", "close", "volume")]
    out = []
    for row in csv.reader(io.StringIO(rest, newline="")):
        if len(row) <= max(index) and not "".join(row).strip():
            continue
        ts = int(row[index[0]])
        o, h, low, c, v = (float(row[i]) for i in index[1:])
        if not is_valid(o, h, low, c, v) or ts < 100_000_000_000:
            raise ValueError("refused")
        out.append((ts, o, h, low, c, v))
    return out


def read_csv(path: Path) -> list[Candle]:
    return list(CsvCandles(path))


@fuzz(150)
@given(
    data=st.one_of(csv_files(), csv_files(), csv_files(), st.binary(max_size=200)),
    block=st.sampled_from([1 << 20, 64, 7]),
)
def test_fuzz_csv_reader_gives_the_files_candles_or_a_data_error_naming_the_line(
    tmp_path: Path, data: bytes, block: int
) -> None:
    path = tmp_path / "candles.csv"
    path.write_bytes(data)
    try:
        expected: list[Row] | None = reference_csv(data)
    except (ValueError, IndexError, csv.Error):  # UnicodeDecodeError is a ValueError
        expected = None
    refused: DataError | None = None
    with mock.patch.object(csv_source, "BLOCK_BYTES", block):  # blocks of a few bytes: rows cut across them
        try:
            candles = read_csv(path)
        except DataError as exc:
            refused, candles = exc, []
    if refused is not None:
        assert re.search(r"\bline \d+\b|the file is empty", str(refused)), refused
        assert expected is None, f"refused a good file: {refused}"
    else:
        assert expected is not None, "accepted a file with a bad row"
        assert [c.as_tuple() for c in candles] == expected


@fuzz(100)
@given(
    rows=st.integers(1, 30),
    bad_at=st.integers(0, 29),
    bad=st.sampled_from(["ts", "price", "nan", "ohlc", "short", "seconds", "quote"]),
    newline=st.sampled_from(["\n", "\r\n"]),
    block=st.sampled_from([1 << 20, 64, 7]),
)
def test_fuzz_csv_reader_names_the_line_of_the_one_bad_row(
    tmp_path: Path, rows: int, bad_at: int, bad: str, newline: str, block: int
) -> None:
    bad_at = min(bad_at, rows - 1)
    lines = ["ts,open,high,low,close,volume"]
    for i in range(rows):
        cells = [str(T0 + i * MINUTE), "100", "101", "99", "100.5", "2"]
        if i == bad_at:
            if bad == "ts":
                cells[0] += ".5"
            elif bad == "price":
                cells[2] = "1O1"
            elif bad == "nan":
                cells[4] = "nan"
            elif bad == "ohlc":
                cells[2] = "98"
            elif bad == "short":
                cells = cells[:4]
            elif bad == "seconds":
                cells[0] = str((T0 + i * MINUTE) // 1000)
            else:
                cells[1] = '"100'  # an open quote: the rest of the file is one field
        lines.append(",".join(cells))
    path = tmp_path / "candles.csv"
    path.write_text(newline.join(lines) + newline, newline="")
    with mock.patch.object(csv_source, "BLOCK_BYTES", block), pytest.raises(DataError) as caught:
        read_csv(path)
    assert f" line {bad_at + 2}" in str(caught.value)


@st.composite
def funding_files(draw: st.DrawFn) -> bytes:
    lines = [draw(st.sampled_from(["ts,rate", "TS, Rate", "ts,rate,extra", "rate,ts", "", "\ufeffts,rate"]))]
    for i in range(draw(st.integers(0, 12))):
        ts = draw(st.one_of(st.sampled_from([str(T0 + i * 8 * 3_600_000), "", "x", "1.5", "-1"]), LONG_DIGITS))
        rate = draw(st.sampled_from(["0.0001", "-0.0003", "0", "", "nan", "inf", "-inf", "1e400", "abc", "1e-5"]))
        lines.append(draw(st.sampled_from([f"{ts},{rate}", f"{ts},{rate}", f"{ts},{rate}", ts, f'"{ts}",{rate}'])))
    data = draw(st.sampled_from(["\n", "\r\n"])).join(lines).encode()
    if draw(st.integers(0, 5)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=6)) + data[at:]
    return data


@fuzz(150)
@example(data=b"\x80")  # UnicodeDecodeError
@example(data=b"ts,rate\n1640995200000,nan\n")  # a NaN rate, charged as funding
@given(data=st.one_of(funding_files(), funding_files(), st.binary(max_size=100)))
def test_fuzz_funding_csv_gives_finite_rates_or_a_data_error_naming_the_line(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "funding.csv"
    path.write_bytes(data)
    refused: DataError | None = None
    try:
        rows = read_funding_rows(path, setting="broker.funding_csv")
    except DataError as exc:
        refused, rows = exc, []
    assert refused is None or re.search(r"\bline \d+\b|first line", str(refused)), refused
    for ts, rate in rows:
        assert type(ts) is int and math.isfinite(rate), (ts, rate)


@fuzz(30)
@given(data=st.binary(max_size=3000))
def test_fuzz_input_files_record_any_file_by_its_size_and_digest(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "any.csv"
    path.write_bytes(data)
    assert file_digest(path) == (len(data), hashlib.sha256(data).hexdigest())
    settings = Settings.model_validate({"data": {"source": f"csv:{path}"}, "broker": {"funding_csv": str(path)}})
    recorded = input_file_events(settings, ts=T0)
    assert [(r.role, r.size, r.sha256) for r in recorded] == [
        ("candles", len(data), hashlib.sha256(data).hexdigest()),
        ("funding", len(data), hashlib.sha256(data).hexdigest()),
    ]


# -- Config ----------------------------------------------------------------------------------------------

DEFAULTS: dict[str, dict[str, Any]] = Settings().model_dump(mode="json")
KEYS = sorted((section, key) for section, fields in DEFAULTS.items() for key in fields)


@st.composite
def setting_values(draw: st.DrawFn) -> tuple[str, str, Any]:
    """A real key (now and then an unknown one) with its default, a near miss of it, or anything."""
    section, key = draw(st.sampled_from(KEYS))
    if draw(st.integers(0, 9)) == 0:
        section, key = draw(st.sampled_from([(section, draw(st.text(max_size=6))), (draw(st.text(max_size=6)), key)]))
    default = DEFAULTS.get(section, {}).get(key)
    value = draw(
        st.one_of(
            st.just(default),
            FIELD,
            st.sampled_from([-1, 0, 0.5, 1e19, 2**63, 2**64 - 1, 1.8446744073709552e19, "", "csv:", "mock", "1m"]),
            st.just([default]),
        )
    )
    return section, key, value


def settings_or_config_error(**layers: Any) -> None:
    """`load_settings` gives a `ConfigError` with a line per problem, or valid settings, which a run saves as
    config.json: they must save, and read back the same."""
    try:
        settings = load_settings(config_dir=CONFIG, **layers)
    except ConfigError as exc:
        lines = exc.lines
    else:
        check_settings(settings)
        return
    assert lines and all(isinstance(line, str) and line for line in lines)


def check_settings(settings: Settings) -> None:
    saved = orjson.dumps(redacted_dump(settings))
    again = Settings.model_validate(orjson.loads(saved)).model_dump(mode="json")
    now = settings.model_dump(mode="json")
    again["dashboard"]["token"] = now["dashboard"]["token"] = None  # saved as ***
    assert again == now


@fuzz(100)
@given(
    doc=st.one_of(
        st.lists(setting_values(), max_size=5).map(
            lambda items: orjson.dumps({section: {key: value} for section, key, value in items})
        ),
        JSON.map(orjson.dumps),
        st.binary(max_size=40),
    )
)
def test_fuzz_config_file_gives_settings_or_a_config_error(tmp_path: Path, doc: bytes) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(doc)
    settings_or_config_error(config_file=str(path), environ={})


@example(sets=['alerts.max_per_hour="' + "9" * 400 + '"'])  # valid, then config.json cannot be written
@example(sets=["alerts.unknown_order_after_s=1e999"])  # inf, saved as null: the run cannot be resumed
@fuzz(100)
@given(
    sets=st.lists(
        st.one_of(
            setting_values().map(lambda skv: f"{skv[0]}.{skv[1]}={orjson.dumps(skv[2]).decode()}"),
            setting_values().map(lambda skv: f"{skv[0]}.{skv[1]}={skv[2]}"),
            st.text(max_size=20),
        ),
        max_size=4,
    )
)
def test_fuzz_config_set_overrides_give_settings_or_a_config_error(sets: list[str]) -> None:
    settings_or_config_error(sets=sets, environ={})


ENV_NAMES = st.one_of(
    st.sampled_from(KEYS).map(lambda sk: f"LA_{sk[0].upper()}__{sk[1].upper()}"),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_abc0", max_size=12).map(lambda t: "LA_" + t),
    st.sampled_from(["LA_", "LA__", "LA_RISK__", "LA___X", "LA_RISK__RISK_PCT__X", "LA_CONFIG_DIR", "HOME"]),
)
ENV_VALUES = st.one_of(FIELD.map(lambda v: orjson.dumps(v).decode()), st.text(max_size=12))


@fuzz(100)
@given(environ=st.dictionaries(ENV_NAMES, ENV_VALUES, max_size=4))
def test_fuzz_config_environment_gives_settings_or_a_config_error(environ: dict[str, str]) -> None:
    settings_or_config_error(environ=environ)
