"""CCXT (the optional `ccxt` extra) as our other venues: one place that opens a CCXT exchange, finds a market,
reads its candles and turns its errors into ours. Used by `la download --exchange ID` and by the CCXT
candle feed for live-paper (`exchange.ccxt_id`).

CCXT rate-limits itself by the venue's published limit (`enableRateLimit`); `rate` overrides it. `rest_url`
points the venue's API at another host (a mirror, or a test server on loopback); the paths stay the venue's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from laptop_agents.core.candle import Candle, on_grid
from laptop_agents.core.errors import CandleError, InputError
from laptop_agents.exchange.bitunix.errors import ExchangeError, ExchangeUnavailable

INSTALL = "pip install 'laptop-agents[ccxt]'"


def load_ccxt(field: str = "--exchange") -> Any:
    """`ccxt.async_support`, or an `InputError` saying how to install it."""
    try:
        import ccxt.async_support as ccxt_async
    except ImportError:
        raise InputError(f"{field}: venues other than bitunix go through CCXT, not installed: {INSTALL}") from None
    return ccxt_async


def check_id(name: str, *, field: str = "--exchange") -> None:
    """An `InputError` unless ccxt is installed and knows `name`."""
    if name not in load_ccxt(field).exchanges:
        raise InputError(f"{field} {name}: not a CCXT exchange id; e.g. binanceusdm, bybit, okx (ccxt.exchanges)")


def open_exchange(name: str, *, rest_url: str | None, rate: float | None) -> Any:
    """A CCXT async exchange (close it with `await exchange.close()`)."""
    check_id(name)
    options: dict[str, Any] = {"enableRateLimit": True}
    if rate is not None:
        options["rateLimit"] = 1000.0 / rate  # ms between requests
    exchange = getattr(load_ccxt(), name)(options)
    if rest_url:
        exchange.urls["api"] = _pointed(exchange.urls.get("api"), rest_url.rstrip("/"))
    return exchange


def unified_symbol(exchange: Any, name: str, symbol: str) -> str:
    """CCXT's symbol for `symbol`: itself when CCXT knows it (`BTC/USDT:USDT`), else the market whose venue
    id it is (`BTCUSDT`), a perpetual preferred. Markets must be loaded."""
    markets: Mapping[str, Any] = exchange.markets or {}
    if symbol in markets:
        return symbol
    by_id = exchange.markets_by_id or {}
    found = by_id.get(symbol) or by_id.get(symbol.upper()) or []
    if isinstance(found, Mapping):
        found = [found]
    if not found:
        raise InputError(f"--symbol {symbol}: {name} lists no such market; e.g. BTCUSDT or BTC/USDT:USDT")
    perpetual = [m for m in found if m.get("swap")]
    return str((perpetual or found)[0]["symbol"])


def candles(rows: Any, step: int) -> tuple[list[Candle], int]:
    """CCXT OHLCV rows as ascending candles on the interval's grid, and how many rows were not valid
    candles (skipped: a bucket the venue got wrong is a gap, never a made-up candle)."""
    out: dict[int, Candle] = {}
    rejected = 0
    for row in rows or []:
        try:
            ts, o, h, lo, c, v = row[:6]
            candle = Candle(int(ts), float(o), float(h), float(lo), float(c), float(v or 0.0))
        except (CandleError, TypeError, ValueError):
            rejected += 1
            continue
        if not on_grid(candle.ts, step):
            rejected += 1
            continue
        out[candle.ts] = candle
    return [out[ts] for ts in sorted(out)], rejected


async def call(name: str, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """`await fn(*args)` with CCXT's errors as ours: its network errors (timeouts, rate limits, outages)
    are retryable `ExchangeUnavailable`, an unknown symbol an `InputError`, the rest `ExchangeError`."""
    ccxt_async = load_ccxt()
    try:
        return await fn(*args)
    except ccxt_async.BadSymbol as exc:
        raise InputError(f"--symbol: {name} says {exc}") from None
    except ccxt_async.NetworkError as exc:  # RequestTimeout, RateLimitExceeded, ExchangeNotAvailable, ...
        raise ExchangeUnavailable(f"{name}: {type(exc).__name__}: {str(exc)[:200]}") from exc
    except ccxt_async.BaseError as exc:
        raise ExchangeError(f"{name}: {type(exc).__name__}: {str(exc)[:200]}") from exc


def _pointed(api: Any, base: str) -> Any:
    """Every URL of the venue's API on `base` instead of its host, each with its own path."""
    if isinstance(api, str):
        return base + urlsplit(api).path
    if isinstance(api, Mapping):
        return {key: _pointed(value, base) for key, value in api.items()}
    return api
