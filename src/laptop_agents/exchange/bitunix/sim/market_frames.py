"""What the simulated market shows besides klines: the book, the 24 h ticker, trades and the price frame.

One source for both sides of the wire, so `GET /market/depth` and a `depth_book1` push, or
`GET /market/tickers` and a `ticker` push, never disagree. The book is synthetic: a fixed ladder of levels
around the replay's last price, `spread_bps` wide at the top, one tick apart below it. A "trade" is the
price step between two pushes of a candle, with the volume traded in between.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from laptop_agents.core.funding_rows import FUNDING_PERIOD_MS
from laptop_agents.exchange.bitunix.wire import fmt

if TYPE_CHECKING:
    from laptop_agents.exchange.bitunix.sim.market import Push
    from laptop_agents.exchange.bitunix.sim.server import SimExchange


DEPTH_CHANNELS = {"depth_book1": 1, "depth_book5": 5, "depth_book15": 15}
PUBLIC_CHANNELS = ("ticker", "trade", "price", *DEPTH_CHANNELS)


def iso(ms: int) -> str:
    """Market time as the venue writes it in trade and price frames: ISO-8601, UTC, `Z`."""
    stamp = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def book(x: SimExchange, symbol: str, levels: int) -> tuple[list[list[str]], list[list[str]]]:
    """(bids descending, asks ascending) as `[price, qty]` strings, `levels` deep."""
    last = x.market.last_price(symbol)
    tick = 10.0 ** -x.ledger.rules[symbol].quote_precision
    half = max(last * x.config.spread_bps / 2e4, tick)
    asks = [[fmt(round((last + half + i * tick) / tick) * tick), fmt(0.5 + i * 0.1)] for i in range(levels)]
    bids = [[fmt(round((last - half - i * tick) / tick) * tick), fmt(0.5 + i * 0.1)] for i in range(levels)]
    return bids, asks


def day_stats(x: SimExchange, symbol: str) -> dict[str, float]:
    """The last 24 h of the replay (the forming candle included), as the tickers read it."""
    day = x.market.klines(symbol, end_ms=None, limit=1440)
    return {
        "open": day[-1][1],
        "high": max(r[2] for r in day),
        "low": min(r[3] for r in day),
        "last": x.market.last_price(symbol),
        "base": sum(r[5] for r in day),
        "quote": sum(r[5] * r[4] for r in day),
    }


def ticker_data(x: SimExchange, symbol: str) -> dict[str, str]:
    """A `ticker` push's `data` (§5.6): `la` last, `b`/`q` volumes, `r` the 24 h change in percent."""
    s = day_stats(x, symbol)
    change = (s["last"] - s["open"]) / s["open"] * 100 if s["open"] else 0.0
    return {
        "s": symbol,
        "o": fmt(s["open"]),
        "h": fmt(s["high"]),
        "l": fmt(s["low"]),
        "la": fmt(s["last"]),
        "b": fmt(s["base"]),
        "q": fmt(s["quote"]),
        "r": fmt(round(change, 10)),
    }


def price_data(x: SimExchange, symbol: str) -> dict[str, str]:
    """A `price` push's `data`: index and mark (the last price here), the funding rate in percent, the
    last and next funding times as ISO strings."""
    now = x.market.now_ms()
    last = x.market.last_price(symbol)
    return {
        "ip": fmt(last),
        "mp": fmt(last),
        "fr": fmt(x.ledger.rate_at(x.market.now_ms()) * 100),
        "ft": iso(now // FUNDING_PERIOD_MS * FUNDING_PERIOD_MS),
        "nft": iso((now // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS),
    }


def trade_data(previous: Push | None, push: Push) -> list[dict[str, str]]:
    """The trades between two pushes of one symbol: one print at the new close, sized by the volume traded
    since the last push, on the side the price moved to (a new candle starts from its own volume)."""
    same_candle = previous is not None and previous.candle_ts == push.candle_ts
    volume = push.base_volume - previous.base_volume if same_candle and previous is not None else push.base_volume
    if volume <= 0:
        return []
    reference = previous.close if previous is not None else push.open
    side = "sell" if push.close < reference else "buy"
    return [{"t": iso(push.ts), "p": fmt(push.close), "v": fmt(round(volume, 8)), "s": side}]


def public_frame(channel: str, symbol: str, ts: int, data: Any) -> dict[str, Any]:
    """Every public data frame has this envelope (§5.4): `ch`, `symbol`, `ts` (push time), `data`."""
    return {"ch": channel, "symbol": symbol, "ts": ts, "data": data}
