"""The live path against a venue on its worst day (issue 13): the simulator's hard switches on, real
loopback sockets, the journal on disk. Each test names the failure it pins down."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from laptop_agents.core.candle import Candle
from laptop_agents.core.clock import LiveClock
from laptop_agents.core.events import (
    Error,
    Fill,
    FundingApplied,
    OrderCancelled,
    OrderRejected,
    OrderState,
    PositionClosed,
    PositionOpened,
    Reconciled,
    Reconnected,
)
from laptop_agents.core.orders import EntryIntent
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.live.journal import JournalOrder
from laptop_agents.live.reconcile import HALT_RECONCILE
from laptop_agents.runs.run_folder import RunFolder
from tests.exchange.conftest import KEY, eventually
from tests.live.conftest import SYMBOL, LiveHarness, live_settings


def _journaled_sent(live: LiveHarness, cid: str = "la-e-000001", qty: float = 0.05) -> JournalOrder:
    """What a crash between the send and its answer leaves: INTENT and SENT in the journal, nothing more."""
    assert live.venue is not None
    order = JournalOrder(cid, SYMBOL, "BUY", "MARKET", qty, None, False, "entry", live.venue.clock.now_ms(),
                         meta={"stop": 1.0, "setup": "test"})  # fmt: skip
    live.venue.journal.intent(order)
    live.venue.journal.move(cid, "SENT", at_ms=order.created_ms)
    return order


# -- item 2: a SENT order is looked up after a restart, never sent again --------------------------------------


@pytest.mark.parametrize("dedupe", ["open", "window", "forever"])
async def test_a_sent_order_after_a_crash_is_looked_up_and_never_sent_again(live: LiveHarness, dedupe: str) -> None:
    live.sim.faults.update({"client_id_dedupe": dedupe, "client_id_dedupe_window_s": 0.0})
    order = _journaled_sent(live)
    assert live.venue is not None
    await live.venue.rest.place_order(
        symbol=SYMBOL, side="buy", qty="0.05", order_type="market", client_id=order.client_id
    )  # fmt: skip  (it reached the venue and filled)
    restarted = await live.restart()
    try:
        await restarted.settle()
        assert len(restarted.placements()) == 1  # only the send before the crash
        assert len(restarted.exchange_orders(order.client_id)) == 1
        assert live.sim.faults.counts.get("client_id_reused", 0) == 0
        assert [e.state for e in restarted.of(OrderState)][-1] == "FILLED"
        assert restarted.broker is not None and restarted.broker.position is not None
        assert restarted.broker.position.qty == pytest.approx(0.05)
        assert live.sim.ledger.accounts[KEY].positions[SYMBOL].qty == pytest.approx(0.05)
    finally:
        await restarted.stop()


async def test_a_sent_order_that_never_reached_the_venue_is_not_found_and_not_sent(live: LiveHarness) -> None:
    _journaled_sent(live)
    restarted = await live.restart()
    try:
        await restarted.settle()
        assert restarted.placements() == [] and restarted.exchange_orders() == []
        assert [e.state for e in restarted.of(OrderState)] == ["UNKNOWN", "NOT_FOUND"]
        assert restarted.of(OrderRejected)[-1].reason == "not_found"
        assert restarted.broker is not None and restarted.broker.position is None
    finally:
        await restarted.stop()


# -- item 6: NOT_FOUND on the monotonic clock and the venue's whole record; one failure blocks nothing ------


async def test_a_transient_not_found_answer_is_not_taken_for_a_missing_order(live: LiveHarness) -> None:
    """The venue's lookups answer 20007 for longer than the window after a lost ack; the order's execution
    is on the venue, and it decides. (Behaviour check: main booked the execution in time too.)"""
    live.sim.faults.update({"drop_order_response_next": 1, "not_found_for_s": 1.6})
    assert live.enter("la-e-000001", 0.05)
    await live.send_queued()
    await live.settle()
    assert live.sim.faults.counts.get("not_found_for_s", 0) >= 1
    states = [e.state for e in live.of(OrderState)]
    assert "NOT_FOUND" not in states and states[-1] == "FILLED"
    assert not live.of(OrderRejected)
    assert live.broker is not None and live.broker.position is not None
    assert live.broker.position.qty == pytest.approx(0.05)


class SteppedWallClock(LiveClock):
    """The real clocks, with the wall clock stepped by `step_ms` (an NTP correction, a laptop waking up)."""

    def __init__(self) -> None:
        self.step_ms = 0

    def now_ms(self) -> int:
        return super().now_ms() + self.step_ms


async def test_a_wall_clock_step_does_not_declare_a_resting_order_not_found(sim: SimExchange, tmp_path: Path) -> None:
    """A limit entry's ack is lost and the venue's index lags half a second; the wall clock steps an hour
    ahead meanwhile. On the wall clock the lookup window is over at once, and the resting order would be
    dropped while it rests on the venue; the window runs on the monotonic clock."""
    clock = SteppedWallClock()
    live = await LiveHarness(sim, RunFolder.create(tmp_path / "runs", "x"), live_settings(), clock=clock).start()
    try:
        sim.faults.update({"drop_order_response_next": 1, "not_found_for_s": 0.5})
        assert live.broker is not None
        price = round(sim.market.last_price(SYMBOL) * 0.9, 1)
        intent = EntryIntent(side="long", stop_distance=300.0, setup="test", reason="test", target_r=2.0,
                             entry_type="limit", limit_price=price)  # fmt: skip
        live.tick()
        assert live.broker.place_resting(ts=sim.market.now_ms(), client_order_id="la-e-000001", qty=0.05,
                                         intent=intent)  # fmt: skip
        await live.send_queued()
        clock.step_ms = 3_600_000
        await live.settle()
        states = [e.state for e in live.of(OrderState)]
        assert "NOT_FOUND" not in states and states[-1] == "ACKED", states
        assert [o.status for o in live.exchange_orders("la-e-000001")] == ["NEW"]
        assert "la-e-000001" in live.broker.pending  # the core still knows its resting entry
    finally:
        await live.stop()


async def test_a_wall_clock_step_does_not_empty_the_order_rate_window(sim: SimExchange, tmp_path: Path) -> None:
    """One order a minute allowed, used; then NTP steps the wall clock two minutes ahead. On the wall
    clock the window would be empty and a second order would go out seconds after the first; the window
    runs on the monotonic clock, so it is refused. Exits are never held back."""
    clock = SteppedWallClock()
    settings = live_settings(max_orders_per_minute=1)
    live = await LiveHarness(sim, RunFolder.create(tmp_path / "runs", "x"), settings, clock=clock).start()
    try:
        assert live.broker is not None and live.enter("la-e-000001", 0.01)
        await live.send_queued()
        await live.settle()
        clock.step_ms = 120_000
        assert not live.enter("la-e-000002", 0.01)
        assert live.of(OrderRejected)[-1].reason == "orders_per_minute"
        live.broker.close_market(ts=0, ref_price=0.0, reason="signal")
        await live.send_queued()
        await live.settle()
        assert live.broker.position is None  # the close went out although the window is full
    finally:
        await live.stop()


async def test_orders_from_before_a_restart_still_count_in_the_rate_window(live: LiveHarness) -> None:
    """The window is rebuilt from the journal's order times, placed on the new process's monotonic clock."""
    live.settings = live_settings(max_orders_per_minute=1)
    assert live.enter("la-e-000001", 0.01)
    await live.send_queued()
    await live.settle()
    restarted = await live.restart()
    try:
        assert not restarted.enter("la-e-000002", 0.01)
        assert restarted.of(OrderRejected)[-1].reason == "orders_per_minute"
    finally:
        await restarted.stop()


async def test_not_found_waits_while_the_venue_position_could_be_the_order(live: LiveHarness) -> None:
    """No lookup finds it and no execution shows it, but the venue holds a position the books do not:
    the order stays UNKNOWN (said once), and entries on the symbol wait."""
    order = _journaled_sent(live)
    account = live.sim.ledger.accounts[KEY]
    restarted = await live.restart()
    try:
        assert restarted.venue is not None
        await restarted.venue.rest.place_order(symbol=SYMBOL, side="buy", qty="0.05", order_type="market",
                                               client_id="by-hand")  # fmt: skip
        account.fills.clear()  # the venue's execution record lags (or lost it)
        await restarted.venue.executor.settle(2.0)
        assert restarted.venue.journal.orders[order.client_id].state == "UNKNOWN"
        errors = [e for e in restarted.of(Error) if order.client_id in e.message]
        assert len(errors) == 1 and "may explain it" in errors[0].message
        assert not restarted.enter("la-e-000002", 0.05)
        assert restarted.of(OrderRejected)[-1].reason == "order_in_flight"
    finally:
        await restarted.stop()


async def test_a_failing_lookup_does_not_keep_other_fills_from_being_booked(live: LiveHarness) -> None:
    live.sim.faults.drop_order_response_next = 1
    assert live.enter("la-e-000001", 0.05)
    await live.send_queued()
    assert [e.state for e in live.of(OrderState)] == ["SENT", "UNKNOWN"]
    live.sim.faults.order_detail_error_next = 1_000  # every lookup by client id fails
    assert live.venue is not None
    await live.venue.executor.sync()
    assert live.broker is not None and live.broker.position is not None  # booked from the executions
    assert live.broker.position.qty == pytest.approx(0.05)
    assert [e.state for e in live.of(OrderState)][-1] == "FILLED"


async def test_executions_are_read_page_after_page(sim: SimExchange, tmp_path: Path) -> None:
    """More than one page (100) of today's executions: the daily loss counts every one of them."""
    account = sim.ledger.accounts[KEY]
    now = sim.market.now_ms()
    for n in range(250):
        account.fills.append({
            "tradeId": f"t{n}", "orderId": f"o{n}", "clientId": "", "symbol": SYMBOL, "side": "SELL",
            "qty": 0.001, "price": 40_000.0, "fee": 0.1, "realizedPNL": -1.0, "roleType": "TAKER",
            "reduceOnly": True, "ctime": now - 1_000 + n,
        })  # fmt: skip
    live = await LiveHarness(sim, RunFolder.create(tmp_path / "runs", "x"), live_settings()).start()
    try:
        assert live.venue is not None
        assert live.venue.limits.day_pnl == pytest.approx(-250 * 1.1)
    finally:
        await live.stop()


# -- item 7: a reconnect halts entries until every symbol is reconciled again ----------------------------


async def test_a_reconnect_halts_entries_until_reconciled_again(live: LiveHarness) -> None:
    assert live.halts == {} and live.venue is not None
    live.venue._on_log_event(
        Reconnected(ts=0, symbol=SYMBOL, channel="public", attempt=1, downtime_ms=10, reason="test")
    )
    assert HALT_RECONCILE in live.halts and live.venue.reconciler.status == "pending"
    await live.venue.executor.sync()
    assert live.halts == {}
    assert live.venue.reconciler.status == "ok"


# -- item 10: reconciliation never runs concurrently with our own placement ------------------------------


async def test_reconciliation_never_adopts_our_own_entry_sent_while_it_read_positions(live: LiveHarness) -> None:
    """The positions read is slow (a rate-limit penalty, latency); the core places an entry meanwhile; the
    venue fills it before it answers the read. The read must not see an order of ours that the books
    do not hold yet."""
    assert live.venue is not None and live.broker is not None
    live.sim.faults.update({"slow_path": "/position/get_pending_positions", "slow_path_ms": 300})
    sync = asyncio.create_task(live.venue.executor.sync())
    await eventually(lambda: live.sim.faults.counts.get("slow_path", 0) >= 1, what="the slow positions read")
    assert live.enter("la-e-000001", 0.05)
    await live.send_queued()
    await sync
    live.sim.faults.slow_path = ""
    await live.settle()
    assert not [e for e in live.of(Reconciled) if e.action in ("adopted", "adjusted")]
    assert live.broker.position is not None and live.broker.position.setup != "external"
    assert live.broker.position.qty == pytest.approx(0.05)
    assert live.sim.ledger.accounts[KEY].positions[SYMBOL].qty == pytest.approx(0.05)
    assert len(live.of(PositionOpened)) == 1
    assert live.halts == {}


# -- item 1: no entry on an old candle --------------------------------------------------------------------


async def test_an_entry_decided_on_an_old_candle_is_refused_and_exits_still_go_out(live: LiveHarness) -> None:
    """After a restart or a backfill the core catches up on candles that closed long ago; an entry decided
    on one would be a market order now, sized and bracketed from that old close."""
    assert live.broker is not None
    live.tick()
    now = live.sim.market.now_ms()
    step = 60_000
    current = now - now % step
    old = current - 5 * step  # closed four minutes ago (the default limit: one interval)
    last = live.sim.market.last_price(SYMBOL)
    intent = EntryIntent(side="long", stop_distance=300.0, setup="t", reason="t", target_r=2.0)
    assert not live.broker.open_market(ts=old, client_order_id="la-e-000001", qty=0.05, ref_price=last,
                                       intent=intent)  # fmt: skip
    refused = live.of(OrderRejected)[-1]
    assert refused.reason == "stale_decision" and "closed" in refused.detail
    assert live.placements() == []
    # the candle that just closed is fresh: its entry goes out
    assert live.broker.open_market(ts=current - step, client_order_id="la-e-000002", qty=0.05, ref_price=last,
                                   intent=intent)  # fmt: skip
    await live.send_queued()
    await live.settle()
    assert live.broker.position is not None
    # an exit decided on an old candle is still carried out
    live.broker.close_market(ts=old, ref_price=last, reason="signal")
    await live.send_queued()
    await live.settle()
    assert live.broker.position is None and len(live.placements()) == 2


async def test_an_unsent_entry_found_after_a_restart_is_not_sent_on_an_old_candle(live: LiveHarness) -> None:
    assert live.venue is not None
    old = live.sim.market.now_ms() - 10 * 60_000
    order = JournalOrder("la-e-000001", SYMBOL, "BUY", "MARKET", 0.05, None, False, "entry",
                         live.venue.clock.now_ms(), meta={"stop": 1.0, "setup": "t", "decided_ts": old})  # fmt: skip
    live.venue.journal.intent(order)  # the crash came right after the intent: it never left the process
    restarted = await live.restart()
    try:
        await restarted.send_queued()
        await restarted.settle()
        assert restarted.placements() == []
        assert restarted.of(OrderRejected)[-1].reason == "stale_decision"
        assert restarted.venue is not None and restarted.venue.journal.orders[order.client_id].state == "REJECTED"
        assert restarted.halts == {}  # resolved: the symbol was reconciled and trades on
    finally:
        await restarted.stop()


# -- item 4: a malformed success is no clear answer -------------------------------------------------------


@pytest.mark.parametrize("kind", ["null", "list", "missing", "wrong_type", "empty_id"])
async def test_a_malformed_success_to_a_placement_is_unknown_then_found(live: LiveHarness, kind: str) -> None:
    """Code 0 with `data` null, a list, no `orderId`, the wrong types or an empty id: the order was placed,
    the answer says nothing readable. Not a crash, not ACKED with an empty id: UNKNOWN, then looked up."""
    live.sim.faults.update({"malformed_reply_next": 1, "malformed_reply_kind": kind})
    assert live.enter("la-e-000001", 0.05)
    await live.send_queued()
    assert [e.state for e in live.of(OrderState)] == ["SENT", "UNKNOWN"]
    await live.settle()
    assert live.sim.faults.counts["malformed_reply_next"] == 1
    assert len(live.placements()) == 1 and len(live.exchange_orders()) == 1
    assert live.venue is not None
    journaled = live.venue.journal.orders["la-e-000001"]
    assert journaled.state == "FILLED" and journaled.order_id  # the venue's id, learnt by the lookup
    assert live.broker is not None and live.broker.position is not None
    assert live.broker.position.qty == pytest.approx(0.05)


# -- item 11: signing follows the server's clock ----------------------------------------------------------


async def test_a_clock_that_drifts_after_the_preflight_does_not_stop_signed_calls(live: LiveHarness) -> None:
    """The server's clock runs 2 minutes ahead of ours after the preflight (the venue refuses timestamps
    more than 60 s off): signing with the measured offset keeps every signed call working."""
    live.sim.config.clock_offset_ms = 120_000.0
    assert live.enter("la-e-000001", 0.05)
    await live.send_queued()
    await live.settle()
    assert [e.state for e in live.of(OrderState)][-1] == "FILLED"
    assert live.halts == {}
    assert live.venue is not None and live.venue.rest.clock_offset_ms == pytest.approx(120_000, abs=1_500)


async def test_signed_calls_refused_after_a_re_measure_halt_entries_and_say_so(live: LiveHarness) -> None:
    """10007 even after re-measuring the clock (a revoked key, a secret changed): entries halt with one
    `Error where=signing`; a signed call that succeeds again lifts the halt."""
    account = live.sim.ledger.accounts[KEY]
    secret, account.secret = account.secret, "rotated"
    assert live.venue is not None
    await live.venue.executor.sync()
    assert "exchange_auth" in live.halts and "10007" in live.halts["exchange_auth"]
    (error,) = [e for e in live.of(Error) if e.where == "signing"]
    assert "entries halted" in error.message
    await live.venue.executor.sync()
    assert len([e for e in live.of(Error) if e.where == "signing"]) == 1  # said once
    account.secret = secret
    await live.venue.executor.sync()
    assert "exchange_auth" not in live.halts


# -- item 13: the venue's rate limits, with a margin, Retry-After and 418 --------------------------------


def test_the_default_limiter_stays_under_the_venues_10_per_second_in_any_second() -> None:
    """A restart's burst on top of the last process's calls tripped Bitunix's per-key limit (10/s): the
    default rate and burst allow at most 9 requests in any second."""
    from laptop_agents.base.rate_limiter import RateLimiter
    from laptop_agents.config.models import Settings

    clock = [0.0]

    async def sleep(seconds: float) -> None:
        clock[0] += seconds

    exchange = Settings().exchange
    limiter = RateLimiter(exchange.rate_limit_per_s, exchange.rate_limit_burst, monotonic=lambda: clock[0],
                          sleep=sleep)  # fmt: skip
    times = []

    async def run() -> None:
        for _ in range(60):
            await limiter.acquire()
            times.append(clock[0])

    asyncio.run(run())
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest <= 9


async def test_retry_after_is_waited_out_by_every_caller(live: LiveHarness) -> None:
    assert live.venue is not None
    rest = live.venue.rest
    live.sim.faults.update({"http_error_next": 1, "http_error_status": 429, "retry_after_s": 0.6})
    before = len(live.sim.requests)
    await rest.pending_positions(SYMBOL)  # 429 with Retry-After: 0.6, then the retry after the wait
    first, second = list(live.sim.requests)[before : before + 2]
    assert (first.http_status, second.http_status) == (429, 200)
    assert second.monotonic - first.monotonic >= 0.55


async def test_an_http_418_is_a_ban_entries_halt_and_nothing_is_sent_until_it_expires(live: LiveHarness) -> None:
    assert live.venue is not None
    live.sim.faults.update({"http_error_next": 1, "http_error_status": 418, "retry_after_s": 1.0})
    sync = asyncio.create_task(live.venue.executor.sync())
    await eventually(lambda: any(r.http_status == 418 for r in live.sim.requests), what="the 418")
    await asyncio.sleep(0.05)
    assert "exchange_ban" in live.halts and "418" in live.halts["exchange_ban"]
    (error,) = [e for e in live.of(Error) if e.where == "rate_limit"]
    assert "banned for 1 s" in error.message
    banned_at = next(r for r in live.sim.requests if r.http_status == 418).monotonic
    await sync  # the rest of the pass waits in the limiter: nothing is sent during the ban
    after = [r for r in live.sim.requests if r.monotonic > banned_at]
    assert after and min(r.monotonic for r in after) - banned_at >= 0.95
    assert "exchange_ban" not in live.halts  # a reply after the ban lifted it


# -- item 8: a trailing stop moves the exchange's stop ----------------------------------------------------


async def test_a_trailed_stop_moves_the_exchange_side_stop(live: LiveHarness) -> None:
    """The exchange kept the entry's initial stop while the daemon trailed its own and closed a candle
    late; paper fills the trail inside the candle. The exchange-side stop now moves with the trail."""
    assert live.broker is not None and live.venue is not None
    intent = EntryIntent(side="long", stop_distance=100.0, setup="t", reason="t", target_r=10.0,
                         trail_activation_r=0.5, trail_distance_r=1.0)  # fmt: skip
    assert live.enter("la-e-000001", 0.05, intent)
    await live.send_queued()
    await live.settle()
    position = live.broker.position
    assert position is not None and not position.stop_moved
    last = live.sim.market.last_price(SYMBOL)  # the close 0.6 R above the fill: the stop trails 1 R behind
    candle = Candle(live.sim.market.now_ms(), last, last + 80, last - 10, last + 70, 1.0)
    live.broker.update_trailing(candle)
    assert position.stop_moved and position.stop == pytest.approx(candle.close - position.r_distance)
    await live.send_queued()
    pending = await live.venue.rest._call("GET", "/tpsl/get_pending_orders", params={"symbol": SYMBOL}, signed=True)
    assert not live.of(Error)
    stops = [float(o["slPrice"]) for o in pending if o.get("slPrice")]
    assert stops == [pytest.approx(position.stop, abs=0.1)]  # the exchange holds the trailed stop now
    assert live.broker.exchange_stop == position.stop
    # the exchange closes inside the candle: the daemon sends no market close of its own for this candle
    placed = len(live.placements())
    below = Candle(candle.ts + 60_000, position.stop + 50, position.stop + 60, position.stop - 100, position.stop, 1.0)
    live.broker.on_candle_open(below)
    await live.send_queued()
    assert len(live.placements()) == placed


# -- item 6: funding is booked from the exchange's records ------------------------------------------------


async def test_funding_the_exchange_settles_is_booked_once_and_counts_toward_the_daily_loss(
    live: LiveHarness,
) -> None:
    assert live.broker is not None and live.venue is not None
    assert live.enter("la-e-000001", 0.05)
    await live.send_queued()
    await live.settle()
    cash, day = live.broker.cash, live.venue.limits.day_pnl
    account = live.sim.ledger.accounts[KEY]
    venue_position = account.positions[SYMBOL]
    venue_position.funding += 3.25  # a funding time passed: the exchange took 3.25 USDT from the balance
    account.balance -= 3.25
    await live.venue.executor.sync()
    await live.venue.executor.sync()  # read again: nothing booked twice
    (funding,) = live.of(FundingApplied)
    assert funding.amount == pytest.approx(3.25) and funding.qty == pytest.approx(0.05)
    assert live.broker.cash == pytest.approx(cash - 3.25)
    assert live.venue.limits.day_pnl == pytest.approx(day - 3.25)
    assert live.broker.position is not None and live.broker.position.funding == pytest.approx(3.25)
    restarted = await live.restart()  # replayed from the journal: the same books, no new event
    try:
        assert restarted.broker is not None and restarted.broker.cash == pytest.approx(cash - 3.25)
        assert restarted.of(FundingApplied) == []
    finally:
        await restarted.stop()


# -- the venue's other bad days: partial fills, a fill heard before the ack, a cancel too late -----------------


async def _advance_and_sync(live: LiveHarness, pushes: int) -> None:
    assert live.venue is not None
    for _ in range(pushes):
        await live.sim.hub.advance(1)
        await live.venue.executor.sync()


async def test_an_entry_and_its_close_filling_in_parts_are_booked_once_each(live: LiveHarness) -> None:
    """Each part is an execution of its own: the books add them up to one position and one closed trade,
    at the venue's average prices; nothing is reconciled away or adopted while an order is part-filled."""
    live.sim.faults.update({"partial_fill_parts": 3})
    assert live.venue is not None and live.broker is not None and live.enter("la-e-000001", 0.03)
    await live.send_queued()
    await live.venue.executor.sync()
    assert live.broker.position is not None and live.broker.position.qty == pytest.approx(0.01)  # part 1 of 3
    assert [o.client_id for o in live.broker.open_orders()] == ["la-e-000001"]  # PARTIAL: still open
    await _advance_and_sync(live, 2)
    venue = live.sim.ledger.accounts[KEY].positions[SYMBOL]
    assert live.broker.position.qty == pytest.approx(0.03) and live.broker.position.entry_price == pytest.approx(
        venue.entry
    )
    assert live.venue.journal.orders["la-e-000001"].state == "FILLED"
    live.broker.close_market(ts=0, ref_price=0.0, reason="signal")
    await live.send_queued()
    await _advance_and_sync(live, 3)
    await live.settle()
    assert len(live.of(PositionOpened)) == 1
    (closed,) = live.of(PositionClosed)
    exits = [f for f in live.sim.ledger.accounts[KEY].fills if f["reduceOnly"]]
    assert len(exits) == 3 and closed.qty == pytest.approx(0.03)
    assert closed.exit_price == pytest.approx(sum(f["qty"] * f["price"] for f in exits) / 0.03)
    assert (
        len(live.of(Fill)) == 6
        and live.broker.position is None
        and SYMBOL not in live.sim.ledger.accounts[KEY].positions
    )
    assert [e.action for e in live.of(Reconciled) if e.action != "matched"] == []


async def test_a_fill_pushed_before_the_placement_is_answered_is_booked_once(sim: SimExchange, tmp_path: Path) -> None:
    """The private socket tells of the fill half a second before the REST answer brings the order id: the
    fill is booked from the executions while the order is SENT, once, and the late answer changes nothing."""
    sim.faults.update({"fill_before_ack_next": 1, "fill_before_ack_ms": 500})
    settings = live_settings(stream_poll_interval_s=30.0, poll_interval_s=30.0)
    live = await LiveHarness(sim, RunFolder.create(tmp_path / "runs", "x"), settings,
                             private_url=sim.ws_private_url).start()  # fmt: skip
    assert live.venue is not None and live.broker is not None
    async with live.running():
        assert live.enter("la-e-000001", 0.05)
        await eventually(lambda: live.broker.position is not None, what="the fill booked")  # type: ignore[union-attr]
        order = live.venue.journal.orders["la-e-000001"]
        assert order.state == "FILLED" and sim.faults.counts["fill_before_ack_next"] == 1
        assert live.placements() == []  # booked before the venue answered (it records a request once answered)
        await eventually(lambda: len(live.placements()) == 1, what="the late answer")
        await asyncio.sleep(0.2)
        assert order.state == "FILLED" and order.order_id == live.exchange_orders("la-e-000001")[0].order_id
        assert len(live.of(Fill)) == 1 and len(live.of(PositionOpened)) == 1
        assert live.broker.position.qty == pytest.approx(0.05)  # type: ignore[union-attr]


async def test_a_cancel_that_comes_after_the_fill_books_the_position_with_its_stop(live: LiveHarness) -> None:
    """A resting entry fills on the venue before the daemon has heard; then the strategy cancels it. The
    venue refuses (20007: nothing open to cancel); the next sync finds it FILLED and books the position,
    with its stop, and nothing calls it cancelled."""
    assert live.venue is not None and live.broker is not None
    last = live.sim.market.last_price(SYMBOL)
    price = round(last * 0.9995, 1)
    intent = EntryIntent(side="long", stop_distance=300.0, setup="test", reason="test", target_r=2.0,
                         entry_type="limit", limit_price=price)  # fmt: skip
    live.tick()
    assert live.broker.place_resting(ts=live.sim.market.now_ms(), client_order_id="la-e-000001", qty=0.05,
                                     intent=intent)  # fmt: skip
    await live.send_queued()
    await live.venue.executor.sync()
    (venue_order,) = live.exchange_orders("la-e-000001")
    for _ in range(400):  # the market trades through the limit; the daemon does not sync meanwhile
        if venue_order.status == "FILLED":
            break
        await live.sim.hub.advance(1)
    assert venue_order.status == "FILLED", "the market never reached the limit"
    assert live.broker.cancel(ts=live.sim.market.now_ms(), client_order_id="la-e-000001", reason="signal")
    await live.send_queued()
    assert [r for r in live.sim.requests if r.path.endswith("/trade/cancel_orders")]
    await live.settle()
    order = live.venue.journal.orders["la-e-000001"]
    assert order.state == "FILLED" and live.of(OrderCancelled) == []
    position = live.broker.position
    assert position is not None and position.qty == pytest.approx(0.05)
    assert position.stop == pytest.approx(position.entry_price - 300.0, abs=1.0)
    assert live.sim.ledger.accounts[KEY].tpsl.pending  # the venue's stop rests under it


async def test_an_entry_queued_before_the_kill_switch_is_not_sent(live: LiveHarness) -> None:
    """Review finding: a resumed run re-queued its unsent entry intents and sent them although its KILL
    was set (only the decision's age was checked before the send)."""
    assert live.venue is not None
    live.venue.halts.setdefault(SYMBOL, {})["kill_switch"] = "kill switch (cli, by test)"
    assert live.enter("la-e-000001", 0.01)  # decided before the switch: in the journal, queued
    await live.send_queued()
    assert live.placements() == []
    assert live.venue.journal.orders["la-e-000001"].state == "REJECTED"
    assert live.of(OrderRejected)[-1].reason == "kill_switch"


async def test_a_fill_pushed_then_the_answer_lost_is_booked_and_the_orders_task_survives(
    sim: SimExchange, tmp_path: Path
) -> None:
    """Found by the 1,000-kill matrix: the fill was booked (FILLED) from its push while the send waited,
    then the connection was cut before the answer; the send's "no clear answer" moved the order
    FILLED → UNKNOWN, an illegal transition that ended the orders task (and the session)."""
    sim.faults.update({"fill_before_ack_next": 1, "fill_before_ack_ms": 500, "drop_order_response_next": 1})
    settings = live_settings(stream_poll_interval_s=30.0, poll_interval_s=30.0)
    live = await LiveHarness(sim, RunFolder.create(tmp_path / "runs", "x"), settings,
                             private_url=sim.ws_private_url).start()  # fmt: skip
    assert live.venue is not None and live.broker is not None
    async with live.running() as tasks:
        assert live.enter("la-e-000001", 0.05)
        await eventually(lambda: sim.faults.counts.get("drop_order_response_next", 0) == 1, what="the lost answer")
        await asyncio.sleep(0.3)
        assert not [t for t in tasks if t.done()], [t.exception() for t in tasks if t.done()]  # all alive
        assert live.venue.journal.orders["la-e-000001"].state == "FILLED"
        assert len(live.of(Fill)) == 1 and live.broker.position is not None
