"""Reconciliation: the books against the exchange, which is the source of truth.

Asked for at the start and after every reconnect, and done on its own whenever a symbol has no open
order. Per symbol (after the executor has booked every execution it can read):
- the exchange has a position the books do not: it is adopted into the books (a journal record) and new
  entries on that symbol stay halted until the operator acknowledges it (`live.acknowledged_external`,
  `--ack-external SYMBOL`); exits still work;
- the books have a position the exchange does not: it is closed in the books at the exchange's last price
  (`exit_reason` reconcile), and no order is sent;
- both, but side or quantity differ: the books' position is closed that way and the exchange's adopted;
- open orders on the exchange that are not in the journal are reported once and left alone.
A symbol with an order in flight waits: its outcome must be known before positions can be compared.
The comparison holds the symbol's lock (`symbol_lock`), which the executor takes for every placement: no
order of ours can reach the venue between the reads and the comparison, so a position the venue shows is
external only when no order of ours can explain it. While reconciliation is pending (the start, every
reconnect) or failing (the exchange cannot be read) every symbol's entries are halted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from laptop_agents.base.crash_points import CrashPoints
from laptop_agents.core.clock import Clock
from laptop_agents.core.events import Event, Reconciled
from laptop_agents.exchange.bitunix.errors import ExchangeError
from laptop_agents.exchange.bitunix.replies import PositionInfo
from laptop_agents.exchange.bitunix.rest import BitunixRest
from laptop_agents.exchange.bitunix.wire import num
from laptop_agents.live.broker import BitunixBroker
from laptop_agents.live.inputs import VenueInputs
from laptop_agents.live.journal import OrderJournal

HALT_RECONCILE = "reconciliation"
HALT_EXTERNAL = "external_position"


class Reconciler:
    def __init__(
        self,
        *,
        rest: BitunixRest,
        journal: OrderJournal,
        brokers: Mapping[str, BitunixBroker],
        halts: Mapping[str, dict[str, str]],
        acknowledged: frozenset[str],
        emit: Callable[[Event], None],
        clock: Clock,
        inputs: VenueInputs,
        crash: CrashPoints | None = None,
    ) -> None:
        self.rest = rest
        self.inputs = inputs
        self.crash = crash or CrashPoints(None)
        self.journal = journal
        self.brokers = brokers
        self.halts = halts
        self.acknowledged = acknowledged
        self.emit = emit
        self.clock = clock
        self.pending: set[str] = set(brokers)
        """Symbols whose reconciliation was asked for and has not happened yet."""
        self.status = "pending"
        self._reported_orders: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}

    def symbol_lock(self, symbol: str) -> asyncio.Lock:
        """Held while one of our orders is sent on `symbol`, and while its positions are compared."""
        lock = self._locks.get(symbol)
        if lock is None:
            lock = self._locks[symbol] = asyncio.Lock()
        return lock

    def begin(self) -> None:
        """Before the first reconciliation nothing may be entered."""
        for symbol_halts in self.halts.values():
            symbol_halts[HALT_RECONCILE] = "not reconciled with the exchange yet"

    def request(self) -> None:
        """After a reconnect: every symbol is compared again before it trades on; until then its entries
        are halted (exits still work)."""
        self.pending = set(self.brokers)
        self.status = "pending"
        for symbol_halts in self.halts.values():
            symbol_halts[HALT_RECONCILE] = "reconnected: not reconciled with the exchange again yet"

    async def run(self, book_trades: Callable[[], Awaitable[None]]) -> None:
        """Compare what is due; `book_trades` reads the exchange's executions again (a position that
        vanished may have been closed by a TP/SL fill a moment ago: that price is the one to book)."""
        try:
            for symbol, broker in self.brokers.items():
                if not self._due(symbol, broker):
                    continue
                async with self.symbol_lock(symbol):
                    if not self._due(symbol, broker):
                        continue  # an order of ours was decided while the lock was awaited
                    await self._symbol(symbol, broker, book_trades)
                self.pending.discard(symbol)
        except ExchangeError as exc:
            if self.status != "failed":
                self._report("failed", ",".join(self.brokers), f"{exc}; entries halted until it succeeds")
            self.status = "failed"
            for symbol_halts in self.halts.values():
                symbol_halts[HALT_RECONCILE] = f"reconciliation failed: {exc}"
            return
        if not self.pending:
            self.status = "ok"
            for symbol_halts in self.halts.values():
                symbol_halts.pop(HALT_RECONCILE, None)

    def _due(self, symbol: str, broker: BitunixBroker) -> bool:
        """Asked for: once no outcome is unknown (resting orders may stay); on its own: with no order open."""
        open_orders = broker.open_orders()
        if symbol in self.pending:
            return all(o.resting for o in open_orders)
        return not open_orders

    async def _symbol(self, symbol: str, broker: BitunixBroker, book_trades: Callable[[], Awaitable[None]]) -> None:
        positions = [p for p in await self.rest.pending_positions(symbol) if p.symbol == symbol and p.qty > 0]
        self.crash.at("reconcile")
        theirs = positions[0] if positions else None
        ours = broker.position
        step = broker.spec.qty_step
        now = broker.market_ts or self.clock.now_ms()
        if theirs is not None and ours is None:
            self._adopt(broker, theirs, now)
        elif ours is not None and theirs is None:
            await book_trades()
            if broker.position is None:
                return
            price = await self._last_price(symbol)
            self._book_close(broker, price, now)
            self._report("closed_in_books", symbol, f"the exchange has no {ours.side} position; closed at {price:g}")
        elif (
            ours is not None
            and theirs is not None
            and (ours.side != theirs.side or abs(ours.qty - theirs.qty) > step / 2)
        ):
            detail = f"books {ours.side} {ours.qty:g}, exchange {theirs.side} {theirs.qty:g}"
            self._book_close(broker, theirs.entry_price, now)
            self._adopt(broker, theirs, now, action="adjusted", detail=detail)
        if broker.position is None or broker.position.setup != "external" or symbol in self.acknowledged:
            self.halts[symbol].pop(HALT_EXTERNAL, None)
        else:
            self.halts[symbol][HALT_EXTERNAL] = (
                f"an outside {broker.position.side} position was adopted; acknowledge it with "
                f"--ack-external {symbol} (live.acknowledged_external) to trade {symbol} again"
            )
        for order in await self.rest.pending_orders(symbol):
            if order.client_id not in self.journal.orders and order.order_id not in self._reported_orders:
                self._reported_orders.add(order.order_id)
                self._report("external_order", symbol, f"order {order.order_id} is not ours; left alone")

    def _adopt(
        self, broker: BitunixBroker, theirs: PositionInfo, now: int, *, action: str = "adopted", detail: str = ""
    ) -> None:
        self.journal.book("adopt", symbol=broker.symbol, side=theirs.side, qty=theirs.qty, price=theirs.entry_price,
                          at_ms=theirs.opened_ms or now)  # fmt: skip
        self.inputs.booked(self.journal.book_records[-1])
        self._report(action, broker.symbol, detail or f"{theirs.side} {theirs.qty:g} at {theirs.entry_price:g}")

    def _book_close(self, broker: BitunixBroker, price: float, now: int) -> None:
        self.journal.book("book_close", symbol=broker.symbol, price=price, at_ms=now)
        self.inputs.booked(self.journal.book_records[-1])

    async def _last_price(self, symbol: str) -> float:
        rows = await self.rest.tickers([symbol])
        row = next((r for r in rows if str(r.get("symbol", "")).upper() == symbol), None)
        if row is None:
            raise ExchangeError(f"bitunix tickers: no row for {symbol}")
        return num(row.get("lastPrice", row.get("last")), "lastPrice")

    def _report(self, action: str, symbol: str, detail: str) -> None:
        self.emit(Reconciled(ts=self.clock.now_ms(), symbol=symbol, action=action, detail=detail))
