"""One candidate on one window of candles: the same TradingCore as a backtest, in memory, no files.

The strategy warms up on the candles before the window with entries halted (`warmup`), so a window's
first candles trade exactly as they would inside a longer run; PnL and drawdown count from the window's
first candle, and a position still open at its end is closed at the last close (as a backtest ends).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from laptop_agents.config.models import Settings, ValidateConfig
from laptop_agents.core.candle import Candle
from laptop_agents.core.events import Event, PositionClosed
from laptop_agents.engine.assembly import build_core
from laptop_agents.engine.trading_core import TradingCore
from laptop_agents.strategy.base import Strategy

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


def warm_start(strategy: Strategy, start: int) -> int:
    """The first candle the strategy warms up on for a window starting at `start`."""
    return max(0, start - strategy.warmup_candles())


def evaluate(settings: Settings, candles: Sequence[Candle], start: int, end: int) -> Score:
    return evaluate_with_curve(settings, candles, start, end, points=0)[0]


class Tally:
    """What a window's score counts as its candles close: the peak, the deepest fall from it, and with
    `points` > 0 the equity of every `every`-th candle for the report's curve."""

    __slots__ = ("balance", "counting", "curve", "every", "peak", "seen", "worst", "worst_pct")

    def __init__(self, balance: float, start: int, end: int, points: int) -> None:
        self.balance = balance
        self.peak = balance
        self.worst = 0.0
        self.worst_pct = 0.0
        self.counting = False
        """False while the strategy warms up on the candles before the window."""
        self.curve: Curve = []
        self.every = max(1, -(-(end - start) // points)) if points > 0 else 0
        self.seen = 0

    def on_equity(self, candle: Candle, equity: float, _open: bool) -> None:
        if not self.counting:
            return
        if self.every:
            self.seen += 1
            if self.seen % self.every == 0:
                self.curve.append((candle.ts, equity))
        if equity > self.peak:
            self.peak = equity
        elif self.peak - equity > self.worst:
            self.worst = self.peak - equity
            self.worst_pct = self.worst / self.peak * 100.0

    def score(self, core: TradingCore, trades: list[PositionClosed], candles: Sequence[Candle], start: int,
              end: int) -> tuple[Score, Curve]:  # fmt: skip
        """The window's end: a position still open is closed at the last close, as a backtest ends."""
        core.finish()
        final = core.account.cash
        if final < self.peak and self.peak - final > self.worst:  # the close at the end can deepen the drawdown
            self.worst, self.worst_pct = self.peak - final, (self.peak - final) / self.peak * 100.0
        curve = self.curve
        if self.every and end > start:
            curve.insert(0, (candles[start].ts, self.balance))
            curve.append((candles[end - 1].ts, final))
        score = Score(
            net_pnl=final - self.balance,
            max_drawdown=self.worst,
            max_drawdown_pct=self.worst_pct,
            trades=len(trades),
            wins=sum(1 for t in trades if t.net_pnl > 0),
            candles=end - start,
        )
        return score, curve


def closed_trades() -> tuple[list[PositionClosed], Callable[[Event], None]]:
    """A list of the trades a window closes, and the event sink that fills it (the rest is dropped)."""
    trades: list[PositionClosed] = []

    def sink(event: Event) -> None:
        if type(event) is PositionClosed:
            trades.append(event)

    return trades, sink


def evaluate_with_curve(
    settings: Settings, candles: Sequence[Candle], start: int, end: int, *, points: int
) -> tuple[Score, Curve]:
    """The score, and with `points` > 0 the window's equity in at most about that many points (each the
    last equity of its bucket), for the report's stitched out-of-sample curve."""
    trades, sink = closed_trades()
    tally = Tally(settings.broker.starting_balance, start, end, points)
    core = build_core(settings, emit=sink, on_equity=tally.on_equity, order_id_prefix="va")
    warm_from = warm_start(core.strategy, start)
    on_candle = core.on_candle
    if warm_from < start:
        core.halts[WARMUP_HALT] = "validation warm-up: indicators only"
        for candle in candles[warm_from:start]:
            on_candle(candle)
        del core.halts[WARMUP_HALT]
    tally.counting = True
    for candle in candles[start:end]:
        on_candle(candle)
    return tally.score(core, trades, candles, start, end)
