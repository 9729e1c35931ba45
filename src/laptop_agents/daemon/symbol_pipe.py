"""One symbol's pipeline inside the AsyncRunner: its core, its candle queue and its market-data state."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from laptop_agents.core.candle import Candle
from laptop_agents.core.rejected import RejectedCandle
from laptop_agents.engine.trading_core import TradingCore


@dataclass
class MarketDataStats:
    candles: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    gaps: int = 0
    backfilled: int = 0
    invalid: int = 0
    """Closed candles the stream refused (broken OHLC)."""
    refetched: int = 0
    """Of those, the ones whose valid record came over REST."""
    holes: int = 0
    """Runs of open times the venue's history lacks even after the backfill (`GapUnfilled`)."""

    def add(self, other: MarketDataStats) -> None:
        self.candles += other.candles
        self.duplicates += other.duplicates
        self.out_of_order += other.out_of_order
        self.gaps += other.gaps
        self.backfilled += other.backfilled
        self.invalid += other.invalid
        self.refetched += other.refetched
        self.holes += other.holes


QueueItem = Candle | Callable[[], None] | None
"""A candle for the core; a call made by the core task when it gets there (in candle order: the end of a
backfill lifts its entry halt only once the core has seen the backfilled candles); None: stop."""


@dataclass
class SymbolPipe:
    """market data ──queue──► core, for one symbol.

    `held` is not None while a gap is being backfilled: candles that arrive meanwhile wait there, in order,
    so this symbol's strategy never sees a hole, and the other symbols keep flowing."""

    symbol: str
    core: TradingCore
    queue: asyncio.Queue[QueueItem]
    last_close_ts: int | None = None
    last_fresh: float = field(default_factory=time.monotonic)
    stale: bool = False
    held: deque[Candle | RejectedCandle] | None = None
    catch_up: asyncio.Task[None] | None = None
    md: MarketDataStats = field(default_factory=MarketDataStats)
    current_ts: int | None = None
    """The open time of the candle the core is handling (the one a failure happened on)."""
    timed: bool = False
    """Decision latency is measured (metrics): the newest pushed candle's open time and arrival (monotonic).
    Only the newest: a candle still queued behind it is history already, and the newest is what a trader
    waits on."""
    arrived_ts: int = -1
    arrived_at: float = 0.0
    hole_until: int | None = None
    """While entries are halted for a hole in the venue's history (`data_hole`): the open time of the last
    candle whose strategy window still reaches into it; the halt lifts before the next one. The market
    data's view, which runs ahead of the core by what is queued."""
    held_until: int | None = None
    """`hole_until` as the core has reached it (set by the queue items, in candle order): what a checkpoint
    saves, since the checkpoint is of the core."""
