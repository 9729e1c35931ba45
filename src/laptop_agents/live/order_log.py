"""How the executor and the sync record what they learn about an order: one journaled state change and
one `OrderState` input per change (through `VenueInputs`: the books react to an order that ended),
counters for the heartbeat, and non-fatal `Error`s said once.

Shared by `executor.py` (sending) and `sync.py` (looking up and booking), so neither reaches into the
other to journal a state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from laptop_agents.core.clock import Clock
from laptop_agents.core.events import Error, Event
from laptop_agents.live.inputs import VenueInputs
from laptop_agents.live.journal import JournalOrder, OrderJournal
from laptop_agents.live.order_state import OrderState as State


class OrderLog:
    def __init__(
        self,
        journal: OrderJournal,
        emit: Callable[[Event], None],
        clock: Clock,
        symbols: Iterable[str],
        inputs: VenueInputs,
    ) -> None:
        self.journal = journal
        self.inputs = inputs
        self.emit = emit
        self.clock = clock
        self.symbols = ",".join(symbols)
        self.counts = {"sent": 0, "acked": 0, "rejected": 0, "unknown": 0, "not_found": 0, "fills": 0, "overfills": 0}
        self.unknown_since: dict[str, float] = {}
        """Client id → when this process first saw the order UNKNOWN (monotonic s): its NOT_FOUND window."""
        self._troubles: set[str] = set()

    def unknown(self, order: JournalOrder, detail: str) -> None:
        self.counts["unknown"] += 1
        self.unknown_since[order.client_id] = self.clock.monotonic_s()
        self.move(order, "UNKNOWN", detail=detail)

    def move(
        self, order: JournalOrder, state: State, *, order_id: str | None = None, detail: str, reason: str = ""
    ) -> None:
        """Journal the change, then record it (an order that ended: `reason`, the refusal's code)."""
        self.journal.move(order.client_id, state, at_ms=self.clock.now_ms(), order_id=order_id)
        self.inputs.order_state(order, detail, reason=reason)

    def report_state(self, order: JournalOrder, detail: str) -> None:
        """The `OrderState` of the order's current (journaled) state, said again (after a restart)."""
        self.inputs.order_state(order, detail, changed=False)

    def trouble(self, key: str, symbol: str, message: str) -> None:
        """A non-fatal `Error`, once until `solved(key)`: a lookup failing every pass says so once."""
        if key not in self._troubles:
            self._troubles.add(key)
            self.emit(Error(ts=self.clock.now_ms(), symbol=symbol, where="sync", message=message, fatal=False))

    def solved(self, key: str) -> None:
        self._troubles.discard(key)

    def error(self, where: str, message: str) -> None:
        self.emit(Error(ts=self.clock.now_ms(), symbol=self.symbols, where=where, message=message, fatal=False))
