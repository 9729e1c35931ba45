"""Isolated margin as Bitunix computes it: initial margin at the leverage, maintenance margin from the
position tiers, and the price where a position is liquidated.

Bitunix (help centre, "Tiered Maintenance Margin Rate Rules"): maintenance margin = open price × size ×
maintenance margin rate, the rate from the tier the position's notional falls in; available margin =
initial margin + PnL; the position is liquidated when its available margin falls below its maintenance
margin. With initial margin = open price × size / leverage, that price is, for a long,
`entry × (1 − 1/leverage + rate)`, and for a short `entry × (1 + 1/leverage − rate)`. Pure arithmetic for
the paper broker; the simulated exchange applies the same rule in its own code (`sim/liquidation.py`), and
a test holds the two to the same price.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from laptop_agents.config.models import DEFAULT_POSITION_TIERS, MARGIN_USE, PositionTier
from laptop_agents.core.candle import Candle
from laptop_agents.core.events import Side
from laptop_agents.core.orders import Position
from laptop_agents.execution.account import Account


class MarginModel:
    """Isolated margin for one symbol at one leverage."""

    __slots__ = ("leverage", "tiers")

    def __init__(self, leverage: float, tiers: Sequence[PositionTier] = DEFAULT_POSITION_TIERS) -> None:
        if not leverage >= 1:
            raise ValueError(f"leverage must be >= 1, got {leverage!r}")
        if not tiers or any(b.max_notional <= a.max_notional for a, b in itertools.pairwise(tiers)):
            raise ValueError("position tiers must be non-empty and ascending by max_notional")
        self.leverage = float(leverage)
        self.tiers = tuple(tiers)

    def tier(self, notional: float) -> PositionTier | None:
        """The tier a position of this notional falls in; None above the last one (the venue refuses it)."""
        for tier in self.tiers:
            if notional <= tier.max_notional:
                return tier
        return None

    def initial_margin(self, qty: float, price: float) -> float:
        return qty * price / self.leverage

    def refusal(self, qty: float, price: float) -> str | None:
        """Why the venue would refuse this position at this leverage (None when it takes it)."""
        notional = qty * price
        tier = self.tier(notional)
        if tier is None:
            return f"notional {notional:,.2f} is above the last risk-limit tier ({self.tiers[-1].max_notional:,.0f})"
        if self.leverage > tier.max_leverage:
            return f"notional {notional:,.2f} allows at most {tier.max_leverage}x, the leverage is {self.leverage:g}x"
        if tier.maintenance_rate >= 1.0 / self.leverage:
            return f"maintenance rate {tier.maintenance_rate:g} leaves no margin at {self.leverage:g}x"
        return None

    def maintenance_margin(self, qty: float, entry_price: float) -> float:
        tier = self.tier(qty * entry_price) or self.tiers[-1]
        return qty * entry_price * tier.maintenance_rate

    def liquidation_price(self, side: Side, qty: float, entry_price: float) -> float:
        tier = self.tier(qty * entry_price) or self.tiers[-1]
        if side == "long":
            return entry_price * (1.0 - 1.0 / self.leverage + tier.maintenance_rate)
        return entry_price * (1.0 + 1.0 / self.leverage - tier.maintenance_rate)

    def entry_refusal(self, qty: float, price: float, account: Account, symbol: str) -> tuple[str, str] | None:
        """Why the venue would not open this position: above its risk-limit tier at this leverage, or (as
        the live-exchange broker checks it) needing more than `MARGIN_USE` of the equity as margin, with what
        the other symbols' positions already hold."""
        why = self.refusal(qty, price)
        if why is not None:
            return "risk_limit", why
        if account.shared:  # this symbol's own mark is last candle's and it holds no position now
            equity = account.equity() - account.marks.get(symbol, 0.0)
            notional = qty * price + account.committed_notional(symbol)
        else:
            equity, notional = account.cash, qty * price
        if equity <= 0 or notional > equity * self.leverage * MARGIN_USE:
            return "max_leverage", (
                f"notional {notional:.2f} needs more than {MARGIN_USE:.0%} of equity {equity:.2f} as margin at "
                f"{self.leverage:g}x leverage (exchange.leverage)"
            )
        return None

    def open(self, position: Position) -> None:
        """A new position holds its initial margin and learns where it is liquidated."""
        qty, entry = position.qty, position.entry_price
        tier = self.tier(qty * entry) or self.tiers[-1]
        position.margin = qty * entry / self.leverage
        cushion = 1.0 / self.leverage - tier.maintenance_rate
        position.liquidation_price = entry * (1.0 - cushion) if position.side == "long" else entry * (1.0 + cushion)


@dataclass(frozen=True, slots=True)
class Liquidation:
    """How a liquidation fills: `price`, `fee`, and what of the loss beyond the margin the venue `covered`."""

    price: float
    fee: float
    covered: float


def liquidation(position: Position, candle: Candle, fee_rate: float) -> Liquidation | None:
    """The liquidation this candle forces if its adverse extreme reaches the position's liquidation price:
    at that price, or at the open when the candle opened beyond it. The loss stops at the margin."""
    liq = position.liquidation_price
    if liq is None:
        return None
    if position.direction > 0:
        if candle.low > liq:
            return None
        price = min(candle.open, liq)
    else:
        if candle.high < liq:
            return None
        price = max(candle.open, liq)
    fee = position.qty * price * fee_rate
    pnl = position.direction * position.qty * (price - position.entry_price)
    return Liquidation(price, fee, max(0.0, fee - position.margin - pnl))


def stop_comes_first(position: Position, candle: Candle) -> bool:
    """Whether this candle reaches the position's stop before its liquidation price: the stop lies between
    the open and the liquidation price, and the candle reaches it. Then the venue's stop-market closes the
    position before its liquidation engine sees it. Otherwise (the candle opened beyond the liquidation
    price, or the stop lies beyond it) the liquidation comes first."""
    liq, stop = position.liquidation_price, position.stop
    if liq is None:
        return True
    if position.direction > 0:
        return candle.open > stop > liq and candle.low <= stop
    return candle.open < stop < liq and candle.high >= stop
