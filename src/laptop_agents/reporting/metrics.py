"""The run's headline statistics, computed from the trade log and the equity curve."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from laptop_agents.reporting.breakdown import cagr_pct
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
    sortino: float | None
    fees: float
    funding: float
    exposure_pct: float
    candles: int
    days: int
    exit_reasons: dict[str, int]
    first_ts: int | None = None
    last_ts: int | None = None
    cagr_pct: float | None = None
    """Compound annual growth; None under 90 days."""
    max_drawdown_start_ts: int | None = None
    """The deepest drawdown: the first candle under the peak, the trough, and the candle back at the peak
    (None: not recovered by the end)."""
    max_drawdown_trough_ts: int | None = None
    max_drawdown_recovered_ts: int | None = None
    longest_drawdown_ms: int = 0
    """The longest time under water, from the first candle below a peak to the one back at it."""

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
        sortino=equity.sortino,
        fees=trades.fees,
        funding=trades.funding,
        exposure_pct=equity.exposure_pct,
        candles=candles,
        days=equity.days,
        exit_reasons=dict(sorted(trades.exit_reasons.items())),
        first_ts=equity.first_ts,
        last_ts=equity.last_ts,
        cagr_pct=cagr_pct(start, final_equity, equity.first_ts, equity.last_ts),
        max_drawdown_start_ts=_ts(equity.max_dd_start_ts),
        max_drawdown_trough_ts=_ts(equity.max_dd_trough_ts),
        max_drawdown_recovered_ts=_ts(equity.max_dd_recovered_ts),
        longest_drawdown_ms=equity.longest_dd_ms,
    )


def _ts(value: int) -> int | None:
    return None if value < 0 else value
