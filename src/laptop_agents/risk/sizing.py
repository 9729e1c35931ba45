"""Position sizing: risk a fixed percent of cash on the distance to the stop, within leverage and lot rules."""

from __future__ import annotations

import math
from dataclasses import dataclass

from laptop_agents.config.models import RiskConfig
from laptop_agents.core.quick_init import quick_init


@quick_init
@dataclass(frozen=True, slots=True)
class SizeDecision:
    """`qty` in base currency (0 when too small); `rejected` names the rule that refused it, if any."""

    qty: float
    rejected: str | None
    detail: str


class PositionSizer:
    """qty = equity × risk_pct / 100 / stop distance (× size multiplier), capped at
    (equity × max_leverage − notional the account's other positions already hold) / entry and at
    `max_notional` / entry, floored to `lot_step`; refused below `min_notional`, or when the other
    positions already use the whole budget.

    The floor is `floor(qty / lot_step + 1e-9)` lots (the epsilon absorbs float noise such as
    0.003 / 0.001 = 2.9999999999999996), and the result is rounded to the lot step's decimals so that
    it prints cleanly (0.007, never 0.007000000000000001).
    """

    __slots__ = ("_decimals", "_lot", "_max_leverage", "_max_notional", "_min_notional", "_risk_fraction")

    def __init__(self, config: RiskConfig) -> None:
        self._risk_fraction = config.risk_pct / 100.0
        self._max_leverage = config.max_leverage
        self._lot = config.lot_step
        self._min_notional = config.min_notional
        self._max_notional = config.max_notional
        self._decimals = _decimals(config.lot_step)

    def size(
        self,
        *,
        equity: float,
        entry_price: float,
        stop_distance: float,
        size_mult: float = 1.0,
        committed_notional: float = 0.0,
    ) -> SizeDecision:
        raw = equity * self._risk_fraction * size_mult / stop_distance
        budget = equity * self._max_leverage - committed_notional
        if budget <= 0.0:
            return SizeDecision(
                0.0,
                "max_leverage",
                f"open positions hold {committed_notional:.2f} notional, the whole equity × max_leverage "
                f"({equity * self._max_leverage:.2f})",
            )
        if self._max_notional is not None and budget > self._max_notional:
            budget = self._max_notional
        cap = budget / entry_price
        if raw > cap:
            raw = cap
        lots = math.floor(raw / self._lot + 1e-9)
        qty = round(lots * self._lot, self._decimals) if lots > 0 else 0.0
        notional = qty * entry_price
        if notional < self._min_notional or qty <= 0.0:
            return SizeDecision(
                0.0,
                "min_notional",
                f"qty {qty} × price {entry_price:.2f} = {notional:.2f} < min_notional {self._min_notional}",
            )
        return SizeDecision(qty, None, "")


def _decimals(step: float) -> int:
    text = f"{step:.12f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0
