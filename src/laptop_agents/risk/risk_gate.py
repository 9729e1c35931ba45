"""RiskGate: the one place that says whether a symbol may open a position now.

Entries are blocked while the circuit breaker is tripped or any halt flag is set (stale data, the kill
switch, an unreconciled exchange). A resting entry placed before the block would still fill into it, so
while blocked the gate also names the resting entries to cancel (`risk.cancel_resting_on_halt`).
"""

from __future__ import annotations

from laptop_agents.risk.circuit_breaker import CircuitBreaker


class RiskGate:
    __slots__ = ("breaker", "cancel_resting", "halts")

    def __init__(self, breaker: CircuitBreaker, *, cancel_resting: bool = True) -> None:
        self.breaker = breaker
        self.cancel_resting = cancel_resting
        self.halts: dict[str, str] = {}
        """Reasons entries are halted (key → detail), set by the runtime."""

    @property
    def blocked(self) -> bool:
        return bool(self.halts) or not self.breaker.allows_entries

    def refusal(self) -> tuple[str, str] | None:
        """(reason code, detail) when entries are blocked, else None. The breaker is named first."""
        breaker = self.breaker
        if not breaker.allows_entries:
            return "circuit_breaker", (
                f"breaker tripped (peak {breaker.peak:.2f}, {breaker.consecutive_losses} losses in a row)"
            )
        if self.halts:
            key = next(iter(self.halts))
            return key, self.halts[key]
        return None

    def cancel_reason(self) -> str | None:
        """The cancel reason for resting entries (`risk_gate:<code>`), or None when they may stay."""
        if not self.cancel_resting:
            return None
        refusal = self.refusal()
        return None if refusal is None else f"risk_gate:{refusal[0]}"
