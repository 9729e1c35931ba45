"""A1 MarketIntake (trend, regime, swings, equal levels), A2 funding gate and the CVD divergence, each on
candle sequences built to trigger them, and to just miss."""

from __future__ import annotations

import pytest

from laptop_agents.core.candle import Candle
from laptop_agents.execution.funding import ConstantFunding, TableFunding
from laptop_agents.strategy.supervisor.cvd import CvdDivergence
from laptop_agents.strategy.supervisor.flows import FundingGate
from laptop_agents.strategy.supervisor.intake import MarketIntake
from laptop_agents.strategy.supervisor.windows import WindowBank
from tests.helpers import MINUTE, T0, candle, closes_to_candles
from tests.strategy.supervisor.conftest import small


def _intake(candles: list[Candle], **overrides: object) -> MarketIntake:
    bank = WindowBank()
    intake = MarketIntake(small(**overrides), bank)
    bank.bind()
    for c in candles:
        intake.update(c)
        bank.push(c, 0.0)
    return intake


def test_rising_closes_are_an_up_trend_and_falling_a_down_trend() -> None:
    up = _intake(closes_to_candles([100 + i for i in range(12)]))
    down = _intake(closes_to_candles([100 - i for i in range(12)]))
    assert up.ready and up.trend == "UP"
    assert down.trend == "DOWN"


def test_fast_above_slow_but_close_under_fast_is_chop() -> None:
    # a rise, then one close that dips under EMA(3) while EMA(3) is still above EMA(5)
    closes = [100 + i for i in range(12)] + [109.5]
    intake = _intake(closes_to_candles(closes))
    assert intake.ema_fast is not None and intake.ema_slow is not None
    assert intake.ema_fast > intake.ema_slow and closes[-1] < intake.ema_fast
    assert intake.trend == "CHOP"
    just_above = _intake(closes_to_candles([*closes[:-1], 111.0]))
    assert just_above.trend == "UP"


def test_not_ready_until_every_indicator_and_window_is_full() -> None:
    intake = _intake(closes_to_candles([100.0] * 4))
    assert not intake.ready
    assert _intake(closes_to_candles([100.0] * 6)).ready


@pytest.mark.parametrize(
    ("high_vol", "low_vol", "regime"),
    [(1.0, 0.1, "HIGH_VOL"), (1.01, 0.1, "NORMAL"), (5.0, 1.01, "LOW_VOL"), (5.0, 0.99, "NORMAL")],
)
def test_regime_by_atr_percent_of_price(high_vol: float, low_vol: float, regime: str) -> None:
    # every candle spans exactly 1.0 around 100 with no gaps: TR = 1, ATR = 1, ATR % = 1.0
    candles = [candle(i, 100.0, 100.5, 99.5, 100.0) for i in range(10)]
    intake = _intake(candles, high_vol_atr_pct=high_vol, low_vol_atr_pct=low_vol)
    assert intake.atr_pct == pytest.approx(1.0)
    assert intake.regime == regime


def test_swing_levels_are_the_prior_window_and_equal_highs_are_within_tolerance() -> None:
    base = [candle(i, 100.0, 101.0 + (i == 3) * 4, 99.0 - (i == 2) * 3, 100.0) for i in range(6)]
    retest = candle(6, 100.0, 104.97, 99.5, 100.0)  # 0.03 under the swing high of 105
    intake = _intake([*base, retest], equal_level_tol_pct=0.05)
    assert (intake.swing_high, intake.swing_low) == (105.0, 96.0)
    assert intake.equal_high and not intake.equal_low
    missed = _intake([*base, candle(6, 100.0, 104.9, 99.5, 100.0)], equal_level_tol_pct=0.05)
    assert not missed.equal_high  # 0.1 away is 0.095 %: beyond 0.05 %


# -- A2 funding gate -----------------------------------------------------------------------------------


def _gate(rate: float | None, **overrides: object) -> FundingGate:
    gate = FundingGate(small(**overrides), None if rate is None else ConstantFunding(rate))
    gate.update(T0)
    return gate


@pytest.mark.parametrize(
    ("rate", "long", "short"),
    [
        (0.0005, (None, 1.0, None), (None, 1.0, None)),  # at the half-size threshold: not above it
        (0.00051, (None, 0.5, "funding_half_size"), (None, 1.0, None)),  # longs pay, shorts receive
        (0.001, (None, 0.5, "funding_half_size"), (None, 1.0, None)),
        (0.0011, ("funding_no_trade", 1.0, None), (None, 1.0, None)),
        (-0.0011, (None, 1.0, None), ("funding_no_trade", 1.0, None)),  # shorts pay a negative rate
        (0.003, ("funding_no_trade", 1.0, None), (None, 1.0, None)),
        (0.0031, ("funding_halt", 1.0, None), ("funding_halt", 1.0, None)),  # extreme: neither way
    ],
)
def test_funding_thresholds(
    rate: float, long: tuple[str | None, float, str | None], short: tuple[str | None, float, str | None]
) -> None:
    gate = _gate(rate)
    assert gate.check("long") == long
    assert gate.check("short") == short


def test_missing_funding_is_a_flag_unless_required() -> None:
    assert _gate(None).check("long") == (None, 1.0, "funding_missing")
    assert _gate(None, require_funding=True).check("long") == ("funding_missing", 1.0, "funding_missing")


def test_funding_is_read_every_n_bars() -> None:
    table = TableFunding([(T0, 0.0001), (T0 + 2 * MINUTE, 0.002)])
    gate = FundingGate(small(funding_refresh_bars=3), table)
    seen = []
    for i in range(7):
        gate.update(T0 + i * MINUTE)
        seen.append(gate.rate)
    # read at bars 0, 3 and 6: the change at bar 2 is seen at bar 3
    assert seen == [0.0001, 0.0001, 0.0001, 0.002, 0.002, 0.002, 0.002]
    before = FundingGate(small(funding_refresh_bars=60), table)
    before.update(T0 - MINUTE)
    assert before.rate is None  # before the table starts the rate is unknown
    before.update(T0)
    assert before.rate == 0.0001  # an unknown rate is asked again on the next candle, not 60 later


# -- CVD -----------------------------------------------------------------------------------------------


def _cvd(candles: list[Candle]) -> CvdDivergence:
    bank = WindowBank()
    cvd = CvdDivergence(5, bank)
    bank.bind()
    for c in candles:
        value = cvd.update(c)
        bank.push(c, value)
    return cvd


def _range(n: int) -> list[Candle]:
    # closes on the low: every candle adds −volume, so CVD falls to −n
    return [candle(i, 100.0, 101.0, 99.0, 99.0, 1.0) for i in range(n)]


def test_new_low_without_new_cvd_low_is_bullish_divergence() -> None:
    flush = candle(6, 99.0, 99.5, 97.0, 99.5, 1.0)  # new low, closes on its high: CVD rises
    cvd = _cvd([*_range(6), flush])
    assert cvd.cvd == pytest.approx(-6 + 1)
    assert cvd.bullish and not cvd.bearish


def test_new_low_with_new_cvd_low_is_no_divergence() -> None:
    follow_through = candle(6, 99.0, 99.5, 97.0, 97.0, 1.0)  # new low, closes on it: CVD makes a new low
    assert not _cvd([*_range(6), follow_through]).bullish
    inside = candle(6, 99.0, 99.5, 99.0, 99.5, 1.0)  # CVD up but no new price low (99 is not below 99)
    assert not _cvd([*_range(6), inside]).bullish


def test_new_high_without_new_cvd_high_is_bearish_divergence() -> None:
    rising = [candle(i, 100.0, 101.0, 99.0, 101.0, 1.0) for i in range(6)]  # closes on highs: CVD +6
    stretch = candle(6, 101.0, 103.0, 100.5, 100.5, 1.0)  # new high, closes on the low
    cvd = _cvd([*rising, stretch])
    assert cvd.bearish and not cvd.bullish


# -- The shared windows ----------------------------------------------------------------------------------


def test_the_bound_push_feeds_every_window_its_series_and_none_before_bind() -> None:
    bank = WindowBank()
    windows = {
        "high": (bank.max("high", 3), bank.max("high", 5)),  # two windows of one series
        "low": (bank.min("low", 3),),
        "volume": (bank.sum("volume", 2),),
        "price_volume": (bank.sum("price_volume", 2),),
        "cvd": (bank.min("cvd", 2), bank.max("cvd", 2)),
    }
    with pytest.raises(RuntimeError, match="before bind"):
        bank.push(candle(0, 100.0, 101.0, 99.0, 100.5), 1.0)
    bank.bind()
    rows = [candle(i, 100.0, 101.0 + i, 99.0 - i, 100.5 + i) for i in range(4)]
    for k, c in enumerate(rows):
        bank.push(c, float(k) - 1.5)
    last2 = rows[-2:]
    assert [w.value for w in windows["high"]] == [104.0, 104.0]
    assert windows["low"][0].value == 96.0
    assert windows["volume"][0].total == sum(c.volume for c in last2)
    assert windows["price_volume"][0].total == sum((c.high + c.low + c.close) / 3.0 * c.volume for c in last2)
    assert (windows["cvd"][0].value, windows["cvd"][1].value) == (0.5, 1.5)
