"""Any other venue's history through CCXT (the optional `ccxt` extra): `la download --exchange binanceusdm`.

CCXT pages forward (`fetch_ohlcv(since, limit)`: the candles from `since`), rate-limits itself by the
venue's published limit (`enableRateLimit`), and maps each venue's symbols: `BTCUSDT` (the venue's own id,
a perpetual preferred) or CCXT's unified `BTC/USDT:USDT` both work. `--rest-url` points the venue's API at
another host (a mirror, or a test server on loopback); the paths stay the venue's.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from laptop_agents.core.candle import Candle
from laptop_agents.core.errors import CandleError, InputError
from laptop_agents.exchange.bitunix.errors import ExchangeError, ExchangeUnavailable

INSTALL = "pip install 'laptop-agents[ccxt]'"
PAGE = 500
"""Candles asked per request: within every large venue's maximum (Binance 1,500, OKX 300 is asked for less
by CCXT itself)."""


def load_ccxt() -> Any:
    """`ccxt.async_support`, or an `InputError` saying how to install it."""
    try:
        import ccxt.async_support as ccxt_async
    except ImportError:
        raise InputError(f"--exchange: venues other than bitunix go through CCXT, not installed: {INSTALL}") from None
    return ccxt_async


def check_id(name: str) -> None:
    """An `InputError` unless ccxt is installed and knows `name`."""
    if name not in load_ccxt().exchanges:
        raise InputError(f"--exchange {name}: not a CCXT exchange id; e.g. binanceusdm, bybit, okx (ccxt.exchanges)")


class CcxtHistory:
    def __init__(self, exchange: Any, *, name: str, interval_ms: int) -> None:
        self._x = exchange
        self.name = name
        self.page = PAGE
        self._step = interval_ms
        self.rejected = 0
        self._symbol: str | None = None

    async def check(self, symbol: str, interval: str) -> None:
        await self._call(self._x.load_markets)
        if interval not in (self._x.timeframes or {}):
            raise InputError(f"--interval {interval}: {self.name} has {', '.join(self._x.timeframes or {})}")
        self._symbol = self._unified(symbol)

    def _unified(self, symbol: str) -> str:
        markets: Mapping[str, Any] = self._x.markets or {}
        if symbol in markets:
            return symbol
        by_id = self._x.markets_by_id or {}
        found = by_id.get(symbol) or by_id.get(symbol.upper()) or []
        if isinstance(found, Mapping):
            found = [found]
        if not found:
            raise InputError(f"--symbol {symbol}: {self.name} lists no such market; e.g. BTCUSDT or BTC/USDT:USDT")
        perpetual = [m for m in found if m.get("swap")]
        return str((perpetual or found)[0]["symbol"])

    async def forming(self, symbol: str, interval: str) -> int | None:
        rows = await self._ohlcv(interval, since=None, limit=2)
        return rows[-1].ts if rows else None

    async def window(self, symbol: str, interval: str, start: int, end: int) -> list[Candle]:
        return [c for c in await self._ohlcv(interval, since=start, limit=self.page) if start <= c.ts < end]

    async def first_at_or_after(self, symbol: str, interval: str, start: int, end: int) -> int | None:
        """Forward paging answers this directly: the venue's candles from `start`."""
        rows = [c for c in await self._ohlcv(interval, since=start, limit=self.page) if start <= c.ts < end]
        return rows[0].ts if rows else None

    async def funding(self, symbol: str, start: int, end: int) -> list[tuple[int, float]]:
        if not self._x.has.get("fetchFundingRateHistory"):
            raise InputError(f"--funding: {self.name} has no funding history in CCXT; drop --funding")
        out: dict[int, float] = {}
        cursor = start
        while cursor < end:
            page = await self._call(self._x.fetch_funding_rate_history, self._symbol, cursor, 1000)
            times = [(int(r["timestamp"]), float(r["fundingRate"])) for r in page if r.get("timestamp") is not None]
            fresh = [(ts, rate) for ts, rate in times if cursor <= ts < end]
            out.update(fresh)
            if not fresh:
                break
            cursor = max(ts for ts, _ in fresh) + 1
        return sorted(out.items())

    async def _ohlcv(self, interval: str, *, since: int | None, limit: int) -> list[Candle]:
        rows = await self._call(self._x.fetch_ohlcv, self._symbol, interval, since, limit)
        out: dict[int, Candle] = {}
        for row in rows or []:
            try:
                ts, o, h, lo, c, v = row[:6]
                candle = Candle(int(ts), float(o), float(h), float(lo), float(c), float(v or 0.0))
            except (CandleError, TypeError, ValueError):
                self.rejected += 1
                continue
            if candle.ts % self._step:
                self.rejected += 1
                continue
            out[candle.ts] = candle
        return [out[ts] for ts in sorted(out)]

    async def _call(self, fn: Any, *args: Any) -> Any:
        """CCXT's errors as ours: its network errors (timeouts, rate limits, outages) are retryable."""
        ccxt_async = load_ccxt()
        try:
            return await fn(*args)
        except ccxt_async.BadSymbol as exc:
            raise InputError(f"--symbol: {self.name} says {exc}") from None
        except ccxt_async.NetworkError as exc:  # RequestTimeout, RateLimitExceeded, ExchangeNotAvailable, ...
            raise ExchangeUnavailable(f"{self.name}: {type(exc).__name__}: {str(exc)[:200]}") from exc
        except ccxt_async.BaseError as exc:
            raise ExchangeError(f"{self.name}: {type(exc).__name__}: {str(exc)[:200]}") from exc


@contextlib.asynccontextmanager
async def open_ccxt(name: str, *, rest_url: str | None, rate: float | None, step: int) -> AsyncIterator[CcxtHistory]:
    check_id(name)
    factory = getattr(load_ccxt(), name)
    options: dict[str, Any] = {"enableRateLimit": True}
    if rate is not None:
        options["rateLimit"] = 1000.0 / rate  # ms between requests
    exchange = factory(options)
    if rest_url:
        exchange.urls["api"] = _pointed(exchange.urls.get("api"), rest_url.rstrip("/"))
    try:
        yield CcxtHistory(exchange, name=name, interval_ms=step)
    finally:
        await exchange.close()


def _pointed(api: Any, base: str) -> Any:
    """Every URL of the venue's API on `base` instead of its host, each with its own path."""
    if isinstance(api, str):
        return base + urlsplit(api).path
    if isinstance(api, Mapping):
        return {key: _pointed(value, base) for key, value in api.items()}
    return api
