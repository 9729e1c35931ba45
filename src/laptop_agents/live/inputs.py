"""The one door from the exchange into the live books: what the exchange reports is recorded, then applied.

A live-exchange session's books change when the exchange says so, not when the core decides: an order's
state (`OrderState`), a fill or a TP/SL execution, a position adopted or closed by reconciliation, the
funding settled (`BooksChanged`), the stop it holds after a trailing move (`StopHeld`), today's outside
executions (`OutsidePnl`), a contract's rules that changed (`ContractRefreshed`), and after a restart what
the journal holds beyond the checkpoint (`BooksRestored`). `VenueInputs` writes each to the run's event
log before the books take it, and the clocks' readings (`ClockTick`) before each input the core handles;
`apply_venue_input` is what a replay calls with them, over a journal it keeps in memory. So the session
and its replay take the same path through the books, and a replay needs neither the exchange nor a clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from laptop_agents.core.clock import Clock, SessionTime, VenueClock
from laptop_agents.core.events import Event, OrderState
from laptop_agents.core.inputs import (
    BooksChanged,
    BooksRestored,
    ClockTick,
    ContractRefreshed,
    Input,
    OutsidePnl,
    StopHeld,
)
from laptop_agents.exchange.bitunix.wire import ContractSpec
from laptop_agents.live.broker import BitunixBroker
from laptop_agents.live.journal import JournalOrder, OrderJournal
from laptop_agents.live.limits import HardLimits

VENUE_INPUTS: tuple[type[Event], ...] = (
    ClockTick, BooksChanged, StopHeld, OutsidePnl, BooksRestored, OrderState, ContractRefreshed
)  # fmt: skip
ENDED = frozenset({"REJECTED", "NOT_FOUND", "CANCELLED"})
"""Order states the books react to: the order will not fill (a resting entry is forgotten, and said)."""


def ended(broker: BitunixBroker, order: JournalOrder, item: OrderState) -> None:
    """The books' reaction to an order that reached `item.state` (a change, not a state said again)."""
    if item.state == "CANCELLED":
        broker.order_cancelled(order, "cancelled on the exchange", at_ms=item.ts)
    elif item.state in ENDED:
        broker.order_failed(order, item.reason, item.detail, at_ms=item.ts)


def restore_books(
    brokers: Mapping[str, BitunixBroker], journal: OrderJournal, limits: HardLimits, item: BooksRestored
) -> None:
    """After a restart: the books rebuilt from the journal (the lines in `item` already in it), and the
    orders of the last minute counted again on this process's clock."""
    for broker in brokers.values():
        broker.replay()
    for order in sorted(journal.orders.values(), key=lambda o: o.created_ms):
        limits.record_past_order(order.created_ms, now_ms=item.wall_ms, mono_s=item.mono_s)


def apply_venue_input(
    brokers: Mapping[str, BitunixBroker],
    journal: OrderJournal,
    limits: HardLimits,
    time: SessionTime,
    item: Input | OrderState,
) -> None:
    """A replay's: the recorded venue input applied to `journal` (kept in memory) and the books. A report
    the journal cannot take (an order no decision placed, a move its state machine refuses) raises
    `KeyError` or `IllegalTransition`: the replay took other decisions than the session."""
    if isinstance(item, ClockTick):
        time.set(item.venue_ms, item.wall_ms, item.mono_s)
    elif isinstance(item, OrderState):
        order = journal.orders.get(item.client_order_id)
        if order is None:
            raise KeyError(f"OrderState names order {item.client_order_id}, which no decision placed")
        if order.state != item.state:
            journal.move(order.client_id, item.state, at_ms=item.ts, order_id=item.order_id)  # type: ignore[arg-type]
            ended(brokers[order.symbol], order, item)
        elif item.order_id is not None:
            order.order_id = item.order_id
    elif isinstance(item, BooksChanged):
        before = len(journal.book_records)
        journal.absorb(item.record)
        if len(journal.book_records) > before:
            brokers[item.symbol].apply(journal.book_records[-1])
    elif isinstance(item, StopHeld):
        brokers[item.symbol].exchange_stop = item.stop
    elif isinstance(item, OutsidePnl):
        limits.record_pnl(item.ts, item.pnl)
    elif isinstance(item, ContractRefreshed):
        brokers[item.symbol].contract_changed(ContractSpec(**item.spec))
    elif isinstance(item, BooksRestored):
        for line in item.lines:
            journal.absorb(line)
        restore_books(brokers, journal, limits, item)


class VenueInputs:
    """The session's door: `record` is the event log's emit; `time` the brokers' `SessionTime`, set from the
    real clocks (`tick`) before each input the core handles."""

    def __init__(
        self,
        brokers: Mapping[str, BitunixBroker],
        *,
        record: Callable[[Event], None],
        clock: Clock,
        venue_clock: VenueClock,
        time: SessionTime,
    ) -> None:
        self.brokers = brokers
        self._record = record
        self._clock = clock
        self._venue_clock = venue_clock
        self.time = time

    def tick(self, symbol: str) -> None:
        """Before an input reaches `symbol`'s core: the clocks read now, recorded, and what its broker reads."""
        wall = self._clock.now_ms()
        item = ClockTick(ts=wall, symbol=symbol, venue_ms=self._venue_clock.now_ms(), wall_ms=wall,
                         mono_s=self._clock.monotonic_s())  # fmt: skip
        self._record(item)
        self.time.set(item.venue_ms, item.wall_ms, item.mono_s)

    def order_state(self, order: JournalOrder, detail: str, *, reason: str = "", changed: bool = True) -> None:
        """The order's journaled state, recorded; when it `changed` to an end, the books react."""
        item = OrderState(ts=self._clock.now_ms(), symbol=order.symbol, client_order_id=order.client_id,
                          state=order.state, order_id=order.order_id, detail=detail, reason=reason)  # fmt: skip
        self._record(item)
        if changed:
            ended(self.brokers[order.symbol], order, item)

    def booked(self, record: dict[str, object]) -> None:
        """A journal record of the books (just written), recorded and applied."""
        symbol = str(record["symbol"])
        self._record(BooksChanged(ts=int(record["at_ms"]), symbol=symbol, record=dict(record)))  # type: ignore[call-overload]
        self.brokers[symbol].apply(record)

    def stop_held(self, symbol: str, stop: float | None) -> None:
        broker = self.brokers[symbol]
        if broker.exchange_stop != stop:
            self._record(StopHeld(ts=self._clock.now_ms(), symbol=symbol, stop=stop))
            broker.exchange_stop = stop

    def contract(self, symbol: str, spec: ContractSpec, changes: str) -> None:
        """The contract's rules read again and changed: recorded, then what the broker checks against."""
        self._record(ContractRefreshed(ts=self._clock.now_ms(), symbol=symbol, spec=dataclasses.asdict(spec),
                                       changes=changes))  # fmt: skip
        self.brokers[symbol].contract_changed(spec)

    def outside_pnl(self, symbol: str, limits: HardLimits, *, at_ms: int, trade_id: str, pnl: float) -> None:
        self._record(OutsidePnl(ts=at_ms, symbol=symbol, trade_id=trade_id, pnl=pnl))
        limits.record_pnl(at_ms, pnl)

    def restored(self, journal: OrderJournal, limits: HardLimits, *, seen_lines: int) -> None:
        """At the start: the journal lines the checkpoint did not see, recorded; the books rebuilt."""
        label = ",".join(self.brokers)
        wall = self._clock.now_ms()
        item = BooksRestored(ts=wall, symbol=label, lines=journal.lines_since(seen_lines), wall_ms=wall,
                             mono_s=self._clock.monotonic_s())  # fmt: skip
        self._record(item)
        restore_books(self.brokers, journal, limits, item)
