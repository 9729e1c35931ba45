"""The supervisor's parameters: one pydantic model, so a parameter file or a `--grid` value that makes no
sense is refused with the field's name before anything runs. Units are in the descriptions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SetupName = Literal["pullback_ribbon", "sweep_invalidation"]
Regime = Literal["LOW_VOL", "NORMAL", "HIGH_VOL"]


class SupervisorParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # A1 MarketIntake
    ema_fast: int = Field(20, ge=1, le=1_000, description="A1: fast EMA of close, candles")
    ema_slow: int = Field(50, ge=2, le=5_000, description="A1: slow EMA of close, candles")
    atr_period: int = Field(14, ge=1, le=1_000, description="A1: Wilder ATR period, candles")
    low_vol_atr_pct: float = Field(0.03, ge=0, le=100, description="A1: ATR below this % of price is LOW_VOL")
    high_vol_atr_pct: float = Field(0.3, gt=0, le=100, description="A1: ATR at or above this % of price is HIGH_VOL")
    swing_lookback: int = Field(20, ge=2, le=5_000, description="A1: swing high/low over this many prior candles")
    equal_level_tol_pct: float = Field(
        0.05, ge=0, le=10, description="A1: a high (low) within this % of the swing high (low) is an equal high (low)"
    )
    blocked_regimes: list[Regime] = Field(["LOW_VOL"], description="A4: no entries in these volatility regimes")
    high_vol_size_mult: float = Field(0.5, gt=0, le=1, description="A4: size multiplier in HIGH_VOL")

    # A2 DerivativesFlows (rates per 8 h funding period, as fractions: 0.0001 = 0.01 %)
    funding_refresh_bars: int = Field(60, ge=1, le=100_000, description="A2: read the funding rate every N candles")
    funding_half_size_above: float = Field(
        0.0005, ge=0, description="A2: half size when the side we take pays more than this rate"
    )
    funding_no_trade_above: float = Field(0.001, ge=0, description="A2: no entry when the side we take pays more")
    funding_halt_above: float = Field(0.003, ge=0, description="A2: no entry either way when |rate| is above this")
    require_funding: bool = Field(False, description="A2: true = no entry while the funding rate is unknown")

    # CVD divergence
    cvd_lookback: int = Field(20, ge=2, le=5_000, description="CVD: new N-candle low/high that CVD must not confirm")

    # A3 SetupSignal
    setups: list[SetupName] = Field(
        ["pullback_ribbon", "sweep_invalidation"], min_length=1, description="A3: setups tried, in this order"
    )
    pullback_entry_band_atr: float = Field(
        0.5, gt=0, le=100, description="pullback_ribbon: the close within this × ATR of EMA(fast) arms the limit"
    )
    pullback_stop_atr_mult: float = Field(1.5, gt=0, le=100, description="pullback_ribbon: stop = entry ∓ ATR × this")
    pullback_tp_r_mult: float = Field(2.0, gt=0, le=100, description="pullback_ribbon: target = entry ± R × this")
    sweep_lookback_bars: int = Field(20, ge=2, le=5_000, description="sweep_invalidation: the prior swing, candles")
    sweep_ema_filter: bool = Field(False, description="sweep_invalidation: longs only above EMA(slow), shorts below")
    sweep_min_vol_ratio: float = Field(
        0.0, ge=0, le=100, description="sweep_invalidation: volume ≥ this × the average volume (0 = off)"
    )
    sweep_vol_avg_bars: int = Field(20, ge=1, le=5_000, description="sweep_invalidation: average volume window")
    sweep_cvd_confirm: bool = Field(False, description="sweep_invalidation: require a CVD divergence the same way")
    sweep_stop_atr_mult: float = Field(
        0.5, gt=0, le=100, description="sweep_invalidation: stop beyond the sweep's wick by ATR × this"
    )
    sweep_target: Literal["vwap", "r"] = Field(
        "vwap", description="sweep_invalidation: target at the VWAP of the last vwap_bars, or at R × sweep_tp_r_mult"
    )
    sweep_tp_r_mult: float = Field(2.0, gt=0, le=100, description="sweep_invalidation: target in R (sweep_target r)")
    vwap_bars: int = Field(60, ge=1, le=5_000, description="sweep_invalidation: VWAP window, candles")

    # A4 ExecutionRiskSentinel and pending triggers
    cooldown_bars: int = Field(5, ge=0, le=100_000, description="A4: no entry for N candles after a position closes")
    pending_trigger_max_bars: int = Field(
        5, ge=1, le=100_000, description="a limit/trigger entry not filled after N candles is cancelled"
    )

    # A5 JournalCoach
    stopped_fast_bars: int = Field(
        3, ge=0, le=1_000, description="A5: a stop-out within N candles is tagged stopped_fast"
    )

    @model_validator(mode="after")
    def _check(self) -> SupervisorParams:
        if self.ema_fast >= self.ema_slow:
            raise ValueError(f"ema_fast ({self.ema_fast}) must be smaller than ema_slow ({self.ema_slow})")
        if self.low_vol_atr_pct >= self.high_vol_atr_pct:
            raise ValueError(
                f"low_vol_atr_pct ({self.low_vol_atr_pct}) must be below high_vol_atr_pct ({self.high_vol_atr_pct})"
            )
        if not self.funding_half_size_above <= self.funding_no_trade_above <= self.funding_halt_above:
            raise ValueError(
                "funding thresholds must rise: funding_half_size_above <= funding_no_trade_above <= funding_halt_above"
            )
        return self
