"""The venue's own record of the candles a live session traded, for `la parity`: a CSV the user gives
(`--candles`), the file the embedded simulator served (on its timeline, as it serves it), or the exchange's
REST klines, read now."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from laptop_agents.base.rate_limiter import RateLimiter
from laptop_agents.config.models import Settings
from laptop_agents.core.candle import Candle, interval_ms
from laptop_agents.core.errors import InputError, LaptopAgentsError
from laptop_agents.exchange.bitunix.sim import load_candles
from laptop_agents.exchange.bitunix.sim.market import MarketReplay
from laptop_agents.feeds.bitunix_feed import BitunixFeed
from laptop_agents.feeds.sources import resolve_data_path

VenueCandles = dict[str, dict[int, Candle]]
"""symbol → open time → candle."""


def from_files(files: dict[str, Path]) -> VenueCandles:
    out: VenueCandles = {}
    for symbol, path in files.items():
        if not path.is_file():
            raise InputError(f"--candles {path}: no such file")
        out[symbol] = {c.ts: c for c in load_candles(path)}
    return out


def embedded_sim_candles(settings: Settings) -> VenueCandles:
    """What the in-process simulator served: each symbol's `exchange.sim_data` file on the first's timeline."""
    exchange = settings.exchange
    series = {
        symbol: load_candles(
            resolve_data_path(exchange.sim_data_by_symbol.get(symbol, exchange.sim_data).removeprefix("csv:"))
        )
        for symbol in settings.data.trading_symbols
    }
    market = MarketReplay(series, interval_ms=interval_ms(settings.data.interval), start_index=0)
    return {symbol.upper(): {c.ts: c for c in candles} for symbol, candles in market.series.items()}


def rest_candles(settings: Settings, spans: dict[str, tuple[int, int]]) -> VenueCandles:
    """The exchange's klines over REST for each symbol's span (first and last open time, inclusive)."""
    url = settings.exchange.rest_url
    assert url is not None
    step = interval_ms(settings.data.interval)

    async def fetch() -> VenueCandles:
        limiter = RateLimiter(settings.exchange.rate_limit_per_s, settings.exchange.rate_limit_burst)
        feed = BitunixFeed(rest_url=url, ws_url="", limiter=limiter, on_event=None)
        try:
            out: VenueCandles = {}
            for symbol, (first, last) in spans.items():
                rows: Sequence[Candle] = await feed.backfill(symbol, settings.data.interval, first, last + step)
                out[symbol] = {c.ts: c for c in rows}
            return out
        finally:
            await feed.close()

    try:
        return asyncio.run(fetch())
    except (LaptopAgentsError, OSError) as exc:
        raise InputError(
            f"the venue's candles: {url} did not answer ({exc}); give them with --candles SYMBOL=FILE.csv"
        ) from None
