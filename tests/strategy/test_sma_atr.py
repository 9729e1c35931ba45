"""sma_atr signal rules on hand-built closes: crossovers, warm-up, the ATR filter, reversal intents."""

from __future__ import annotations

from laptop_agents.core.events import Event, SignalGenerated
from laptop_agents.core.orders import CloseIntent, EntryIntent
from laptop_agents.strategy.sma_atr import SmaAtrStrategy
from tests.helpers import closes_to_candles, settings

# fast SMA(2), slow SMA(3), ATR(2). Closes 10,10,10,10 then 12: at t=4 fast = 11 > slow = 10.67 and at t=3
# fast = slow = 10, so a bullish cross. Then 12, 9: at t=6 fast = 10.5 < slow = 11 after 12 ≥ 11.33: bearish.
CLOSES = [10.0, 10.0, 10.0, 10.0, 12.0, 12.0, 9.0]


def _strategy(*sets: str) -> tuple[SmaAtrStrategy, list[Event]]:
    events: list[Event] = []
    s = settings("strategy.fast_sma=2", "strategy.slow_sma=3", "strategy.atr_period=2", *sets)
    return SmaAtrStrategy(s.strategy, emit=events.append, symbol="X"), events


def test_bullish_then_bearish_cross_on_hand_computed_smas() -> None:
    strat, events = _strategy("strategy.min_atr_pct=0")
    intents = [list(strat.on_candle(c, None)) for c in closes_to_candles(CLOSES)]
    assert [len(i) for i in intents] == [0, 0, 0, 0, 1, 0, 1]
    long, short = intents[4][0], intents[6][0]
    assert isinstance(long, EntryIntent) and long.side == "long"
    assert isinstance(short, EntryIntent) and short.side == "short"
    signals = [e for e in events if isinstance(e, SignalGenerated)]
    assert [(s.direction, s.reason) for s in signals] == [("long", "bullish_cross"), ("short", "bearish_cross")]
    assert signals[0].indicators["fast_sma"] == 11.0
    assert abs(signals[0].indicators["slow_sma"] - 32 / 3) < 1e-12


def test_stop_distance_is_the_atr_multiple_and_target_in_r() -> None:
    """ATR(2) with 0.5 wicks: TRs 1, 1, 1, then 12.5 − 9.5 = 3 → ATR = 1, 1, then (1 + 3)/2 = 2 at t=4."""
    strat, _ = _strategy("strategy.min_atr_pct=0", "strategy.stop_atr_mult=2", "strategy.tp_r=3")
    out = [list(strat.on_candle(c, None)) for c in closes_to_candles(CLOSES[:5])]
    entry = out[4][0]
    assert isinstance(entry, EntryIntent)
    assert entry.stop_distance == 2 * 2.0 and entry.target_r == 3 and entry.entry_type == "market"


def test_no_signal_before_the_slow_sma_and_atr_exist_at_t_and_t_minus_1() -> None:
    """A cross on the first candle where the slow SMA exists is not a signal (no t−1 value)."""
    strat, events = _strategy("strategy.min_atr_pct=0")
    for c in closes_to_candles([10.0, 10.0, 13.0]):
        assert list(strat.on_candle(c, None)) == []
    assert events == []


def test_low_volatility_blocks_the_entry_but_an_opposite_cross_still_closes() -> None:
    """ATR % ≈ 19 % here; a 50 % floor blocks the short, yet the long still gets a CloseIntent."""
    strat, events = _strategy("strategy.min_atr_pct=50")
    out = [list(strat.on_candle(c, "long" if i >= 5 else None)) for i, c in enumerate(closes_to_candles(CLOSES))]
    assert out[4] == []  # the bullish entry is blocked as well
    assert out[6] == [CloseIntent(reason="signal")]
    blocked = [e for e in events if isinstance(e, SignalGenerated)]
    assert all(not s.entry_allowed and s.blocked_reason == "min_atr_pct" for s in blocked)


def test_opposite_cross_while_in_a_position_reverses() -> None:
    strat, _ = _strategy("strategy.min_atr_pct=0")
    out = [list(strat.on_candle(c, "long" if i >= 5 else None)) for i, c in enumerate(closes_to_candles(CLOSES))]
    assert isinstance(out[6][0], CloseIntent) and isinstance(out[6][1], EntryIntent)
    assert out[6][1].side == "short"


def test_same_direction_cross_while_in_that_position_does_nothing() -> None:
    strat, events = _strategy("strategy.min_atr_pct=0")
    out = [list(strat.on_candle(c, "long")) for c in closes_to_candles(CLOSES[:5])]
    assert out[4] == []
    assert [e.blocked_reason for e in events if isinstance(e, SignalGenerated)] == ["already_in_position"]


def test_trailing_parameters_ride_on_the_intent_only_when_enabled() -> None:
    on, _ = _strategy("strategy.min_atr_pct=0", "strategy.trail_enabled=true", "strategy.trail_distance_r=0.7")
    off, _ = _strategy("strategy.min_atr_pct=0")
    a = [list(on.on_candle(c, None)) for c in closes_to_candles(CLOSES[:5])][4][0]
    b = [list(off.on_candle(c, None)) for c in closes_to_candles(CLOSES[:5])][4][0]
    assert isinstance(a, EntryIntent) and (a.trail_activation_r, a.trail_distance_r) == (1.0, 0.7)
    assert isinstance(b, EntryIntent) and (b.trail_activation_r, b.trail_distance_r) == (None, None)
