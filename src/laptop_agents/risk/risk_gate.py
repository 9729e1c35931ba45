"""RiskGate: the one place that says whether a symbol may open a position now.

Entries are blocked while the circuit breaker is tripped or any halt flag is set (stale data, the kill
switch, an unreconciled exchange). A resting entry placed before the block would still fill into it, so
while blocked the gate also names the resting entries to cancel (`risk.cancel_resting_on_halt`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from laptop_agents.risk.circuit_breaker import CircuitBreaker

HaltRecorder = Callable[[str, "str | None"], None]
"""Told (key, detail) when a halt is set, (key, None) when it is lifted."""


class Halts(dict[str, str]):
    """Reasons entries are halted (key → detail). A halt is one of the core's inputs: with a `recorder`
    (a live session's event log) every change is recorded (`HaltChanged`), so a replay sees the halts
    exactly where the session saw them. The change is made first, then recorded (nothing can read the core
    in between): a log that cannot be written (a full disk) still leaves the halt in force. Only changes
    are recorded, and every way of changing the mapping goes through `__setitem__` or `pop`."""

    __slots__ = ("recorder",)

    def __init__(self) -> None:
        super().__init__()
        self.recorder: HaltRecorder | None = None

    def __setitem__(self, key: str, detail: str) -> None:
        changed = self.get(key) != detail
        super().__setitem__(key, detail)
        if changed and self.recorder is not None:
            self.recorder(key, detail)

    def setdefault(self, key: str, default: str) -> str:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *others: Any, **more: str) -> None:
        for key, detail in dict(*others, **more).items():
            self[key] = detail

    def __ior__(self, other: Any) -> Halts:  # type: ignore[override,misc]
        self.update(other)
        return self

    def pop(self, key: str, *default: Any) -> Any:
        present = key in self
        value = super().pop(key, *default)
        if present and self.recorder is not None:
            self.recorder(key, None)
        return value

    def popitem(self) -> tuple[str, str]:
        key = next(reversed(self))
        return key, self.pop(key)

    def __delitem__(self, key: str) -> None:
        self.pop(key)

    def clear(self) -> None:
        for key in list(self):
            self.pop(key)


class RiskGate:
    __slots__ = ("breaker", "cancel_resting", "halts")

    def __init__(self, breaker: CircuitBreaker, *, cancel_resting: bool = True) -> None:
        self.breaker = breaker
        self.cancel_resting = cancel_resting
        self.halts = Halts()
        """Reasons entries are halted (key → detail), set by the runtime."""

    @property
    def blocked(self) -> bool:
        return bool(self.halts) or not self.breaker.allows_entries

    def refusal_code(self) -> str | None:
        """The reason code of `refusal()` without its detail: what a per-candle caller needs (formatting the
        detail is most of the cost, and a tripped breaker is asked on every candle with a setup)."""
        if not self.breaker.allows_entries:
            return "circuit_breaker"
        halts = self.halts
        return next(iter(halts)) if halts else None

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
        code = self.refusal_code()
        return None if code is None else f"risk_gate:{code}"
