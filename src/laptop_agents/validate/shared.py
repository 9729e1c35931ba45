"""What sma_atr candidates have in common, computed once per window instead of once per candidate.

Two candidates with the same averages and ATR period (a grid over stop, target, filter, risk or fees) see
the same indicator values on the same candles, so the same crossings: `signals` finds them once with the
strategy's own code, warmed up exactly as `evaluate` warms a candidate up (from the same candle, so every
value is the same to the last bit). Each candidate then trades them (`evaluate_shared`) with its own
parameters, and skips the candles where nothing can happen to it: flat, no order resting, no funding due,
the breaker not counting bars, and no crossing. There its equity is its cash and nothing changes, which is
what the per-candle path computes too; a test holds the two to the same scores and curves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from laptop_agents.config.models import Settings, StrategyConfig
from laptop_agents.core.candle import Candle
from laptop_agents.core.events import Event, Side
from laptop_agents.core.orders import Intent
from laptop_agents.engine.assembly import build_core
from laptop_agents.strategy.base import NO_INTENTS
from laptop_agents.strategy.sma_atr import Cross, SmaAtrStrategy
from laptop_agents.validate.evaluate import Curve, Score, Tally, closed_trades, warm_start

SignalKey = tuple[int, int, int]
"""(fast_sma, slow_sma, atr_period): what an sma_atr candidate's crossings depend on."""

Signals = dict[int, Cross]
"""The crossings of one window, by candle open time."""


def signal_key(settings: Settings) -> SignalKey | None:
    """The key candidates share signals by; None for a strategy other than sma_atr (its own path)."""
    strategy = settings.strategy
    if strategy.name != "sma_atr":
        return None
    return strategy.fast_sma, strategy.slow_sma, strategy.atr_period


def signals(settings: Settings, candles: Sequence[Candle], start: int, end: int) -> Signals:
    """The crossings in candles[start:end], the indicators warmed up from where `evaluate` warms them up."""
    strategy = _strategy(settings.strategy)
    cross = strategy.cross
    found: Signals = {}
    for candle in candles[warm_start(strategy, start) : start]:
        cross(candle)
    for candle in candles[start:end]:
        hit = cross(candle)
        if hit is not None:
            found[candle.ts] = hit
    return found


class SharedSignals(SmaAtrStrategy):
    """sma_atr trading crossings found beforehand: its decisions, without computing the indicators again."""

    def __init__(self, config: StrategyConfig, found: Signals, *, emit: Callable[[Event], None], symbol: str) -> None:
        super().__init__(config, emit=emit, symbol=symbol)
        self._found = found

    def on_candle(self, candle: Candle, position: Side | None) -> Sequence[Intent]:
        hit = self._found.get(candle.ts)
        if hit is None:
            return NO_INTENTS
        return self._on_cross(candle, *hit, position)

    def state(self) -> dict[str, Any]:  # pragma: no cover - validate never checkpoints
        raise NotImplementedError("SharedSignals keeps no indicator state")


def evaluate_shared(
    settings: Settings, candles: Sequence[Candle], start: int, end: int, found: Signals, *, points: int = 0
) -> tuple[Score, Curve]:
    """`evaluate_with_curve` of an sma_atr candidate whose window's crossings are `found`."""
    trades, sink = closed_trades()
    tally = Tally(settings.broker.starting_balance, start, end, points)
    core = build_core(settings, emit=sink, on_equity=tally.on_equity, order_id_prefix="va")
    # sma_atr's order hooks are no-ops, so the sink build_core made for the strategy it built serves this one
    core.strategy = SharedSignals(settings.strategy, found, emit=sink, symbol=core.symbol)
    tally.counting = True
    broker, breaker, account, on_candle = core.broker, core.breaker, core.account, core.on_candle
    every, curve = tally.every, tally.curve
    idle, due = True, broker.funding_due_ts  # as they stand after the last candle the core saw
    for candle in candles[start:end]:
        ts = candle.ts
        if idle and ts < due and ts not in found:  # nothing can happen: the equity is the cash, as before
            if every:
                tally.seen += 1
                if tally.seen % every == 0:
                    curve.append((ts, account.cash))
            continue
        on_candle(candle)
        idle = broker.position is None and not broker.pending and not breaker.counting_bars
        due = broker.funding_due_ts
    if end > start:
        core.last_candle = candles[end - 1]
    return tally.score(core, trades, candles, start, end)


def _strategy(config: StrategyConfig) -> SmaAtrStrategy:
    return SmaAtrStrategy(config, emit=_drop, symbol="")


def _drop(_event: Event) -> None:
    return None
