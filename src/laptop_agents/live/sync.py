"""The sync's steps: look up what is unknown, refresh what is open, book every execution once, book the
funding the exchange settled, and decide NOT_FOUND only on full evidence (the executor's docstring gives
the order of the steps and why). A step that fails for one order or symbol is reported once through the
`OrderLog` and retried next pass; it never keeps the others from being booked.
"""

from __future__ import annotations

from collections.abc import Mapping

from laptop_agents.base.crash_points import CrashPoints
from laptop_agents.config.models import LiveConfig
from laptop_agents.core.clock import Clock
from laptop_agents.exchange.bitunix.errors import ExchangeError, OrderNotFound
from laptop_agents.exchange.bitunix.replies import OrderInfo, TradeInfo
from laptop_agents.exchange.bitunix.rest import BitunixRest
from laptop_agents.live.books import funding_key
from laptop_agents.live.broker import BitunixBroker
from laptop_agents.live.inputs import VenueInputs
from laptop_agents.live.journal import JournalOrder
from laptop_agents.live.order_log import OrderLog
from laptop_agents.live.order_state import TRANSITIONS
from laptop_agents.live.order_state import OrderState as State

WIRE_STATES: dict[str, State] = {
    "INIT": "ACKED", "NEW": "ACKED", "PART_FILLED": "PARTIAL", "FILLED": "FILLED", "CANCELED": "CANCELLED",
    "PART_FILLED_CANCELED": "CANCELLED", "EXPIRED": "CANCELLED", "SYSTEM_CANCELED": "CANCELLED",
}  # fmt: skip
TRADES_MARGIN_MS = 120_000
"""Executions are read from this long before the oldest thing that may still fill (clock skew, lag)."""


class VenueSync:
    def __init__(
        self,
        *,
        rest: BitunixRest,
        brokers: Mapping[str, BitunixBroker],
        config: LiveConfig,
        clock: Clock,
        crash: CrashPoints,
        log: OrderLog,
        inputs: VenueInputs,
    ) -> None:
        self.rest = rest
        self.inputs = inputs
        self.brokers = brokers
        self.config = config
        self.clock = clock
        self.crash = crash
        self.log = log
        self.last_lookup: dict[str, float] = {}
        """Client id → when it was last looked up (monotonic s)."""
        self._misses: dict[str, int] = {}
        self._trades_cursor: dict[str, int] = {}
        self._trades_read: set[str] = set()
        self._overfills: set[str] = set()
        """Trades refused as overfills (said once each)."""
        """Symbols whose executions this sync pass read in full."""

    async def resolve_unknown(self) -> list[JournalOrder]:
        """Look each UNKNOWN order up by client id; returns those the lookups have not found for the whole
        window (the candidates for NOT_FOUND: `_decide_not_found` checks the rest)."""
        now = self.clock.monotonic_s()
        window = self.config.unknown_window_s
        missing = []
        for order in [o for o in self.log.journal.orders.values() if o.state == "UNKNOWN"]:
            cid = order.client_id
            since = self.log.unknown_since.setdefault(cid, now)
            if now - self.last_lookup.get(cid, -1e18) < self.config.lookup_interval_s * 0.9:
                continue
            self.last_lookup[cid] = now
            try:
                info = await self.rest.order_detail(client_id=cid)
            except OrderNotFound:
                self._misses[cid] = self._misses.get(cid, 0) + 1
                if now - since >= window and self._misses[cid] >= 2:
                    missing.append(order)
                continue
            except ExchangeError as exc:
                self.log.trouble(f"lookup:{cid}", order.symbol, f"looking up order {cid}: {exc}; retrying")
                continue
            self.log.solved(f"lookup:{cid}")
            self.reported(order, info, "found by client id")
        return missing

    async def decide_not_found(self, missing: list[JournalOrder]) -> None:
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
                self.log.trouble(f"lookup:{cid}", order.symbol, f"checking order {cid}: {exc}; retrying")
                continue
            if listed:
                self.reported(order, listed[0], "found among the open orders")
                continue
            venue = sum(p.qty if p.side == "long" else -p.qty for p in positions if p.symbol == order.symbol)
            ours = broker.position
            books = 0.0 if ours is None else (ours.qty if ours.side == "long" else -ours.qty)
            if abs(venue - books) > broker.spec.qty_step / 2:
                self.log.trouble(
                    f"explain:{cid}",
                    order.symbol,
                    f"order {cid} is not found, but the exchange's {order.symbol} position ({venue:g}) is not the "
                    f"books' ({books:g}) and it may explain it: still UNKNOWN, entries on {order.symbol} wait "
                    "(check the exchange by hand)",
                )
                continue
            self.log.solved(f"explain:{cid}")
            self.log.counts["not_found"] += 1
            detail = (
                f"not on the exchange {self.config.unknown_window_s:g} s after the send "
                "(lookups, executions, open orders and position)"
            )
            self.log.move(order, "NOT_FOUND", detail=detail, reason="not_found")

    async def refresh_open(self, *, woken: bool) -> None:
        for broker in self.brokers.values():
            for order in broker.open_orders():
                if order.state not in ("ACKED", "PARTIAL") or order.order_id is None:
                    continue
                if order.resting and not woken and not self._due(order):
                    continue
                self.last_lookup[order.client_id] = self.clock.monotonic_s()
                key = f"refresh:{order.client_id}"
                try:
                    info = await self.rest.order_detail(order_id=order.order_id)
                except ExchangeError as exc:
                    self.log.trouble(key, order.symbol, f"refreshing order {order.client_id}: {exc}; retrying")
                    continue
                self.log.solved(key)
                self.reported(order, info, "refreshed")

    def _due(self, order: JournalOrder) -> bool:
        elapsed = self.clock.monotonic_s() - self.last_lookup.get(order.client_id, -1e18)
        return elapsed >= self.config.poll_interval_s

    def reported(self, order: JournalOrder, info: OrderInfo, how: str) -> None:
        state = WIRE_STATES.get(info.status)
        if state is None or state == order.state or state not in TRANSITIONS[order.state]:
            return
        self.log.move(order, state, order_id=info.order_id or None, detail=f"{how}: {info.status}")

    async def book_trades(self) -> None:
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
                self.log.trouble(f"trades:{symbol}", symbol, f"reading {symbol} executions: {exc}; retrying")
                continue
            self.log.solved(f"trades:{symbol}")
            self._trades_read.add(symbol)
            for trade in sorted(trades, key=lambda t: (t.ts, t.trade_id)):
                if not self.log.journal.knows_trade(trade.trade_id):
                    self._book(broker, trade)
            if trades:
                newest = max(t.ts for t in trades) - TRADES_MARGIN_MS
                self._trades_cursor[symbol] = max(cursor or newest, newest)
            elif cursor is not None:
                self._trades_cursor[symbol] = cursor

    async def book_funding(self) -> None:
        """The funding the exchange settled on our open positions, from its position records: booked when
        its total moved, so the daily-loss limit and the breaker (through equity) see it."""
        for symbol, broker in self.brokers.items():
            ours = broker.position
            if ours is None:
                continue
            try:
                positions = [p for p in await self.rest.pending_positions(symbol) if p.symbol == symbol]
            except ExchangeError as exc:
                self.log.trouble(f"funding:{symbol}", symbol, f"reading {symbol} funding: {exc}; retrying")
                continue
            self.log.solved(f"funding:{symbol}")
            for theirs in positions:
                seen = broker.funding_seen.get(funding_key(theirs.position_id, ours.trade_id), 0.0)
                if theirs.position_id and theirs.side == ours.side and abs(theirs.funding - seen) > 1e-9:
                    at = broker.market_ts or self.clock.now_ms()
                    self.log.journal.book("funding", symbol=symbol, position_id=theirs.position_id,
                                      trade_id=ours.trade_id, total=theirs.funding, at_ms=at)  # fmt: skip
                    self.inputs.booked(self.log.journal.book_records[-1])

    @staticmethod
    def _first_cursor(broker: BitunixBroker) -> int | None:
        times = [int(o.meta["decided_ts"]) for o in broker.open_orders() if o.meta.get("decided_ts")]
        if broker.position is not None:
            times.append(broker.position.entry_ts)
        if not times and broker.market_ts:
            times.append(broker.market_ts)
        return min(times) - TRADES_MARGIN_MS if times else None

    def _overfill(self, broker: BitunixBroker, order: JournalOrder, trade: TradeInfo) -> None:
        """An execution that would take our order past its size: a venue fault. It is said once and never
        booked (filled stays <= qty); the exchange's position is then larger than the books', and the
        reconciliation takes the exchange's (`Reconciled` adjusted: the books' position closed in the books,
        the exchange's adopted, entries halted until the operator acknowledges)."""
        if trade.trade_id in self._overfills:  # read again by the next pass: said already
            return
        self._overfills.add(trade.trade_id)
        self.log.counts["overfills"] += 1
        self.log.error(
            "overfill",
            f"{broker.symbol} order {order.client_id}: trade {trade.trade_id} of {trade.qty:g} would fill it to "
            f"{order.filled_qty + trade.qty:g} of {order.qty:g}; not booked, the exchange's position is "
            "reconciled instead",
        )

    def _book(self, broker: BitunixBroker, trade: TradeInfo) -> None:
        order = self.log.journal.orders.get(trade.client_id) if trade.client_id else None
        self.crash.at("booking")
        if order is not None:
            if order.filled_qty + trade.qty > order.qty + broker.spec.qty_step / 2:
                self._overfill(broker, order, trade)
                return
            self.log.journal.fill(
                order.client_id,
                trade_id=trade.trade_id,
                qty=trade.qty,
                price=trade.price,
                fee=trade.fee,
                at_ms=trade.ts,
            )
            self.inputs.booked(self.log.journal.book_records[-1])
            self.log.counts["fills"] += 1
            if order.filled_qty >= order.qty - broker.spec.qty_step / 2 and "FILLED" in TRANSITIONS[order.state]:
                # the trade names the order: its id is known even when the fill came before the ack
                order_id = order.order_id or trade.order_id or None
                self.log.move(order, "FILLED", order_id=order_id, detail=f"filled by trade {trade.trade_id}")
            return
        position = broker.position
        reduces = position is not None and (trade.side == "buy") == (position.side == "short")
        if reduces and trade.ts >= position.entry_ts - TRADES_MARGIN_MS:  # type: ignore[union-attr]
            # an execution of an order that is not ours reduced our position: the exchange's TP/SL
            self.log.journal.book(
                "trade", symbol=broker.symbol, trade_id=trade.trade_id, client_id=trade.client_id,
                order_id=trade.order_id, side=trade.side.upper(), qty=trade.qty, price=trade.price, fee=trade.fee,
                at_ms=trade.ts,
            )  # fmt: skip
            self.inputs.booked(self.log.journal.book_records[-1])
            self.log.counts["fills"] += 1
