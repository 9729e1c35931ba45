"""Where simulated orders fill: the price rules a trader audits, kept apart from the bookkeeping.

- Protective exits are checked on every candle after the entry: the stop first (when low ≤ stop for a
  long; at the open instead when the open is already through it), then the target (when high ≥ target; at
  the open when the open is already beyond it). Shorts mirror. Stop exits pay slippage and the taker fee;
  targets fill at their price (or the better open) with the maker fee; the broker applies those costs.
- Limit entries fill when a candle trades through the price, at the limit or the better open.
"""

from __future__ import annotations

from typing import Literal

from laptop_agents.core.candle import Candle
from laptop_agents.core.events import ExitReason, Side
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
