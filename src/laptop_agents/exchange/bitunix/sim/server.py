"""The simulated Bitunix exchange: the real REST paths and WebSocket endpoints on 127.0.0.1.

REST answers use the real envelope (HTTP 200 for business errors, `code`/`msg`/`data`, decimals as
strings, klines newest first); private endpoints verify the signature over the raw body bytes, reject
stale timestamps and reused nonces, and are rate limited per key (public ones per client address).
`/admin/*` lets tests and the CLI inspect state, set faults and step the replay (not part of Bitunix).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import orjson
from aiohttp import web

from laptop_agents.core.candle import Candle
from laptop_agents.core.errors import InputError
from laptop_agents.exchange.bitunix import codes
from laptop_agents.exchange.bitunix.signing import query_string_for_signing, sign
from laptop_agents.exchange.bitunix.sim.admin_api import AdminApi
from laptop_agents.exchange.bitunix.sim.faults import FaultPlan
from laptop_agents.exchange.bitunix.sim.history_api import HistoryApi
from laptop_agents.exchange.bitunix.sim.ledger import ContractRules, Ledger, Refusal, SimAccount
from laptop_agents.exchange.bitunix.sim.market import MarketReplay
from laptop_agents.exchange.bitunix.sim.market_api import MarketApi
from laptop_agents.exchange.bitunix.sim.params import Handler, Routes
from laptop_agents.exchange.bitunix.sim.private_api import PrivateApi
from laptop_agents.exchange.bitunix.sim.streams import StreamHub
from laptop_agents.exchange.bitunix.sim.tpsl_api import TpslApi
from laptop_agents.exchange.bitunix.sim.trade_api import TradeApi
from laptop_agents.exchange.bitunix.wire import REST_INTERVAL_MS

API = "/api/v1/futures"


@dataclass
class SimAccountConfig:
    api_key: str
    secret: str
    balance: float = 10_000.0


@dataclass
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 0
    interval: str = "1m"
    speed: float = 600.0
    """Market time per wall time: 600 turns 1-minute candles into one every 100 ms. 0 = step by hand."""
    pushes_per_candle: int = 4
    start_index: int = 300
    """Candles of history already "traded" when the replay starts (REST serves them at once)."""
    accounts: list[SimAccountConfig] = field(default_factory=lambda: [SimAccountConfig("sim-key", "sim-secret")])
    rules: dict[str, ContractRules] = field(default_factory=dict)
    timestamp_window_ms: int = 60_000
    clock_offset_ms: float = 0.0
    """How far the simulated server's clock runs ahead of the host's (its `Date` header, its timestamp check)."""
    rest_rate_per_s: int = 10
    ws_idle_timeout_s: float = 60.0
    ws_max_messages_per_s: int = 5
    spread_bps: float = 2.0
    taker_fee_bps: float = 6.0
    maker_fee_bps: float = 2.0
    funding: tuple[tuple[int, float], ...] = ()
    """The funding record to replay (time ms, rate as a fraction), e.g. from `la download --funding`; empty:
    the ledger's constant rate at every 8-hour boundary."""
    # wire variants for the open conflicts of bitunix-api.md §9 (defaults: the documented behaviour)
    kline_volume_names: str = "doc"  # C1: "doc" = quoteVol holds the base quantity; "intuitive" swaps them
    account_shape: str = "array"  # C5: "array" (doc) or "object" (seen live)
    funding_shape: str = "array"  # C6: "array" (doc example) or "object" (SDK)
    numbers: str = "string"  # C2: "string" (captures) or "number"
    accept_last_kline_prefix: bool = False  # C3: also serve `last_kline_*` (the Java SDK's name) as market klines
    subscribe_ack: bool = False  # C7: the probe saw no ack; True sends {"op":"subscribe",...,"data":{"result":true}}
    ws_enum_case: str = "upper"  # C9: "upper" (doc: BUY/LIMIT) or "title" (seen: Buy/Limit) on private pushes
    position_side: str = "LONG"  # C10: "LONG" (doc: LONG/SHORT) or "BUY" (seen: BUY/SELL) on REST positions
    tpsl_place_shape: str = "object"  # /tpsl/place_order data: "object" (doc) or "array" (seen live, SDK list)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    monotonic: float
    wall_ms: int
    method: str
    path: str
    query: dict[str, str]
    api_key: str | None
    http_status: int
    code: int | None
    signature: str = ""
    """The request's `sign` header (tests check that no signature leaks into a run's files)."""


def envelope(code: int, data: Any = None, msg: str | None = None) -> web.Response:
    text = msg or codes.MESSAGES.get(code, "error")
    body = {"code": code, "msg": text, "data": data} if code == 0 else {"code": code, "data": None, "msg": text}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


class SimExchange:
    def __init__(self, config: SimConfig, series: Mapping[str, Sequence[Candle]]) -> None:
        self.config = config
        self.faults = FaultPlan()
        step = REST_INTERVAL_MS.get(config.interval) or 60_000
        self.market = MarketReplay(
            series, interval_ms=step, start_index=config.start_index, pushes_per_candle=config.pushes_per_candle
        )
        rules = {s: config.rules.get(s, ContractRules(s)) for s in self.market.symbols}
        self.hub = StreamHub(self)
        self.ledger = Ledger(
            self.market,
            rules,
            spread_bps=config.spread_bps,
            taker_fee_bps=config.taker_fee_bps,
            maker_fee_bps=config.maker_fee_bps,
            funding=config.funding,
            on_private=self.hub.private_push,
            parts_for=lambda order: max(1, self.faults.partial_fill_parts) if order.client_id else 1,
            overfill_for=lambda order: bool(order.client_id) and self.faults.take("overfill_next"),
            slippage_for=lambda order: self.faults.slippage_bps / 1e4 if order.client_id else 0.0,
        )
        for acct in config.accounts:
            self.ledger.add_account(acct.api_key, acct.secret, acct.balance)
        self.requests: deque[RequestRecord] = deque(maxlen=20_000)
        self._nonces: dict[str, deque[str]] = {}
        self._hits: dict[str, deque[float]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.app = self._build_app()

    # -- Lifecycle ---------------------------------------------------------------------------------------

    @property
    def rest_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def ws_public_url(self) -> str:
        return f"ws://{self.config.host}:{self.port}/public/"

    @property
    def ws_private_url(self) -> str:
        return f"ws://{self.config.host}:{self.port}/private/"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise InputError(
                f"--port {self.config.port}: cannot listen on {self.config.host}:{self.config.port} "
                f"({exc.strerror or exc}); pick another port, or --port 0 for a free one"
            ) from None
        server = site._server
        assert server is not None
        assert hasattr(server, "sockets")
        self.port = server.sockets[0].getsockname()[1]
        await self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimExchange:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def requests_to(self, path_suffix: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.path.endswith(path_suffix)]

    # -- App ---------------------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        public = MarketApi(self).routes()
        api = PrivateApi(self)
        private: Routes = {
            "/account": ("GET", api.account),
            "/account/change_leverage": ("POST", api.change_leverage),
            "/account/get_leverage_margin_mode": ("GET", api.leverage_mode),
            "/account/change_margin_mode": ("POST", api.change_margin_mode),
            "/account/change_position_mode": ("POST", api.change_position_mode),
            "/trade/place_order": ("POST", api.place_order),
            "/trade/cancel_orders": ("POST", api.cancel_orders),
            "/trade/get_order_detail": ("GET", api.order_detail),
            "/trade/get_pending_orders": ("GET", api.pending_orders),
            "/trade/get_history_trades": ("GET", api.history_trades),
            "/position/get_pending_positions": ("GET", api.pending_positions),
            **TradeApi(self).routes(),
            **HistoryApi(self).routes(),
            **TpslApi(self).routes(),
        }
        for path, handler in public.items():
            app.router.add_get(API + path, self._wrap(handler, signed=False))
        for path, (method, handler) in private.items():
            app.router.add_route(method, API + path, self._wrap(handler, signed=True))
        app.router.add_get("/public/", self.hub.public_handler)
        app.router.add_get("/private/", self.hub.private_handler)
        admin = AdminApi(self)
        app.router.add_get("/admin/state", admin.state)
        app.router.add_post("/admin/faults", admin.faults)
        app.router.add_post("/admin/advance", admin.advance)
        app.router.add_post("/admin/contract", admin.contract)
        app.router.add_post("/admin/drop", admin.drop)
        app.router.add_post("/admin/liquidate", admin.liquidate)
        app.router.add_post("/admin/pause", admin.pause)
        app.router.add_post("/admin/play", admin.play)
        app.router.add_get("/admin/requests", admin.requests)
        app.router.add_get("/admin/ledger", admin.ledger)
        return app

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith(("/admin/", "/public/", "/private/")):
            return await handler(request)
        faults = self.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.slow_path and faults.slow_path_ms and request.path.endswith(faults.slow_path):
            faults.fired("slow_path")
            await asyncio.sleep(faults.slow_path_ms / 1000)
        if faults.take("http_error_next"):
            error = web.Response(status=faults.http_error_status, text="upstream error")
            if faults.retry_after_s:
                error.headers["Retry-After"] = f"{faults.retry_after_s:g}"
            return self._log(request, error, None)
        limited_path = not faults.rate_limit_path or request.path.endswith(faults.rate_limit_path)
        too_frequent = codes.REQUEST_TOO_FREQUENT
        if (limited_path and faults.take("rate_limit_next")) or faults.rate_limited_now():
            return self._log(request, envelope(too_frequent, msg=self._echoed(request, too_frequent)), too_frequent)
        scope = request.headers.get("api-key") or (request.remote or "?")
        if not self._within_rate(scope):
            return self._log(request, envelope(too_frequent, msg=self._echoed(request, too_frequent)), too_frequent)
        try:
            response = await handler(request)
        except web.HTTPNotFound:
            return self._log(request, envelope(codes.NOT_FOUND), codes.NOT_FOUND)
        code = getattr(response, "la_code", None)
        return self._log(request, response, code)

    def _echoed(self, request: web.Request, code: int, msg: str | None = None) -> str | None:
        """A refusal's message, naming the request's API key when the `echo_api_key` fault is on."""
        key = request.headers.get("api-key")
        if not (self.faults.echo_api_key and key):
            return msg
        self.faults.fired("echo_api_key")
        return f"{msg or codes.MESSAGES.get(code, 'error')} (api-key {key})"

    def now_ms(self) -> int:
        """The server's wall clock (the host's plus `clock_offset_ms`)."""
        return time.time_ns() // 1_000_000 + int(self.config.clock_offset_ms)

    def _log(self, request: web.Request, response: web.StreamResponse, code: int | None) -> web.StreamResponse:
        response.headers["Date"] = formatdate(self.now_ms() / 1000, usegmt=True)
        self.requests.append(
            RequestRecord(
                time.monotonic(),
                time.time_ns() // 1_000_000,
                request.method,
                request.path,
                dict(request.query),
                request.headers.get("api-key"),
                response.status,
                code,
                request.headers.get("sign", ""),
            )
        )
        return response

    def _within_rate(self, scope: str) -> bool:
        now = time.monotonic()
        hits = self._hits.setdefault(scope, deque())
        while hits and hits[0] <= now - 1.0:
            hits.popleft()
        if len(hits) >= self.config.rest_rate_per_s:
            return False
        hits.append(now)
        return True

    def _wrap(self, handler: Handler, *, signed: bool) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            try:
                account = await self._authenticate(request) if signed else None
                data = await handler(request, account)
            except Refusal as refusal:
                response = envelope(refusal.code, msg=self._echoed(request, refusal.code, refusal.msg))
                response.la_code = refusal.code  # type: ignore[attr-defined]
                return response
            if isinstance(data, web.StreamResponse):
                return data
            response = envelope(codes.SUCCESS, self.faults.malform(request.path, data))
            response.la_code = codes.SUCCESS  # type: ignore[attr-defined]
            return response

        return endpoint

    async def _authenticate(self, request: web.Request) -> SimAccount:
        key = request.headers.get("api-key", "")
        if not key:
            raise Refusal(codes.API_KEY_EMPTY)
        account = self.ledger.accounts.get(key)
        nonce = request.headers.get("nonce", "")
        stamp = request.headers.get("timestamp", "")
        given = request.headers.get("sign", "")
        if account is None:
            raise Refusal(codes.SIGNATURE_ERROR, "Sign signature error (unknown api-key)")
        try:
            skew = abs(self.now_ms() - int(stamp))
        except ValueError:
            raise Refusal(codes.SIGNATURE_ERROR, "Sign signature error (timestamp is not milliseconds)") from None
        if skew > self.config.timestamp_window_ms:
            raise Refusal(codes.SIGNATURE_ERROR, f"Sign signature error (timestamp {skew} ms off)")
        body = (await request.read()).decode("utf-8", errors="replace")
        expected = sign(
            api_key=key,
            secret=account.secret,
            nonce=nonce,
            timestamp=stamp,
            query=query_string_for_signing(dict(request.query)),
            body=body,
        )
        if not hmac.compare_digest(expected, given):
            raise Refusal(codes.SIGNATURE_ERROR)
        seen = self._nonces.setdefault(key, deque(maxlen=10_000))
        if nonce in seen:
            raise Refusal(codes.SIGNATURE_ERROR, "Sign signature error (nonce reused)")
        seen.append(nonce)
        return account

    # -- Public REST -------------------------------------------------------------------------------------

    def symbol_param(self, request: web.Request, key: str = "symbol") -> str:
        symbol = request.query.get(key, "").upper()
        if symbol not in self.market.series:
            raise Refusal(codes.FUTURES_NOT_SUPPORTED)
        return symbol
