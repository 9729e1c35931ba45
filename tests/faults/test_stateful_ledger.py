"""The live books and the order journal under any sequence of venue events (issue 21: a stateful property test).

Hypothesis drives the real live stack (journal, broker, executor, sync, reconciler: `LiveHarness`) against
the simulated exchange on loopback, stepped by hand, with rules for what a venue and a process may do:
an entry sent with its ack lost, rate-limited, answered with broken data, filled in parts, filled before its
answer, or filled twice over; a limit entry resting, cancelled, or cancelled after it filled; a close; the
venue's own TP/SL and a liquidation; the market moving; sync passes (each reads executions again from a
margin back, so every fill is delivered more than once); a restart from the journal with the newest or an
older checkpoint. After every step:
- 0 <= filled <= qty for every order, and no trade id is applied twice;
- the books' position equals a ledger rebuilt here from the journal's records alone (position = the sum of
  the unique fills, adoptions and reconciliation closes);
- the journal read back from its file is the journal in memory (what a restart would see);
- no order sent twice (a placement per journaled order at most, one venue order per client id);
and once everything is settled, the books' position equals the venue's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from laptop_agents.core.orders import EntryIntent
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.live.journal import OrderJournal
from laptop_agents.live.order_state import IN_FLIGHT
from laptop_agents.runs.run_folder import RunFolder
from tests.exchange.conftest import KEY, bundled_candles, sim_config
from tests.live.conftest import ORDER_PATH, SYMBOL, LiveHarness, live_settings

pytestmark = pytest.mark.slow
EPS = 1e-9
LOT = 0.001
ENTRY_FAULTS: dict[str, dict[str, Any]] = {
    "clean": {},
    "lost_ack": {"drop_order_response_next": 1},
    "rate_limited": {"rate_limit_next": 1, "rate_limit_path": "/trade/place_order"},
    "malformed_reply": {"malformed_reply_next": 1},
    "in_parts": {"partial_fill_parts": 3},
    "fill_before_ack": {"fill_before_ack_next": 1, "fill_before_ack_ms": 30.0},
    "overfill": {"overfill_next": 1},
    "transient_not_found": {"not_found_for_s": 0.2},
}
"""What the venue does to the next entry (switches of the simulator)."""
RESET: dict[str, Any] = {"partial_fill_parts": 0, "not_found_for_s": 0.0}


def _signed(side: str, qty: float) -> float:
    return qty if side in ("long", "BUY", "buy") else -qty


class LiveBooksMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = Path(tempfile.mkdtemp(prefix="stateful-ledger-"))
        self.sim = SimExchange(sim_config(rest_rate_per_s=100_000), {SYMBOL: bundled_candles()})
        self.run(self.sim.__aenter__())
        self.sim.faults.client_id_dedupe = "open"  # the venue's dedupe is no help once an order is filled
        # the hard limits out of the way: a sequence sends many orders a minute and may lose on every one
        self.settings = live_settings(
            unknown_window_s=0.2, lookup_interval_s=0.01, poll_interval_s=0.05,
            max_orders_per_minute=1_000, max_daily_loss=1e9, max_daily_loss_pct=100,
        )  # fmt: skip
        folder = RunFolder.create(self.tmp / "runs", "stateful")
        self.live = self.run(LiveHarness(self.sim, folder, self.settings, rate=(10_000, 1_000)).start())
        self.saved: dict[str, Any] | None = None
        self.entries = 0
        self.overfilled = False

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self.live.stop())
        self.run(self.sim.__aexit__(None, None, None))
        self.loop.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------------------------------

    @property
    def broker(self) -> Any:
        assert self.live.broker is not None
        return self.live.broker

    @property
    def journal(self) -> OrderJournal:
        assert self.live.venue is not None
        return self.live.venue.journal

    def flat_and_idle(self) -> bool:
        return self.live.broker is not None and self.broker.position is None and not self.broker.open_orders()

    def _entry(self, qty_lots: int, fault: str, limit_offset: float | None) -> None:
        self.sim.faults.update({**RESET, **ENTRY_FAULTS[fault]})
        self.overfilled |= fault == "overfill"
        self.entries += 1
        cid = f"la-e-{self.entries:06d}"
        qty = qty_lots * LOT
        if limit_offset is None:
            assert self.live.enter(cid, qty)
        else:
            self.live.tick()
            last = self.sim.market.last_price(SYMBOL)
            intent = EntryIntent(side="long", stop_distance=300.0, setup="test", reason="test", target_r=2.0,
                                 entry_type="limit", limit_price=last + limit_offset)  # fmt: skip
            assert self.broker.place_resting(ts=self.sim.market.now_ms(), client_order_id=cid, qty=qty, intent=intent)
        self.run(self.live.send_queued())

    # -- rules ---------------------------------------------------------------------------------------------------

    @rule(qty_lots=st.integers(1, 40), fault=st.sampled_from(sorted(ENTRY_FAULTS)))
    def market_entry(self, qty_lots: int, fault: str) -> None:
        if self.flat_and_idle():
            self._entry(qty_lots, fault, None)

    @rule(qty_lots=st.integers(1, 40), crosses=st.booleans(), fault=st.sampled_from(["clean", "lost_ack", "in_parts"]))
    def limit_entry(self, qty_lots: int, crosses: bool, fault: str) -> None:
        """A limit above the last price fills at once (a taker); one far below rests."""
        if self.flat_and_idle():
            self._entry(qty_lots, fault, 50.0 if crosses else -5_000.0)

    @rule()
    def cancel(self) -> None:
        """The resting entry is cancelled (it may have filled meanwhile: a cancel of a filled order). Rules
        that do not apply in the state the venue's timing left do nothing (no preconditions: a precondition on
        that state would make Hypothesis' replays draw differently)."""
        for cid in list(self.broker.pending):
            self.broker.cancel(ts=self.sim.market.now_ms(), client_order_id=cid, reason="test")
        self.run(self.live.send_queued())

    @rule()
    def close(self) -> None:
        if self.broker.position is not None:
            self.broker.close_market(ts=0, ref_price=0.0, reason="signal")
            self.run(self.live.send_queued())

    @rule(pushes=st.integers(1, 12))
    def market_moves(self, pushes: int) -> None:
        """Pushes of the replay: parts of part-filled orders, the venue's TP/SL may fire."""
        self.run(self.sim.hub.advance(pushes))
        self.live.tick()

    @rule()
    def liquidation(self) -> None:
        """The venue's liquidation engine flattens the position (a fill that is none of our orders)."""
        self.sim.ledger.liquidate(self.sim.ledger.accounts[KEY], SYMBOL)

    @rule()
    def sync(self) -> None:
        assert self.live.venue is not None
        self.run(self.live.venue.executor.sync())

    @rule()
    def checkpoint(self) -> None:
        self.saved = self.broker.state()

    @rule(older=st.booleans())
    def restart(self, older: bool) -> None:
        """A new process over the same journal: the books rebuilt from it, from the newest checkpoint or an
        older one (a crash may come long after the last)."""
        checkpoint = self.saved if older else self.broker.state()
        self.run(self.live.stop())
        self.live = self.run(
            LiveHarness(self.sim, self.live.folder, self.settings, clock=self.live.clock, rate=self.live.rate).start(
                checkpoint
            )
        )

    @rule()
    def settle(self) -> None:
        """Sync until nothing is open or unknown; then the books hold the venue's position."""
        for cid in list(self.broker.pending):  # a resting entry would keep it from settling
            self.broker.cancel(ts=self.sim.market.now_ms(), client_order_id=cid, reason="test")
        self.run(self.live.send_queued())
        self.sim.faults.update(RESET)
        assert self.live.venue is not None
        self.run(self.live.venue.executor.settle(5.0))
        if any(o.state in IN_FLIGHT or o.state in ("ACKED", "PARTIAL") for o in self.journal.orders.values()):
            return  # not settled within the time (an order the venue still shows open): nothing to compare
        venue = self.sim.ledger.accounts[KEY].positions.get(SYMBOL)
        venue_qty = 0.0 if venue is None else venue.qty
        books = self.broker.position
        books_qty = 0.0 if books is None else _signed(books.side, books.qty)
        assert books_qty == pytest.approx(venue_qty, abs=LOT / 2), (books_qty, venue_qty, self.journal.book_records)

    # -- invariants ----------------------------------------------------------------------------------------------

    @invariant()
    def fills_within_each_order(self) -> None:
        for order in self.journal.orders.values():
            assert -EPS <= order.filled_qty <= order.qty + LOT / 2, order

    @invariant()
    def no_trade_id_applied_twice(self) -> None:
        ids = [r["trade_id"] for r in self.journal.book_records if r["op"] in ("fill", "trade")]
        assert len(ids) == len(set(ids)), Counter(ids).most_common(3)
        per_order = [t for o in self.journal.orders.values() for t in o.trade_ids]
        assert len(per_order) == len(set(per_order))

    @invariant()
    def books_equal_a_ledger_rebuilt_from_the_records(self) -> None:
        position = 0.0
        for record in self.journal.book_records:
            if record["op"] == "fill":
                position += _signed(self.journal.orders[record["client_id"]].side, float(record["qty"]))
            elif record["op"] in ("trade", "adopt"):
                position += _signed(record["side"], float(record["qty"]))
            elif record["op"] == "book_close":
                position = 0.0
        books = self.broker.position
        books_qty = 0.0 if books is None else _signed(books.side, books.qty)
        assert books_qty == pytest.approx(position, abs=LOT / 2), (books_qty, position, self.journal.book_records)

    @invariant()
    def the_file_holds_the_journal(self) -> None:
        assert self.journal.path is not None
        reread = OrderJournal(self.journal.path)
        try:
            assert reread.orders == self.journal.orders
            assert reread.book_records == self.journal.book_records
        finally:
            reread.close()

    @invariant()
    def no_order_reached_the_venue_twice(self) -> None:
        placed = [r for r in self.sim.requests if r.path == ORDER_PATH]  # every attempt, refused ones too
        assert len(placed) <= len([o for o in self.journal.orders.values() if o.state != "INTENT"])
        venue = Counter(o.client_id for o in self.sim.ledger.accounts[KEY].orders.values() if o.client_id)
        assert not [cid for cid, n in venue.items() if n > 1], venue
        assert set(venue) <= set(self.journal.orders)  # nothing of ours the journal does not hold


EXAMPLES = os.environ.get("LA_STATEFUL_EXAMPLES")
"""A long run (`LA_STATEFUL_EXAMPLES=2000`) draws new sequences each time; make test runs the same 40."""
LiveBooksMachine.TestCase.settings = settings(
    max_examples=int(EXAMPLES or 40),
    stateful_step_count=40,
    deadline=None,
    derandomize=EXAMPLES is None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_the_live_books_and_the_journal_hold_under_any_sequence_of_venue_events = LiveBooksMachine.TestCase
