"""What a checkpoint (`state.json`) holds about the trading core: books, position, breaker, ids."""

from __future__ import annotations

from typing import Any

from laptop_agents.engine.trading_core import TradingCore


def core_snapshot(core: TradingCore) -> dict[str, Any]:
    broker = core.broker
    breaker = core.breaker
    last = core.last_candle
    position = broker.position
    return {
        "symbol": core.symbol,
        "candles": core.candles,
        "last_candle_ts": last.ts if last else None,
        "next_client_order_n": core.ids.next_n,
        "next_trade_id": broker.next_trade_id,
        "cash": broker.cash,
        "realized_pnl": broker.realized_pnl,
        "fees_paid": broker.fees_paid,
        "funding_paid": broker.funding_paid,
        "equity": broker.equity(last.close) if last else broker.cash,
        "position": None
        if position is None
        else {
            "trade_id": position.trade_id,
            "client_order_id": position.client_order_id,
            "side": position.side,
            "qty": position.qty,
            "entry_ts": position.entry_ts,
            "entry_price": position.entry_price,
            "entry_fee": position.entry_fee,
            "stop": position.stop,
            "initial_stop": position.initial_stop,
            "target": position.target,
            "setup": position.setup,
            "best_close": position.best_close,
            "stop_moved": position.stop_moved,
            "funding": position.funding,
            "trail_activation_r": position.trail_activation_r,
            "trail_distance_r": position.trail_distance_r,
        },
        "pending_orders": sorted(broker.pending),
        "circuit_breaker": {
            "tripped": breaker.tripped,
            "peak_equity": breaker.peak,
            "consecutive_losses": breaker.consecutive_losses,
            "bars_since_trip": breaker.bars_since_trip,
        },
        "halts": dict(core.halts),
    }
