"""`orders.jsonl`: the order journal that makes live orders exactly-once across crashes.

One JSON line per change, fsynced before the method returns, so the caller sends an order only after its
intent is durable (write the intent, then send; reliability.md §0 rule 2). Reopening replays the lines
into the current state of every order. A crash can tear only the last line (it was never reported as
written): it is cut off on reopen, and every earlier line must replay through the order state machine,
or the journal is refused. Fills are deduplicated by the exchange's trade id, across restarts too.

It is also the live books' own log: besides our orders' fills it records the starting balance, fills of
orders that are not ours (the exchange's TP/SL closes), positions adopted from the exchange, positions
closed in the books by reconciliation, and the funding the exchange settled on a position.
`book_records` replays them in order, so the books after a crash are exactly the books before it,
whatever the last checkpoint saw.

A replay keeps a journal in memory (`path` None): the live session's, rebuilt from the recorded inputs
(`absorb` takes one line as the file holds it).

A write that fails (a full disk, an I/O error on the write or its fsync) breaks the journal for the rest of
the process: that record and every later one raise `JournalUnwritable` and nothing more is written, so the
file ends at worst in a torn last line (cut off on reopen), never in a record after a lost one; and an
fsync that failed is not retried until it "succeeds" over pages the kernel dropped. Nothing can be sent
without its intent on disk, so the venue halts everything and says so (`on_broken`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from laptop_agents.core.errors import CheckpointError, IllegalTransition, LaptopAgentsError
from laptop_agents.live.order_state import IN_FLIGHT, OrderState, advance

OrderSide = Literal["BUY", "SELL"]


class JournalUnwritable(LaptopAgentsError):
    """The order journal could not be written: nothing that needs a record may go ahead."""


@dataclass
class JournalOrder:
    client_id: str
    symbol: str
    side: OrderSide
    order_type: Literal["MARKET", "LIMIT"]
    qty: float
    price: float | None
    reduce_only: bool
    purpose: str
    """What it is for: entry, stop, target, close, flatten."""
    created_ms: int
    state: OrderState = "INTENT"
    order_id: str | None = None
    filled_qty: float = 0.0
    fee: float = 0.0
    unknown_since_ms: int | None = None
    """When the order became UNKNOWN: the lookup window runs from here."""
    trade_ids: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    """What the books need when it fills: stop, target, setup, trailing, exit reason."""

    @property
    def reported(self) -> bool:
        """The exchange has told us about it (acknowledged or later)."""
        return self.state in ("ACKED", "PARTIAL", "FILLED", "CANCELLED")

    @property
    def resting(self) -> bool:
        """A limit order the exchange acknowledged: it may rest for hours, and its outcome is known."""
        return self.order_type == "LIMIT" and self.state in ("ACKED", "PARTIAL")


class OrderJournal:
    def __init__(self, path: Path | None, *, durable: bool = True) -> None:
        self.path = path
        self.orders: dict[str, JournalOrder] = {}
        self.book_records: list[dict[str, Any]] = []
        """Every record that changes the books (fill, trade, adopt, book_close), in journal order."""
        self.starting_balance: float | None = None
        self._trade_ids: set[str] = set()
        self._durable = durable
        self.lines = 0
        """Lines written (and read back) so far: a checkpoint notes it, a restart records what came after."""
        self.broken: str | None = None
        """Why the journal cannot be written any more in this process (None: it can)."""
        self.on_broken: Callable[[str], None] | None = None
        """Told once, when a write first fails."""
        self._replay()
        self._handle = None if path is None else path.open("ab")

    # -- Writing -----------------------------------------------------------------------------------------

    def intent(self, order: JournalOrder) -> None:
        """Record a new order before it is sent; a client id is never used twice."""
        if order.client_id in self.orders:
            raise IllegalTransition(f"order {order.client_id}: client id already in the journal")
        if order.state != "INTENT":
            raise IllegalTransition(f"order {order.client_id}: a new order starts as INTENT, not {order.state}")
        self._write({"op": "intent", **asdict(order)})
        self.orders[order.client_id] = order

    def move(self, client_id: str, state: OrderState, *, at_ms: int, order_id: str | None = None) -> JournalOrder:
        """Record a state change (checked against the state machine) and return the order."""
        order = self._order(client_id)
        advance(client_id, order.state, state)
        self._write({"op": "move", "client_id": client_id, "state": state, "at_ms": at_ms, "order_id": order_id})
        self._apply_move(order, state, at_ms, order_id)
        return order

    def fill(self, client_id: str, *, trade_id: str, qty: float, price: float, fee: float, at_ms: int) -> bool:
        """Record one fill; False (and nothing written) when this trade id was already booked."""
        if trade_id in self._trade_ids:
            return False
        order = self._order(client_id)
        record = {"op": "fill", "client_id": client_id, "symbol": order.symbol, "trade_id": trade_id, "qty": qty,
                  "price": price, "fee": fee, "at_ms": at_ms}  # fmt: skip
        self._write(record)
        self._apply_fill(order, trade_id, qty, fee)
        self.book_records.append(record)
        return True

    def start(self, *, balance: float, at_ms: int) -> None:
        """Record the account's equity when the books start (once per journal)."""
        if self.starting_balance is None:
            self._write({"op": "start", "balance": balance, "at_ms": at_ms})
            self.starting_balance = balance

    def book(self, op: str, **record: Any) -> bool:
        """Record a books change that is not a fill of our order: `trade` (a fill of an order that is not
        ours, deduplicated by trade id like ours), `adopt`, `book_close` or `funding` (the position's
        funding total as the exchange reports it). False when already booked."""
        if op not in ("trade", "adopt", "book_close", "funding"):
            raise ValueError(f"unknown books record {op!r}")
        if op == "trade":
            if record["trade_id"] in self._trade_ids:
                return False
            self._trade_ids.add(record["trade_id"])
        entry = {"op": op, **record}
        self._write(entry)
        self.book_records.append(entry)
        return True

    def knows_trade(self, trade_id: str) -> bool:
        return trade_id in self._trade_ids

    def after_restart(self, *, at_ms: int, resend_window_ms: int) -> tuple[list[JournalOrder], list[JournalOrder]]:
        """Orders a crash may have left unsent or unacknowledged: (to send again, to look up).

        Only an INTENT younger than the window is sent again (with the same client id): SENT is written
        before the send, so an INTENT never left the process. A SENT order may have reached the venue, and
        a second copy would be refused only while the venue still deduplicates its client id, which
        Bitunix does not promise (perhaps only while the order is open): it becomes UNKNOWN (recorded) and
        is looked up, like an older INTENT and the orders already UNKNOWN, before anything else is sent."""
        resend = []
        for order in list(self.orders.values()):
            if order.state == "INTENT" and at_ms - order.created_ms <= resend_window_ms:
                resend.append(order)
            elif order.state in ("INTENT", "SENT"):
                self.move(order.client_id, "UNKNOWN", at_ms=at_ms)
        return resend, [o for o in self.orders.values() if o.state == "UNKNOWN"]

    def in_flight(self, symbol: str | None = None) -> list[JournalOrder]:
        return [o for o in self.orders.values() if o.state in IN_FLIGHT and symbol in (None, o.symbol)]

    def lines_since(self, count: int) -> tuple[dict[str, Any], ...]:
        """The lines after the first `count`, as written (a restart records those its checkpoint did not see)."""
        if self.path is None or count >= self.lines:
            return ()
        return tuple(orjson.loads(line) for line in self.path.read_bytes().splitlines()[count : self.lines])

    def absorb(self, record: dict[str, Any]) -> None:
        """Take one line as the file holds it (a replay's journal, from the recorded inputs)."""
        self._replay_line(dict(record))
        self.lines += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()

    # -- Internals ---------------------------------------------------------------------------------------

    def _order(self, client_id: str) -> JournalOrder:
        order = self.orders.get(client_id)
        if order is None:
            raise IllegalTransition(f"order {client_id}: not in the journal")
        return order

    def _write(self, record: dict[str, Any]) -> None:
        if self.broken is not None:
            raise JournalUnwritable(self.broken)
        if self._handle is not None:
            try:
                self._handle.write(orjson.dumps(record) + b"\n")
                self._handle.flush()
                if self._durable:
                    os.fsync(self._handle.fileno())
            except OSError as exc:
                self.broken = f"the order journal {self.path} cannot be written ({exc.strerror or exc})"
                if self.on_broken is not None:
                    self.on_broken(self.broken)
                raise JournalUnwritable(self.broken) from None
        self.lines += 1

    @staticmethod
    def _apply_move(order: JournalOrder, state: OrderState, at_ms: int, order_id: str | None) -> None:
        order.state = state
        if order_id is not None:
            order.order_id = order_id
        if state == "UNKNOWN":
            order.unknown_since_ms = at_ms

    def _apply_fill(self, order: JournalOrder, trade_id: str, qty: float, fee: float) -> None:
        self._trade_ids.add(trade_id)
        order.trade_ids.append(trade_id)
        order.filled_qty += qty
        order.fee += fee

    def _replay(self) -> None:
        if self.path is None or not self.path.exists():
            return
        data = self.path.read_bytes()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):  # a torn last line: the crash came before its write returned
            with self.path.open("r+b") as handle:
                handle.truncate(complete)
        for number, line in enumerate(data[:complete].splitlines(), start=1):
            try:
                self._replay_line(orjson.loads(line))
                self.lines += 1
            except (orjson.JSONDecodeError, KeyError, TypeError, IllegalTransition) as exc:
                raise CheckpointError(
                    f"{self.path} line {number} cannot be replayed ({type(exc).__name__}: {exc}); "
                    "the journal is damaged: reconcile with the exchange by hand before trading"
                ) from None

    def _replay_line(self, record: dict[str, Any]) -> None:
        op = record.pop("op")
        if op == "intent":
            order = JournalOrder(**record)
            if order.client_id in self.orders:
                raise IllegalTransition(f"order {order.client_id}: two intents")
            self.orders[order.client_id] = order
            self._trade_ids.update(order.trade_ids)
        elif op == "move":
            order = self._order(record["client_id"])
            advance(order.client_id, order.state, record["state"])
            self._apply_move(order, record["state"], record["at_ms"], record["order_id"])
        elif op == "fill":
            self._apply_fill(self._order(record["client_id"]), record["trade_id"], record["qty"], record["fee"])
            self.book_records.append({"op": op, **record})
        elif op == "start":
            self.starting_balance = float(record["balance"])
        elif op in ("trade", "adopt", "book_close", "funding"):
            if op == "trade":
                self._trade_ids.add(record["trade_id"])
            self.book_records.append({"op": op, **record})
        else:
            raise KeyError(f"unknown op {op!r}")
