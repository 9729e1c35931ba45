"""What a checkpoint (`state.json`) holds about the trading core, and how a restart restores it exactly.

Everything that decides the next trade is in it: the books and the open position (broker), the breaker,
the next client order id, the candle count and the last candle, and the strategy's indicator state (a
re-warm from recent history would not do: Wilder's ATR remembers all of history).
"""

from __future__ import annotations

from typing import Any

from laptop_agents.core.candle import Candle
from laptop_agents.core.errors import CheckpointError
from laptop_agents.engine.portfolio import Portfolio
from laptop_agents.engine.trading_core import TradingCore


def portfolio_snapshot(portfolio: Portfolio) -> dict[str, Any]:
    """Every symbol's core under `symbols`, plus the account-level figures a reader wants at a glance."""
    return {
        "symbols": {symbol: core_snapshot(core) for symbol, core in portfolio.cores.items()},
        "cash": portfolio.account.cash,
        "equity": portfolio.equity(),
        "candles": portfolio.candles,
        "trades": portfolio.trades,
        "positions": portfolio.positions(),
        "circuit_breaker": portfolio.breaker.state(),
    }


def restore_portfolio(portfolio: Portfolio, snapshot: dict[str, Any], *, restore_cash: bool = True) -> None:
    """Restore every symbol, then the shared breaker and account, and check the books add up.
    `restore_cash=False` when the books are rebuilt from elsewhere (the live order journal)."""
    saved = snapshot.get("symbols")
    if not isinstance(saved, dict) or set(saved) != set(portfolio.symbols):
        found = ", ".join(saved) if isinstance(saved, dict) else "nothing"
        raise CheckpointError(
            f"the checkpoint holds {found}; this run is configured for {', '.join(portfolio.symbols)}: "
            "resume with the same data.symbols"
        )
    for symbol, core in portfolio.cores.items():
        restore_core(core, saved[symbol])
    portfolio.breaker.restore(snapshot["circuit_breaker"])
    account = portfolio.account
    if restore_cash:
        account.cash = float(snapshot["cash"])
    if account.shared:
        for core in portfolio:
            core.mark_on_account(core.unrealized())
    portfolio.check_invariants()


def core_snapshot(core: TradingCore) -> dict[str, Any]:
    broker = core.broker
    last = core.last_candle
    position = broker.position
    return {
        "symbol": core.symbol,
        "candles": core.candles,
        "trades": core.trades,
        "last_candle_ts": last.ts if last else None,
        "last_candle": list(last.as_tuple()) if last else None,
        "next_client_order_n": core.ids.next_n,
        "cash": broker.cash,
        "equity": broker.equity(last.close) if last else broker.cash,
        "position_side": None if position is None else position.side,
        "position_qty": None if position is None else position.qty,
        "broker": broker.state(),
        "circuit_breaker": core.breaker.state(),
        "strategy": core.strategy.state(),
        "halts": dict(core.halts),
        "breaker_shadow": None if core.shadow is None else core.shadow.state(),
    }


def restore_core(core: TradingCore, snapshot: dict[str, Any]) -> None:
    """Put a freshly built core back exactly where `core_snapshot` found it (halts are not restored:
    a kill switch is re-read from its file, stale data is judged afresh)."""
    if snapshot.get("symbol") != core.symbol:
        raise ValueError(f"checkpoint is for {snapshot.get('symbol')!r}, this run trades {core.symbol!r}")
    core.broker.restore(snapshot["broker"])
    core.breaker.restore(snapshot["circuit_breaker"])
    try:
        core.strategy.restore(snapshot["strategy"])
    except Exception as exc:  # the strategy's own check (or a user strategy's failure): bad input, one line
        raise CheckpointError(
            f"{core.symbol}: the checkpoint's state does not fit strategy {core.strategy.name!r} as configured ({exc})"
        ) from None
    shadow = snapshot.get("breaker_shadow")  # absent in checkpoints from before it existed: starts afresh
    if core.shadow is not None and shadow is not None:
        core.shadow.restore(shadow)
    core.ids.next_n = int(snapshot["next_client_order_n"])
    core.candles = int(snapshot["candles"])
    core.trades = int(snapshot.get("trades", 0))
    last = snapshot.get("last_candle")
    core.last_candle = None if last is None else Candle.from_list(last)
