"""`sma_atr`: the reference strategy. A fast/slow SMA crossover with an ATR volatility filter.

On each closed candle t, once the slow SMA and the ATR are defined (and were at t−1):
- bullish cross: fast_t > slow_t and fast_{t−1} <= slow_{t−1}; bearish mirrors.
- an opposite cross closes an open position (reason `signal`), even when the entry is then blocked.
- an entry is blocked when ATR_t / close_t × 100 < `min_atr_pct`.
- entries are market orders with stop distance `stop_atr_mult` × ATR_t and target `tp_r` × R.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from laptop_agents.config.models import StrategyConfig
from laptop_agents.core.candle import Candle
from laptop_agents.core.events import Event, Side, SignalGenerated
from laptop_agents.core.orders import CloseIntent, EntryIntent, Intent
from laptop_agents.indicators import ATR, SMA
from laptop_agents.strategy.base import NO_INTENTS, BaseStrategy

_CLOSE_ON_SIGNAL = CloseIntent(reason="signal")

Cross = tuple[Side, float, float, float]
"""A crossing of the averages on a candle: (direction, fast SMA, slow SMA, ATR) at its close."""


class SmaAtrStrategy(BaseStrategy):
    name = "sma_atr"
    setup = "sma_cross"

    def __init__(self, config: StrategyConfig, *, emit: Callable[[Event], None], symbol: str = "") -> None:
        self._cfg = config
        self._emit = emit
        self._symbol = symbol
        self._fast = SMA(config.fast_sma)
        self._slow = SMA(config.slow_sma)
        self._atr = ATR(config.atr_period)
        # Bound once: on_candle runs for every candle of every run.
        self._fast_update = self._fast.update
        self._slow_update = self._slow.update
        self._atr_update = self._atr.update
        self._cross = self.cross
        self._prev_fast: float | None = None
        self._prev_slow: float | None = None
        self._trail_activation = config.trail_activation_r if config.trail_enabled else None
        self._trail_distance = config.trail_distance_r if config.trail_enabled else None
        self._reason = f"sma {config.fast_sma}/{config.slow_sma} cross"

    def warmup_candles(self) -> int:
        """Candles seen before the first possible decision: both SMAs at t−1 need `slow` candles, the ATR
        `atr_period + 1`, and a decision happens on the candle after them. Warming up on exactly this many
        candles suppresses nothing a backtest of the same candles would do (live-paper parity)."""
        return max(self._cfg.slow_sma, self._cfg.atr_period)

    def state(self) -> dict[str, Any]:
        """Indicator state for a checkpoint: restoring it continues bit for bit where the run stopped."""
        return {
            "strategy": self.name,
            "fast": self._fast.state(),
            "slow": self._slow.state(),
            "atr": self._atr.state(),
            "prev_fast": self._prev_fast,
            "prev_slow": self._prev_slow,
        }

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("strategy") != self.name:
            raise ValueError(f"checkpoint holds strategy {state.get('strategy')!r}, not {self.name!r}")
        self._fast.restore(state["fast"])
        self._slow.restore(state["slow"])
        self._atr.restore(state["atr"])
        self._prev_fast, self._prev_slow = state["prev_fast"], state["prev_slow"]

    def on_candle(self, candle: Candle, position: Side | None) -> Sequence[Intent]:
        cross = self._cross(candle)
        if cross is None:
            return NO_INTENTS
        return self._on_cross(candle, *cross, position)

    def cross(self, candle: Candle) -> Cross | None:
        """Update the indicators with `candle`; the crossing it makes, if any (validate shares these between
        candidates whose indicators are the same: `validate.shared`)."""
        close = candle.close
        fast = self._fast_update(close)
        slow = self._slow_update(close)
        atr = self._atr_update(candle.high, candle.low, close)
        prev_fast = self._prev_fast
        prev_slow = self._prev_slow
        self._prev_fast = fast
        self._prev_slow = slow
        # Decisions need both SMAs at t and t−1, and the ATR at t.
        if prev_slow is None or prev_fast is None or slow is None or fast is None or atr is None:
            return None
        if fast > slow:
            if prev_fast <= prev_slow:
                return "long", fast, slow, atr
        elif fast < slow and prev_fast >= prev_slow:
            return "short", fast, slow, atr
        return None

    def _on_cross(
        self, candle: Candle, direction: Side, fast: float, slow: float, atr: float, position: Side | None
    ) -> Sequence[Intent]:
        cfg = self._cfg
        atr_pct = atr / candle.close * 100.0
        allowed = atr_pct >= cfg.min_atr_pct and position != direction
        blocked = None
        if atr_pct < cfg.min_atr_pct:
            blocked = "min_atr_pct"
        elif position == direction:
            blocked = "already_in_position"
        self._emit(
            SignalGenerated(
                ts=candle.ts,
                symbol=self._symbol,
                direction=direction,
                setup=self.setup,
                reason="bullish_cross" if direction == "long" else "bearish_cross",
                entry_allowed=allowed,
                blocked_reason=blocked,
                indicators={"fast_sma": fast, "slow_sma": slow, "atr": atr, "atr_pct": atr_pct},
            )
        )
        return self._intents(direction, atr, allowed, position)

    def _decide(self, candle: Candle, direction: Side, atr: float, position: Side | None) -> Sequence[Intent]:
        """What `_on_cross` returns, without its `SignalGenerated` (for a caller that keeps no event log)."""
        allowed = atr / candle.close * 100.0 >= self._cfg.min_atr_pct and position != direction
        return self._intents(direction, atr, allowed, position)

    def _intents(self, direction: Side, atr: float, allowed: bool, position: Side | None) -> Sequence[Intent]:
        """A crossing's intents: close an opposite position, then enter when allowed."""
        cfg = self._cfg
        intents: list[Intent] = []
        if position is not None and position != direction:
            intents.append(_CLOSE_ON_SIGNAL)
        if allowed:
            intents.append(
                EntryIntent(
                    side=direction,
                    stop_distance=cfg.stop_atr_mult * atr,
                    target_r=cfg.tp_r,
                    setup=self.setup,
                    reason=self._reason,
                    trail_activation_r=self._trail_activation,
                    trail_distance_r=self._trail_distance,
                )
            )
        return intents
