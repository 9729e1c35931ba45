"""One candidate on one window of candles: the same TradingCore as a backtest, in memory, no files.

The strategy warms up on the candles before the window with entries halted (`warmup`), so a window's
first candles trade exactly as they would inside a longer run; PnL and drawdown count from the window's
first candle, and a position still open at its end is closed at the last close (as a backtest ends).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from laptop_agents.config.models import Settings, ValidateConfig
from laptop_agents.core.candle import Candle
from laptop_agents.core.events import Event, PositionClosed
from laptop_agents.engine.assembly import build_core

WARMUP_HALT = "warmup"


@dataclass(frozen=True, slots=True)
class Score:
    net_pnl: float
    max_drawdown: float
    """Largest fall of equity from its peak within the window, quote currency."""
    max_drawdown_pct: float
    trades: int
    wins: int
    candles: int

    def objective(self, config: ValidateConfig) -> float:
        if config.objective == "net_pnl":
            return self.net_pnl
        if config.objective == "return_over_dd":
            return self.net_pnl / self.max_drawdown if self.max_drawdown > 0 else self.net_pnl
        return self.net_pnl - config.dd_penalty * self.max_drawdown

    def as_dict(self, config: ValidateConfig) -> dict[str, Any]:
        return {**asdict(self), "objective": self.objective(config)}


Curve = list[tuple[int, float]]
"""(ts, equity) of a window: its first candle at the starting balance, then one point per bucket."""


def evaluate(settings: Settings, candles: Sequence[Candle], start: int, end: int) -> Score:
    return evaluate_with_curve(settings, candles, start, end, points=0)[0]


def evaluate_with_curve(
    settings: Settings, candles: Sequence[Candle], start: int, end: int, *, points: int
) -> tuple[Score, Curve]:
    """The score, and with `points` > 0 the window's equity in at most about that many points (each the
    last equity of its bucket), for the report's stitched out-of-sample curve."""
    trades: list[PositionClosed] = []

    def sink(event: Event) -> None:
        if type(event) is PositionClosed:
            trades.append(event)

    balance = settings.broker.starting_balance
    peak = balance
    worst = 0.0
    worst_pct = 0.0
    counting = False
    curve: Curve = []
    every = max(1, -(-(end - start) // points)) if points > 0 else 0
    seen = 0

    def on_equity(candle: Candle, equity: float, _open: bool) -> None:
        nonlocal peak, worst, worst_pct, seen
        if not counting:
            return
        if every:
            seen += 1
            if seen % every == 0:
                curve.append((candle.ts, equity))
        if equity > peak:
            peak = equity
        elif peak - equity > worst:
            worst = peak - equity
            worst_pct = worst / peak * 100.0

    core = build_core(settings, emit=sink, on_equity=on_equity, order_id_prefix="va")
    warm_from = max(0, start - core.strategy.warmup_candles())
    on_candle = core.on_candle
    if warm_from < start:
        core.halts[WARMUP_HALT] = "validation warm-up: indicators only"
        for candle in candles[warm_from:start]:
            on_candle(candle)
        del core.halts[WARMUP_HALT]
    counting = True
    for candle in candles[start:end]:
        on_candle(candle)
    core.finish()
    final = core.account.cash
    if final < peak and peak - final > worst:  # the close at the end can deepen the drawdown
        worst, worst_pct = peak - final, (peak - final) / peak * 100.0
    if every and end > start:
        curve.insert(0, (candles[start].ts, balance))
        curve.append((candles[end - 1].ts, final))
    score = Score(
        net_pnl=final - balance,
        max_drawdown=worst,
        max_drawdown_pct=worst_pct,
        trades=len(trades),
        wins=sum(1 for t in trades if t.net_pnl > 0),
        candles=end - start,
    )
    return score, curve
