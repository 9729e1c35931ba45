"""§6 orders (reliability.md scenarios 14-22), the behaviours not pinned elsewhere.

Scenario 17, an overfill: the venue executes more of our order than its size (the simulator's
`overfill_next`: once filled, one more execution of the whole size). Before, the books added every
execution, so the order stood at filled 0.06 of 0.03 and the position doubled with nothing said. Now the
execution past the size is said once (an `Error` "overfill", the heartbeat's `overfills`) and not booked,
so filled <= qty; the exchange's larger position is then the reconciliation's: adjusted in the books to
the venue's quantity, entries on the symbol halted until the operator acknowledges it.
"""

from __future__ import annotations

import pytest

from laptop_agents.core.events import Error, Fill, OrderRejected, PositionClosed, PositionOpened, Reconciled
from laptop_agents.live.reconcile import HALT_EXTERNAL
from tests.exchange.conftest import KEY
from tests.live.conftest import LiveHarness


async def test_s17_an_overfill_is_flagged_not_booked_and_the_venue_position_is_reconciled(live: LiveHarness) -> None:
    live.sim.faults.update({"overfill_next": 1})
    assert live.venue is not None and live.broker is not None and live.enter("la-e-000001", 0.03)
    await live.send_queued()
    for _ in range(3):  # every pass reads the executions again: the overfill is said once
        await live.venue.executor.sync()
    venue_fills = [f for f in live.sim.ledger.accounts[KEY].fills if f["clientId"] == "la-e-000001"]
    assert [f["qty"] for f in venue_fills] == [pytest.approx(0.03), pytest.approx(0.03)]  # the fault fired
    order = live.venue.journal.orders["la-e-000001"]
    assert order.state == "FILLED" and order.filled_qty == pytest.approx(0.03)  # filled <= qty
    assert order.trade_ids == [venue_fills[0]["tradeId"]]  # the second execution never reached the books
    said = [e for e in live.of(Error) if e.where == "overfill"]
    assert len(said) == 1 and venue_fills[1]["tradeId"] in said[0].message and "0.06 of 0.03" in said[0].message
    assert live.venue.executor.status()["overfills"] == 1
    assert len(live.of(Fill)) == 1
    # the venue is the truth: the books' 0.03 is closed in the books (no order sent), the venue's 0.06 adopted,
    # and the symbol's entries wait for the operator
    ours, adopted = live.of(PositionOpened)
    assert ours.qty == pytest.approx(0.03) and adopted.qty == pytest.approx(0.06) and adopted.setup == "external"
    (closed,) = live.of(PositionClosed)
    assert closed.exit_reason == "reconcile" and closed.qty == pytest.approx(0.03)
    assert [e.action for e in live.of(Reconciled)] == ["adjusted"]
    assert live.broker.position is not None and live.broker.position.qty == pytest.approx(0.06)
    assert HALT_EXTERNAL in live.halts and len(live.placements()) == 1


async def test_s21_a_reduce_only_close_racing_a_venue_close_leaves_the_books_flat(live: LiveHarness) -> None:
    """The venue liquidates the position while our reduce-only close is on its way: the venue refuses the
    close (30018, nothing to reduce), the books book the venue's close once, and nothing else is sent."""
    assert live.venue is not None and live.broker is not None and live.enter("la-e-000001", 0.03)
    await live.send_queued()
    await live.venue.executor.sync()
    assert live.broker.position is not None
    liquidated = live.sim.ledger.liquidate(live.sim.ledger.accounts[KEY], "BTCUSDT")
    assert liquidated is not None
    live.broker.close_market(ts=0, ref_price=0.0, reason="signal")  # the books still hold the position
    await live.send_queued()
    await live.settle()
    close = live.venue.journal.orders["la-e-000001-x1"]
    assert close.state == "REJECTED" and close.filled_qty == 0, close  # 30018: reduce-only with no position
    (refused,) = live.of(OrderRejected)
    assert refused.client_order_id == "la-e-000001-x1" and "30018" in refused.detail
    assert live.broker.position is None and "BTCUSDT" not in live.sim.ledger.accounts[KEY].positions
    (closed,) = live.of(PositionClosed)
    assert closed.qty == pytest.approx(0.03) and closed.exit_price == pytest.approx(liquidated.avg_price)
    assert len(live.placements()) == 2  # the entry and the one close, never sent again
    assert [o.client_id for o in live.exchange_orders() if o.client_id] == ["la-e-000001"]
