"""The Bitunix REST client, on one long-lived `aiohttp.ClientSession`, through the shared rate limiter.

Every call passes the limiter. A non-zero envelope code becomes a typed error (`errors.py`); network
errors, timeouts, HTTP 5xx and rate-limit answers are retried with exponential backoff and jitter.
A rate-limit answer also penalises the shared limiter, so nothing else is sent during the wait.
`place_order` is never retried: after an unclear answer the caller looks the order up by client id.

Signed requests carry our clock plus the server's offset measured from the replies' `Date` headers, so a
drift of this machine's clock after the preflight does not make every signed call fail. A signature
refusal (10007, which is also Bitunix's answer to a stale timestamp) re-measures the offset with one
unsigned call and tries once more; when that fails too, `on_signing(False, detail)` says so (the live
venue halts entries), and the next signed success says `on_signing(True, "")`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import aiohttp
import orjson

from laptop_agents.core.candle import Candle
from laptop_agents.core.clock import Clock, LiveClock
from laptop_agents.exchange.bitunix import codes
from laptop_agents.exchange.bitunix.errors import (
    AuthError,
    ExchangeError,
    ExchangeTimeout,
    ExchangeUnavailable,
    IpBanned,
    MalformedReply,
    RateLimitedError,
    SignatureError,
    error_for_code,
    is_retryable,
)
from laptop_agents.exchange.bitunix.replies import AccountInfo, OrderInfo, PlaceReply, PositionInfo, TradeInfo
from laptop_agents.exchange.bitunix.signing import new_nonce, query_string_for_signing, sign
from laptop_agents.exchange.bitunix.wire import REST_INTERVALS, ContractSpec, num, parse_kline_rows
from laptop_agents.runtime.rate_limiter import RateLimiter
from laptop_agents.runtime.retry import RetryPolicy

API = "/api/v1/futures"
KLINE_PAGE = 200
BAN_DEFAULT_S = 120.0
"""An HTTP 418 without `Retry-After` is taken as the shortest ban venues give (2 minutes)."""
TRADES_PAGE = 100


@dataclass(frozen=True)
class Credentials:
    api_key: str
    secret: str = field(repr=False)

    def __repr__(self) -> str:
        return "Credentials(api_key=***, secret=***)"


class BitunixRest:
    def __init__(
        self,
        base_url: str,
        *,
        session: aiohttp.ClientSession,
        limiter: RateLimiter,
        credentials: Credentials | None = None,
        retry: RetryPolicy | None = None,
        wall_clock: Clock | None = None,
        timeout_s: float = 10.0,
        nonce: Callable[[], str] = new_nonce,
        rate_limit_penalty_s: float = 1.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self.limiter = limiter
        self._credentials = credentials
        self.clock_offset_ms: float | None = None
        """Server clock minus ours (ms) from the last reply, ±0.5 s: the `Date` header has whole seconds."""
        self._retry = retry or RetryPolicy()
        self._clock = wall_clock or LiveClock()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._nonce = nonce
        self._first_penalty_s = rate_limit_penalty_s
        self._penalty_s = rate_limit_penalty_s
        self.rate_limited = 0
        self.on_rate_limited: Callable[[float, int], None] | None = None
        """Called with (penalty seconds, code) after each rate-limit answer, e.g. to emit `RateLimited`."""
        self.on_signing: Callable[[bool, str], None] | None = None
        """Called when signed calls start failing after a re-measure (False, why), and when one succeeds
        again (True, "")."""
        self.signing_failed = False
        self.on_banned: Callable[[float], None] | None = None
        """Called with the ban's length in seconds after an HTTP 418, and with 0 once a reply after it
        arrived (the ban is over)."""
        self.banned_until = 0.0

    # -- Public market data ------------------------------------------------------------------------------

    async def klines(
        self, symbol: str, interval: str, *, end_ms: int | None = None, limit: int = KLINE_PAGE
    ) -> list[Candle]:
        """One page of candles, ascending. Without `end_ms` the newest row is the forming candle: dropped."""
        params: dict[str, str] = {
            "symbol": symbol,
            "interval": REST_INTERVALS[interval],
            "limit": str(min(limit, KLINE_PAGE)),
        }
        if end_ms is not None:
            params["endTime"] = str(end_ms)
        rows = await self._call("GET", "/market/kline", params=params)
        candles = parse_kline_rows(rows if isinstance(rows, list) else [])
        return candles[:-1] if end_ms is None and candles else candles

    async def history(
        self, symbol: str, interval: str, *, start_ms: int, end_ms: int | None = None, max_candles: int = 200_000
    ) -> list[Candle]:
        """Closed candles with open time in [start_ms, end_ms), paging backwards 200 at a time."""
        out: dict[int, Candle] = {}
        cursor = end_ms
        while len(out) < max_candles:
            page = await self.klines(symbol, interval, end_ms=cursor)
            fresh = [c for c in page if c.ts not in out and (cursor is None or c.ts < cursor)]
            for candle in fresh:
                if candle.ts >= start_ms:
                    out[candle.ts] = candle
            if not fresh or page[0].ts <= start_ms:
                break
            cursor = page[0].ts
        return [out[ts] for ts in sorted(out)]

    async def trading_pairs(self, symbols: list[str] | None = None) -> list[ContractSpec]:
        params = {"symbols": ",".join(symbols)} if symbols else None
        rows = await self._call("GET", "/market/trading_pairs", params=params)
        return [ContractSpec.from_wire(r) for r in rows or []]

    async def tickers(self, symbols: list[str] | None = None) -> list[dict[str, Any]]:
        params = {"symbols": ",".join(symbols)} if symbols else None
        rows: list[dict[str, Any]] = await self._call("GET", "/market/tickers", params=params) or []
        return rows

    async def depth(self, symbol: str, limit: str = "15") -> dict[str, list[tuple[float, float]]]:
        data = await self._call("GET", "/market/depth", params={"symbol": symbol, "limit": limit})
        return {side: [(num(p, "price"), num(q, "qty")) for p, q in data.get(side, [])] for side in ("bids", "asks")}

    async def funding_rate(self, symbol: str) -> float:
        """The current funding rate per period as a fraction (the wire gives percent: "0.01" = 0.0001)."""
        data = await self._call("GET", "/market/funding_rate", params={"symbol": symbol})
        row = data[0] if isinstance(data, list) and data else data  # C6: array or object
        return num(row.get("fundingRate"), "fundingRate") / 100.0

    # -- Private -----------------------------------------------------------------------------------------

    async def place_order(
        self,
        *,
        symbol: str,
        side: Literal["buy", "sell"],
        qty: str,
        order_type: Literal["market", "limit"],
        client_id: str,
        price: str | None = None,
        reduce_only: bool = False,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """Send one order; returns the exchange order id. Never retried here (see the module docstring)."""
        body: dict[str, Any] = {
            "symbol": symbol,
            "side": side.upper(),
            "orderType": order_type.upper(),
            "qty": qty,
            "clientId": client_id,
            "reduceOnly": reduce_only,
        }
        if price is not None:
            body["price"] = price
            body["effect"] = "GTC"
        body.update(extra or {})
        data = await self._call("POST", "/trade/place_order", body=body, signed=True, retry=False, urgent=True)
        return PlaceReply.from_wire(data).order_id

    async def cancel_orders(
        self, symbol: str, *, order_ids: Sequence[str] = (), client_ids: Sequence[str] = ()
    ) -> dict[str, Any]:
        order_list = [{"orderId": o} for o in order_ids] + [{"clientId": c} for c in client_ids]
        result: dict[str, Any] = await self._call(
            "POST", "/trade/cancel_orders", signed=True, body={"symbol": symbol, "orderList": order_list}, urgent=True
        )
        return result

    async def order_detail(self, *, order_id: str | None = None, client_id: str | None = None) -> OrderInfo:
        params = {"orderId": order_id} if order_id else {"clientId": client_id or ""}
        data = await self._call("GET", "/trade/get_order_detail", params=params, signed=True)
        row = data[0] if isinstance(data, list) and data else data
        return OrderInfo.from_wire(row)

    async def pending_orders(self, symbol: str | None = None) -> list[OrderInfo]:
        params = {"symbol": symbol, "limit": "100"} if symbol else {"limit": "100"}
        data = await self._call("GET", "/trade/get_pending_orders", params=params, signed=True)
        return [OrderInfo.from_wire(r) for r in _rows(data, "orderList", "get_pending_orders")]

    async def pending_positions(self, symbol: str | None = None) -> list[PositionInfo]:
        data = await self._call(
            "GET", "/position/get_pending_positions", params={"symbol": symbol} if symbol else None, signed=True
        )
        return [PositionInfo.from_wire(r) for r in _rows(data, None, "get_pending_positions")]

    async def history_trades(
        self, symbol: str | None = None, *, start_ms: int | None = None, limit: int = TRADES_PAGE, skip: int = 0
    ) -> list[TradeInfo]:
        """One page of executions, newest first (up to 100, after skipping `skip` newer ones)."""
        params = {"limit": str(min(limit, TRADES_PAGE))}
        if skip:
            params["skip"] = str(skip)
        if symbol:
            params["symbol"] = symbol
        if start_ms is not None:
            params["startTime"] = str(start_ms)
        data = await self._call("GET", "/trade/get_history_trades", params=params, signed=True)
        return [TradeInfo.from_wire(r) for r in _rows(data, "tradeList", "get_history_trades")]

    async def trades_since(self, symbol: str, *, start_ms: int | None, max_pages: int = 100) -> list[TradeInfo]:
        """Every execution since `start_ms`, page after page (newest first, by `skip`): a trade that lands
        meanwhile shifts the pages, so one may be read twice (deduplicated here), never skipped. More than
        `max_pages` pages is an error rather than a silent cut (the oldest would be the ones lost)."""
        seen: dict[str, TradeInfo] = {}
        for number in range(max_pages):
            page = await self.history_trades(symbol, start_ms=start_ms, skip=number * TRADES_PAGE)
            for trade in page:
                seen.setdefault(trade.trade_id, trade)
            if len(page) < TRADES_PAGE:
                return list(seen.values())
        raise ExchangeError(
            f"bitunix get_history_trades: more than {max_pages * TRADES_PAGE} executions since {start_ms}"
        )

    async def account(self, margin_coin: str = "USDT") -> AccountInfo:
        return AccountInfo.from_wire(
            await self._call("GET", "/account", params={"marginCoin": margin_coin}, signed=True)
        )

    async def leverage_margin_mode(self, symbol: str, margin_coin: str = "USDT") -> tuple[int, str]:
        """(leverage, margin mode ISOLATION|CROSS) currently set for `symbol`."""
        params = {"symbol": symbol, "marginCoin": margin_coin}
        data = await self._call("GET", "/account/get_leverage_margin_mode", params=params, signed=True)
        if not isinstance(data, Mapping):
            raise ExchangeError(f"bitunix get_leverage_margin_mode: unexpected data {data!r}")
        return int(num(data.get("leverage", 0), "leverage")), str(data.get("marginMode", "")).upper()

    async def change_margin_mode(self, symbol: str, mode: str, margin_coin: str = "USDT") -> None:
        await self._call(
            "POST",
            "/account/change_margin_mode",
            signed=True,
            body={"symbol": symbol, "marginCoin": margin_coin, "marginMode": mode},
        )

    async def modify_position_tpsl(
        self, symbol: str, position_id: str, *, sl_price: str | None, tp_price: str | None
    ) -> None:
        """Move the whole-position stop-loss / take-profit of `position_id` (a trailing stop), triggered on
        the last price, closed at market."""
        body: dict[str, Any] = {"symbol": symbol, "positionId": position_id}
        if sl_price is not None:
            body |= {"slPrice": sl_price, "slStopType": "LAST_PRICE"}
        if tp_price is not None:
            body |= {"tpPrice": tp_price, "tpStopType": "LAST_PRICE"}
        await self._call("POST", "/tpsl/position/modify_order", signed=True, body=body, urgent=True)

    async def change_position_mode(self, mode: Literal["ONE_WAY", "HEDGE"]) -> None:
        """Account-wide; the venue refuses it (20009) while any position is open."""
        await self._call("POST", "/account/change_position_mode", signed=True, body={"positionMode": mode})

    async def change_leverage(self, symbol: str, leverage: int, margin_coin: str = "USDT") -> None:
        await self._call(
            "POST",
            "/account/change_leverage",
            signed=True,
            body={"symbol": symbol, "marginCoin": margin_coin, "leverage": leverage},
        )

    # -- Transport ---------------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        signed: bool = False,
        retry: bool = True,
        urgent: bool = False,
    ) -> Any:
        """`urgent` (placements, cancels) goes before the other callers waiting at the limiter."""

        async def once() -> Any:
            return await self._send(method, path, params=params, body=body, signed=signed, urgent=urgent)

        async def attempt() -> Any:
            if not retry:
                return await once()
            return await self._retry.call(once, retryable=is_retryable)

        if not signed:
            return await attempt()
        try:
            result = await attempt()
        except SignatureError:
            await self.measure_clock()  # a stale timestamp reads as a signature error: measure, then once more
            try:
                result = await attempt()
            except SignatureError as exc:
                self._signing(False, f"{exc} (again after re-measuring the server clock, offset "
                                     f"{(self.clock_offset_ms or 0.0) / 1000:+.1f} s)")  # fmt: skip
                raise
        self._signing(True, "")
        return result

    async def measure_clock(self) -> float | None:
        """One unsigned request for the server's `Date` header; the measured offset (ms), or None."""
        with contextlib.suppress(ExchangeError):  # any reply's Date header counts; no reply keeps the old one
            await self._send("GET", "/market/tickers", params=None, body=None, signed=False)
        return self.clock_offset_ms

    def _signing(self, ok: bool, detail: str) -> None:
        if ok == (not self.signing_failed):
            return
        self.signing_failed = not ok
        if self.on_signing is not None:
            self.on_signing(ok, detail)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
        signed: bool,
        urgent: bool = False,
    ) -> Any:
        await self.limiter.acquire(urgent=urgent)
        payload = orjson.dumps(body) if body is not None else None  # signed and sent as these very bytes
        headers = {"Content-Type": "application/json"}
        if signed:
            headers.update(self._auth_headers(params or {}, payload.decode() if payload else ""))
        url = self.base_url + API + path
        sent_ms = self._clock.now_ms()
        try:
            async with self._session.request(
                method, url, params=params, data=payload, headers=headers, timeout=self._timeout
            ) as response:
                status = response.status
                raw = await response.read()
                self._clock_sample(response.headers.get("Date"), sent_ms)
                retry_after = retry_after_s(response.headers.get("Retry-After"), self._clock.now_ms())
        except TimeoutError as exc:
            raise ExchangeTimeout(f"bitunix {path}: no answer in {self._timeout.total} s") from exc
        except aiohttp.ClientError as exc:
            raise ExchangeUnavailable(f"bitunix {path}: {type(exc).__name__}: {exc}") from exc
        if status == 418:
            wait_s = retry_after or BAN_DEFAULT_S
            self.limiter.penalize(wait_s)
            self.banned_until = self._monotonic_now() + wait_s
            if self.on_banned is not None:
                self.on_banned(wait_s)
            raise IpBanned(f"bitunix {path}: HTTP 418, banned for {wait_s:g} s", retry_after_s=wait_s)
        if status == 429:
            self._rate_limited(codes.TOO_MANY_REQUESTS, retry_after)
            raise RateLimitedError(f"bitunix {path}: HTTP 429", http_status=429)
        if status >= 500:
            raise ExchangeUnavailable(f"bitunix {path}: HTTP {status}", http_status=status)
        if status != 200:
            raise ExchangeError(f"bitunix {path}: HTTP {status}", http_status=status)
        try:
            doc = orjson.loads(raw)
            code = int(doc["code"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise ExchangeUnavailable(f"bitunix {path}: answer is not the JSON envelope: {raw[:80]!r}") from None
        if code != codes.SUCCESS:
            error = error_for_code(code, str(doc.get("msg", "")), path=path)
            if isinstance(error, RateLimitedError):
                self._rate_limited(code, retry_after)
            raise error
        self._penalty_s = self._first_penalty_s
        if self.banned_until and self.limiter.blocked_until <= self._monotonic_now():
            self.banned_until = 0.0
            if self.on_banned is not None:
                self.on_banned(0.0)
        return doc.get("data")

    def _clock_sample(self, date_header: str | None, sent_ms: int) -> None:
        """Server clock minus ours, from the reply's `Date` header (whole seconds, so its middle is taken)
        against the middle of our request; Bitunix has no server-time endpoint (§3.7)."""
        if not date_header:
            return
        try:
            server_ms = parsedate_to_datetime(date_header).timestamp() * 1000 + 500
        except (TypeError, ValueError):
            return
        self.clock_offset_ms = server_ms - (sent_ms + self._clock.now_ms()) / 2

    def _auth_headers(self, params: Mapping[str, str], body: str) -> dict[str, str]:
        creds = self._credentials
        if creds is None:
            raise AuthError("bitunix: this call needs API credentials, and none were given")
        nonce = self._nonce()
        timestamp = str(self._clock.now_ms() + round(self.clock_offset_ms or 0.0))  # the server's clock
        signature = sign(
            api_key=creds.api_key,
            secret=creds.secret,
            nonce=nonce,
            timestamp=timestamp,
            query=query_string_for_signing(params),
            body=body,
        )
        return {"api-key": creds.api_key, "nonce": nonce, "timestamp": timestamp, "sign": signature}

    def _monotonic_now(self) -> float:
        return self._clock.monotonic_s()

    def _rate_limited(self, code: int, retry_after: float | None = None) -> None:
        """Everyone sharing the limiter waits; the wait doubles on repeated answers (1 s, 2 s, ... 16 s),
        and is never shorter than the venue's `Retry-After`."""
        self.rate_limited += 1
        penalty = max(self._penalty_s, retry_after or 0.0)
        self._penalty_s = min(self._penalty_s * 2.0, 16.0 * self._first_penalty_s)
        self.limiter.penalize(penalty)
        if self.on_rate_limited is not None:
            self.on_rate_limited(penalty, code)


def retry_after_s(header: str | None, now_ms: int) -> float | None:
    """`Retry-After` in seconds: delta seconds, or an HTTP date (RFC 9110); None when absent or unreadable."""
    if not header:
        return None
    text = header.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - now_ms / 1000)
    except (TypeError, ValueError):
        return None


def _rows(data: Any, key: str | None, what: str) -> list[Any]:
    """The list of records in a reply: `data` itself (`key` None) or `data[key]`; nothing is an empty
    list, anything else but a list is a `MalformedReply`."""
    if key is not None and data is not None:
        if not isinstance(data, Mapping):
            raise MalformedReply(f"bitunix {what}: expected an object with {key!r}, got {data!r:.80}")
        data = data.get(key)
    if data is None:
        return []
    if not isinstance(data, list):
        raise MalformedReply(f"bitunix {what}: expected a list, got {data!r:.80}")
    return data


def default_session(timeout_s: float = 10.0) -> aiohttp.ClientSession:
    """The one session per exchange: JSON via orjson, an explicit timeout, a bounded connection pool."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        connector=aiohttp.TCPConnector(limit=16),
        json_serialize=lambda obj: orjson.dumps(obj).decode(),
    )


__all__ = [
    "AccountInfo", "BitunixRest", "Credentials", "OrderInfo", "PositionInfo", "TradeInfo", "default_session"
]  # fmt: skip
