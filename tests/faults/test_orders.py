"""§6 orders (reliability.md scenarios 14-22), the behaviours not pinned elsewhere.

Scenario 17, an overfill: the venue executes more of our order than its size (the simulator's
`overfill_next`: once filled, one more execution of the whole size). Before, the books added every
execution, so the order stood at filled 0.06 of 0.03 and the position doubled with nothing said. Now the
execution past the size is said once (an `Error` "overfill", the heartbeat's `overfills`) and not booked,
so filled <= qty; the exchange's larger position is then the reconciliation's: adjusted in the books to
the venue's quantity, entries on the symbol halted until the operator acknowledges it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from laptop_agents.core.candle import Candle
from laptop_agents.core.clock import LiveClock
from laptop_agents.core.events import (
    Error,
    Fill,
    OrderRejected,
    OrderState,
    PositionClosed,
    PositionOpened,
    Reconciled,
    Side,
)
from laptop_agents.core.orders import EntryIntent, Intent
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.live.reconcile import HALT_EXTERNAL
from laptop_agents.runs.run_folder import RunFolder
from laptop_agents.strategy.base import BaseStrategy
from tests.exchange.conftest import KEY, bundled_candles, sim_config
from tests.live.conftest import SYMBOL, LiveHarness, live_settings


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


async def test_s15_a_definitive_refusal_is_rejected_at_once_never_resent_and_frees_the_symbol(
    live: LiveHarness,
) -> None:
    """The venue refuses a resting limit entry for good (a parameter error, 10002): it is REJECTED on the
    send's answer (never UNKNOWN, never looked up), no later sync sends it again, and nothing of it stays in
    the books (no resting entry, no position, no order in flight): the next decision goes out under a new
    client id and fills."""
    assert live.venue is not None and live.broker is not None
    live.sim.faults.update({"refuse_order_next": 1, "refuse_order_code": 10002})
    live.tick()
    price = round(live.sim.market.last_price(SYMBOL) * 0.95, 1)
    resting = EntryIntent(side="long", stop_distance=300.0, setup="t", reason="t", target_r=2.0,
                          entry_type="limit", limit_price=price)  # fmt: skip
    assert live.broker.place_resting(ts=live.sim.market.now_ms(), client_order_id="la-e-000001", qty=0.02,
                                     intent=resting)  # fmt: skip
    assert "la-e-000001" in live.broker.pending
    await live.send_queued()
    assert [(e.client_order_id, e.state) for e in live.of(OrderState)] == [
        ("la-e-000001", "SENT"), ("la-e-000001", "REJECTED")
    ]  # fmt: skip
    (refused,) = live.of(OrderRejected)
    assert refused.client_order_id == "la-e-000001" and refused.reason == "exchange_rejected"
    assert "10002" in refused.detail
    assert live.broker.pending == {} and live.broker.open_orders() == [] and live.broker.position is None
    for _ in range(3):
        await live.venue.executor.sync()
    await live.settle()
    assert len(live.placements()) == 1 and live.exchange_orders() == []  # never sent again, nothing on the venue
    assert live.venue.journal.orders["la-e-000001"].state == "REJECTED"
    assert live.halts == {}  # the contract read again is unchanged: the next decision may go
    assert live.enter("la-e-000002", 0.02)
    await live.send_queued()
    await live.settle()
    assert [o.client_id for o in live.exchange_orders()] == ["la-e-000002"] and len(live.placements()) == 2
    assert live.broker.position is not None and live.broker.position.qty == pytest.approx(0.02)


async def test_s19_a_filter_the_venue_changed_is_read_again_at_its_refusal_and_the_order_never_loops(
    live: LiveHarness,
) -> None:
    """The venue raises its minimum and coarsens its lot mid-session (0.001 → 0.01). An entry valid under
    the filters read at the start is refused (30017); it is REJECTED and never sent again, the contract is
    read again at once and the broker checks against it: the next decision below the new minimum is denied
    locally (never sent), one above it is rounded to the new lot and fills."""
    assert live.venue is not None and live.broker is not None
    rules = live.sim.ledger.contract(SYMBOL)
    rules.min_qty, rules.base_precision = 0.01, 2
    assert live.enter("la-e-000001", 0.005)  # 0.005 >= 0.001 on a 0.001 lot: the start's filters allow it
    await live.send_queued()
    order = live.venue.journal.orders["la-e-000001"]
    assert order.state == "REJECTED" and "30017" in live.of(OrderRejected)[-1].detail
    for _ in range(3):
        await live.venue.executor.sync()
    assert len(live.placements()) == 1  # the refused order is not sent again
    spec = live.broker.spec
    assert spec.min_qty == pytest.approx(0.01) and spec.qty_step == pytest.approx(0.01)  # read again, applied
    (said,) = [e for e in live.of(Error) if e.where == "contract"]
    assert "min qty 0.001 → 0.01" in said.message and "lot 0.001 → 0.01" in said.message
    assert live.halts == {}  # entries waited only for the read
    reads = len(live.sim.requests_to("/market/trading_pairs"))
    assert not live.enter("la-e-000002", 0.005)  # 0.00 on the new lot: below the new minimum, denied here
    assert live.of(OrderRejected)[-1].reason == "min_qty" and len(live.placements()) == 1
    assert live.enter("la-e-000003", 0.027)
    await live.send_queued()
    await live.settle()
    (placed,) = live.exchange_orders("la-e-000003")
    assert placed.status == "FILLED" and placed.qty == pytest.approx(0.02)  # rounded down to the new lot
    assert live.broker.position is not None and live.broker.position.qty == pytest.approx(0.02)
    assert len(live.sim.requests_to("/market/trading_pairs")) == reads  # no refusal since: no read again


class _SteppedMonotonic(LiveClock):
    """The real clocks, with the monotonic one moved on by hand as the simulated market's minutes pass."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def monotonic_s(self) -> float:
        return super().monotonic_s() + self.offset_s


class _EnterWhenFlat(BaseStrategy):
    """Wants a long entry at every candle it is flat (a strategy the venue's answer does not discourage)."""

    name = "enter_when_flat"

    def on_candle(self, candle: Candle, position: Side | None) -> Sequence[Intent]:
        if position is not None:
            return []
        return [EntryIntent(side="long", stop_distance=5_000.0, setup="t", reason="t", target_r=2.0)]


async def _decide_on_next_candle(live: LiveHarness, clock: _SteppedMonotonic, *, minutes: int = 3) -> None:
    """`minutes` pass on the exchange and on this machine's monotonic clock; the last closed candle reaches
    the core (through the session's door), what it decided is sent, then one sync pass runs."""
    assert live.inputs is not None and live.venue is not None
    sim = live.sim
    clock.offset_s += 60.0 * minutes
    await sim.hub.advance(sim.market.k * minutes)
    now = sim.market.now_ms()
    live.venue.venue_clock.observe(now)
    live.inputs.candle(SYMBOL, sim.market.candle_at(SYMBOL, now - now % 60_000))
    await live.send_queued()
    await live.venue.executor.sync()


async def test_s20_a_margin_refusal_backs_the_symbols_entries_off_until_time_or_the_balance_allows(
    tmp_path: Path,
) -> None:
    """The venue refuses every order for margin (20003). A strategy that wants in at every candle (one every
    three minutes here) meets the refusal once: the entry is REJECTED, the account is read again (the
    venue's figure in the heartbeat and in one `Error`), and the symbol's entries are halted, refused by
    the core without reaching the venue, for `live.refusal_backoff_s` (300 s). Then one entry tries again;
    refused again, the wait doubles. A deposit (the available margin grows past the refusal's) ends the
    wait at the next balance read; the next entry fills. Three placements in seven decisions, not seven."""
    clock = _SteppedMonotonic()
    async with SimExchange(sim_config(rest_rate_per_s=200), {SYMBOL: bundled_candles()}) as sim:
        sim.faults.client_id_dedupe = "open"
        folder = RunFolder.create(tmp_path / "runs", "x")
        live = await LiveHarness(sim, folder, live_settings(), clock=clock, rate=(150, 20)).start()
        try:
            assert live.venue is not None and live.portfolio is not None
            core = live.portfolio.cores[SYMBOL]
            core.strategy = _EnterWhenFlat()
            live.venue.halts[SYMBOL] = live.halts = core.halts  # as a session wires them (`LiveVenue.start`)
            sim.faults.update({"insufficient_balance_next": 100})
            await _decide_on_next_candle(live, clock)  # decision 1: sent, refused for margin
            await _decide_on_next_candle(live, clock)  # decision 2, 180 s later: held back here
            assert len(live.placements()) == 1
            assert [e.reason for e in live.of(OrderRejected)] == ["exchange_rejected", "exchange_margin"]
            assert "20003" in live.of(OrderRejected)[0].detail and "wait 300 s" in live.halts["exchange_margin"]
            (said,) = [e for e in live.of(Error) if e.where == "margin"]
            available = live.venue.executor.status()["exchange_available"]
            assert available == pytest.approx(sim.ledger.available(sim.ledger.accounts[KEY]))  # read after the refusal
            assert f"{available:,.2f} USDT" in said.message and "books' equity 10,000.00" in said.message
            await _decide_on_next_candle(live, clock)  # decision 3, 360 s after the refusal: one more try, refused
            await _decide_on_next_candle(live, clock)  # decisions 4 and 5: the wait is 600 s now
            await _decide_on_next_candle(live, clock)
            assert len(live.placements()) == 2 and "wait 600 s" in live.halts["exchange_margin"]
            sim.faults.update({"insufficient_balance_next": 0})
            sim.ledger.accounts[KEY].balance += 5_000.0  # a deposit: the next balance read shows more margin
            await _decide_on_next_candle(live, clock)  # decision 6: decided before the read, held back; the read lifts
            assert "exchange_margin" not in live.halts and len(live.placements()) == 2
            await _decide_on_next_candle(live, clock)  # decision 7: goes out and fills
            await live.settle()
            assert len(live.placements()) == 3
            reasons = [e.reason for e in live.of(OrderRejected)]
            assert reasons == ["exchange_rejected", "exchange_margin", "exchange_rejected", "exchange_margin",
                               "exchange_margin", "exchange_margin"]  # fmt: skip
            assert len([e for e in live.of(Error) if e.where == "margin"]) == 2  # said once per refusal
            assert core.broker.position is not None
            # exits are never held back: a close the venue refuses for margin halts nothing, the next goes out
            sim.faults.update({"insufficient_balance_next": 1})
            core.broker.close_market(ts=0, ref_price=0.0, reason="signal")
            await live.send_queued()
            await live.settle()
            assert live.venue.journal.orders[f"{core.broker.position.client_order_id}-x1"].state == "REJECTED"
            assert "exchange_margin" not in live.halts
            core.broker.close_market(ts=0, ref_price=0.0, reason="signal")
            await live.send_queued()
            await live.settle()
            assert core.broker.position is None and len(live.placements()) == 5
        finally:
            await live.stop()
