"""A loopback stand-in for the three Binance USDⓈ-M endpoints CCXT's `binanceusdm` uses to download history:
`exchangeInfo` (one perpetual, BTCUSDT), `klines` and `fundingRate`, answered as Binance documents them
(forward paging from `startTime`, ascending, at most `limit`; the newest kline still forming)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from laptop_agents.core.candle import Candle
from laptop_agents.exchange.bitunix.wire import fmt

MARKET = {
    "symbol": "BTCUSDT", "pair": "BTCUSDT", "contractType": "PERPETUAL", "status": "TRADING", "baseAsset": "BTC",
    "quoteAsset": "USDT", "marginAsset": "USDT", "pricePrecision": 1, "quantityPrecision": 3,
    "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN", "onboardDate": 1569398400000,
    "deliveryDate": 4133404800000, "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC"],
    "filters": [{"filterType": "PRICE_FILTER", "minPrice": "0.1", "maxPrice": "1000000", "tickSize": "0.1"},
                {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"}],
}  # fmt: skip


@dataclass
class Binance:
    candles: Sequence[Candle]
    """Closed candles, then the forming one (the last)."""
    funding: Sequence[tuple[int, float]] = ()
    url: str = ""
    paths: list[str] = field(default_factory=list)
    per_s: float = 0.0
    """A moving market: this many more candles a second are visible (0: `candles` as given)."""
    fail_every: int = 0
    """Answer every N-th klines request with HTTP 503 (0: never)."""
    cap: int = 1500
    """Rows one klines answer holds at most, whatever the `limit` (Binance 1,500; OKX 300)."""
    _started: float = field(default_factory=time.monotonic)
    _klines: int = 0

    def visible(self) -> Sequence[Candle]:
        if not self.per_s:
            return self.candles
        return self.candles[: self.start_with + int((time.monotonic() - self._started) * self.per_s)]

    start_with: int = 0
    """With `per_s`: the candles visible at the start (the last one forming)."""

    async def exchange_info(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        return web.json_response({"timezone": "UTC", "serverTime": 0, "rateLimits": [], "symbols": [MARKET]})

    async def klines(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        if request.query.get("symbol") != "BTCUSDT":
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        self._klines += 1
        if self.fail_every and self._klines % self.fail_every == 0:
            return web.Response(status=503, text="Service Unavailable")
        limit = min(int(request.query.get("limit", "500")), self.cap)
        rows = list(self.visible())
        if "startTime" in request.query:
            rows = [c for c in rows if c.ts >= int(request.query["startTime"])][:limit]
        else:
            rows = rows[-limit:]
        return web.json_response([_kline(c) for c in rows])

    async def funding_rate(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        start = int(request.query.get("startTime", "0"))
        limit = min(int(request.query.get("limit", "100")), 1000)
        rows = [(ts, rate) for ts, rate in self.funding if ts >= start][:limit]
        return web.json_response(
            [{"symbol": "BTCUSDT", "fundingTime": ts, "fundingRate": fmt(rate), "markPrice": "1"} for ts, rate in rows]
        )


def _kline(c: Candle) -> list[object]:
    """A Binance kline row: open time, OHLCV as strings, close time, then fields CCXT does not read."""
    prices = [fmt(c.open), fmt(c.high), fmt(c.low), fmt(c.close), fmt(c.volume)]  # close time: not read
    return [c.ts, *prices, c.ts + 59_999, "0", 1, "0", "0", "0"]


@asynccontextmanager
async def binance(
    candles: Sequence[Candle], funding: Sequence[tuple[int, float]] = (), **options: Any
) -> AsyncIterator[Binance]:
    stub = Binance(candles, funding, **options)
    app = web.Application()
    app.router.add_get("/fapi/v1/exchangeInfo", stub.exchange_info)
    app.router.add_get("/fapi/v1/klines", stub.klines)
    app.router.add_get("/fapi/v1/fundingRate", stub.funding_rate)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    stub.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        yield stub
    finally:
        await runner.cleanup()
