"""What sma_atr candidates have in common, computed once per window instead of once per candidate.

Two candidates with the same averages and ATR period (a grid over stop, target, filter, risk or fees) see
the same indicator values on the same candles, so the same crossings: `signals` finds them once with the
strategy's own code, warmed up exactly as `evaluate` warms a candidate up (from the same candle, so every
value is the same to the last bit). Each candidate then trades them (`evaluate_shared`) with its own
parameters, and hands the core only the candles where something can happen to it. Flat with no order
resting and the breaker not counting bars, it jumps to the next crossing or funding time: its equity is
its cash and nothing changes. Holding a position with nothing resting, the candles up to the next crossing
or funding time that reach neither the stop, the target nor the liquidation price change only the mark:
`_hold` marks them as the core would. A test holds both to the per-candle path's scores and curves, bit
for bit.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from laptop_agents.config.models import Settings, StrategyConfig
from laptop_agents.core.candle import Candle
from laptop_agents.core.events import Event, Side
from laptop_agents.core.orders import Intent
from laptop_agents.engine.assembly import build_core
from laptop_agents.engine.trading_core import TradingCore
from laptop_agents.execution.paper_broker import PaperBroker
from laptop_agents.strategy.base import NO_INTENTS
from laptop_agents.strategy.sma_atr import Cross, SmaAtrStrategy
from laptop_agents.validate.evaluate import Curve, Score, Tally, closed_trades, warm_start

SignalKey = tuple[int, int, int]
"""(fast_sma, slow_sma, atr_period): what an sma_atr candidate's crossings depend on."""


class Signals(dict[int, Cross]):
    """The crossings of one window, by candle open time; `at` holds their candles' indices, ascending, so a
    candidate can jump from one to the next."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        super().__init__()
        self.at: list[int] = []


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
    found = Signals()
    at = found.at
    for candle in candles[warm_start(strategy, start) : start]:
        cross(candle)
    for i, candle in enumerate(candles[start:end], start):
        hit = cross(candle)
        if hit is not None:
            found[candle.ts] = hit
            at.append(i)
    return found


class SharedSignals(SmaAtrStrategy):
    """sma_atr trading crossings found beforehand: its decisions, without computing the indicators again, and
    without the `SignalGenerated` each one would emit (validate keeps no event log: its sink drops them)."""

    def __init__(self, config: StrategyConfig, found: Signals, *, emit: Callable[[Event], None], symbol: str) -> None:
        super().__init__(config, emit=emit, symbol=symbol)
        self._found = found

    def on_candle(self, candle: Candle, position: Side | None) -> Sequence[Intent]:
        hit = self._found.get(candle.ts)
        if hit is None:
            return NO_INTENTS
        return self._decide(candle, hit[0], hit[3], position)

    def state(self) -> dict[str, Any]:  # pragma: no cover - validate never checkpoints
        raise NotImplementedError("SharedSignals keeps no indicator state")


def evaluate_shared(
    settings: Settings, candles: Sequence[Candle], start: int, end: int, found: Signals, *, points: int = 0
) -> tuple[Score, Curve]:
    """`evaluate_with_curve` of an sma_atr candidate whose window's crossings are `found` (candles ascend,
    as `load_candles` checks)."""
    trades, sink = closed_trades()
    tally = Tally(settings.broker.starting_balance, start, end, points)
    core = build_core(settings, emit=sink, on_equity=tally.on_equity, order_id_prefix="va")
    # sma_atr's order hooks are no-ops, so the sink build_core made for the strategy it built serves this one
    core.strategy = SharedSignals(settings.strategy, found, emit=sink, symbol=core.symbol)
    core.shadow = None  # the breaker's paper trades are for a backtest's report; no score reads them
    tally.counting = True
    broker, breaker, account, on_candle = core.broker, core.breaker, core.account, core.on_candle
    # what `_hold` assumes, as build_core makes the core: the paper fill rules, no mark series, one symbol
    holds = type(broker) is PaperBroker and broker.mark is None and not account.shared
    every, curve = tally.every, tally.curve
    at, k, crossings = found.at, 0, len(found.at)
    due = broker.funding_due_ts
    due_at = _first_at(candles, due, start, end)  # the first candle a funding time is charged on
    idle = True  # as it stands after the last candle the core saw
    i = start
    while i < end:
        while k < crossings and at[k] < i:
            k += 1
        quiet = min(at[k] if k < crossings else end, due_at)  # candles before it: no crossing, no funding
        if idle and quiet > i:  # nothing can happen: the equity is the cash, as before
            if every:
                seen = tally.seen
                curve.extend((candles[j].ts, account.cash) for j in range(i + (-seen - 1) % every, quiet, every))
                tally.seen = seen + quiet - i
            i = quiet
            continue
        on_candle(candles[i])
        i += 1
        if broker.funding_due_ts != due:
            due = broker.funding_due_ts
            due_at = _first_at(candles, due, i, end)
        if holds and broker.position is not None and not broker.pending:
            while k < crossings and at[k] < i:
                k += 1
            i = _hold(core, tally, candles, i, min(at[k] if k < crossings else end, due_at))
        idle = broker.position is None and not broker.pending and not breaker.counting_bars
    core.candles = end - start  # every candle of the window, skipped or not
    if end > start:
        core.last_candle = candles[end - 1]
    return tally.score(core, trades, candles, start, end)


_ts = attrgetter("ts")


def _first_at(candles: Sequence[Candle], ts: float, start: int, end: int) -> int:
    """The index of the first candle in candles[start:end] opening at or after `ts` (`end` when none)."""
    return bisect_left(candles, ts, start, end, key=_ts)


def _hold(core: TradingCore, tally: Tally, candles: Sequence[Candle], i: int, quiet: int) -> int:
    """Carry the open position over candles[i:quiet] (no funding due, no crossing) while nothing but its mark
    changes; the index of the first candle that needs the core.

    That is a candle that reaches the stop, the target or the liquidation price, by the comparisons
    `fill_rules.protective_exit` and `PaperBroker._check_exits` make (a gap through any of them too).
    Before it, nothing rests (the caller checks), so step 0 and the resting fills have nothing to do, and
    the strategy returns no intents. What is left is what `TradingCore.on_candle` does then, in its order
    and with its float expressions: the trailing stop's update (the broker's own call), the equity at the
    close on an account of this symbol alone, the breaker's mark when it changed or bars are counted (its
    own call: it may trip or re-arm), and `Tally.on_equity`'s curve point, peak and fall. `core.last_mark`
    is left as the core leaves it; the caller sets `last_candle` and `candles` at the window's end (nothing
    reads them before)."""
    broker, breaker = core.broker, core.breaker
    position = broker.position
    assert position is not None
    on_mark = breaker.on_mark
    long = position.direction > 0
    target, liq = position.target, position.liquidation_price
    trails = position.trail_distance_r is not None and position.trail_activation_r is not None
    stop = position.stop
    cash, entry, dq = core.account.cash, position.entry_price, position.direction * position.qty
    last_mark = core.last_mark
    every, curve, seen = tally.every, tally.curve, tally.seen
    peak, worst, worst_pct = tally.peak, tally.worst, tally.worst_pct
    while i < quiet:
        candle = candles[i]
        if long:
            if (
                candle.low <= stop
                or (target is not None and candle.high >= target)
                or (liq is not None and candle.low <= liq)
            ):
                break
        elif (
            candle.high >= stop
            or (target is not None and candle.low <= target)
            or (liq is not None and candle.high >= liq)
        ):
            break
        i += 1
        if trails:
            broker.update_trailing(candle)
            stop = position.stop
        equity = cash + dq * (candle.close - entry)
        if equity != last_mark or breaker.counting_bars:
            last_mark = equity
            on_mark(candle.ts, equity)
        if every:
            seen += 1
            if seen % every == 0:
                curve.append((candle.ts, equity))
        if equity > peak:
            peak = equity
        elif peak - equity > worst:
            worst = peak - equity
            worst_pct = worst / peak * 100.0
    core.last_mark = last_mark
    tally.seen, tally.peak, tally.worst, tally.worst_pct = seen, peak, worst, worst_pct
    return i


def _strategy(config: StrategyConfig) -> SmaAtrStrategy:
    return SmaAtrStrategy(config, emit=_drop, symbol="")


def _drop(_event: Event) -> None:
    return None
