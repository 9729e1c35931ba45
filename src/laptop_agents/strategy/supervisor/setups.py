"""A3 SetupSignal: the two setups. Each returns a `Setup`, or the reason (a stable code) there is none.

`pullback_ribbon`: in an UP trend, a close within `pullback_entry_band_atr` × ATR above EMA(fast) arms
a buy limit at EMA(fast) (the ribbon); stop = entry − ATR × `pullback_stop_atr_mult`, target = entry +
R × `pullback_tp_r_mult`. DOWN mirrors with a sell limit.

`sweep_invalidation`: the candle wicks beyond the prior `sweep_lookback_bars` swing low (high) and closes
back above (below) it: the stops under the low were taken and price was refused there. A market entry
at the close, back into the range. Optional filters: EMA (longs only above EMA(slow)), volume (at least
`sweep_min_vol_ratio` × the average of the prior `sweep_vol_avg_bars`), CVD (a divergence the same way).
Stop beyond the sweep's wick by ATR × `sweep_stop_atr_mult`; target the VWAP of the last `vwap_bars`
candles (refused when the VWAP is not beyond the entry) or R × `sweep_tp_r_mult`.
"""

from __future__ import annotations

from typing import NamedTuple

from laptop_agents.core.candle import Candle
from laptop_agents.core.events import Side
from laptop_agents.core.orders import EntryType
from laptop_agents.strategy.supervisor.cvd import CvdDivergence
from laptop_agents.strategy.supervisor.intake import MarketIntake
from laptop_agents.strategy.supervisor.params import SupervisorParams
from laptop_agents.strategy.supervisor.windows import WindowBank


class Setup(NamedTuple):
    """A setup found on this candle (a named tuple: made on many candles, so it must be cheap to build)."""

    name: str
    side: Side
    entry_type: EntryType
    entry: float
    """The limit price, or the close a market entry is decided at."""
    stop: float
    target: float
    """The planned target price (for the journal and reward/risk)."""
    reason: str
    target_r: float | None = None
    """When set, the order's target is this many R from the actual fill (else `target` is absolute)."""

    @property
    def stop_distance(self) -> float:
        return abs(self.entry - self.stop)

    @property
    def reward_risk(self) -> float:
        return abs(self.target - self.entry) / self.stop_distance


class PullbackRibbon:
    name = "pullback_ribbon"

    def __init__(self, params: SupervisorParams, intake: MarketIntake) -> None:
        self._intake = intake
        self._band = params.pullback_entry_band_atr
        self._stop_mult = params.pullback_stop_atr_mult
        self._tp = params.pullback_tp_r_mult

    def evaluate(self, candle: Candle) -> Setup | str:
        m = self._intake
        trend = m.trend
        if trend == "CHOP":
            return "no_trend"
        ribbon, atr = m.ema_fast, m.atr
        assert ribbon is not None  # the supervisor asks only once intake is ready
        assert atr is not None
        distance = candle.close - ribbon if trend == "UP" else ribbon - candle.close
        if distance > self._band * atr:
            return "away_from_ribbon"
        risk = atr * self._stop_mult
        tp = self._tp
        if trend == "UP":
            return Setup(
                self.name, "long", "limit", ribbon, ribbon - risk, ribbon + risk * tp, "pullback to EMA, UP", tp
            )
        return Setup(
            self.name, "short", "limit", ribbon, ribbon + risk, ribbon - risk * tp, "pullback to EMA, DOWN", tp
        )


class SweepInvalidation:
    name = "sweep_invalidation"

    def __init__(self, params: SupervisorParams, intake: MarketIntake, cvd: CvdDivergence, windows: WindowBank) -> None:
        self._intake = intake
        self._cvd = cvd
        self._highs = windows.max("high", params.sweep_lookback_bars)
        self._lows = windows.min("low", params.sweep_lookback_bars)
        self._ema_filter = params.sweep_ema_filter
        self._vol_ratio = params.sweep_min_vol_ratio
        self._volumes = windows.sum("volume", params.sweep_vol_avg_bars) if params.sweep_min_vol_ratio > 0 else None
        self._cvd_confirm = params.sweep_cvd_confirm
        self._stop_mult = params.sweep_stop_atr_mult
        self._vwap = params.sweep_target == "vwap"
        self._tp = params.sweep_tp_r_mult
        self._pv = windows.sum("price_volume", params.vwap_bars) if self._vwap else None
        self._v = windows.sum("volume", params.vwap_bars) if self._vwap else None

    def evaluate(self, candle: Candle) -> Setup | str:
        swing_high, swing_low = self._highs.value, self._lows.value
        if swing_high is None or swing_low is None or not self._highs.full:
            return "not_ready"
        close = candle.close
        swept_low = candle.low < swing_low and close > swing_low
        swept_high = candle.high > swing_high and close < swing_high
        if swept_low == swept_high:
            return "two_sided_sweep" if swept_low else "no_sweep"
        side: Side = "long" if swept_low else "short"
        m = self._intake
        if self._ema_filter:
            slow = m.ema_slow
            assert slow is not None
            if (close <= slow) if side == "long" else (close >= slow):
                return "ema_filter"
        volumes = self._volumes
        if volumes is not None:
            average = volumes.mean
            if average is None or candle.volume < self._vol_ratio * average:
                return "low_volume"
        if self._cvd_confirm and not (self._cvd.bullish if side == "long" else self._cvd.bearish):
            return "cvd_not_confirming"
        atr = m.atr
        assert atr is not None
        if side == "long":
            stop = candle.low - atr * self._stop_mult
            level, reason = swing_low, "swept the swing low and closed back above it"
        else:
            stop = candle.high + atr * self._stop_mult
            level, reason = swing_high, "swept the swing high and closed back below it"
        risk = abs(close - stop)
        if self._vwap:
            assert self._pv is not None  # sweep_target vwap
            assert self._v is not None
            # VWAP of the last vwap_bars candles, this one included (its values are pushed after reading)
            volume = self._v.total + candle.volume
            if volume <= 0.0:
                return "no_volume_for_vwap"
            pv = self._pv.total + (candle.high + candle.low + close) / 3.0 * candle.volume
            if self._v.full:
                pv -= self._pv.oldest()
                volume -= self._v.oldest()
            target = pv / volume
            if (target <= close) if side == "long" else (target >= close):
                return "vwap_behind_entry"
            return Setup(self.name, side, "market", close, stop, target, f"{reason} ({level:g})")
        tp = self._tp
        target = close + risk * tp if side == "long" else close - risk * tp
        return Setup(self.name, side, "market", close, stop, target, f"{reason} ({level:g})", tp)
