"""The signed transport under the Bitunix REST client: the limiter, retries, signing and the clock.

Every call passes the shared limiter (`urgent` ones, placements and cancels, first). A non-zero envelope
code becomes a typed error (`errors.py`); network errors, timeouts, HTTP 5xx and rate-limit answers are
retried with exponential backoff and jitter, and a rate-limit answer also penalises the limiter, so nothing
else is sent during the wait (`Retry-After` is honoured; an HTTP 418 is a ban, said through `on_banned`).

Signed requests carry our clock plus the server's offset measured from the replies' `Date` headers, so a
drift of this machine's clock after the preflight does not make every signed call fail. A signature
refusal (10007, which is also Bitunix's answer to a stale timestamp) re-measures the offset with one
unsigned call and tries once more; when that fails too, `on_signing(False, detail)` says so (the live
venue halts entries), and the next signed success says `on_signing(True, "")`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import orjson

from laptop_agents.base.rate_limiter import RateLimiter
from laptop_agents.base.retry import RetryPolicy
from laptop_agents.core.clock import Clock, LiveClock
from laptop_agents.exchange.bitunix import codes
from laptop_agents.exchange.bitunix.errors import (
    AuthError,
    ExchangeError,
    ExchangeTimeout,
    ExchangeUnavailable,
    IpBanned,
    RateLimitedError,
    SignatureError,
    error_for_code,
    is_retryable,
)
from laptop_agents.exchange.bitunix.signing import new_nonce, query_string_for_signing, sign

API = "/api/v1/futures"
BAN_DEFAULT_S = 120.0
"""An HTTP 418 without `Retry-After` is taken as the shortest ban venues give (2 minutes)."""


@dataclass(frozen=True)
class Credentials:
    api_key: str
    secret: str = field(repr=False)

    def __repr__(self) -> str:
        return "Credentials(api_key=***, secret=***)"


class SignedTransport:
    """Sends one request the way every Bitunix call is sent (see the module docstring)."""

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
        self.answered = 0
        """Requests the venue answered (a refusal included): with `unreachable`, whether it is there at all."""
        self.unreachable = 0
        """Requests that got no usable answer (a timeout, a connection error, a 5xx, a broken envelope)."""
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
            try:
                result = await self._send(method, path, params=params, body=body, signed=signed, urgent=urgent)
            except ExchangeUnavailable:
                self.unreachable += 1
                raise
            except ExchangeError:
                self.answered += 1  # a refusal is an answer
                raise
            self.answered += 1
            return result

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
    """`Retry-After` in seconds: delta seconds, or an HTTP date (RFC 9110); None when absent or unreadable
    (`inf` or `nan` too: a wait of no known length)."""
    if not header:
        return None
    text = header.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - now_ms / 1000)
    except (TypeError, ValueError):
        return None


def default_session(timeout_s: float = 10.0) -> aiohttp.ClientSession:
    """The one session per exchange: JSON via orjson, an explicit timeout, a bounded connection pool."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        connector=aiohttp.TCPConnector(limit=16),
        json_serialize=lambda obj: orjson.dumps(obj).decode(),
    )
