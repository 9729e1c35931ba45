"""The live order executor: sends what the brokers queue, resolves what is unknown, books what happened.

Sending (`place`): the intent is already fsynced by the broker; SENT is journaled, then the order goes out.
An answer proves the outcome: an order id → ACKED; a business refusal → REJECTED (the broker emits
`OrderRejected`). No answer proves nothing: a timeout, a 5xx, a rate-limit code or a lost connection leave
the order UNKNOWN, and so does 30042 (the venue already has this client id: it was accepted before). The
executor never sends an UNKNOWN order again.

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
   ours can reach the venue between its reads and its comparison.
Each lookup and each symbol's executions are read on their own: one that fails is reported (once, until
it succeeds again) and retried next pass, and never keeps the others from being booked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from laptop_agents.config.models import LiveConfig
from laptop_agents.core.clock import Clock
from laptop_agents.core.events import Error, Event, OrderState
from laptop_agents.exchange.bitunix.errors import (
    DuplicateClientId,
    ExchangeError,
    ExchangeUnavailable,
    OrderNotFound,
    RateLimitedError,
)
from laptop_agents.exchange.bitunix.replies import OrderInfo, TradeInfo
from laptop_agents.exchange.bitunix.rest import BitunixRest
from laptop_agents.exchange.bitunix.wire import fmt
from laptop_agents.exchange.bitunix.ws_private import BitunixPrivateStream
from laptop_agents.live.books import funding_key
from laptop_agents.live.broker import BitunixBroker, Cancel, Command, MoveStop, Place
from laptop_agents.live.journal import JournalOrder, OrderJournal
from laptop_agents.live.order_state import TRANSITIONS
from laptop_agents.live.order_state import OrderState as State
from laptop_agents.live.reconcile import Reconciler
from laptop_agents.runtime.crash_points import CrashPoints

WIRE_STATES: dict[str, State] = {
    "INIT": "ACKED", "NEW": "ACKED", "PART_FILLED": "PARTIAL", "FILLED": "FILLED", "CANCELED": "CANCELLED",
    "PART_FILLED_CANCELED": "CANCELLED", "EXPIRED": "CANCELLED", "SYSTEM_CANCELED": "CANCELLED",
}  # fmt: skip
TRADES_MARGIN_MS = 120_000
"""Executions are read from this long before the oldest thing that may still fill (clock skew, lag)."""


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
        private: BitunixPrivateStream | None = None,
    ) -> None:
        self.rest = rest
        self.journal = journal
        self.brokers = brokers
        self.reconciler = reconciler
        self.config = config
        self.emit = emit
        self.clock = clock
        self.crash = crash
        self.private = private
        self.queue: asyncio.Queue[Command] = asyncio.Queue()
        self.wake = asyncio.Event()
        self.exchange_available: float | None = None
        self.counts = {"sent": 0, "acked": 0, "rejected": 0, "unknown": 0, "not_found": 0, "fills": 0}
        self._last_lookup: dict[str, float] = {}
        self._unknown_since: dict[str, float] = {}
        """Client id → when this process first saw the order UNKNOWN (monotonic s): its NOT_FOUND window."""
        self._misses: dict[str, int] = {}
        self._trades_cursor: dict[str, int] = {}
        self._trades_read: set[str] = set()
        """Symbols whose executions this sync pass read in full."""
        self._troubles: set[str] = set()
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
            **self.counts,
        }

    async def execute(self, command: Command) -> None:
        if isinstance(command, Place):
            await self.place(command.order)
        elif isinstance(command, MoveStop):
            await self.move_stop(command)
        else:
            await self.cancel(command)

    async def move_stop(self, command: MoveStop) -> None:
        """Move the exchange-side stop of the symbol's position (a trailing stop). Until the exchange has
        confirmed it, the broker closes at market a candle late, as before."""
        broker = self.brokers[command.symbol]
        broker.exchange_stop = None
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
            self._trouble(key, command.symbol, f"moving the exchange's stop to {command.stop:g}: {exc}; the daemon "
                          "closes at market when a candle goes through the trailed stop")  # fmt: skip
            return
        self._solved(key)
        if broker.position is not None and abs(broker.position.stop - command.stop) <= broker.spec.tick:
            broker.exchange_stop = broker.position.stop

    async def place(self, order: JournalOrder) -> None:
        """Send one order under its symbol's lock (never while the reconciler compares that symbol). An
        entry's decision age is checked right before it is sent: one that waited (in the queue, for the
        lock, or across a restart) past `live.max_decision_age_s` is refused, not sent on an old close."""
        broker = self.brokers[order.symbol]
        async with self.reconciler.symbol_lock(order.symbol):
            if order.state == "INTENT":
                stale = broker.decision_age_refusal(order.meta.get("decided_ts")) if order.purpose == "entry" else None
                if stale is not None:
                    self.counts["rejected"] += 1
                    self._move(order, "REJECTED", detail=f"{stale[0]}: {stale[1]}")
                    broker.order_failed(order, *stale)
                    return
                self.crash.at("intent")
                self._move(order, "SENT", detail="sending")
            elif order.state != "SENT":
                return  # resolved meanwhile (a restart's lookup found it)
            self.counts["sent"] += 1
            try:
                order_id = await self._send(order, self._bracket(order))
            except DuplicateClientId:
                self._unknown(order, "the exchange already has this client id (30042): it was accepted before")
            except (ExchangeUnavailable, RateLimitedError) as exc:
                self.crash.at("accepted")
                self._unknown(order, f"no clear answer: {exc}")
            except ExchangeError as exc:
                self.counts["rejected"] += 1
                self._move(order, "REJECTED", detail=str(exc))
                broker.order_failed(order, "exchange_rejected", str(exc))
            else:
                self.crash.at("sent")
                if order.state == "SENT":  # a sync may already have seen it fill
                    self.counts["acked"] += 1
                    self._move(order, "ACKED", order_id=order_id, detail="acknowledged")
        self.wake.set()

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
            self._error("cancel", f"cancel {command.client_id}: {exc}; the next sync checks it")
        self._last_lookup.pop(order.client_id, None)
        self.wake.set()

    async def sync(self) -> None:
        """One pass: unknown orders, acknowledged orders, executions, then positions (see the docstring)."""
        async with self._sync_lock:
            missing = await self._resolve_unknown()
            await self._refresh_open()
            await self._book_trades()
            await self._book_funding()
            await self._decide_not_found(missing)
            await self.reconciler.run(self._book_trades)

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
                self._unknown(order, "no answer to the send was heard: looking it up by client id")
        deadline = self.clock.monotonic_s() + timeout_s
        while True:
            try:
                await self.sync()
            except ExchangeError as exc:
                self._error("sync", f"{exc}; retrying")
            else:
                if not self._unsettled():
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
                await task
            except Exception as exc:
                self._error("orders", f"the order command in flight at the stop failed: {type(exc).__name__}: {exc}")

    async def _syncer(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval()):
                    await self.wake.wait()
            self.wake.clear()
            try:
                await self.sync()
            except ExchangeError as exc:
                self._error("sync", f"{exc}; retrying")

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

    # -- Sync steps --------------------------------------------------------------------------------------

    async def _resolve_unknown(self) -> list[JournalOrder]:
        """Look each UNKNOWN order up by client id; returns those the lookups have not found for the whole
        window (the candidates for NOT_FOUND: `_decide_not_found` checks the rest)."""
        now = self.clock.monotonic_s()
        window = self.config.unknown_window_s
        missing = []
        for order in [o for o in self.journal.orders.values() if o.state == "UNKNOWN"]:
            cid = order.client_id
            since = self._unknown_since.setdefault(cid, now)
            if now - self._last_lookup.get(cid, -1e18) < self.config.lookup_interval_s * 0.9:
                continue
            self._last_lookup[cid] = now
            try:
                info = await self.rest.order_detail(client_id=cid)
            except OrderNotFound:
                self._misses[cid] = self._misses.get(cid, 0) + 1
                if now - since >= window and self._misses[cid] >= 2:
                    missing.append(order)
                continue
            except ExchangeError as exc:
                self._trouble(f"lookup:{cid}", order.symbol, f"looking up order {cid}: {exc}; retrying")
                continue
            self._solved(f"lookup:{cid}")
            self._reported(order, info, "found by client id")
        return missing

    async def _decide_not_found(self, missing: list[JournalOrder]) -> None:
        """NOT_FOUND only when nothing on the venue shows the order: its executions (read in full this pass),
        the open orders, and a position the books do not explain."""
        for order in missing:
            if order.state != "UNKNOWN" or order.symbol not in self._trades_read:
                continue  # booked by its executions meanwhile, or they could not be read: not proven
            cid, broker = order.client_id, self.brokers[order.symbol]
            try:
                listed = [o for o in await self.rest.pending_orders(order.symbol) if o.client_id == cid]
                positions = await self.rest.pending_positions(order.symbol)
            except ExchangeError as exc:
                self._trouble(f"lookup:{cid}", order.symbol, f"checking order {cid}: {exc}; retrying")
                continue
            if listed:
                self._reported(order, listed[0], "found among the open orders")
                continue
            venue = sum(p.qty if p.side == "long" else -p.qty for p in positions if p.symbol == order.symbol)
            ours = broker.position
            books = 0.0 if ours is None else (ours.qty if ours.side == "long" else -ours.qty)
            if abs(venue - books) > broker.spec.qty_step / 2:
                self._trouble(
                    f"explain:{cid}",
                    order.symbol,
                    f"order {cid} is not found, but the exchange's {order.symbol} position ({venue:g}) is not the "
                    f"books' ({books:g}) and it may explain it: still UNKNOWN, entries on {order.symbol} wait "
                    "(check the exchange by hand)",
                )
                continue
            self._solved(f"explain:{cid}")
            self.counts["not_found"] += 1
            detail = (
                f"not on the exchange {self.config.unknown_window_s:g} s after the send "
                "(lookups, executions, open orders and position)"
            )
            self._move(order, "NOT_FOUND", detail=detail)
            broker.order_failed(order, "not_found", detail)

    async def _refresh_open(self) -> None:
        for broker in self.brokers.values():
            for order in broker.open_orders():
                if order.state not in ("ACKED", "PARTIAL") or order.order_id is None:
                    continue
                if order.resting and not self.wake.is_set() and not self._due(order):
                    continue
                self._last_lookup[order.client_id] = self.clock.monotonic_s()
                key = f"refresh:{order.client_id}"
                try:
                    info = await self.rest.order_detail(order_id=order.order_id)
                except ExchangeError as exc:
                    self._trouble(key, order.symbol, f"refreshing order {order.client_id}: {exc}; retrying")
                    continue
                self._solved(key)
                self._reported(order, info, "refreshed")

    def _due(self, order: JournalOrder) -> bool:
        elapsed = self.clock.monotonic_s() - self._last_lookup.get(order.client_id, -1e18)
        return elapsed >= self.config.poll_interval_s

    def _reported(self, order: JournalOrder, info: OrderInfo, how: str) -> None:
        state = WIRE_STATES.get(info.status)
        if state is None or state == order.state or state not in TRANSITIONS[order.state]:
            return
        self._move(order, state, order_id=info.order_id or None, detail=f"{how}: {info.status}")
        if state == "CANCELLED":
            self.brokers[order.symbol].order_cancelled(order, "cancelled on the exchange")

    async def _book_trades(self) -> None:
        """Executions since a little before the newest one seen (the exchange's own clock: ours may be
        off, and the simulator's runs in replay time), every page of them. The first read of a process
        starts a little before the oldest thing that may have filled (an open order's decision, the open
        position's entry, else the newest candle); without any of those, the newest page."""
        self._trades_read.clear()
        for symbol, broker in self.brokers.items():
            cursor = self._trades_cursor.get(symbol)
            if cursor is None:
                cursor = self._first_cursor(broker)
            try:
                if cursor is None:
                    trades = await self.rest.history_trades(symbol)
                else:
                    trades = await self.rest.trades_since(symbol, start_ms=cursor)
            except ExchangeError as exc:
                self._trouble(f"trades:{symbol}", symbol, f"reading {symbol} executions: {exc}; retrying")
                continue
            self._solved(f"trades:{symbol}")
            self._trades_read.add(symbol)
            for trade in sorted(trades, key=lambda t: (t.ts, t.trade_id)):
                if not self.journal.knows_trade(trade.trade_id):
                    self._book(broker, trade)
            if trades:
                newest = max(t.ts for t in trades) - TRADES_MARGIN_MS
                self._trades_cursor[symbol] = max(cursor or newest, newest)
            elif cursor is not None:
                self._trades_cursor[symbol] = cursor

    async def _book_funding(self) -> None:
        """The funding the exchange settled on our open positions, from its position records: booked when
        its total moved, so the daily-loss limit and the breaker (through equity) see it."""
        for symbol, broker in self.brokers.items():
            ours = broker.position
            if ours is None:
                continue
            try:
                positions = [p for p in await self.rest.pending_positions(symbol) if p.symbol == symbol]
            except ExchangeError as exc:
                self._trouble(f"funding:{symbol}", symbol, f"reading {symbol} funding: {exc}; retrying")
                continue
            self._solved(f"funding:{symbol}")
            for theirs in positions:
                seen = broker.funding_seen.get(funding_key(theirs.position_id, ours.trade_id), 0.0)
                if theirs.position_id and theirs.side == ours.side and abs(theirs.funding - seen) > 1e-9:
                    at = broker.market_ts or self.clock.now_ms()
                    self.journal.book("funding", symbol=symbol, position_id=theirs.position_id,
                                      trade_id=ours.trade_id, total=theirs.funding, at_ms=at)  # fmt: skip
                    broker.apply(self.journal.book_records[-1])

    @staticmethod
    def _first_cursor(broker: BitunixBroker) -> int | None:
        times = [int(o.meta["decided_ts"]) for o in broker.open_orders() if o.meta.get("decided_ts")]
        if broker.position is not None:
            times.append(broker.position.entry_ts)
        if not times and broker.market_ts:
            times.append(broker.market_ts)
        return min(times) - TRADES_MARGIN_MS if times else None

    def _book(self, broker: BitunixBroker, trade: TradeInfo) -> None:
        order = self.journal.orders.get(trade.client_id) if trade.client_id else None
        self.crash.at("booking")
        if order is not None:
            self.journal.fill(
                order.client_id,
                trade_id=trade.trade_id,
                qty=trade.qty,
                price=trade.price,
                fee=trade.fee,
                at_ms=trade.ts,
            )
            broker.apply(self.journal.book_records[-1])
            self.counts["fills"] += 1
            if order.filled_qty >= order.qty - broker.spec.qty_step / 2 and "FILLED" in TRANSITIONS[order.state]:
                self._move(order, "FILLED", detail=f"filled by trade {trade.trade_id}")
            return
        position = broker.position
        reduces = position is not None and (trade.side == "buy") == (position.side == "short")
        if reduces and trade.ts >= position.entry_ts - TRADES_MARGIN_MS:  # type: ignore[union-attr]
            # an execution of an order that is not ours reduced our position: the exchange's TP/SL
            self.journal.book(
                "trade", symbol=broker.symbol, trade_id=trade.trade_id, client_id=trade.client_id,
                order_id=trade.order_id, side=trade.side.upper(), qty=trade.qty, price=trade.price, fee=trade.fee,
                at_ms=trade.ts,
            )  # fmt: skip
            broker.apply(self.journal.book_records[-1])
            self.counts["fills"] += 1

    # -- Helpers -----------------------------------------------------------------------------------------

    def _unknown(self, order: JournalOrder, detail: str) -> None:
        self.counts["unknown"] += 1
        self._unknown_since[order.client_id] = self.clock.monotonic_s()
        self._move(order, "UNKNOWN", detail=detail)

    def _move(self, order: JournalOrder, state: State, *, order_id: str | None = None, detail: str) -> None:
        self.journal.move(order.client_id, state, at_ms=self.clock.now_ms(), order_id=order_id)
        self.report_state(order, detail)

    def report_state(self, order: JournalOrder, detail: str) -> None:
        """The `OrderState` event of the order's current (journaled) state."""
        self.emit(
            OrderState(
                ts=self.clock.now_ms(),
                symbol=order.symbol,
                client_order_id=order.client_id,
                state=order.state,
                order_id=order.order_id,
                detail=detail,
            )
        )

    def _trouble(self, key: str, symbol: str, message: str) -> None:
        """A non-fatal `Error`, once until `_solved(key)`: a lookup failing every pass says so once."""
        if key not in self._troubles:
            self._troubles.add(key)
            self.emit(Error(ts=self.clock.now_ms(), symbol=symbol, where="sync", message=message, fatal=False))

    def _solved(self, key: str) -> None:
        self._troubles.discard(key)

    def _error(self, where: str, message: str) -> None:
        self.emit(
            Error(ts=self.clock.now_ms(), symbol=",".join(self.brokers), where=where, message=message, fatal=False)
        )
