"""Portfolio: the trading cores of one run, one per symbol, on one account behind one circuit breaker.

Each symbol keeps its own strategy, broker (position, fills, client ids) and candle stream; what they
share is the account (cash, equity, the leverage budget) and the breaker (it trips on the account's
drawdown and on losses in any symbol). Halts are per symbol (stale data on one feed stops entries on that
symbol only); `halt` applies one to every symbol (kill switch, stopping).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from laptop_agents.core.errors import InvariantError
from laptop_agents.core.events import ExitReason, PositionClosed
from laptop_agents.engine.breaker_shadow import ShadowTally
from laptop_agents.engine.trading_core import TradingCore
from laptop_agents.execution.account import Account
from laptop_agents.risk.circuit_breaker import CircuitBreaker


class Portfolio:
    def __init__(self, cores: Mapping[str, TradingCore]) -> None:
        if not cores:
            raise ValueError("a portfolio needs at least one symbol")
        self.cores: dict[str, TradingCore] = dict(cores)
        first = next(iter(self.cores.values()))
        self.account: Account = first.account
        self.breaker: CircuitBreaker = first.breaker
        for symbol, core in self.cores.items():
            if core.symbol != symbol or core.account is not self.account or core.breaker is not self.breaker:
                raise InvariantError(f"core {symbol} does not share the portfolio's account and breaker")

    @classmethod
    def of(cls, core: TradingCore) -> Portfolio:
        """A one-symbol portfolio around an existing core."""
        return cls({core.symbol: core})

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self.cores)

    @property
    def primary(self) -> TradingCore:
        """The first symbol's core: run-level events name it, and the report charts its price."""
        return next(iter(self.cores.values()))

    @property
    def label(self) -> str:
        """What run-level events carry as their symbol: the symbol, or the symbols joined by commas."""
        return ",".join(self.cores)

    def __iter__(self) -> Iterator[TradingCore]:
        return iter(self.cores.values())

    @property
    def candles(self) -> int:
        return sum(core.candles for core in self)

    @property
    def trades(self) -> int:
        return sum(core.trades for core in self)

    @property
    def last_ts(self) -> int | None:
        stamps = [core.last_candle.ts for core in self if core.last_candle is not None]
        return max(stamps) if stamps else None

    def prevented(self) -> ShadowTally | None:
        """The breaker's refused entries taken on paper, every symbol's (None with the breaker off)."""
        shadows = [(core.shadow, core.last_candle) for core in self if core.shadow is not None]
        if not shadows:
            return None
        total = ShadowTally()
        for shadow, last in shadows:
            total.add(shadow.snapshot(last))
        return total

    def equity(self) -> float:
        """Cash plus every open position marked at its symbol's last close."""
        return self.account.cash + sum(core.unrealized() for core in self)

    def positions(self) -> dict[str, dict[str, object]]:
        """Open positions by symbol: side, quantity, entry, stop and target, and their mark at the last close."""
        out: dict[str, dict[str, object]] = {}
        for symbol, core in self.cores.items():
            p = core.broker.position
            if p is not None:
                last = core.last_candle
                mark = last.close if last is not None else p.entry_price
                out[symbol] = {
                    "side": p.side,
                    "qty": p.qty,
                    "entry_price": p.entry_price,
                    "entry_ts": p.entry_ts,
                    "stop_price": p.stop,
                    "target_price": p.target,
                    "trade_id": p.trade_id,
                    "mark_price": mark,
                    "notional": p.qty * mark,
                    "unrealized": core.unrealized(),
                }
        return out

    def resting_orders(self) -> list[dict[str, object]]:
        """Resting entries (limit or trigger) not yet filled, by symbol: what a paper session has open."""
        out: list[dict[str, object]] = []
        for symbol, core in self.cores.items():
            for client_id, entry in core.broker.pending.items():
                intent = getattr(entry, "intent", None)
                out.append(
                    {
                        "symbol": symbol,
                        "client_id": client_id,
                        "side": getattr(intent, "side", None),
                        "qty": getattr(entry, "qty", None),
                        "price": getattr(intent, "limit_price", None) or getattr(intent, "trigger_price", None),
                        "placed_ts": getattr(entry, "placed_ts", None),
                        "state": "RESTING",
                    }
                )
        return out

    def halt(self, key: str, detail: str) -> None:
        """Halt entries on every symbol (the first reason given for a key is kept)."""
        for core in self:
            core.halts.setdefault(key, detail)

    def halted(self) -> list[str]:
        """Every halt key on any symbol, sorted."""
        return sorted({key for core in self for key in core.halts})

    def flatten(self, reason: ExitReason) -> list[PositionClosed]:
        """Close every open position at market at its symbol's last close."""
        return [trade for core in self if (trade := core.flatten(reason)) is not None]

    def check_invariants(self) -> None:
        self.account.check_invariants()
        for core in self:
            core.broker.check_invariants()
