"""A3 SetupSignal: both setups with every filter, each on a sequence built to fire and one to just miss."""

from __future__ import annotations

from typing import Any

import pytest

from laptop_agents.core.candle import Candle
from laptop_agents.strategy.supervisor.cvd import CvdDivergence
from laptop_agents.strategy.supervisor.intake import MarketIntake
from laptop_agents.strategy.supervisor.setups import PullbackRibbon, Setup, SweepInvalidation
from laptop_agents.strategy.supervisor.windows import WindowBank
from tests.helpers import candle, closes_to_candles
from tests.strategy.supervisor.conftest import small


def _run(kind: str, candles: list[Candle], **overrides: Any) -> tuple[Setup | str, MarketIntake]:
    """Feed every candle as the supervisor does and evaluate the setup on the last one."""
    params = small(**overrides)
    bank = WindowBank()
    intake = MarketIntake(params, bank)
    cvd = CvdDivergence(params.cvd_lookback, bank)
    setup = PullbackRibbon(params, intake) if kind == "pullback" else SweepInvalidation(params, intake, cvd, bank)
    bank.bind()
    result: Setup | str = "not_run"
    for c in candles:
        intake.update(c)
        value = cvd.update(c)
        result = setup.evaluate(c)
        bank.push(c, value)
    return result, intake


# -- pullback_ribbon -----------------------------------------------------------------------------------

UP = closes_to_candles([100 + i for i in range(12)])
DOWN = closes_to_candles([100 - i for i in range(12)])


@pytest.mark.parametrize(("candles", "side"), [(UP, "long"), (DOWN, "short")])
def test_pullback_ribbon_arms_a_limit_at_the_fast_ema_within_the_band(candles: list[Candle], side: str) -> None:
    _, probe = _run("pullback", candles)
    assert probe.ema_fast is not None and probe.atr is not None
    band = abs(candles[-1].close - probe.ema_fast) / probe.atr  # the close's distance from the ribbon, in ATR
    setup, intake = _run("pullback", candles, pullback_entry_band_atr=band + 0.01, pullback_stop_atr_mult=2,
                         pullback_tp_r_mult=3)  # fmt: skip
    assert isinstance(setup, Setup)
    assert intake.atr is not None
    d = 1 if side == "long" else -1
    assert (setup.side, setup.entry_type, setup.entry) == (side, "limit", intake.ema_fast)
    assert setup.stop == pytest.approx(setup.entry - d * 2 * intake.atr)
    assert setup.target == pytest.approx(setup.entry + d * 3 * 2 * intake.atr)
    assert setup.target_r == 3
    missed, _ = _run("pullback", candles, pullback_entry_band_atr=band - 0.01)
    assert missed == "away_from_ribbon"


def test_pullback_ribbon_needs_a_trend() -> None:
    flat = [candle(i, 100.0, 100.5, 99.5, 100.0) for i in range(12)]
    assert _run("pullback", flat)[0] == "no_trend"


# -- sweep_invalidation --------------------------------------------------------------------------------


def _range(n: int = 6, close: float = 100.0, volume: float = 1.0) -> list[Candle]:
    """A range between 99 and 101: the prior swing low is 99, the swing high 101."""
    return [candle(i, 100.0, 101.0, 99.0, close, volume) for i in range(n)]


def _sweep(o: float, h: float, low: float, c: float, v: float = 1.0) -> Candle:
    return candle(6, o, h, low, c, v)


def test_a_wick_under_the_swing_low_that_closes_back_inside_is_a_long() -> None:
    setup, intake = _run("sweep", [*_range(), _sweep(100.0, 100.5, 98.0, 99.5)], sweep_target="r",
                         sweep_stop_atr_mult=0.5, sweep_tp_r_mult=2)  # fmt: skip
    assert isinstance(setup, Setup)
    assert intake.atr is not None
    assert (setup.side, setup.entry_type, setup.entry) == ("long", "market", 99.5)
    assert setup.stop == pytest.approx(98.0 - 0.5 * intake.atr)  # beyond the wick
    assert setup.target == pytest.approx(99.5 + 2 * (99.5 - setup.stop))


def test_a_wick_over_the_swing_high_that_closes_back_inside_is_a_short() -> None:
    setup, _ = _run("sweep", [*_range(), _sweep(100.0, 102.0, 99.5, 100.5)], sweep_target="r")
    assert isinstance(setup, Setup) and setup.side == "short"


@pytest.mark.parametrize(
    ("sweep", "reason"),
    [
        (_sweep(100.0, 100.5, 98.0, 98.9), "no_sweep"),  # closed beyond the level: a breakdown, not a sweep
        (_sweep(100.0, 100.5, 99.0, 99.5), "no_sweep"),  # touched the low (99) but not beyond it
        (_sweep(100.0, 101.5, 98.0, 100.0), "two_sided_sweep"),
    ],
)
def test_sweep_just_missed(sweep: Candle, reason: str) -> None:
    assert _run("sweep", [*_range(), sweep])[0] == reason


def test_ema_filter_takes_longs_only_above_the_slow_ema() -> None:
    sweep = _sweep(100.0, 100.5, 98.0, 99.5)
    assert _run("sweep", [*_range(close=100.0), sweep], sweep_ema_filter=True)[0] == "ema_filter"
    passed, intake = _run("sweep", [*_range(close=99.2), sweep], sweep_ema_filter=True, sweep_target="r")
    assert isinstance(passed, Setup)
    assert intake.ema_slow is not None and intake.ema_slow < 99.5


def test_volume_filter_needs_the_ratio_times_the_average() -> None:
    assert _run("sweep", [*_range(), _sweep(100.0, 100.5, 98.0, 99.5, v=1.99)], sweep_min_vol_ratio=2)[0] == (
        "low_volume"
    )
    passed, _ = _run("sweep", [*_range(), _sweep(100.0, 100.5, 98.0, 99.5, v=2.0)], sweep_min_vol_ratio=2,
                     sweep_target="r")  # fmt: skip
    assert isinstance(passed, Setup)


def test_cvd_confirmation_needs_a_divergence_the_same_way() -> None:
    sellers = _range(close=99.0)  # closes on the lows: CVD falls by 1 a candle
    confirmed, _ = _run("sweep", [*sellers, _sweep(99.0, 100.5, 98.0, 100.4)], sweep_cvd_confirm=True,
                        sweep_target="r")  # fmt: skip
    assert isinstance(confirmed, Setup)
    # closes back inside, but in the lower half of its range: CVD makes a new low with price
    assert _run("sweep", [*sellers, _sweep(99.0, 100.5, 98.0, 99.2)], sweep_cvd_confirm=True)[0] == (
        "cvd_not_confirming"
    )


def test_vwap_target_is_the_last_bars_vwap_and_must_be_beyond_the_entry() -> None:
    setup, _ = _run("sweep", [*_range(), _sweep(100.0, 100.5, 98.0, 99.5)], sweep_target="vwap")
    assert isinstance(setup, Setup)
    # the last 5 candles: four of typical price 100, the sweep's (100.5 + 98 + 99.5) / 3, volume 1 each
    assert setup.target == pytest.approx((4 * 100.0 + (100.5 + 98.0 + 99.5) / 3) / 5)
    assert setup.target_r is None
    behind = _run("sweep", [*_range(close=99.1), _sweep(100.0, 101.0, 98.0, 100.9)], sweep_target="vwap")[0]
    assert behind == "vwap_behind_entry"
