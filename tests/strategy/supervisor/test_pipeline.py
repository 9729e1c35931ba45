"""The supervisor inside a real TradingCore: A4 go/no-go, pending-trigger expiry, rr_min, the risk gate,
the journal records, and a checkpoint that continues bit for bit."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from laptop_agents.core.candle import Candle
from laptop_agents.core.events import (
    JournalRecord,
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
    PositionClosed,
    SignalGenerated,
)
from laptop_agents.engine.snapshot import core_snapshot, restore_core
from laptop_agents.engine.trading_core import TradingCore
from laptop_agents.execution.funding import ConstantFunding
from laptop_agents.strategy.supervisor import Supervisor
from laptop_agents.strategy.supervisor.sentinel import ExecutionRiskSentinel
from laptop_agents.strategy.supervisor.setups import Setup
from tests.helpers import Recorder, candle, closes_to_candles, make_core, settings
from tests.strategy.supervisor.conftest import SMALL, build, small


def _core(*sets: str, **params: Any) -> tuple[TradingCore, Recorder]:
    s = settings(
        "strategy.name=supervisor",
        f"strategy.params={json.dumps({**SMALL, **params})}",
        "broker.half_spread_bps=0",
        "broker.slippage_bps=0",
        *sets,
    )
    core, rec, _ = make_core(s)
    return core, rec


def _journal(rec: Recorder) -> list[tuple[int, str, list[str]]]:
    return [(r.plan_id, r.kind, r.tags) for r in rec.of(JournalRecord)]


def _rising(n: int) -> list[Candle]:
    return closes_to_candles([100 + i for i in range(n)])


# -- A4 ------------------------------------------------------------------------------------------------

SETUP = Setup("sweep_invalidation", "long", "market", 100.0, 99.0, 102.0, "test", 2.0)


def _sentinel(rate: float | None = 0.0, *, has_specs: bool = True, **overrides: Any) -> ExecutionRiskSentinel:
    s = build(funding=None if rate is None else ConstantFunding(rate), **overrides)
    s.funding.update(0)
    return ExecutionRiskSentinel(s.params, s.intake, s.funding, has_specs=has_specs)


def _go(sentinel: ExecutionRiskSentinel, **kw: Any) -> tuple[bool, str | None, float]:
    args = {"position_open": False, "order_pending": False, "bars_since_exit": None, **kw}
    d = sentinel.decide(SETUP, **args)
    return d.go, d.reason, d.size_mult


def test_sentinel_reasons_in_order() -> None:
    s = _sentinel(cooldown_bars=3)
    assert s.decide("no_sweep", position_open=False, order_pending=False, bars_since_exit=None).reason == "no_setup"
    assert _go(s) == (True, None, 1.0)
    assert _go(s, position_open=True)[1] == "position_open"
    assert _go(s, order_pending=True)[1] == "order_pending"
    assert _go(s, bars_since_exit=2)[1] == "cooldown"
    assert _go(s, bars_since_exit=3) == (True, None, 1.0)  # the cooldown is over after exactly N candles
    assert _go(_sentinel(has_specs=False))[1] == "missing_instrument_specs"
    assert _go(_sentinel(0.0006)) == (True, None, 0.5)  # funding: half size
    assert _go(_sentinel(0.002))[1] == "funding_no_trade"


def test_sentinel_blocks_a_regime_and_halves_high_volatility() -> None:
    s = _sentinel(blocked_regimes=["NORMAL"])
    assert _go(s)[1] == "regime_blocked"  # a fresh intake reads NORMAL
    s.__dict__  # noqa: B018 (slots: nothing)
    high = _sentinel(high_vol_size_mult=0.25)
    high._intake.regime = "HIGH_VOL"
    assert _go(high) == (True, None, 0.25)


# -- pending triggers, rr_min, risk gate ----------------------------------------------------------------


def test_an_unfilled_limit_expires_after_pending_trigger_max_bars() -> None:
    core, rec = _core(setups=["pullback_ribbon"], pullback_entry_band_atr=5, pending_trigger_max_bars=3)
    candles = _rising(30)  # the lows never come back to EMA(3): the limit never fills
    first_plan = None
    for c in candles:
        core.on_candle(c)
        if first_plan is None and rec.of(OrderPlaced):
            first_plan = c.ts
    cancels = rec.of(OrderCancelled)
    assert cancels and cancels[0].reason == "pending_trigger_expired"
    assert first_plan is not None and cancels[0].ts == first_plan + 3 * 60_000  # after exactly 3 candles
    assert _journal(rec)[:2] == [(1, "plan", []), (1, "cancel", ["expired_unfilled"])]
    assert rec.of(OrderPlaced)[1].ts == cancels[0].ts + 60_000  # re-armed on the next candle


def test_a_limit_reached_on_the_last_allowed_candle_fills() -> None:
    core, rec = _core(setups=["pullback_ribbon"], pullback_entry_band_atr=5, pending_trigger_max_bars=3)
    candles = iter(_rising(30))
    while not rec.of(OrderPlaced):
        last = next(candles)
        core.on_candle(last)
    placed = rec.of(OrderPlaced)[0]
    assert placed.price is not None
    # two more rising candles that stay above the limit, then the third dips to it: it fills, not expires
    core.on_candle(next(candles))
    core.on_candle(next(candles))
    i = (placed.ts - candle(0, 1, 1, 1, 1).ts) // 60_000 + 3
    core.on_candle(candle(i, placed.price + 1, placed.price + 2, placed.price - 0.01, placed.price + 1))
    assert [r.kind for r in rec.of(JournalRecord)][:2] == ["plan", "fill"]
    assert not [e for e in rec.of(OrderCancelled) if e.reason == "pending_trigger_expired"]


def test_reward_below_rr_min_is_rejected_and_journaled() -> None:
    core, rec = _core("risk.rr_min=1.0", setups=["pullback_ribbon"], pullback_entry_band_atr=5,
                      pullback_tp_r_mult=0.9)  # fmt: skip
    for c in _rising(12):
        core.on_candle(c)
    rejected = rec.of(OrderRejected)
    assert rejected and rejected[0].reason == "rr_below_min"
    assert rejected[0].detail == "reward/risk 0.90 from the expected fill 104 < risk.rr_min 1"
    assert _journal(rec)[:2] == [(1, "plan", []), (1, "reject", ["rejected_rr_below_min"])]
    ok, rec2 = _core("risk.rr_min=1.0", setups=["pullback_ribbon"], pullback_entry_band_atr=5, pullback_tp_r_mult=1.0)
    for c in _rising(12):
        ok.on_candle(c)
    assert rec2.of(OrderPlaced) and not rec2.of(OrderRejected)


def test_risk_gate_cancels_a_resting_entry_and_blocks_new_ones() -> None:
    core, rec = _core(setups=["pullback_ribbon"], pullback_entry_band_atr=5, pending_trigger_max_bars=50)
    candles = _rising(20)
    for c in candles[:12]:
        core.on_candle(c)
    assert core.broker.pending
    core.halts["kill_switch"] = "operator"
    for c in candles[12:]:
        core.on_candle(c)
    cancel = rec.of(OrderCancelled)
    assert [e.reason for e in cancel] == ["risk_gate:kill_switch"]
    assert cancel[0].ts == candles[12].ts
    assert _journal(rec)[-1] == (1, "cancel", ["cancelled_by_risk_gate"])
    assert len(rec.of(OrderPlaced)) == 1  # nothing new while halted
    assert isinstance(core.strategy, Supervisor)
    assert core.strategy.last_decision is not None and core.strategy.last_decision.reason == "risk_gate:kill_switch"


def test_a_standing_block_is_reported_once(real_candles: list[Candle]) -> None:
    """While a halt stands, the setups that come and go are not each reported: one blocked signal when the
    halt begins; after it lifts the next go is reported, and a later block is reported again."""
    core, rec = _core("circuit_breaker.enabled=false", cooldown_bars=0)
    core.halts["kill_switch"] = "operator"
    for c in real_candles[:2000]:
        core.on_candle(c)
    assert isinstance(core.strategy, Supervisor)
    blocked = rec.of(SignalGenerated)
    assert [s.blocked_reason for s in blocked] == ["risk_gate:kill_switch"]
    del core.halts["kill_switch"]
    for c in real_candles[2000:]:
        core.on_candle(c)
    after = rec.of(SignalGenerated)[1:]
    assert after[0].entry_allowed
    reasons = [s.blocked_reason for s in after]
    assert "position_open" in reasons or "order_pending" in reasons
    assert all(a != b for a, b in itertools.pairwise(reasons) if a is not None)


def test_risk_gate_can_leave_resting_entries_alone() -> None:
    core, rec = _core("risk.cancel_resting_on_halt=false", setups=["pullback_ribbon"], pullback_entry_band_atr=5,
                      pending_trigger_max_bars=50)  # fmt: skip
    candles = _rising(20)
    for c in candles[:12]:
        core.on_candle(c)
    core.halts["kill_switch"] = "operator"
    for c in candles[12:]:
        core.on_candle(c)
    assert not rec.of(OrderCancelled) and core.broker.pending


# -- A5 journal ----------------------------------------------------------------------------------------


def _sweep_then(after: list[tuple[float, float, float, float]], **params: Any) -> Recorder:
    core, rec = _core(setups=["sweep_invalidation"], sweep_target="r", sweep_tp_r_mult=1.5,
                      sweep_stop_atr_mult=0.5, **params)  # fmt: skip
    candles = [candle(i, 100.0, 101.0, 99.0, 100.0) for i in range(8)]
    candles.append(candle(8, 100.0, 100.5, 98.0, 99.5))
    candles += [candle(9 + k, *ohlc) for k, ohlc in enumerate(after)]
    for c in candles:
        core.on_candle(c)
    return rec


def test_journal_plan_fill_exit_at_target() -> None:
    rec = _sweep_then([(99.5, 106.0, 99.4, 105.0)])
    records = rec.of(JournalRecord)
    assert [(r.plan_id, r.kind) for r in records] == [(1, "plan"), (1, "fill"), (1, "exit")]
    plan, fill, exit_ = records
    assert plan.setup == "sweep_invalidation" and plan.side == "long"
    assert plan.detail["entry"] == 99.5 and plan.detail["reward_risk"] == 1.5
    assert plan.detail["trend"] in ("UP", "DOWN", "CHOP") and "flags" in plan.detail
    assert fill.detail["price"] == 99.5 and fill.detail["slippage"] == 0.0
    assert exit_.detail["exit_reason"] == "target" and exit_.detail["bars_held"] == 1
    assert exit_.detail["r_multiple"] == pytest.approx(1.5)
    assert exit_.tags == ["followed_plan_to_target", "winner"]
    signal = rec.of(SignalGenerated)[0]
    assert signal.entry_allowed and signal.setup == "sweep_invalidation"


def test_journal_tags_a_quick_stop_out() -> None:
    rec = _sweep_then([(99.5, 99.6, 90.0, 91.0)], stopped_fast_bars=3)
    assert rec.of(JournalRecord)[-1].tags == ["stopped_fast", "loser"]
    slow = _sweep_then([(99.5, 99.7, 99.3, 99.5)] * 4 + [(99.5, 99.6, 90.0, 91.0)], stopped_fast_bars=3)
    last = slow.of(JournalRecord)[-1]
    assert last.detail["bars_held"] == 5 and last.tags == ["stopped_out", "loser"]


def test_cooldown_after_an_exit_in_the_pipeline() -> None:
    # stopped out on candle 9; a second sweep on candle 10 is inside a 3-candle cooldown
    after = [(99.5, 99.6, 90.0, 91.0), (91.0, 91.5, 89.0, 90.5)]
    rec = _sweep_then(after, cooldown_bars=3, sweep_lookback_bars=5)
    closed = rec.of(PositionClosed)
    assert len(closed) == 1
    signals = [s for s in rec.of(SignalGenerated) if s.ts > closed[0].ts]
    assert signals and signals[0].blocked_reason == "cooldown"


# -- checkpoint ----------------------------------------------------------------------------------------


def test_a_checkpoint_mid_run_continues_exactly(real_candles: list[Candle]) -> None:
    """A core with the supervisor, checkpointed halfway (through JSON, as state.json holds it) and restored
    into a fresh core, emits exactly the events of the uninterrupted run: pending plans, cooldowns and the
    journal's plan ids included."""
    sets = ("circuit_breaker.enabled=false",)
    params = {"cooldown_bars": 2, "swing_lookback": 20, "sweep_lookback_bars": 20, "cvd_lookback": 20}
    whole, rec_whole = _core(*sets, **params)
    for c in real_candles:
        whole.on_candle(c)
    first, rec_first = _core(*sets, **params)
    cut = len(real_candles) // 2
    for c in real_candles[:cut]:
        first.on_candle(c)
    saved = json.loads(json.dumps(core_snapshot(first)))
    second, rec_second = _core(*sets, **params)
    restore_core(second, saved)
    for c in real_candles[cut:]:
        second.on_candle(c)
    assert rec_first.events + rec_second.events == rec_whole.events
    plans = [r for r in rec_whole.of(JournalRecord) if r.kind == "plan"]
    assert len(plans) > 10 and any(r.ts >= real_candles[cut].ts for r in plans)
    other, _ = _core(*sets, **{**params, "cooldown_bars": 9})
    with pytest.raises(ValueError, match="other supervisor parameters"):
        restore_core(other, saved)


@pytest.fixture(scope="module")
def real_candles() -> list[Candle]:
    from laptop_agents.feeds.csv_source import CsvCandles

    return list(CsvCandles(Path("data/ftx_btc-perp_1m_2022-01.csv")))[:3000]


def test_params_are_validated() -> None:
    with pytest.raises(ValueError, match="ema_fast"):
        small(ema_fast=60, ema_slow=50)
