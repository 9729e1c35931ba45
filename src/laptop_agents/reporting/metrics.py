"""The run's headline statistics, computed from the trade log and the equity curve."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from laptop_agents.reporting.curves import Curves
from laptop_agents.reporting.trade_log import TradeLog


@dataclass(frozen=True, slots=True)
class RunSummary:
    starting_balance: float
    final_equity: float
    net_pnl: float
    return_pct: float
    trades: int
    win_rate_pct: float | None
    profit_factor: float | None
    """Gross profit / gross loss of net trade PnL; None without losing trades."""
    max_drawdown_pct: float
    sharpe: float | None
    fees: float
    funding: float
    exposure_pct: float
    candles: int
    days: int
    exit_reasons: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(trades: TradeLog, equity: Curves, *, final_equity: float, candles: int) -> RunSummary:
    start = equity.starting_balance
    profit_factor = trades.gross_profit / trades.gross_loss if trades.gross_loss > 0 else None
    if profit_factor is not None and not math.isfinite(profit_factor):
        profit_factor = None
    return RunSummary(
        starting_balance=start,
        final_equity=final_equity,
        net_pnl=final_equity - start,
        return_pct=(final_equity / start - 1.0) * 100.0,
        trades=trades.count,
        win_rate_pct=100.0 * trades.wins / trades.count if trades.count else None,
        profit_factor=profit_factor,
        max_drawdown_pct=equity.max_drawdown_pct,
        sharpe=equity.sharpe,
        fees=trades.fees,
        funding=trades.funding,
        exposure_pct=equity.exposure_pct,
        candles=candles,
        days=equity.days,
        exit_reasons=dict(sorted(trades.exit_reasons.items())),
    )
