"""Exactly-once live orders against the simulated exchange: lost acks, rate limits, duplicates after a crash,
reconciliation, local denials and limits that survive a restart. Real sockets, real files, no mocks."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from laptop_agents.core.events import (
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
    OrderState,
    PositionClosed,
    PositionOpened,
    Reconciled,
)
from laptop_agents.core.orders import EntryIntent
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.live.journal import JournalOrder
from laptop_agents.live.reconcile import HALT_EXTERNAL, HALT_RECONCILE
from laptop_agents.runs.run_folder import RunFolder
from tests.exchange.conftest import KEY, eventually
from tests.live.conftest import SYMBOL, LiveHarness, live_settings


async def test_start_reconciles_before_entries_are_allowed(live: LiveHarness) -> None:
    assert live.halts == {}  # the start's reconciliation succeeded and lifted its halt
    assert live.venue is not None and live.venue.reconciler.status == "ok"


async def test_a_market_entry_is_journaled_sent_filled_and_booked_once(live: LiveHarness) -> None:
    assert live.enter("la-e-000001", 0.05)
    await live.send_queued()
    await live.settle()
    (order,) = live.exchange_orders("la-e-000001")
    assert order.status == "FILLED" and order.sl_price and order.tp_price  # protected on the exchange
    assert live.broker is not None and live.broker.position is not None
    assert live.broker.position.qty == pytest.approx(0.05)
    states = [e.state for e in live.of(OrderState)]
    assert states == ["SENT", "ACKED", "FILLED"]
    await live.settle()  # syncing again books nothing twice
    assert len(live.of(PositionOpened)) == 1
    assert live.broker.position.qty == pytest.approx(0.05)


async def test_a_lost_ack_is_found_by_client_id_and_never_sent_again(live: LiveHarness) -> None:
    live.sim.faults.drop_order_response_next = 1
    assert live.enter("la-e-000001", 0.05)
    await live.send_queued()
    assert [e.state for e in live.of(OrderState)] == ["SENT", "UNKNOWN"]
    await live.settle()
    assert live.sim.faults.counts["drop_order_response_next"] == 1
    assert len(live.exchange_orders()) == 1 and len(live.placements()) == 1  # exactly one order, no resubmit
    assert [e.state for e in live.of(OrderState)][-1] == "FILLED"
    assert live.broker is not None and live.broker.position is not None
    assert live.broker.position.qty == pytest.approx(0.05)  # one position, from the order found
    assert live.sim.ledger.accounts[KEY].positions[SYMBOL].qty == pytest.approx(0.05)


async def test_a_rate_limit_answer_on_placement_is_unknown_and_resolved_by_lookup(live: LiveHarness) -> None:
    live.sim.faults.rate_limit_next = 1
    assert live.enter("la-e-000001", 0.05)
    await live.send_queued()
    assert [e.state for e in live.of(OrderState)] == ["SENT", "UNKNOWN"]
    # the entry is in flight: no other order is even considered while its outcome is unknown
    assert not live.enter("la-e-000002", 0.05)
    assert live.of(OrderRejected)[-1].reason == "order_in_flight"
    await live.settle()  # the lookups find nothing for the whole window: NOT_FOUND
    assert [e.state for e in live.of(OrderState)][-1] == "NOT_FOUND"
    assert live.exchange_orders() == [] and len(live.placements()) == 1  # nothing was sent twice
    assert live.of(OrderRejected)[-1].reason == "not_found"
    # only now a new order, with a new client id
    assert live.enter("la-e-000003", 0.05)
    await live.send_queued()
    await live.settle()
    assert [o.client_id for o in live.exchange_orders()] == ["la-e-000003"]


async def test_a_duplicate_client_id_answer_to_a_send_is_read_as_accepted(live: LiveHarness) -> None:
    """30042 on a send means the venue has an order with this client id: it is looked up, never retried."""
    assert live.venue is not None and live.broker is not None
    journal = live.venue.journal
    order = JournalOrder("la-e-000001", SYMBOL, "BUY", "MARKET", 0.05, None, False, "entry",
                         live.venue.clock.now_ms(), meta={"stop": 1.0, "setup": "test",
                                                          "decided_ts": live.sim.market.now_ms()})  # fmt: skip
    journal.intent(order)
    live.sim.faults.client_id_dedupe = "forever"
    await live.venue.rest.place_order(symbol=SYMBOL, side="buy", qty="0.05", order_type="market",
                                      client_id=order.client_id)  # fmt: skip
    restarted = await live.restart()  # the young INTENT is sent after the restart; the venue has it already
    try:
        await restarted.send_queued()
        await restarted.settle()
        codes = [r.code for r in live.sim.requests if r.path.endswith("/trade/place_order")]
        assert codes == [0, 30042]
        assert len(restarted.exchange_orders()) == 1
        states = [e.state for e in restarted.of(OrderState)]
        assert states[:2] == ["SENT", "UNKNOWN"] and states[-1] == "FILLED"  # resolved by lookup, not retried
        assert restarted.broker is not None and restarted.broker.position is not None
        assert restarted.broker.position.qty == pytest.approx(0.05)
    finally:
        await restarted.stop()


async def test_an_outside_position_is_adopted_and_blocks_entries_until_acknowledged(
    sim: SimExchange, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    first = await LiveHarness(sim, RunFolder.create(runs, "a"), live_settings()).start()
    assert first.venue is not None
    await first.venue.rest.place_order(
        symbol=SYMBOL, side="sell", qty="0.02", order_type="market", client_id="manual-1"
    )  # fmt: skip  (a trade made by hand)
    await first.stop()
    adopted = await LiveHarness(sim, RunFolder.create(runs, "b"), live_settings()).start()
    try:
        (event,) = adopted.of(Reconciled)
        assert event.action == "adopted" and "short 0.02" in event.detail
        assert adopted.broker is not None and adopted.broker.position is not None
        assert (adopted.broker.position.side, adopted.broker.position.qty) == ("short", 0.02)
        assert HALT_EXTERNAL in adopted.halts and "--ack-external BTCUSDT" in adopted.halts[HALT_EXTERNAL]
        assert HALT_RECONCILE not in adopted.halts
    finally:
        await adopted.stop()
    acknowledged = await LiveHarness(
        sim, RunFolder.create(runs, "c"), live_settings(acknowledged_external=["BTCUSDT"])
    ).start()
    try:
        assert acknowledged.halts == {}
    finally:
        await acknowledged.stop()


async def test_a_position_the_exchange_no_longer_has_is_closed_in_the_books_without_an_order(
    live: LiveHarness,
) -> None:
    assert live.enter("la-e-000001", 0.05)
    await live.send_queued()
    await live.settle()
    sent = len(live.placements())
    # the exchange loses the position without an execution we can read (liquidation, ADL, a manual fix)
    live.sim.ledger.accounts[KEY].positions.clear()
    assert live.venue is not None
    await live.venue.executor.sync()
    (closed,) = live.of(PositionClosed)
    assert closed.exit_reason == "reconcile" and closed.exit_price == live.sim.market.last_price(SYMBOL)
    assert live.broker is not None and live.broker.position is None
    assert len(live.placements()) == sent  # no order was sent to close it
    assert [e.action for e in live.of(Reconciled)] == ["closed_in_books"]


@pytest.mark.parametrize(
    ("qty", "settings", "reason"),
    [
        (0.0004, {}, "min_qty"),  # rounds down to 0.000 < 0.001
        (0.5, {"max_order_notional": 1_000.0}, "max_order_notional"),
        (5.0, {"max_order_notional": 1e9, "max_position_notional": 1e9}, "max_leverage"),  # ~230 k on 10 k at 10x
        (0.05, {"max_orders_per_minute": 1}, "orders_per_minute"),
    ],
)
async def test_local_denials_never_reach_the_exchange(
    sim: SimExchange, tmp_path: Path, qty: float, settings: dict[str, float], reason: str
) -> None:
    live = await LiveHarness(sim, RunFolder.create(tmp_path / "runs", "x"), live_settings(**settings)).start()
    try:
        if reason == "orders_per_minute":  # the one order a minute allowed is used first
            assert live.enter("la-e-000000", 0.01)
            await live.send_queued()
            await live.settle()
            live.broker.close_market(ts=0, ref_price=0.0, reason="signal")  # type: ignore[union-attr]
            await live.send_queued()
            await live.settle()
        before = len(live.placements())
        assert not live.enter("la-e-000001", qty)
        rejected = live.of(OrderRejected)[-1]
        assert rejected.reason == reason and rejected.client_order_id == "la-e-000001"
        assert len(live.placements()) == before  # nothing reached the simulator
        assert live.venue is not None and "la-e-000001" not in live.venue.journal.orders
    finally:
        await live.stop()


async def test_the_daily_loss_limit_survives_a_restart(sim: SimExchange, tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path / "runs", "x")
    live = await LiveHarness(sim, folder, live_settings(max_daily_loss=1.0)).start()
    assert live.enter("la-e-000001", 0.05)  # a round trip: fees and spread make it a loss of ~2.5 USDT
    await live.send_queued()
    await live.settle()
    live.broker.close_market(ts=0, ref_price=0.0, reason="signal")  # type: ignore[union-attr]
    await live.send_queued()
    await live.settle()
    (closed,) = live.of(PositionClosed)
    assert closed.net_pnl < -1.0
    assert not live.enter("la-e-000002", 0.05)
    assert live.of(OrderRejected)[-1].reason == "max_daily_loss"
    restarted = await live.restart()
    try:
        assert restarted.broker is not None and restarted.broker.position is None
        assert restarted.venue is not None and restarted.venue.limits.day_pnl == pytest.approx(closed.net_pnl)
        assert not restarted.enter("la-e-000002", 0.05)
        assert restarted.of(OrderRejected)[-1].reason == "max_daily_loss"
    finally:
        await restarted.stop()


async def test_the_journal_rebuilds_the_same_books_after_a_restart(live: LiveHarness) -> None:
    assert live.enter("la-e-000001", 0.05)
    await live.send_queued()
    await live.settle()
    assert live.broker is not None and live.broker.position is not None
    cash, entry = live.broker.cash, live.broker.position.entry_price
    lines = (live.folder.path / "orders.jsonl").read_bytes().splitlines()
    assert [orjson.loads(x)["op"] for x in lines][:2] == ["start", "intent"]
    restarted = await live.restart()
    try:
        assert restarted.broker is not None and restarted.broker.position is not None
        assert (restarted.broker.cash, restarted.broker.position.entry_price) == (cash, entry)
        assert restarted.of(OrderPlaced) == [] and restarted.of(PositionOpened) == []  # replayed silently
        restarted.broker.check_invariants()
    finally:
        await restarted.stop()


@pytest.mark.parametrize("stream", ["up", "down"])
async def test_an_exchange_side_stop_or_target_is_booked_from_a_push_or_by_polling(
    sim: SimExchange, tmp_path: Path, stream: str
) -> None:
    """The exchange closes the position (its TP/SL fired); the books learn it from the private socket's push
    (REST polling is 30 s away), or, with the socket down, from the REST polling that backs it up."""
    poll = 30.0 if stream == "up" else 0.3
    url = sim.ws_private_url if stream == "up" else "ws://127.0.0.1:9/private/"
    settings = live_settings(stream_poll_interval_s=30.0, poll_interval_s=poll)
    live = await LiveHarness(sim, RunFolder.create(tmp_path / "runs", "x"), settings, private_url=url).start()
    assert live.venue is not None and live.broker is not None
    async with live.running(login=stream == "up"):
        assert live.enter("la-e-000001", 0.05, EntryIntent(side="long", stop_distance=15.0, setup="t", reason="t",
                                                           target_r=1.0))  # fmt: skip
        await eventually(lambda: live.broker.position is not None, what="entry booked")  # type: ignore[union-attr]
        account = sim.ledger.accounts[KEY]
        for _ in range(400):  # the market moves until the exchange's stop or target fires
            await sim.hub.advance(1)
            if not account.positions:
                break
        assert not account.positions, "neither the stop nor the target was reached"
        await eventually(lambda: live.broker.position is None, within_s=3.0, what="exit booked")  # type: ignore[union-attr]
        (closed,) = live.of(PositionClosed)
        assert closed.exit_reason in ("stop", "target")
        exit_fill = account.fills[-1]
        assert closed.exit_price == pytest.approx(exit_fill["price"])  # the exchange's price, not a guess
        assert [e.action for e in live.of(Reconciled)] == []  # booked from the execution, not reconciled away


async def test_shutdown_cancels_the_resting_orders_it_owns_and_flattens_when_asked(
    sim: SimExchange, tmp_path: Path
) -> None:
    settings = live_settings(flatten_on_stop=True)
    live = await LiveHarness(sim, RunFolder.create(tmp_path / "runs", "x"), settings).start()
    assert live.venue is not None and live.broker is not None
    try:
        assert live.enter("la-e-000001", 0.05)
        await live.send_queued()
        await live.settle()
        last = sim.market.last_price(SYMBOL)
        resting = EntryIntent(side="long", stop_distance=300.0, setup="t", reason="t", entry_type="limit",
                              limit_price=last * 0.8)  # fmt: skip
        live.tick()
        now = live.sim.market.now_ms()
        assert live.broker.place_resting(ts=now, client_order_id="la-e-000002", qty=0.01, intent=resting)
        await live.send_queued()
        await live.settle()
        (order,) = live.exchange_orders("la-e-000002")
        assert order.status == "NEW" and "la-e-000002" in live.broker.pending
        assert live.portfolio is not None and live.portfolio.cores[SYMBOL].last_candle is None
        await live.venue.shutdown()  # before the core's first candle: the venue prices the close itself
        assert order.status == "CANCELED" and live.broker.pending == {}
        assert [e.client_order_id for e in live.of(OrderCancelled)] == ["la-e-000002"]
        assert not sim.ledger.accounts[KEY].positions  # flattened with a reduce-only market order
        (closed,) = live.of(PositionClosed)
        assert closed.exit_reason == "kill"
        assert live.exchange_orders()[-1].reduce_only
    finally:
        await live.stop()
