"""The live order lifecycle as an explicit state machine: a table of allowed moves; any other raises.

    INTENT ──► SENT ──► ACKED ──► PARTIAL ──► FILLED
      │          │        │          │
      │          ▼        └──────────┴──► CANCELLED
      └──────► UNKNOWN ──► (any state the exchange reports) | NOT_FOUND
    SENT ──► REJECTED (the exchange refused it: proven not accepted)
    INTENT ──► REJECTED (refused before it was sent: a decision too old to send, say after a restart)

INTENT is written (fsync) before the send, and SENT too: an INTENT was never sent. A timeout, a 5xx or a
rate-limit answer to the send leaves the order UNKNOWN, never REJECTED: only a lookup by client id
resolves it. An INTENT too old to send after a crash becomes UNKNOWN and is looked up all the same.
NOT_FOUND is reached only when nothing on the venue shows the order for a whole bounded window (see the
executor); only then may a new order (with a new client id) be considered.
"""

from __future__ import annotations

from typing import Literal

from laptop_agents.core.errors import IllegalTransition

OrderState = Literal["INTENT", "SENT", "UNKNOWN", "ACKED", "PARTIAL", "FILLED", "CANCELLED", "REJECTED", "NOT_FOUND"]

_REPORTED: frozenset[OrderState] = frozenset({"ACKED", "PARTIAL", "FILLED", "CANCELLED", "REJECTED"})

TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    "INTENT": frozenset({"SENT", "UNKNOWN", "REJECTED"}),
    "SENT": frozenset({"ACKED", "PARTIAL", "FILLED", "CANCELLED", "REJECTED", "UNKNOWN"}),
    "UNKNOWN": _REPORTED | {"NOT_FOUND"},
    "ACKED": frozenset({"PARTIAL", "FILLED", "CANCELLED"}),
    "PARTIAL": frozenset({"PARTIAL", "FILLED", "CANCELLED"}),
    "FILLED": frozenset(),
    "CANCELLED": frozenset(),
    "REJECTED": frozenset(),
    "NOT_FOUND": frozenset(),
}

TERMINAL: frozenset[OrderState] = frozenset(s for s, moves in TRANSITIONS.items() if not moves)
IN_FLIGHT: frozenset[OrderState] = frozenset({"INTENT", "SENT", "UNKNOWN"})
"""States in which the exchange may hold the order without us knowing it: no new order for the same
purpose while one of these is open."""


def advance(order_id: str, current: OrderState, new: OrderState) -> OrderState:
    """`new` when the table allows the move from `current`; otherwise `IllegalTransition`."""
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(f"order {order_id}: {current} → {new} is not an allowed transition")
    return new
