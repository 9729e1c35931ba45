"""Live-paper margins positions with the exchange's own risk-limit tiers, read once at the start.

A backtest takes its tiers from the configuration (`broker.position_tiers`, per symbol in
`broker.symbols`); a live-paper session asks the exchange it trades on (`/position/get_position_tiers`)
for every symbol the configuration gives no tiers of its own, so paper liquidates where that venue would.
An exchange that cannot tell (down, malformed, no tiers) is one `Error where=tiers` and the configured
tiers stand. The run's `config.json` keeps the configuration as given; the tiers read are recorded
(`VenueTiers`), so a replay margins with them too.
"""

from __future__ import annotations

from collections.abc import Callable

from laptop_agents.config.models import PositionTier, Settings, SymbolBrokerConfig, effective_leverage
from laptop_agents.core.errors import LaptopAgentsError
from laptop_agents.core.events import Error, Event
from laptop_agents.core.inputs import VenueTiers
from laptop_agents.execution.margin import MarginModel
from laptop_agents.feeds.bitunix_feed import BitunixFeed
from laptop_agents.feeds.market_data import MarketDataFeed


async def with_venue_tiers(
    settings: Settings, feed: MarketDataFeed, emit: Callable[[Event], None], *, at: int
) -> Settings:
    """`settings` with the exchange's tiers for each symbol that has none configured (unchanged without an
    exchange behind the feed, or with margin off)."""
    broker = settings.broker
    if not isinstance(feed, BitunixFeed) or broker.margin_mode == "off":
        return settings
    found: dict[str, tuple[tuple[float, float, int], ...]] = {}
    for symbol in settings.data.trading_symbols:
        own = broker.symbols.get(symbol)
        if own is not None and own.position_tiers is not None:
            continue  # configured on purpose
        try:
            rows = await feed.position_tiers(symbol)
            tiers = tuple(
                PositionTier(max_notional=r.end_value, maintenance_rate=r.maintenance_rate, max_leverage=r.leverage)
                for r in rows
            )
            if not tiers:
                raise ValueError("the exchange lists no tiers")
            MarginModel(effective_leverage(settings), tiers)  # ascending, as the margin model needs them
        except (LaptopAgentsError, ValueError, OSError) as exc:
            emit(Error(ts=at, symbol=symbol, where="tiers", fatal=False,
                       message=f"the exchange's position tiers for {symbol} are unavailable ({exc}); "
                       "using broker.position_tiers"))  # fmt: skip
            continue
        found[symbol] = tuple((t.max_notional, t.maintenance_rate, t.max_leverage) for t in tiers)
        emit(VenueTiers(ts=at, symbol=symbol, tiers=found[symbol]))  # an input: a replay margins with the same
    return tiers_applied(settings, found)


def tiers_applied(settings: Settings, tiers: dict[str, tuple[tuple[float, float, int], ...]]) -> Settings:
    """`settings` with the recorded venue tiers (`VenueTiers`) of each symbol: what a session traded with."""
    if not tiers:
        return settings
    broker = settings.broker
    symbols = dict(broker.symbols)
    for symbol, rows in tiers.items():
        parsed = tuple(PositionTier(max_notional=n, maintenance_rate=m, max_leverage=lev) for n, m, lev in rows)
        symbols[symbol] = (symbols.get(symbol) or SymbolBrokerConfig()).model_copy(update={"position_tiers": parsed})
    return settings.model_copy(update={"broker": broker.model_copy(update={"symbols": symbols})})
