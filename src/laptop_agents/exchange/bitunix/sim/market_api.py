"""The simulated exchange's public market endpoints (§3): klines, contracts, tickers, depth, funding, tiers.

Unsigned and answered from the replay (`MarketReplay`) and the contract rules; the wire variants of
bitunix-api.md §9 (C1 volume names, C2 number types, C6 funding shape) are switched by `SimConfig`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from laptop_agents.core.funding_rows import FUNDING_PERIOD_MS
from laptop_agents.exchange.bitunix import codes
from laptop_agents.exchange.bitunix.sim import market_frames as frames
from laptop_agents.exchange.bitunix.sim.broken_candles import broken
from laptop_agents.exchange.bitunix.sim.ledger import SimAccount
from laptop_agents.exchange.bitunix.sim.params import Handler
from laptop_agents.exchange.bitunix.sim.rules import Refusal
from laptop_agents.exchange.bitunix.wire import REST_INTERVAL_MS, fmt

if TYPE_CHECKING:
    from laptop_agents.exchange.bitunix.sim.server import SimExchange


class MarketApi:
    def __init__(self, exchange: SimExchange) -> None:
        self.x = exchange

    def routes(self) -> dict[str, Handler]:
        return {
            "/market/kline": self.kline, "/market/trading_pairs": self.trading_pairs, "/market/tickers": self.tickers,
            "/market/depth": self.depth, "/market/funding_rate": self.funding,
            "/market/get_funding_rate_history": self.funding_history,
            "/position/get_position_tiers": self.position_tiers,
        }  # fmt: skip

    def _n(self, value: float) -> Any:
        return fmt(value) if self.x.config.numbers == "string" else value

    async def kline(self, request: web.Request, _: SimAccount | None) -> Any:
        symbol = self.x.symbol_param(request)
        step = REST_INTERVAL_MS.get(request.query.get("interval", ""))
        if step != self.x.market.interval_ms:
            return []  # an interval we do not replay: success with no rows, as the real API answers
        try:
            limit = min(int(request.query.get("limit", "100")), 200)
            end = int(request.query["endTime"]) if "endTime" in request.query else None
            start = int(request.query["startTime"]) if "startTime" in request.query else None
        except ValueError:
            raise Refusal(codes.PARAMETER_ERROR) from None
        rows = []
        faults = self.x.faults
        for ts, o, h, lo, c, v in self.x.market.klines(symbol, end_ms=end, limit=max(limit, 1)):
            if (start is not None and ts < start) or (faults.missing_klines and faults.kline_missing(ts)):
                continue
            if faults.invalid_klines and faults.kline_broken(ts):
                o, h, lo, c, v = broken(faults.invalid_ohlc_kind, (o, h, lo, c, v))
            base, quote = v, v * c
            first, second = (base, quote) if self.x.config.kline_volume_names == "doc" else (quote, base)
            rows.append(
                {
                    "open": self._n(o),
                    "high": self._n(h),
                    "low": self._n(lo),
                    "close": self._n(c),
                    "quoteVol": self._n(first),
                    "baseVol": self._n(second),
                    "time": str(ts) if self.x.config.numbers == "string" else ts,
                }
            )
        return rows

    async def trading_pairs(self, request: web.Request, _: SimAccount | None) -> Any:
        wanted = {s.strip().upper() for s in request.query.get("symbols", "").split(",") if s.strip()}
        return [r.wire() for s, r in self.x.ledger.rules.items() if not wanted or s in wanted]

    async def tickers(self, request: web.Request, _: SimAccount | None) -> Any:
        wanted = {s.strip().upper() for s in request.query.get("symbols", "").split(",") if s.strip()}
        out = []
        for symbol in self.x.market.symbols:
            if wanted and symbol not in wanted:
                continue
            day = frames.day_stats(self.x, symbol)
            out.append(
                {
                    "symbol": symbol,
                    "markPrice": fmt(day["last"]),
                    "lastPrice": fmt(day["last"]),
                    "open": fmt(day["open"]),
                    "last": fmt(day["last"]),
                    "quoteVol": fmt(day["quote"]),
                    "baseVol": fmt(day["base"]),
                    "high": fmt(day["high"]),
                    "low": fmt(day["low"]),
                }
            )
        return out

    async def depth(self, request: web.Request, _: SimAccount | None) -> Any:
        symbol = self.x.symbol_param(request)
        limit = request.query.get("limit", "max")
        allowed = ("1", "5", "15", "50", "max")
        if limit not in allowed:
            raise Refusal(
                codes.VALUE_NOT_ALLOWED,
                f'Parameter {limit} does not match, alternative value ["1","5","15","50","max"].',
            )
        bids, asks = frames.book(self.x, symbol, 50 if limit == "max" else int(limit))
        return {"asks": asks, "bids": bids}

    async def funding(self, request: web.Request, _: SimAccount | None) -> Any:
        symbol = self.x.symbol_param(request)
        now = self.x.market.now_ms()
        period = FUNDING_PERIOD_MS
        last = self.x.market.last_price(symbol)
        row = {
            "symbol": symbol,
            "markPrice": fmt(last),
            "lastPrice": fmt(last),
            "indexPrice": fmt(last),
            "fundingRate": fmt(self.x.ledger.rate_at(now) * 100),
            "fundingInterval": 8,
            "nextFundingTime": str((now // period + 1) * period),
            "maxFundingRate": "0.375",
            "minFundingRate": "-0.375",
        }
        return [row] if self.x.config.funding_shape == "array" else row

    async def funding_history(self, request: web.Request, _: SimAccount | None) -> Any:
        """The funding settlements up to now (§3.5): newest first, at most `limit` (≤ 200) before `endTime`
        and from `starTime` (the documented spelling), each `{fundingRate (a fraction), fundingTime (ms),
        markPrice}` as strings."""
        symbol = self.x.symbol_param(request)
        try:
            limit = min(int(request.query.get("limit", "100")), 200)
            end = int(request.query["endTime"]) if "endTime" in request.query else None
            start = int(request.query["starTime"]) if "starTime" in request.query else None
        except ValueError:
            raise Refusal(codes.PARAMETER_ERROR) from None
        market = self.x.market
        candles = market.series[symbol]
        now = market.now_ms()
        newest = now if end is None else min(now, end)
        rows = []
        for ts, rate in reversed(self.x.ledger.funding_record(candles[0].ts, newest)):
            if start is not None and ts < start:
                break
            index = min(max((ts - candles[0].ts) // market.interval_ms, 0), len(candles) - 1)
            rows.append({"fundingRate": fmt(rate), "fundingTime": str(ts), "markPrice": fmt(candles[index].open)})
            if len(rows) >= max(limit, 1):
                break
        return rows

    async def position_tiers(self, request: web.Request, _: SimAccount | None) -> Any:
        """The risk-limit tiers of one contract (§3.6; the SDK signs the call, the docs list it as public:
        it is served either way), or of every contract without `symbol`."""
        if not request.query.get("symbol"):
            return [tier for rules in self.x.ledger.rules.values() for tier in rules.tiers()]
        return self.x.ledger.rules[self.x.symbol_param(request)].tiers()
