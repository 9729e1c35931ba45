"""The fill, exit, sizing and breaker rules of the issue, pinned with small hand-computed candle sequences.

Defaults: start 10,000 USDT, risk 1 %, max leverage 5, lot 0.001, min notional 5, half spread 5 bps,
slippage 1 bp, taker fee 6 bps, maker fee 2 bps. Entries here come from a scripted strategy so the
numbers are exact; every test's event sink checks the accounting identity after every event.
"""

from __future__ import annotations

import pytest

from laptop_agents.core.events import (
    CircuitBreakerReset,
    CircuitBreakerTripped,
    Fill,
    FundingApplied,
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
    PositionClosed,
    PositionOpened,
    StopMoved,
)
from laptop_agents.core.orders import CancelIntent, CloseIntent, EntryIntent
from tests.helpers import ScriptedStrategy, candle, make_core, run_candles, settings

COST = (5 + 1) / 1e4  # half spread + slippage
SLIP = 1 / 1e4
TAKER = 6 / 1e4
MAKER = 2 / 1e4
LONG = EntryIntent(side="long", stop_distance=2.0, target_r=2.0, setup="test", reason="scripted")
SHORT = EntryIntent(side="short", stop_distance=2.0, target_r=2.0, setup="test", reason="scripted")


def _one(rec: object, cls: type) -> object:  # type: ignore[type-arg]
    found = rec.of(cls)  # type: ignore[attr-defined]
    assert len(found) == 1, f"expected one {cls.__name__}, got {found}"
    return found[0]


def test_long_market_entry_fill_size_stop_and_target() -> None:
    """Long at close 100: fill 100 × (1 + 6 bps); qty = 10,000 × 1 % / 2; stop and target from the fill."""
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [LONG]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100)], finish=False)
    opened = _one(rec, PositionOpened)
    fill = 100 * (1 + COST)
    assert opened.entry_price == pytest.approx(fill, rel=1e-15)
    assert opened.qty == 50.0
    assert opened.stop_price == pytest.approx(fill - 2.0)
    assert opened.target_price == pytest.approx(fill + 4.0)
    entry_fill = _one(rec, Fill)
    assert entry_fill.fee == pytest.approx(50 * fill * TAKER)
    assert entry_fill.liquidity == "taker"
    assert core.broker.cash == pytest.approx(10_000 - 50 * fill * TAKER)


def test_gap_through_stop_exits_at_the_open_with_slippage() -> None:
    """The next candle opens below the stop: the long exits at that open × (1 − 1 bp), taker fee."""
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [LONG]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 97, 97.5, 96, 96.5)])
    closed = _one(rec, PositionClosed)
    entry = 100 * (1 + COST)
    exit_price = 97 * (1 - SLIP)
    assert closed.exit_reason == "stop"
    assert closed.exit_price == pytest.approx(exit_price, rel=1e-15)
    assert closed.pnl == pytest.approx(50 * (exit_price - entry))
    assert closed.fees == pytest.approx(50 * entry * TAKER + 50 * exit_price * TAKER)
    assert closed.net_pnl == pytest.approx(closed.pnl - closed.fees)
    assert closed.entry_ts == candle(0, 1, 1, 1, 1).ts and closed.ts == candle(1, 1, 1, 1, 1).ts


def test_stop_inside_the_candle_fills_at_the_stop_with_slippage() -> None:
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [LONG]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 99.5, 99.8, 97.5, 99)])
    closed = _one(rec, PositionClosed)
    stop = 100 * (1 + COST) - 2.0
    assert (closed.exit_reason, closed.exit_price) == ("stop", pytest.approx(stop * (1 - SLIP)))


def test_stop_and_target_in_one_candle_takes_the_stop() -> None:
    """The candle reaches both the target (104.06) and the stop (98.06): the stop wins."""
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [LONG]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 100, 105, 97, 101)])
    closed = _one(rec, PositionClosed)
    assert closed.exit_reason == "stop"
    assert closed.exit_price == pytest.approx((100 * (1 + COST) - 2.0) * (1 - SLIP))


def test_target_fills_at_its_price_with_the_maker_fee() -> None:
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [LONG]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 101, 104.5, 100.5, 102)])
    closed = _one(rec, PositionClosed)
    entry = 100 * (1 + COST)
    target = entry + 4.0
    assert (closed.exit_reason, closed.exit_price) == ("target", pytest.approx(target))
    assert closed.fees == pytest.approx(50 * entry * TAKER + 50 * target * MAKER)


def test_target_gapped_over_fills_at_the_better_open() -> None:
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [LONG]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 105, 106, 104.5, 105.5)])
    closed = _one(rec, PositionClosed)
    assert (closed.exit_reason, closed.exit_price) == ("target", 105)


def test_exits_are_checked_from_the_next_candle_only() -> None:
    """The decision candle's own low is below the stop, but the entry happened at its close."""
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [LONG]}))
    run_candles(core, [candle(0, 100, 100.5, 90, 100)], finish=False)
    assert rec.of(PositionClosed) == []
    assert core.broker.position is not None


def test_short_mirrors_the_long_rules() -> None:
    """Short at 100 sells at 100 × (1 − 6 bps); a gap above the stop exits at open × (1 + 1 bp)."""
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [SHORT]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 103, 103.5, 102.5, 103)])
    opened = _one(rec, PositionOpened)
    entry = 100 * (1 - COST)
    assert opened.entry_price == pytest.approx(entry)
    assert opened.stop_price == pytest.approx(entry + 2.0)
    assert opened.target_price == pytest.approx(entry - 4.0)
    closed = _one(rec, PositionClosed)
    assert closed.exit_reason == "stop"
    assert closed.exit_price == pytest.approx(103 * (1 + SLIP))
    assert closed.pnl == pytest.approx(50 * (entry - 103 * (1 + SLIP)))


def test_short_target_fills_at_the_target() -> None:
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [SHORT]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 99, 99.5, 95, 96)])
    closed = _one(rec, PositionClosed)
    assert (closed.exit_reason, closed.exit_price) == ("target", pytest.approx(100 * (1 - COST) - 4.0))


def test_size_is_capped_by_leverage_and_floored_to_the_lot() -> None:
    """A tiny stop asks for 10,000 units; 5× leverage caps it at 10,000 × 5 / 100.06 = 499.70…, floored."""
    tight = EntryIntent(side="long", stop_distance=0.01, target_r=2.0, setup="t", reason="r")
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [tight]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100)], finish=False)
    assert _one(rec, PositionOpened).qty == 499.7


def test_min_notional_skip_is_an_order_rejected_event() -> None:
    core, rec, _ = make_core(settings("risk.min_notional=10000"), ScriptedStrategy({0: [LONG]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100)], finish=False)
    rejected = _one(rec, OrderRejected)
    assert rejected.reason == "min_notional"
    assert rejected.client_order_id is None
    assert rec.of(Fill) == [] and core.broker.position is None
    assert core.ids.next_n == 1  # no client order id was spent


def test_reversal_closes_then_enters_the_other_way_at_the_same_close() -> None:
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [LONG], 1: [CloseIntent("signal"), SHORT]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 100, 100.8, 99.6, 100.5)], finish=False)
    closed = _one(rec, PositionClosed)
    assert closed.exit_reason == "signal"
    assert closed.exit_price == pytest.approx(100.5 * (1 - COST))
    opened = rec.of(PositionOpened)
    assert [p.side for p in opened] == ["long", "short"]
    assert opened[1].entry_price == pytest.approx(100.5 * (1 - COST))
    # the short is sized from the cash after the long's exit
    cash_after_exit = 10_000 + closed.net_pnl
    assert opened[1].qty == round(int(cash_after_exit * 0.01 / 2.0 / 0.001 + 1e-9) * 0.001, 3)


def test_trailing_stop_ratchets_only_in_favour_and_exits_as_trail() -> None:
    """Activation 1 R, distance 1 R (R = 2): the stop moves to 100.5, then 102, never back; exit 'trail'."""
    trail = EntryIntent(
        side="long",
        stop_distance=2.0,
        target_r=2.0,
        setup="t",
        reason="r",
        trail_activation_r=1.0,
        trail_distance_r=1.0,
    )
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [trail]}))
    candles = [
        candle(0, 100, 100.5, 99.5, 100),
        candle(1, 100, 101.2, 99.9, 101),  # +0.94 < 1 R: no move
        candle(2, 101, 102.6, 100.9, 102.5),  # +2.44 ≥ 1 R: stop → 102.5 − 2 = 100.5
        candle(3, 102.5, 102.8, 101.5, 102),  # best close still 102.5: no move
        candle(4, 102, 104.05, 101.8, 104),  # stop → 104 − 2 = 102
        candle(5, 104, 104.05, 102.5, 103),  # lower close: the stop never moves back
        candle(6, 103, 103.2, 101.5, 101.8),  # low 101.5 ≤ 102: out at 102 × (1 − 1 bp)
    ]
    run_candles(core, candles)
    moves = rec.of(StopMoved)
    r = 2.0
    assert [m.ts for m in moves] == [candles[2].ts, candles[4].ts]
    assert moves[0].old_stop == pytest.approx(100 * (1 + COST) - 2.0)
    assert moves[0].new_stop == pytest.approx(102.5 - r)
    assert moves[1].new_stop == pytest.approx(104 - r)
    closed = _one(rec, PositionClosed)
    assert closed.exit_reason == "trail"
    assert closed.exit_price == pytest.approx((104 - r) * (1 - SLIP))


def test_breaker_trips_on_consecutive_losses_and_blocks_the_next_entry() -> None:
    s = settings("circuit_breaker.max_consecutive_losses=2")
    core, rec, _ = make_core(s, ScriptedStrategy({0: [LONG], 2: [LONG], 4: [LONG]}))
    losing = [candle(0, 100, 100.5, 99.5, 100), candle(1, 99, 99.2, 97, 98)]
    run_candles(
        core,
        [*losing, candle(2, 100, 100.5, 99.5, 100), candle(3, 99, 99.2, 97, 98), candle(4, 100, 100.5, 99.5, 100)],
        finish=False,
    )
    trip = _one(rec, CircuitBreakerTripped)
    assert (trip.reason, trip.consecutive_losses, trip.max_consecutive_losses) == ("consecutive_losses", 2, 2)
    assert len(rec.of(PositionClosed)) == 2
    assert _one(rec, OrderRejected).reason == "circuit_breaker"
    assert core.broker.position is None


def test_tripped_breaker_still_lets_exits_happen() -> None:
    """A drawdown trip with a position open: no new entry, but the stop still closes the position."""
    s = settings("circuit_breaker.max_drawdown_pct=0.5")
    core, rec, _ = make_core(s, ScriptedStrategy({0: [LONG], 3: [LONG]}))
    run_candles(
        core,
        [
            candle(0, 100, 100.5, 99.5, 100),
            candle(1, 100, 100.2, 98.5, 98.6),  # marked drawdown ≈ 0.76 % ≥ 0.5 %: trip at this close
            candle(2, 98.6, 98.7, 97.5, 97.8),  # stop 98.06 hit: the exit is processed
            candle(3, 98, 98.5, 97.9, 98.2),  # the scripted entry is refused
        ],
        finish=False,
    )
    trip = _one(rec, CircuitBreakerTripped)
    assert trip.reason == "max_drawdown" and trip.drawdown_pct >= 0.5
    assert _one(rec, PositionClosed).exit_reason == "stop"
    assert _one(rec, OrderRejected).reason == "circuit_breaker"


def test_breaker_resets_after_the_configured_bars() -> None:
    s = settings("circuit_breaker.max_consecutive_losses=1", "circuit_breaker.reset_after_bars=2")
    core, rec, _ = make_core(s, ScriptedStrategy({0: [LONG], 4: [LONG]}))
    run_candles(
        core,
        [
            candle(0, 100, 100.5, 99.5, 100),
            candle(1, 99, 99.2, 97, 98),
            candle(2, 98, 98.5, 97.5, 98),
            candle(3, 98, 98.5, 97.5, 98),
            candle(4, 98, 98.5, 97.5, 98),
        ],
        finish=False,
    )
    assert len(rec.of(CircuitBreakerTripped)) == 1
    reset = _one(rec, CircuitBreakerReset)
    assert reset.after_bars == 2 and reset.ts == candle(2, 1, 1, 1, 1).ts
    assert len(rec.of(PositionOpened)) == 2  # the entry at candle 4 was allowed again


def test_position_open_at_the_end_is_closed_at_the_last_close() -> None:
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [LONG]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 100, 101, 99.5, 100.8)])
    closed = _one(rec, PositionClosed)
    assert closed.exit_reason == "end"
    assert closed.exit_price == pytest.approx(100.8 * (1 - COST))
    assert closed.ts == candle(1, 1, 1, 1, 1).ts
    assert core.broker.cash == pytest.approx(10_000 + closed.net_pnl)


@pytest.mark.parametrize(("side", "sign"), [("long", 1.0), ("short", -1.0)])
def test_funding_longs_pay_a_positive_rate_shorts_receive(side: str, sign: float) -> None:
    """Hourly candles from 00:00; a position open at 08:00 pays qty × open × rate (long) or receives it."""
    hour = 3_600_000
    intent = LONG if side == "long" else SHORT
    core, rec, _ = make_core(settings("broker.funding_rate=0.0001"), ScriptedStrategy({0: [intent]}))
    run_candles(core, [candle(i, 100, 100.5, 99.5, 100, step=hour) for i in range(10)], finish=False)
    applied = _one(rec, FundingApplied)
    assert applied.ts == candle(8, 1, 1, 1, 1, step=hour).ts
    assert applied.amount == pytest.approx(sign * 50 * 100 * 0.0001)
    fee = _one(rec, Fill).fee
    assert core.broker.cash == pytest.approx(10_000 - fee - applied.amount)
    assert core.broker.funding_paid == pytest.approx(applied.amount)


def test_same_client_order_id_is_filled_once() -> None:
    """The paper broker ignores a repeated client order id: one order, one fill."""
    core, rec, _ = make_core(settings())
    broker = core.broker
    assert broker.open_market(ts=0, client_order_id="la-000001", qty=1.0, ref_price=100.0, intent=LONG)
    broker.close_market(ts=1, ref_price=100.0, reason="signal")
    assert not broker.open_market(ts=2, client_order_id="la-000001", qty=1.0, ref_price=100.0, intent=LONG)
    assert len(rec.of(PositionOpened)) == 1 and broker.position is None


def test_limit_entry_fills_when_price_trades_through_it() -> None:
    """Limit buy at 99 rests; the next candle trades down to 98.5 and fills it at 99 with the maker fee."""
    limit = EntryIntent(
        side="long", entry_type="limit", limit_price=99.0, stop_distance=2.0, target_r=2.0, setup="t", reason="r"
    )
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [limit]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 100, 100.2, 98.5, 99.5)], finish=False)
    fill = _one(rec, Fill)
    assert (fill.price, fill.liquidity) == (99.0, "maker")
    assert fill.fee == pytest.approx(50 * 99.0 * MAKER)
    assert _one(rec, PositionOpened).stop_price == 97.0


@pytest.mark.parametrize(("side", "limit_price"), [("long", 101.0), ("short", 99.0)])
def test_a_limit_entry_marketable_when_placed_fills_at_once_as_a_taker(side: str, limit_price: float) -> None:
    """Issue 15: only a resting limit that fills as a maker pays the maker fee. A long limit at 101 with the
    close at 100 crosses the ask: on the venue it takes liquidity at once, at the market price."""
    limit = EntryIntent(side=side, entry_type="limit", limit_price=limit_price, stop_distance=2.0, setup="t",
                        reason="r")  # type: ignore[arg-type]  # fmt: skip
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [limit]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100)], finish=False)
    fill = _one(rec, Fill)
    assert fill.ts == candle(0, 100, 100.5, 99.5, 100).ts and fill.liquidity == "taker"
    assert fill.price == pytest.approx(100 * (1 + COST) if side == "long" else 100 * (1 - COST))
    assert fill.fee == pytest.approx(fill.qty * fill.price * TAKER)
    assert core.broker.pending == {}


def test_limit_fill_candle_is_checked_against_the_stop_only() -> None:
    """The fill candle also reaches the stop: the conservative reading stops it out in the same candle."""
    limit = EntryIntent(
        side="long", entry_type="limit", limit_price=99.0, stop_distance=2.0, target_r=2.0, setup="t", reason="r"
    )
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [limit]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 98, 103, 95.5, 100)], finish=False)
    assert _one(rec, PositionOpened).entry_price == 98  # opened at the better open
    closed = _one(rec, PositionClosed)
    assert closed.exit_reason == "stop"
    assert closed.exit_price == pytest.approx(96 * (1 - SLIP))


def test_cancel_removes_a_resting_limit() -> None:
    limit = EntryIntent(side="short", entry_type="limit", limit_price=101.0, stop_distance=2.0, setup="t", reason="r")
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [limit]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100)], finish=False)
    cid = next(iter(core.broker.pending))
    assert core.broker.cancel(ts=1, client_order_id=cid, reason="pending_trigger_expired")
    assert not core.broker.cancel(ts=1, client_order_id=cid, reason="again")
    run_candles(core, [candle(1, 100, 102, 99.5, 101)], finish=False)
    assert rec.of(Fill) == []


def test_halted_core_refuses_entries_with_the_halt_reason() -> None:
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [LONG]}))
    core.halts["data_stale"] = "no candle for 180 s"
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100)], finish=False)
    assert (_one(rec, OrderRejected).reason, core.broker.position) == ("data_stale", None)


def test_funding_times_skipped_by_a_data_gap_are_each_charged() -> None:
    """Candles at 00:00 and then 17:00: the 08:00 and 16:00 funding times both fall in the gap."""
    hour = 3_600_000
    core, rec, _ = make_core(settings("broker.funding_rate=0.0001"), ScriptedStrategy({0: [LONG]}))
    run_candles(
        core, [candle(0, 100, 100.5, 99.5, 100, step=hour), candle(17, 100, 100.5, 99.5, 100, step=hour)], finish=False
    )
    applied = rec.of(FundingApplied)
    assert len(applied) == 2
    assert all(a.ts == candle(17, 1, 1, 1, 1, step=hour).ts for a in applied)
    assert core.broker.funding_paid == pytest.approx(2 * 50 * 100 * 0.0001)


def test_trigger_entry_fills_when_price_breaks_through_it() -> None:
    """A buy trigger at 101 rests; a candle that only reaches 100.9 leaves it; one that trades to 101.5
    fills it at 101 plus slippage, with the taker fee; one that opens above it fills at the worse open."""
    trigger = EntryIntent(
        side="long", entry_type="trigger", trigger_price=101.0, stop_distance=2.0, target_r=2.0, setup="t", reason="r"
    )
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [trigger]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 100, 100.9, 99.8, 100.5)], finish=False)
    assert not rec.of(Fill) and core.broker.pending
    assert rec.of(OrderPlaced)[0].order_type == "stop"
    core.on_candle(candle(2, 100.5, 101.5, 100.4, 101.2))
    fill = _one(rec, Fill)
    assert fill.price == pytest.approx(101.0 * (1 + SLIP)) and fill.liquidity == "taker"
    assert fill.fee == pytest.approx(fill.qty * fill.price * TAKER)
    gap, rec2, _ = make_core(settings(), ScriptedStrategy({0: [trigger]}))
    run_candles(gap, [candle(0, 100, 100.5, 99.5, 100), candle(1, 102, 102.5, 101.8, 102)], finish=False)
    assert _one(rec2, Fill).price == pytest.approx(102.0 * (1 + SLIP))


def test_short_trigger_waits_for_the_break_down() -> None:
    trigger = EntryIntent(
        side="short", entry_type="trigger", trigger_price=99.0, stop_distance=2.0, setup="t", reason="r"
    )
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [trigger]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 100, 100.2, 99.1, 99.5)], finish=False)
    assert not rec.of(Fill)
    core.on_candle(candle(2, 99.5, 99.6, 98.0, 98.5))
    assert _one(rec, Fill).price == pytest.approx(99.0 * (1 - SLIP))
    with pytest.raises(ValueError, match="trigger_price"):
        EntryIntent(side="short", entry_type="trigger", stop_distance=2.0, setup="t", reason="r")


def test_cancel_intent_cancels_resting_entries() -> None:
    limit = EntryIntent(side="short", entry_type="limit", limit_price=101.0, stop_distance=2.0, setup="t", reason="r")
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [limit], 1: [CancelIntent(reason="mine")]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 100, 100.5, 99.5, 100)], finish=False)
    assert [(e.reason) for e in rec.of(OrderCancelled)] == ["mine"] and not core.broker.pending


def test_max_notional_caps_the_size() -> None:
    core, rec, _ = make_core(settings("risk.max_notional=1000"), ScriptedStrategy({0: [LONG]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100)], finish=False)
    assert _one(rec, Fill).qty * 100.0 <= 1000 * (1 + 1e-9)
