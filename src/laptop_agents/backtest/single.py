"""`la run --mode single`: what would the strategy do right now? One decision, nothing written.

The latest closed candles (the last of `data.source`, or the exchange's own klines when
`exchange.rest_url` is set) warm the strategy up exactly as a live session would, then the newest one is
decided by the same core a backtest uses, on a flat book with the configured balance. The answer is the
signal and the order it would place (side, size, price, stop, target), or why there is none.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from laptop_agents.config.models import Settings
from laptop_agents.core.candle import Candle, interval_ms, utc_minute
from laptop_agents.core.errors import DataError
from laptop_agents.core.events import Event, OrderPlaced, OrderRejected, PositionOpened, Side, SignalGenerated
from laptop_agents.core.orders import EntryIntent, Intent
from laptop_agents.engine.assembly import build_core
from laptop_agents.feeds.sources import open_source


async def fetch_latest(settings: Settings, count: int) -> list[Candle]:
    """The exchange's last `count` closed candles (public klines: no keys needed)."""
    from laptop_agents.base.rate_limiter import RateLimiter
    from laptop_agents.exchange.bitunix.rest import KLINE_PAGE, BitunixRest, default_session

    exchange = settings.exchange
    assert exchange.rest_url is not None
    symbol, interval = settings.data.symbol, settings.data.interval
    async with default_session(exchange.request_timeout_s) as http:
        rest = BitunixRest(exchange.rest_url, session=http, limiter=RateLimiter(exchange.rate_limit_per_s, 2))
        page = await rest.klines(symbol, interval, limit=min(count + 1, KLINE_PAGE))  # the forming one is dropped
        if len(page) >= count or not page:
            return page[-count:]
        start = page[-1].ts - (count - 1) * interval_ms(interval)
        return (await rest.history(symbol, interval, start_ms=start, end_ms=page[-1].ts + 1))[-count:]


def latest_from_source(settings: Settings, count: int) -> list[Candle]:
    window: deque[Candle] = deque(maxlen=count)
    window.extend(open_source(settings.data, seed=settings.run.seed))
    return list(window)


def decide_now(settings: Settings, candles: list[Candle]) -> str:
    """The decision on the newest of `candles` (the rest warm the strategy up), as one line."""
    events: list[Event] = []
    core = build_core(settings, emit=events.append, order_id_prefix="single")
    need = core.strategy.warmup_candles()
    if len(candles) < need + 1:
        raise DataError(
            f"data.source: {len(candles)} candles, but {core.strategy.name} needs {need + 1} to decide once; "
            "use a longer file"
        )
    *history, last = candles[-(need + 1) :]
    for candle in history:
        core.strategy.warm_up(candle)
    decided: list[EntryIntent] = []
    strategy_on_candle = core.strategy.on_candle

    def watched(candle: Candle, position: Side | None) -> Sequence[Intent]:
        intents = strategy_on_candle(candle, position)
        if isinstance(intents, list | tuple):
            decided.extend(i for i in intents if isinstance(i, EntryIntent))
        return intents

    core.strategy.on_candle = watched  # type: ignore[method-assign]  # to read the entry's stop and target
    core.on_candle(last)
    head = (
        f"{settings.data.symbol} {settings.data.interval} {core.strategy.name}: last closed candle "
        f"{utc_minute(last.ts)}, close {last.close:,.2f}"
    )
    return f"{head}: {_decision(events, settings, decided[0] if decided else None)}"


def _decision(events: list[Event], settings: Settings, intent: EntryIntent | None) -> str:
    signal = next((e for e in reversed(events) if isinstance(e, SignalGenerated)), None)
    placed = next((e for e in events if isinstance(e, OrderPlaced)), None)
    opened = next((e for e in events if isinstance(e, PositionOpened)), None)
    refused = next((e for e in events if isinstance(e, OrderRejected)), None)
    said = "" if signal is None else f"signal {signal.direction} ({signal.setup}: {signal.reason}); "
    if placed is not None:
        base = settings.data.symbol.removesuffix("USDT")
        how = "at market" if placed.order_type == "market" else f"{placed.order_type} at {placed.price:,.2f}"
        order = f"order: {placed.side} {placed.qty:g} {base} {how}"
        if opened is not None:
            target = "none" if opened.target_price is None else f"{opened.target_price:,.2f}"
            order += f", stop {opened.stop_price:,.2f}, target {target}"
        elif intent is not None and placed.price is not None:  # a resting entry: its stop and target once filled
            sign = -1.0 if intent.side == "long" else 1.0
            stop = placed.price + sign * intent.stop_distance
            goal = intent.target_price
            if goal is None and intent.target_r is not None:
                goal = placed.price - sign * intent.target_r * intent.stop_distance
            shown = "none" if goal is None else f"{goal:,.2f}"
            order += f"; once filled, stop {stop:,.2f}, target {shown}"
        return said + order
    if refused is not None:
        return f"{said}no order: refused {refused.reason} ({refused.detail})"
    if signal is not None and not signal.entry_allowed:
        return f"{said}no order: {signal.blocked_reason or 'entry not allowed'}"
    return said + "no order: no entry signal on this candle" if said else "no signal on this candle: no order"


def run_single(settings: Settings, *, say: Callable[[str], None] = print) -> None:
    import asyncio

    probe = build_core(settings, emit=lambda _e: None, order_id_prefix="single")
    count = probe.strategy.warmup_candles() + 1
    if settings.exchange.rest_url is not None:
        candles = asyncio.run(fetch_latest(settings, count))
    else:
        candles = latest_from_source(settings, count)
    say(decide_now(settings, candles))
