"""The events a position's life emits, built the same way by the paper and the live books."""

from __future__ import annotations

from laptop_agents.core.events import ExitReason, PositionClosed, PositionOpened
from laptop_agents.core.orders import Position


def position_opened(symbol: str, position: Position) -> PositionOpened:
    return PositionOpened(
        ts=position.entry_ts,
        symbol=symbol,
        trade_id=position.trade_id,
        side=position.side,
        qty=position.qty,
        entry_price=position.entry_price,
        stop_price=position.stop,
        target_price=position.target,
        setup=position.setup,
    )


def position_closed(
    symbol: str,
    position: Position,
    *,
    ts: int,
    qty: float,
    exit_price: float,
    pnl: float,
    exit_fee: float,
    reason: ExitReason,
) -> PositionClosed:
    """Fees are the entry's and the exit's; net PnL is after both (funding is reported beside it)."""
    fees = position.entry_fee + exit_fee
    return PositionClosed(
        ts=ts,
        symbol=symbol,
        trade_id=position.trade_id,
        side=position.side,
        qty=qty,
        entry_ts=position.entry_ts,
        entry_price=position.entry_price,
        exit_price=exit_price,
        pnl=pnl,
        fees=fees,
        net_pnl=pnl - fees,
        funding=position.funding,
        exit_reason=reason,
        setup=position.setup,
    )
