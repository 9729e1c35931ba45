"""Order intents (what a strategy asks for) and the open position (what the broker holds).

An intent says *what* to do, not how much: the trading core sizes it with the risk rules, and the broker
turns it into fills. Stops and targets are given relative to the fill so that a market order's stop sits
at the right distance from the price actually paid (spread and slippage included).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from laptop_agents.core.events import ExitReason, OrderSide, Side
from laptop_agents.core.quick_init import quick_init

EntryType = Literal["market", "limit", "trigger"]
"""market: at this close; limit: rests, fills when price trades down (long) or up (short) to it;
trigger: a stop-entry, rests, fills when price breaks up (long) or down (short) through it."""


@quick_init
@dataclass(frozen=True, slots=True)
class EntryIntent:
    """Open a position.

    `stop_distance` is the price distance from the fill to the stop; a strategy may compute 0 (a flat
    market's ATR) or less, which the core refuses as `zero_stop_distance`, since no position can be sized
    on it. The target is either
    `target_r` × that distance from the fill, or the absolute `target_price`, or none. `limit_price` is
    required for limit entries, `trigger_price` for trigger entries. `size_mult` scales the risk-based size
    (1.0 = full size).
    """

    side: Side
    stop_distance: float
    setup: str
    reason: str
    entry_type: EntryType = "market"
    limit_price: float | None = None
    trigger_price: float | None = None
    target_r: float | None = None
    target_price: float | None = None
    size_mult: float = 1.0
    trail_activation_r: float | None = None
    trail_distance_r: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.stop_distance):
            raise ValueError(f"stop_distance must be a finite number, got {self.stop_distance!r}")
        if self.entry_type == "limit" and (self.limit_price is None or not self.limit_price > 0):
            raise ValueError("a limit entry needs limit_price > 0")
        if self.entry_type == "trigger" and (self.trigger_price is None or not self.trigger_price > 0):
            raise ValueError("a trigger entry needs trigger_price > 0")
        if not self.size_mult > 0:
            raise ValueError(f"size_mult must be > 0, got {self.size_mult!r}")

    @property
    def order_side(self) -> OrderSide:
        """The side of the order that opens this entry: a long is a buy, a short a sell."""
        return "buy" if self.side == "long" else "sell"

    @property
    def resting_price(self) -> float | None:
        """The price a resting (limit or trigger) entry waits for; None for a market entry."""
        if self.entry_type == "limit":
            return self.limit_price
        if self.entry_type == "trigger":
            return self.trigger_price
        return None

    def reward_risk(self, entry_price: float) -> float | None:
        """Reward over risk for an entry at `entry_price`: the target's distance over the stop distance
        (None without a target: nothing to compare)."""
        if self.target_price is not None:
            d = 1.0 if self.side == "long" else -1.0
            return d * (self.target_price - entry_price) / self.stop_distance
        return self.target_r

    def stop_and_target(self, fill_price: float) -> tuple[float, float | None]:
        """The stop and target for an entry filled at `fill_price` (the target: absolute, in R, or none)."""
        d = 1.0 if self.side == "long" else -1.0
        stop = fill_price - d * self.stop_distance
        if self.target_price is not None:
            return stop, self.target_price
        if self.target_r is not None:
            return stop, fill_price + d * self.target_r * self.stop_distance
        return stop, None


@dataclass(frozen=True, slots=True)
class CloseIntent:
    """Close the open position at this candle's close with a market order."""

    reason: ExitReason


@dataclass(frozen=True, slots=True)
class CancelIntent:
    """Cancel a resting entry of this symbol: the one with `client_order_id`, or every one when None."""

    reason: str
    client_order_id: str | None = None


Intent = EntryIntent | CloseIntent | CancelIntent


class Position:
    """The open position the paper broker holds. Mutable: stops trail, funding accrues."""

    __slots__ = (
        "best_close",
        "client_order_id",
        "direction",
        "entry_fee",
        "entry_price",
        "entry_ts",
        "funding",
        "initial_stop",
        "liquidation_price",
        "margin",
        "qty",
        "r_distance",
        "setup",
        "side",
        "stop",
        "stop_moved",
        "target",
        "trade_id",
        "trail_activation_r",
        "trail_distance_r",
    )

    def __init__(
        self,
        *,
        trade_id: int,
        client_order_id: str,
        side: Side,
        qty: float,
        entry_ts: int,
        entry_price: float,
        entry_fee: float,
        stop: float,
        target: float | None,
        setup: str,
        trail_activation_r: float | None,
        trail_distance_r: float | None,
    ) -> None:
        self.trade_id = trade_id
        self.client_order_id = client_order_id
        self.side: Side = side
        self.direction = 1.0 if side == "long" else -1.0
        self.qty = qty
        self.entry_ts = entry_ts
        self.entry_price = entry_price
        self.entry_fee = entry_fee
        self.stop = stop
        self.initial_stop = stop
        self.r_distance = abs(entry_price - stop)
        self.target = target
        self.setup = setup
        self.trail_activation_r = trail_activation_r
        self.trail_distance_r = trail_distance_r
        self.best_close = entry_price
        self.stop_moved = False
        self.funding = 0.0
        self.liquidation_price: float | None = None
        """Isolated margin: where the venue liquidates it (None without a margin model)."""
        self.margin = 0.0
        """Isolated margin: the initial margin the position holds."""

    def unrealized(self, price: float) -> float:
        return self.direction * self.qty * (price - self.entry_price)
