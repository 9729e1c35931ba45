"""The live order executor: sends what the brokers queue, resolves what is unknown, books what happened.

Sending (`place`): the intent is already fsynced by the broker; SENT is journaled, then the order goes out.
An answer proves the outcome: an order id → ACKED; a business refusal → REJECTED at once (the broker emits
`OrderRejected`), never sent again; a refusal for margin or for the contract's filters also backs that
symbol's entries off and re-reads the account or the contracts (`refusals.py`). No answer proves
nothing: a timeout, a 5xx, a rate-limit code or a lost connection leave the order UNKNOWN, and so does
30042 (the venue already has this client id: it was accepted before). The executor never sends an
UNKNOWN order again.

Syncing (`sync`, on every private push, after every send, and by REST polling: often while the private
socket is down or an order is unresolved, rarely otherwise):
1. each UNKNOWN order is looked up by client id until found (its reported state is journaled);
2. acknowledged orders are refreshed (filled, cancelled);
3. executions are read from the exchange, every page since the cursor, and booked once each, by trade
   id: fills of our orders, and fills of the exchange's TP/SL orders that reduce our position;
4. an UNKNOWN order becomes NOT_FOUND only when every sign says the venue never took it: the lookups
   answered "not found" (at least twice) for `live.unknown_window_s` on the monotonic clock (Bitunix calls
   20007 transient), this pass read the symbol's executions in full without a trade of it, the open
   orders do not list it, and the venue's position is the books' (a difference it could explain keeps it
   UNKNOWN, said once). Only then may a new order be considered;
5. reconciliation (`reconcile.py`) compares positions when asked (start, every reconnect) and whenever no
   order of a symbol is open. It holds the symbol's lock, which every placement takes too, so no order of
   ours can reach the venue between its reads and its comparison;
6. the entry waits after a refusal (a contract read still owed, the balance, the back-off's end), and the
   contracts read again every `live.contract_refresh_s` (`contracts.py`).
Each lookup and each symbol's executions are read on their own: one that fails is reported (once, until
it succeeds again) and retried next pass, and never keeps the others from being booked.

The steps themselves are in `sync.py`; how a state change is journaled and reported is in `order_log.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Mapping, MutableMapping
from typing import Any

from laptop_agents.base.crash_points import CrashPoints
from laptop_agents.config.models import LiveConfig
from laptop_agents.core.clock import Clock, VenueClock
from laptop_agents.core.events import Event
from laptop_agents.daemon.kill_switch import HALT_KEY as HALT_KILL
from laptop_agents.exchange.bitunix.errors import (
    DuplicateClientId,
    ExchangeError,
    ExchangeUnavailable,
    RateLimitedError,
)
from laptop_agents.exchange.bitunix.rest import BitunixRest
from laptop_agents.exchange.bitunix.wire import fmt
from laptop_agents.exchange.bitunix.ws_private import BitunixPrivateStream
from laptop_agents.live.broker import BitunixBroker, Cancel, Command, MoveStop, Place
from laptop_agents.live.contracts import ContractWatch
from laptop_agents.live.inputs import VenueInputs
from laptop_agents.live.journal import JournalOrder, JournalUnwritable, OrderJournal
from laptop_agents.live.order_log import OrderLog
from laptop_agents.live.outage import RestOutage
from laptop_agents.live.reconcile import Reconciler
from laptop_agents.live.refusals import EntryRefusals
from laptop_agents.live.sync import VenueSync


class OrderExecutor:
    def __init__(
        self,
        *,
        rest: BitunixRest,
        journal: OrderJournal,
        brokers: Mapping[str, BitunixBroker],
        reconciler: Reconciler,
        config: LiveConfig,
        emit: Callable[[Event], None],
        clock: Clock,
        crash: CrashPoints,
        inputs: VenueInputs,
        venue_clock: VenueClock,
        private: BitunixPrivateStream | None = None,
        halts: Mapping[str, MutableMapping[str, str]] | None = None,
    ) -> None:
        """`halts`: each symbol's entry halts (the cores'), read right before an entry is sent; `inputs` the
        door into the books; `venue_clock` the exchange's time an entry's age is judged by before its send."""
        self.halts: Mapping[str, MutableMapping[str, str]] = halts if halts is not None else {}
        self.rest = rest
        self.journal = journal
        self.brokers = brokers
        self.reconciler = reconciler
        self.config = config
        self.emit = emit
        self.clock = clock
        self.crash = crash
        self.private = private
        self.inputs = inputs
        self.venue_clock = venue_clock
        self.queue: asyncio.Queue[Command] = asyncio.Queue()
        self.wake = asyncio.Event()
        self.exchange_available: float | None = None
        self.log = OrderLog(journal, emit, clock, brokers, inputs)
        self.counts = self.log.counts
        self.steps = VenueSync(
            rest=rest, brokers=brokers, config=config, clock=clock, crash=crash, log=self.log, inputs=inputs
        )
        self.contracts = ContractWatch(rest=rest, brokers=brokers, inputs=inputs, log=self.log, clock=clock,
                                       config=config)  # fmt: skip
        self.refusals = EntryRefusals(rest=rest, halts=self.halts, contracts=self.contracts, log=self.log,
                                      clock=clock, config=config, on_available=self._available)  # fmt: skip
        self.outage = RestOutage()
        self._sync_lock = asyncio.Lock()
        self._in_flight: asyncio.Future[None] | None = None
        """The command being carried out by the sender: shielded, so a stop never cuts a send in half."""

    # -- What the brokers and the session call ----------------------------------------------------------

    def submit(self, command: Command) -> None:
        self.queue.put_nowait(command)

    def tasks(self) -> dict[str, Coroutine[Any, Any, None]]:
        tasks = {"orders": self._sender(), "sync": self._syncer()}
        if self.private is not None:
            tasks["private_stream"] = self._private_stream()
        return tasks

    def status(self) -> dict[str, Any]:
        """For the heartbeat: what is open, unknown or unresolved, and the private socket's state."""
        unknown = [o.client_id for o in self.journal.orders.values() if o.state == "UNKNOWN"]
        return {
            "private_stream": None if self.private is None else self.private.connected.is_set(),
            "open_orders": sum(len(b.open_orders()) for b in self.brokers.values()),
            "unknown_orders": unknown,
            "exchange_available": self.exchange_available,
            "reconciliation": self.reconciler.status,
            "entry_waits": self.refusals.status(),
            **self.counts,
            **self.outage.status(self.clock.monotonic_s()),  # `degraded` while the REST API fails the sync
        }

    async def execute(self, command: Command) -> None:
        try:
            if isinstance(command, Place):
                await self.place(command.order)
            elif isinstance(command, MoveStop):
                await self.move_stop(command)
            else:
                await self.cancel(command)
        except JournalUnwritable:  # said once when it broke: nothing is sent that cannot be journaled
            return

    async def move_stop(self, command: MoveStop) -> None:
        """Move the exchange-side stop of the symbol's position (a trailing stop). Until the exchange has
        confirmed it, the broker closes at market a candle late, as before."""
        broker = self.brokers[command.symbol]
        self.inputs.stop_held(command.symbol, None)
        key = f"stop:{command.symbol}"
        try:
            positions = [p for p in await self.rest.pending_positions(command.symbol) if p.symbol == command.symbol]
            if not positions or broker.position is None:
                return  # closed meanwhile
            await self.rest.modify_position_tpsl(
                command.symbol,
                positions[0].position_id,
                sl_price=fmt(command.stop),
                tp_price=None if command.target is None else fmt(command.target),
            )
        except ExchangeError as exc:
            self.log.trouble(key, command.symbol, f"moving the exchange's stop to {command.stop:g}: {exc}; the daemon "
                          "closes at market when a candle goes through the trailed stop")  # fmt: skip
            return
        self.log.solved(key)
        if broker.position is not None and abs(broker.position.stop - command.stop) <= broker.spec.tick:
            self.inputs.stop_held(command.symbol, broker.position.stop)

    async def place(self, order: JournalOrder) -> None:
        """Send one order under its symbol's lock (never while the reconciler compares that symbol). An
        entry's decision age is checked right before it is sent: one that waited (in the queue, for the
        lock, or across a restart) past `live.max_decision_age_s` is refused, not sent on an old close."""
        broker = self.brokers[order.symbol]
        refused: ExchangeError | None = None
        async with self.reconciler.symbol_lock(order.symbol):
            if order.state == "INTENT":
                stale = self._entry_refusal(broker, order) if order.purpose == "entry" else None
                if stale is not None:
                    self.counts["rejected"] += 1
                    self.log.move(order, "REJECTED", detail=stale[1], reason=stale[0])
                    return
                self.crash.at("intent")
                self.log.move(order, "SENT", detail="sending")
            elif order.state != "SENT":
                return  # resolved meanwhile (a restart's lookup found it)
            self.counts["sent"] += 1
            try:
                order_id = await self._send(order, self._bracket(order))
            except ExchangeError as exc:
                if order.state != "SENT":  # a sync already booked its fill (pushed before the answer): settled
                    self.wake.set()
                    return
                refused = exc if self._send_failed(broker, order, exc) else None
            else:
                self.crash.at("sent")
                if order.state == "SENT":  # a sync may already have seen it fill
                    self.counts["acked"] += 1
                    self.log.move(order, "ACKED", order_id=order_id, detail="acknowledged")
                if order.purpose == "entry":
                    self.refusals.accepted(order.symbol)
        if refused is not None:  # outside the lock: the account or contract read it may make
            await self.refusals.refused(broker, order, refused)
        self.wake.set()

    def _send_failed(self, broker: BitunixBroker, order: JournalOrder, exc: ExchangeError) -> bool:
        """What a send without an order id proves: nothing (UNKNOWN, looked up later), or a refusal (True)."""
        if isinstance(exc, DuplicateClientId):
            self.log.unknown(order, "the exchange already has this client id (30042): it was accepted before")
        elif isinstance(exc, ExchangeUnavailable | RateLimitedError):
            self.crash.at("accepted")
            self.log.unknown(order, f"no clear answer: {exc}")
        else:
            self.counts["rejected"] += 1
            self.log.move(order, "REJECTED", detail=str(exc), reason="exchange_rejected")
            return True
        return False

    def _entry_refusal(self, broker: BitunixBroker, order: JournalOrder) -> tuple[str, str] | None:
        """An entry that waited (in the queue, or across a restart) is checked again before it is sent:
        the operator's kill switch, then its decision's age."""
        halts = self.halts.get(order.symbol, {})
        if HALT_KILL in halts:
            return HALT_KILL, f"the kill switch is set ({halts[HALT_KILL]}); the entry decided before it is not sent"
        return broker.decision_age_refusal(order.meta.get("decided_ts"), self.venue_clock.now_ms())

    @staticmethod
    def _bracket(order: JournalOrder) -> dict[str, Any]:
        """An entry's stop and target, as the exchange-side stop-loss and take-profit of its position."""
        extra: dict[str, Any] = {}
        meta = order.meta
        if order.purpose == "entry":
            for key, name in (("stop", "sl"), ("target", "tp")):
                if meta.get(key) is not None:
                    extra |= {
                        f"{name}Price": fmt(meta[key]),
                        f"{name}StopType": "LAST_PRICE",
                        f"{name}OrderType": "MARKET",
                    }
        return extra

    async def _send(self, order: JournalOrder, extra: dict[str, Any]) -> str:
        return await self.rest.place_order(
            symbol=order.symbol,
            side="buy" if order.side == "BUY" else "sell",
            qty=fmt(order.qty),
            order_type="market" if order.order_type == "MARKET" else "limit",
            client_id=order.client_id,
            price=None if order.price is None else fmt(order.price),
            reduce_only=order.reduce_only,
            extra=extra,
        )

    async def cancel(self, command: Cancel) -> None:
        order = self.journal.orders.get(command.client_id)
        if order is None or not order.reported:
            return
        try:
            await self.rest.cancel_orders(command.symbol, client_ids=[command.client_id])
        except ExchangeError as exc:
            self.log.error("cancel", f"cancel {command.client_id}: {exc}; the next sync checks it")
        self.steps.last_lookup.pop(order.client_id, None)
        self.wake.set()

    async def sync(self) -> None:
        """One pass: unknown orders, acknowledged orders, executions, then positions (see the docstring)."""
        if self.journal.broken is not None:
            return  # what it would learn could not be recorded; a restart over a writable disk syncs it all
        async with self._sync_lock:
            steps = self.steps
            try:
                missing = await steps.resolve_unknown()
                await steps.refresh_open(woken=self.wake.is_set())
                await steps.book_trades()
                await steps.book_funding()
                await steps.decide_not_found(missing)
                await self.reconciler.run(steps.book_trades)
                await self.refusals.check()
                await self.contracts.refresh_if_due()
            except JournalUnwritable:  # broke during this pass (said once): the books stop where the file does
                return

    async def drain(self) -> None:
        """Send what is queued (at shutdown: closes and cancels decided while the cores drained)."""
        while not self.queue.empty():
            await self.execute(self.queue.get_nowait())

    async def settle(self, timeout_s: float) -> None:
        """Sync until no order is open or unknown any more (cancels confirmed, closes filled), or timeout.
        A SENT order here has no send in flight any more (its answer was lost to a stop or a failure): it
        is UNKNOWN and looked up like any other."""
        for order in [o for o in self.journal.orders.values() if o.state == "SENT"]:
            if self._in_flight is None or self._in_flight.done():
                self.log.unknown(order, "no answer to the send was heard: looking it up by client id")
        deadline = self.clock.monotonic_s() + timeout_s
        while True:
            try:
                await self.sync()
            except ExchangeError as exc:
                self.log.error("sync", f"{exc}; retrying")
            else:
                if not self._unsettled() or self.journal.broken is not None:
                    return
            if self.clock.monotonic_s() >= deadline:
                return
            await asyncio.sleep(self.config.lookup_interval_s)

    # -- Tasks -------------------------------------------------------------------------------------------

    async def _sender(self) -> None:
        while True:
            command = await self.queue.get()
            self._in_flight = asyncio.ensure_future(self.execute(command))
            await asyncio.shield(self._in_flight)  # cancelling the sender leaves the send running

    async def finish_in_flight(self) -> None:
        """At a stop: let the send (or cancel) in flight get its answer and be journaled."""
        task = self._in_flight
        if task is not None and not task.done():
            try:
                await asyncio.shield(task)  # a stop's deadline ends the wait, never the send itself
            except Exception as exc:
                self.log.error("orders", f"the order command in flight at the stop failed: {type(exc).__name__}: {exc}")

    async def _syncer(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.outage.wait_s(self._poll_interval())):
                    await self.wake.wait()
            self.wake.clear()
            self.outage.begin(self.rest.answered, self.rest.unreachable)
            try:
                await self.sync()
            except ExchangeError as exc:
                self.log.error("sync", f"{exc}; retrying")
            self.outage.end(self.rest.answered, self.rest.unreachable, self.clock.monotonic_s())

    async def _private_stream(self) -> None:
        """Order, position and balance pushes: each one triggers a sync (the executions are read once,
        by trade id, so a push and a poll never book the same fill twice)."""
        assert self.private is not None
        while True:
            channel, data = await self.private.get()
            if channel == "balance":
                with contextlib.suppress(TypeError, ValueError):
                    self.exchange_available = float(data.get("available", ""))
            else:
                self.wake.set()

    def _available(self, available: float) -> None:
        """The exchange's available margin, as a REST read of the account gave it (pushes give it too)."""
        self.exchange_available = available

    def _unsettled(self) -> bool:
        """An order whose outcome is not known yet (in flight, unknown, or a market order not booked)."""
        return any(not o.resting for b in self.brokers.values() for o in b.open_orders())

    def _poll_interval(self) -> float:
        c = self.config
        if self._unsettled():
            return c.lookup_interval_s
        if self.private is not None and self.private.connected.is_set():
            return c.stream_poll_interval_s
        return c.poll_interval_s

    # -- Helpers ---------------------------------------------------------------------------------------

    def report_state(self, order: JournalOrder, detail: str) -> None:
        self.log.report_state(order, detail)
