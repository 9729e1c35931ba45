"""Isolated margin and liquidation on paper (issue 15): initial margin at the leverage, maintenance margin from
the tiers, the liquidation price, liquidation before the stop, at the price or the worse open, the loss
never beyond the margin, and fees by symbol."""

from __future__ import annotations

import pytest

from laptop_agents.config.models import DEFAULT_POSITION_TIERS, PositionTier, effective_leverage
from laptop_agents.core.events import Fill, OrderRejected, PositionClosed, PositionLiquidated, PositionOpened
from laptop_agents.core.orders import EntryIntent
from laptop_agents.execution.margin import MarginModel
from tests.helpers import ScriptedStrategy, candle, make_core, run_candles, settings

COST = (5 + 1) / 1e4
TAKER = 6 / 1e4


def test_the_liquidation_price_is_where_margin_plus_loss_is_the_maintenance_margin() -> None:
    model = MarginModel(20)
    qty, entry = 1.0, 50_000.0  # notional 50,000: tier 1, maintenance 0.4 %
    long = model.liquidation_price("long", qty, entry)
    short = model.liquidation_price("short", qty, entry)
    assert long == pytest.approx(entry * (1 - 1 / 20 + 0.004))  # 47,700
    assert short == pytest.approx(entry * (1 + 1 / 20 - 0.004))  # 52,300
    margin = model.initial_margin(qty, entry)
    assert margin == pytest.approx(2_500)
    for price, d in ((long, 1), (short, -1)):  # Bitunix: available margin == maintenance
        assert margin + d * qty * (price - entry) == pytest.approx(model.maintenance_margin(qty, entry))
    big = model.liquidation_price("long", 10.0, entry)  # notional 500,000: tier 2, 0.5 %
    assert big == pytest.approx(entry * (1 - 1 / 20 + 0.005))


def test_a_position_above_its_tier_or_beyond_the_last_is_refused_by_the_margin_model() -> None:
    model = MarginModel(125)
    assert model.refusal(1.0, 100_000.0) is None  # 100k at 125x: tier 1 allows it
    assert "at most 100x" in (model.refusal(5.0, 100_000.0) or "")  # 500k: tier 2 allows 100x
    assert "above the last" in (MarginModel(5).refusal(600.0, 100_000.0) or "")
    with pytest.raises(ValueError, match="ascending"):
        MarginModel(5, (DEFAULT_POSITION_TIERS[1], DEFAULT_POSITION_TIERS[0]))


def test_the_default_leverage_leaves_room_for_an_entry_at_the_sizing_cap() -> None:
    assert effective_leverage(settings()) == 6  # max_leverage 5 / 0.95 → 6x on the venue
    assert effective_leverage(settings("exchange.leverage=20")) == 20
    assert effective_leverage(settings("risk.max_leverage=19")) == 20


LEVERED = ("exchange.leverage=20", "risk.max_leverage=19", "risk.risk_pct=50", "circuit_breaker.enabled=false")


def test_the_issues_gap_leaves_equity_at_zero_not_minus_62584() -> None:
    """Leverage 20, risk 50 %, a gap from 114 to 45: without margin the books balanced at −62,584 of equity.
    Isolated, the position is liquidated at the open and loses its margin, no more."""
    long = EntryIntent(side="long", stop_distance=2.0, setup="t", reason="r")
    core, rec, marks = make_core(settings(*LEVERED), ScriptedStrategy({0: [long]}))
    run_candles(core, [candle(0, 114, 114.5, 113.5, 114), candle(1, 45, 46, 44, 45.5)], finish=False)
    (opened,) = rec.of(PositionOpened)
    (liq,) = rec.of(PositionLiquidated)
    (closed,) = rec.of(PositionClosed)
    assert closed.exit_reason == "liquidation" and liq.price == 45  # gapped through: the open
    assert liq.liquidation_price == pytest.approx(opened.entry_price * (1 - 1 / 20 + 0.004))
    assert liq.margin == pytest.approx(opened.qty * opened.entry_price / 20)
    assert liq.covered > 0  # the gap took far more than the margin: the venue's insurance fund
    entry_fee = opened.qty * opened.entry_price * TAKER
    assert core.broker.cash == pytest.approx(10_000 - entry_fee - liq.margin)
    assert core.broker.cash > 0 and min(eq for _, eq, _ in marks) > 0
    off_core, _, off_marks = make_core(settings(*LEVERED, 'broker.margin_mode="off"'), ScriptedStrategy({0: [long]}))
    run_candles(off_core, [candle(0, 114, 114.5, 113.5, 114), candle(1, 45, 46, 44, 45.5)], finish=False)
    assert off_marks[-1][1] < -50_000  # margin off: today's books, equity far below zero


def test_liquidation_comes_before_a_stop_beyond_it_and_fills_at_the_liquidation_price() -> None:
    """The candle reaches both; the stop lies beyond the liquidation price, so the price meets the
    liquidation first: the venue liquidates."""
    long = EntryIntent(side="long", stop_distance=8.0, setup="t", reason="r")
    core, rec, _ = make_core(settings(*LEVERED), ScriptedStrategy({0: [long]}))
    entry = 100 * (1 + COST)
    liq_price = entry * (1 - 1 / 20 + 0.004)  # ~95.46, above the stop at ~92.06
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 99, 99.5, 90, 91)], finish=False)
    (liq,) = rec.of(PositionLiquidated)
    (closed,) = rec.of(PositionClosed)
    assert closed.exit_reason == "liquidation" and liq.price == pytest.approx(liq_price)
    assert liq.covered == 0.0
    exit_fill = rec.of(Fill)[-1]
    assert exit_fill.price == pytest.approx(liq_price) and exit_fill.liquidity == "taker"
    assert exit_fill.fee == pytest.approx(closed.qty * liq_price * TAKER)  # liquidation_fee_bps 6
    # at the liquidation price the position has lost its margin less the maintenance margin it still holds
    assert closed.pnl == pytest.approx(-(liq.margin - liq.maintenance_margin))


def test_a_stop_between_the_open_and_the_liquidation_price_fills_first() -> None:
    """Found in review: a 6x long with its stop 2 % below, then a candle down 20 %. The price passes the
    stop first: the stop closes it at about 1 R, not the liquidation at the whole margin."""
    long = EntryIntent(side="long", stop_distance=2.0, setup="t", reason="r")
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [long]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 100, 100.2, 80, 81)], finish=False)
    (closed,) = rec.of(PositionClosed)
    assert closed.exit_reason == "stop" and rec.of(PositionLiquidated) == []
    assert closed.exit_price == pytest.approx((100 * (1 + COST) - 2.0) * (1 - 1 / 1e4))


def test_a_candle_that_opens_beyond_the_liquidation_price_liquidates_even_with_a_closer_stop() -> None:
    long = EntryIntent(side="long", stop_distance=2.0, setup="t", reason="r")
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [long]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 70, 72, 69, 71)], finish=False)
    (liq,) = rec.of(PositionLiquidated)
    assert liq.price == 70 and rec.of(PositionClosed)[0].exit_reason == "liquidation"


def test_a_short_is_liquidated_when_the_high_reaches_its_price() -> None:
    short = EntryIntent(side="short", stop_distance=20.0, setup="t", reason="r")
    core, rec, _ = make_core(settings(*LEVERED), ScriptedStrategy({0: [short]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 101, 106, 100.5, 103)], finish=False)
    (liq,) = rec.of(PositionLiquidated)
    entry = 100 * (1 - COST)
    assert liq.liquidation_price == pytest.approx(entry * (1 + 1 / 20 - 0.004))
    assert liq.price == pytest.approx(liq.liquidation_price)


def test_no_liquidation_at_the_default_leverage_on_a_normal_day() -> None:
    long = EntryIntent(side="long", stop_distance=2.0, setup="t", reason="r")
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [long]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 99, 99.5, 97, 98)], finish=False)
    assert rec.of(PositionLiquidated) == [] and rec.of(PositionClosed)[0].exit_reason == "stop"
    opened = rec.of(PositionOpened)[0]
    assert core.broker.position is None and opened.qty > 0


def test_an_entry_the_venue_would_not_margin_is_refused() -> None:
    long = EntryIntent(side="long", stop_distance=0.5, setup="t", reason="r")
    core, rec, _ = make_core(settings("exchange.leverage=2", "risk.max_leverage=5"), ScriptedStrategy({0: [long]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100)], finish=False)
    (refused,) = rec.of(OrderRejected)
    assert refused.reason == "max_leverage" and "2x leverage" in refused.detail


def test_fees_are_configurable_per_symbol() -> None:
    long = EntryIntent(side="long", stop_distance=2.0, setup="t", reason="r")
    s = settings('broker.symbols={"BTCUSDT": {"taker_fee_bps": 4.5}}')
    core, rec, _ = make_core(s, ScriptedStrategy({0: [long]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100)], finish=False)
    (fill,) = rec.of(Fill)
    assert fill.fee == pytest.approx(fill.qty * fill.price * 4.5 / 1e4)


def test_own_tiers_per_symbol_move_the_liquidation_price() -> None:
    tiers = [PositionTier(max_notional=1e9, maintenance_rate=0.02, max_leverage=50).model_dump()]
    s = settings(*LEVERED, f'broker.symbols={{"BTCUSDT": {{"position_tiers": {tiers}}}}}'.replace("'", '"'))
    long = EntryIntent(side="long", stop_distance=20.0, setup="t", reason="r")
    core, _, _ = make_core(s, ScriptedStrategy({0: [long]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100)], finish=False)
    position = core.broker.position
    assert position is not None and position.liquidation_price == pytest.approx(
        position.entry_price * (1 - 0.05 + 0.02)
    )


def test_a_checkpoint_from_before_margin_restores_a_position_the_margin_model_then_covers() -> None:
    long = EntryIntent(side="long", stop_distance=2.0, setup="t", reason="r")
    core, _, _ = make_core(settings(), ScriptedStrategy({0: [long]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100)], finish=False)
    saved = core.broker.position
    assert saved is not None
    state = core.broker.state()
    for slot in ("liquidation_price", "margin"):
        del state["position"][slot]
    fresh, _, _ = make_core(settings())
    fresh.broker.restore(state)
    restored = fresh.broker.position
    assert restored is not None
    assert (restored.liquidation_price, restored.margin) == (saved.liquidation_price, saved.margin)


def test_a_run_resumed_with_margin_switched_off_has_nothing_to_liquidate() -> None:
    """Found in review: `--resume --reconfigure broker.margin_mode=off` with a position open kept its
    liquidation price, and the next candle reaching it failed an assertion."""
    long = EntryIntent(side="long", stop_distance=8.0, setup="t", reason="r")
    core, _, _ = make_core(settings(*LEVERED), ScriptedStrategy({0: [long]}))
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100)], finish=False)
    off, rec, _ = make_core(settings(*LEVERED, 'broker.margin_mode="off"'))
    off.broker.restore(core.broker.state())
    assert off.broker.position is not None and off.broker.position.liquidation_price is None
    run_candles(off, [candle(1, 99, 99.5, 90, 91)], finish=False)
    assert rec.of(PositionLiquidated) == [] and rec.of(PositionClosed)[0].exit_reason == "stop"


def test_the_default_leverage_stays_within_bitunixs_125x() -> None:
    assert effective_leverage(settings("risk.max_leverage=120")) == 125


def test_own_tiers_out_of_order_are_a_config_error() -> None:
    from laptop_agents.core.errors import ConfigError

    bad = '[{"max_notional": 2e6, "maintenance_rate": 0.01, "max_leverage": 50}, ' \
          '{"max_notional": 1e6, "maintenance_rate": 0.005, "max_leverage": 100}]'  # fmt: skip
    with pytest.raises(ConfigError, match="ascending"):
        settings(f'broker.symbols={{"BTCUSDT": {{"position_tiers": {bad}}}}}')
