"""A4 ExecutionRiskSentinel: go or no-go for a setup, with the reason, and the size multiplier.

No-go reasons, checked in this order: `no_setup` (A3 found none), `position_open`, `order_pending` (an
entry is already resting), `risk_gate:<code>` (the core's RiskGate blocks entries: breaker, halt),
`cooldown` (fewer than `cooldown_bars` candles since a position closed), `missing_instrument_specs` (no
lot step / minimum notional to size with), `regime_blocked` (a volatility regime in `blocked_regimes`),
then the funding gate (`funding_halt`, `funding_no_trade`, and `funding_missing` with `require_funding`).
A go is sized by the product of the multipliers: 0.5 for funding the side pays above
`funding_half_size_above`, `high_vol_size_mult` in HIGH_VOL.
"""

from __future__ import annotations

from typing import NamedTuple

from laptop_agents.risk.risk_gate import RiskGate
from laptop_agents.strategy.supervisor.flows import FundingGate
from laptop_agents.strategy.supervisor.intake import MarketIntake
from laptop_agents.strategy.supervisor.params import SupervisorParams
from laptop_agents.strategy.supervisor.setups import Setup


class Decision(NamedTuple):
    go: bool
    reason: str | None
    size_mult: float
    flags: tuple[str, ...]


POSITION_OPEN = Decision(False, "position_open", 0.0, ())
ORDER_PENDING = Decision(False, "order_pending", 0.0, ())
COOLDOWN = Decision(False, "cooldown", 0.0, ())
MISSING_SPECS = Decision(False, "missing_instrument_specs", 0.0, ())


class ExecutionRiskSentinel:
    def __init__(
        self, params: SupervisorParams, intake: MarketIntake, funding: FundingGate, *, has_specs: bool
    ) -> None:
        self._intake = intake
        self._funding = funding
        self._cooldown = params.cooldown_bars
        self._blocked_regimes = frozenset(params.blocked_regimes)
        self._high_vol_mult = params.high_vol_size_mult
        self._has_specs = has_specs
        self.gate: RiskGate | None = None
        self._blocked_by: dict[str, Decision] = {}
        """The no-go of each risk gate reason code, made once: a tripped breaker is met on many candles."""

    def decide(
        self, setup: Setup | str, *, position_open: bool, order_pending: bool, bars_since_exit: int | None
    ) -> Decision:
        if isinstance(setup, str):
            return Decision(False, "no_setup", 0.0, (setup,))
        if position_open:
            return POSITION_OPEN
        if order_pending:
            return ORDER_PENDING
        code = None if self.gate is None else self.gate.refusal_code()
        if code is not None:
            gated = self._blocked_by.get(code)
            if gated is None:
                gated = self._blocked_by[code] = Decision(False, f"risk_gate:{code}", 0.0, ())
            return gated
        if bars_since_exit is not None and bars_since_exit < self._cooldown:
            return COOLDOWN
        if not self._has_specs:
            return MISSING_SPECS
        regime = self._intake.regime
        if regime in self._blocked_regimes:
            return Decision(False, "regime_blocked", 0.0, (regime,))
        blocked, mult, flag = self._funding.check(setup.side)
        flags = () if flag is None else (flag,)
        if blocked is not None:
            return Decision(False, blocked, 0.0, flags)
        if regime == "HIGH_VOL":
            mult *= self._high_vol_mult
            flags = (*flags, "high_vol")
        return Decision(True, None, mult, flags)
