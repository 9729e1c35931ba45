"""Where simulated orders fill: the price rules a trader audits, kept apart from the bookkeeping.

- Protective exits are checked on every candle after the entry: the stop first (when low ≤ stop for a
  long; at the open instead when the open is already through it), then the target (when high ≥ target; at
  the open when the open is already beyond it). Shorts mirror. Stop exits pay slippage and the taker fee;
  targets fill at their price (or the better open) with the maker fee; the broker applies those costs.
- Limit entries fill when a candle trades through the price, at the limit or the better open.
- Trigger entries (stop-entries) fill when a candle breaks through the trigger, at the trigger or the worse
  open, and pay slippage and the taker fee like any order that takes liquidity.
"""

from __future__ import annotations

from typing import Literal

from laptop_agents.core.candle import Candle
from laptop_agents.core.events import ExitReason, Side, StopMoved
from laptop_agents.core.orders import Position

ExitKind = Literal["sl", "tp"]


def protective_exit(
    candle: Candle, position: Position, *, stop_only: bool
) -> tuple[ExitKind, float, ExitReason] | None:
    """The exit this candle triggers, as (kind, price before slippage, reason), or None."""
    stop = position.stop
    target = position.target
    if position.direction > 0:
        if candle.low <= stop:
            return "sl", (candle.open if candle.open <= stop else stop), ("trail" if position.stop_moved else "stop")
        if not stop_only and target is not None and candle.high >= target:
            return "tp", (candle.open if candle.open >= target else target), "target"
        return None
    if candle.high >= stop:
        return "sl", (candle.open if candle.open >= stop else stop), ("trail" if position.stop_moved else "stop")
    if not stop_only and target is not None and candle.low <= target:
        return "tp", (candle.open if candle.open <= target else target), "target"
    return None


def limit_fill_price(candle: Candle, side: Side, limit: float) -> float | None:
    """The fill price of a resting limit entry on this candle, or None when the candle does not reach it."""
    if side == "long":
        if candle.low <= limit:
            return candle.open if candle.open < limit else limit
        return None
    if candle.high >= limit:
        return candle.open if candle.open > limit else limit
    return None


def trigger_fill_price(candle: Candle, side: Side, trigger: float) -> float | None:
    """The fill price (before slippage) of a resting trigger (stop-entry) on this candle, or None: a long
    fills once the high reaches the trigger, at the trigger or the worse open when price gapped through it."""
    if side == "long":
        if candle.high >= trigger:
            return candle.open if candle.open > trigger else trigger
        return None
    if candle.low <= trigger:
        return candle.open if candle.open < trigger else trigger
    return None


def trailed_stop(position: Position, close: float) -> float | None:
    """Ratchet a trailing stop from this close: the new stop when it moves in the position's favour, else
    None. Once the best close is beyond the entry, and at least `trail_activation_r` R beyond it, the stop
    trails it by `trail_distance_r` R (R = the entry's initial stop distance). Updates `best_close`, which
    starts at the entry price: that is no close, so with `trail_activation_r=0` nothing trails until a
    close has moved in favour (STRATEGIES.md rule 7)."""
    if position.trail_distance_r is None or position.trail_activation_r is None:
        return None
    d = position.direction
    if d * (close - position.best_close) > 0:
        position.best_close = close
    r = position.r_distance
    gain = d * (position.best_close - position.entry_price)
    if gain <= 0 or gain < position.trail_activation_r * r:
        return None
    new_stop = position.best_close - d * position.trail_distance_r * r
    return new_stop if d * (new_stop - position.stop) > 0 else None


def move_stop(position: Position, new_stop: float, *, ts: int, symbol: str) -> StopMoved:
    """Set a trailed stop on the position; the event to emit."""
    old = position.stop
    position.stop = new_stop
    position.stop_moved = True
    return StopMoved(ts=ts, symbol=symbol, trade_id=position.trade_id, old_stop=old, new_stop=new_stop, reason="trail")


def market_price(side: Side, ref_price: float, cost: float) -> float:
    """A market order opening `side` at `ref_price`, crossing `cost` (half spread plus slippage, as a
    fraction): longs pay above the reference, shorts sell below it."""
    return ref_price * (1.0 + cost) if side == "long" else ref_price * (1.0 - cost)
