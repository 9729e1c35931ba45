"""What the breaker prevented: its refused entries taken on paper, out of sight of the account (issue 18).

Costs are zero here so every figure is a hand computation: 10,000 USDT, risk 1 %, stop distance 2, so a
size of cash × 1 % / 2 (in lots of 0.001) and a 2 R target 4 above the entry. The paper account starts at
the real cash when the breaker trips and compounds its own trades.
"""

from __future__ import annotations

import orjson
import pytest

from laptop_agents.core.events import OrderRejected, PositionClosed, PositionOpened
from laptop_agents.core.orders import EntryIntent
from laptop_agents.engine.portfolio import Portfolio
from laptop_agents.engine.snapshot import core_snapshot, restore_core
from laptop_agents.engine.trading_core import TradingCore
from tests.helpers import ScriptedStrategy, candle, make_core, run_candles, settings

LONG = EntryIntent(side="long", stop_distance=2.0, target_r=2.0, setup="test", reason="scripted")
FREE = ("broker.half_spread_bps=0", "broker.slippage_bps=0", "broker.taker_fee_bps=0", "broker.maker_fee_bps=0")
FLAT = (100, 100.5, 99.5, 100)


def _script() -> ScriptedStrategy:
    return ScriptedStrategy({0: [LONG], 2: [LONG], 4: [LONG], 6: [LONG], 7: [LONG]})


CANDLES = [
    candle(0, *FLAT),  # entry at 100, 50 BTC-units: 10,000 × 1 % / 2
    candle(1, 99, 99.5, 97, 97.5),  # stop at 98: -100, the breaker trips (one loss allowed)
    candle(2, *FLAT),  # refused; the paper account starts at 9,900: 9,900 × 1 % / 2 = 49.5 at 100
    candle(3, 101, 105, 100.5, 104.5),  # paper target at 104: +198, paper cash 10,098
    candle(4, *FLAT),  # refused; on paper at 100, 10,098 × 1 % / 2 = 50.49
    candle(5, 99, 99.5, 97, 97.5),  # paper stop at 98: -100.98, paper cash 9,997.02
    candle(6, *FLAT),  # refused; on paper at 100, 9,997.02 × 1 % / 2 = 49.985 (lots of 0.001)
    candle(7, 100, 101.5, 99.5, 101),  # refused while the paper position is open (overlapped); marked at 101
]


def _core() -> tuple[TradingCore, list[object]]:
    core, rec, _ = make_core(settings("circuit_breaker.max_consecutive_losses=1", *FREE), _script())
    return core, rec.events  # type: ignore[attr-defined]


def test_the_refused_entries_are_taken_on_paper_by_their_own_brackets_and_tallied_by_hand() -> None:
    core, events = _core()
    run_candles(core, CANDLES, finish=False)
    assert [e.reason for e in events if isinstance(e, OrderRejected)] == ["circuit_breaker"] * 4
    tally = Portfolio.of(core).prevented()
    assert tally is not None
    assert (tally.trades, tally.wins, tally.overlapped, tally.open_positions) == (2, 1, 1, 1)
    assert tally.net_pnl == pytest.approx(49.5 * 4 - 50.49 * 2)
    assert tally.fees == 0.0
    assert tally.open_pnl == pytest.approx(49.985 * 1)  # 100 → 101
    assert tally.lowest == pytest.approx(9_997.02)
    assert "2 trades (1 won, 1 lost) would have made +97.02 USDT" in tally.line()
    # nothing of it reached the account, the trades or the event log
    assert core.broker.cash == pytest.approx(9_900.0) and core.trades == 1 and core.broker.position is None
    assert len([e for e in events if isinstance(e, PositionOpened)]) == 1
    assert len([e for e in events if isinstance(e, PositionClosed)]) == 1


def test_a_restart_from_the_checkpoint_keeps_the_tally_and_the_open_paper_position() -> None:
    straight, _ = _core()
    run_candles(straight, CANDLES, finish=False)
    first, _ = _core()
    run_candles(first, CANDLES[:7], finish=False)  # the paper position of candle 6 is open here
    saved = orjson.loads(orjson.dumps(core_snapshot(first)))
    resumed, _ = _core()
    restore_core(resumed, saved)
    resumed.strategy.n = first.strategy.n  # type: ignore[attr-defined]  # the script's position, not state
    run_candles(resumed, CANDLES[7:], finish=False)
    assert Portfolio.of(resumed).prevented() == Portfolio.of(straight).prevented()


def test_an_older_checkpoint_without_a_shadow_restores_and_counts_from_there() -> None:
    first, _ = _core()
    run_candles(first, CANDLES[:4], finish=False)
    saved = orjson.loads(orjson.dumps(core_snapshot(first)))
    del saved["breaker_shadow"]
    resumed, _ = _core()
    restore_core(resumed, saved)
    tally = Portfolio.of(resumed).prevented()
    assert tally is not None and tally.trades == 0


def test_with_the_breaker_off_there_is_no_shadow() -> None:
    core, _, _ = make_core(settings("circuit_breaker.enabled=false", *FREE), _script())
    run_candles(core, CANDLES, finish=False)
    assert core.shadow is None and Portfolio.of(core).prevented() is None


def test_a_re_armed_breaker_ends_the_episode_and_the_next_trip_starts_from_the_real_cash() -> None:
    """Re-armed after 2 candles: the paper position of candle 2 runs to its target, no later entry is taken
    on paper while entries are open, and the next trip's paper account starts from the real cash again."""
    s = settings("circuit_breaker.max_consecutive_losses=1", "circuit_breaker.reset_after_bars=2", *FREE)
    core, rec, _ = make_core(s, ScriptedStrategy({0: [LONG], 2: [LONG], 4: [LONG], 6: [LONG]}))
    candles = [
        candle(0, *FLAT),
        candle(1, 99, 99.5, 97, 97.5),  # -100: tripped
        candle(2, *FLAT),  # refused: on paper from 9,900, 49.5 at 100
        candle(3, 101, 105, 100.5, 104.5),  # paper target +198; the breaker re-arms here or next candle
        candle(4, *FLAT),  # taken for real: 49.5 at 100
        candle(5, 99, 99.5, 97, 97.5),  # real stop -99: tripped again, cash 9,801
        candle(6, *FLAT),  # refused: a new episode from the real 9,801, 49.005 at 100
        candle(7, 99, 99.5, 97, 97.5),  # paper stop -98.01
    ]
    run_candles(core, candles, finish=False)
    assert [e.reason for e in rec.events if isinstance(e, OrderRejected)] == ["circuit_breaker"] * 2
    assert core.trades == 2 and core.broker.cash == pytest.approx(9_801.0)
    tally = Portfolio.of(core).prevented()
    assert tally is not None and (tally.trades, tally.wins) == (2, 1)
    assert tally.net_pnl == pytest.approx(198 - 49.005 * 2)
    assert tally.lowest == pytest.approx(9_801 - 98.01)
