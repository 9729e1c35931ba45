"""An example of your own strategy: a Donchian channel breakout with an ATR stop.

Run it with `la run --mode backtest --strategy examples.breakout:DonchianBreakout` from the checkout, and
set its parameters with `--set strategy.params='{"lookback": 40}'`. docs/STRATEGIES.md walks through it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from laptop_agents.core.candle import Candle
from laptop_agents.core.events import Event, Side, SignalGenerated
from laptop_agents.core.orders import CloseIntent, EntryIntent, Intent
from laptop_agents.indicators import ATR
from laptop_agents.strategy.base import BaseStrategy


class DonchianBreakout(BaseStrategy):
    """Go long when the close breaks above the highest high of the last `lookback` candles, short below the
    lowest low; the stop sits `stop_atr_mult` ATRs away and the target `tp_r` times that distance."""

    name = "donchian_breakout"

    def __init__(self, params: dict[str, Any], *, emit: Callable[[Event], None], symbol: str) -> None:
        self.lookback = int(params.get("lookback", 55))
        self.stop_atr_mult = float(params.get("stop_atr_mult", 2.0))
        self.tp_r = float(params.get("tp_r", 3.0))
        if self.lookback < 2 or self.stop_atr_mult <= 0 or self.tp_r <= 0:
            raise ValueError("need lookback >= 2, stop_atr_mult > 0 and tp_r > 0")
        self._atr = ATR(int(params.get("atr_period", 14)))
        self._highs: deque[float] = deque(maxlen=self.lookback)
        self._lows: deque[float] = deque(maxlen=self.lookback)
        self._emit = emit
        self._symbol = symbol

    def warmup_candles(self) -> int:
        """Candles seen before the first possible decision."""
        return max(self.lookback, self._atr.period)

    def on_candle(self, candle: Candle, position: Side | None) -> Sequence[Intent]:
        atr = self._atr.update(candle.high, candle.low, candle.close)
        intents: list[Intent] = []
        if atr is not None and len(self._highs) == self.lookback:
            direction: Side | None = None
            if candle.close > max(self._highs):
                direction = "long"
            elif candle.close < min(self._lows):
                direction = "short"
            if direction is not None and direction != position:
                self._emit(
                    SignalGenerated(
                        ts=candle.ts,
                        symbol=self._symbol,
                        direction=direction,
                        setup=self.name,
                        reason=f"{self.lookback}-candle breakout",
                        entry_allowed=True,
                        indicators={"atr": atr},
                    )
                )
                if position is not None:
                    intents.append(CloseIntent(reason="signal"))
                intents.append(
                    EntryIntent(
                        side=direction,
                        stop_distance=self.stop_atr_mult * atr,
                        target_r=self.tp_r,
                        setup=self.name,
                        reason="channel breakout",
                    )
                )
        self._highs.append(candle.high)
        self._lows.append(candle.low)
        return intents

    def state(self) -> dict[str, Any]:
        """Everything needed to continue exactly after a restart (live-paper checkpoints keep it)."""
        return {"strategy": self.name, "highs": list(self._highs), "lows": list(self._lows), "atr": self._atr.state()}

    def restore(self, state: dict[str, Any]) -> None:
        self._highs.clear()
        self._highs.extend(state["highs"])
        self._lows.clear()
        self._lows.extend(state["lows"])
        self._atr.restore(state["atr"])
