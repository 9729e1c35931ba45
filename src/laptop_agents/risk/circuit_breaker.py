"""Circuit breaker: stop opening positions after too deep a drawdown or too many losses in a row.

Drawdown = (peak − equity) / peak × 100, with equity marked at every candle close (cash + unrealized) and
the peak taken over the run (since the last reset). A trip on drawdown is seen at a candle's close and
blocks entries from the next candle; a trip on consecutive losses happens as the losing trade closes and
blocks an entry in the same candle. Exits always keep working. Once tripped it stays tripped for the run,
unless `reset_after_bars` > 0 re-arms it that many candles later (with a fresh peak and loss count).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from laptop_agents.config.models import CircuitBreakerConfig
from laptop_agents.core.events import CircuitBreakerReset, CircuitBreakerTripped, Event


class CircuitBreaker:
    __slots__ = (
        "_cfg",
        "_emit",
        "_symbol",
        "bars_since_trip",
        "consecutive_losses",
        "counting_bars",
        "peak",
        "tripped",
    )

    def __init__(
        self,
        config: CircuitBreakerConfig,
        *,
        starting_equity: float,
        emit: Callable[[Event], None],
        symbol: str = "",
    ) -> None:
        self._cfg = config
        self._emit = emit
        self._symbol = symbol
        self.peak = starting_equity
        self.consecutive_losses = 0
        self.tripped = False
        self.bars_since_trip = 0
        self.counting_bars = False
        """True while tripped with a reset pending: then every candle's mark matters, not just changes.
        A plain attribute (not a property): the trading core reads it on every candle."""

    @property
    def allows_entries(self) -> bool:
        return not self.tripped

    def state(self) -> dict[str, Any]:
        return {
            "tripped": self.tripped,
            "peak_equity": self.peak,
            "consecutive_losses": self.consecutive_losses,
            "bars_since_trip": self.bars_since_trip,
        }

    def drawdown_pct(self, equity: float) -> float:
        """How far `equity` is below the peak the breaker measures from, in percent."""
        return max(0.0, (self.peak - equity) / self.peak * 100.0) if self.peak > 0 else 0.0

    def restore(self, state: dict[str, Any]) -> None:
        """A tripped breaker stays tripped across a restart (design invariant 9)."""
        self.tripped = bool(state["tripped"])
        self.peak = float(state["peak_equity"])
        self.consecutive_losses = int(state["consecutive_losses"])
        self.bars_since_trip = int(state["bars_since_trip"])
        self.counting_bars = self.tripped and self._cfg.reset_after_bars > 0

    def on_trade_closed(self, *, ts: int, net_pnl: float, equity: float) -> None:
        if net_pnl < 0:
            self.consecutive_losses += 1
        else:
            self.consecutive_losses = 0
        cfg = self._cfg
        if cfg.enabled and not self.tripped and self.consecutive_losses >= cfg.max_consecutive_losses:
            self._trip(ts, "consecutive_losses", equity)

    def on_mark(self, ts: int, equity: float) -> None:
        """Called at a candle close with the marked equity. A caller may skip candles whose equity equals the
        previous mark unless `counting_bars` is set: an unchanged mark can neither trip nor move the peak."""
        if equity > self.peak:
            self.peak = equity
        cfg = self._cfg
        if self.tripped:
            self.bars_since_trip += 1
            if cfg.reset_after_bars and self.bars_since_trip >= cfg.reset_after_bars:
                self.tripped = False
                self.counting_bars = False
                self.consecutive_losses = 0
                self.peak = equity
                self._emit(
                    CircuitBreakerReset(ts=ts, symbol=self._symbol, after_bars=self.bars_since_trip, equity=equity)
                )
            return
        if cfg.enabled and (self.peak - equity) / self.peak * 100.0 >= cfg.max_drawdown_pct:
            self._trip(ts, "max_drawdown", equity)

    def _trip(self, ts: int, reason: str, equity: float) -> None:
        self.tripped = True
        self.counting_bars = self._cfg.reset_after_bars > 0
        self.bars_since_trip = 0
        cfg = self._cfg
        self._emit(
            CircuitBreakerTripped(
                ts=ts,
                symbol=self._symbol,
                reason="max_drawdown" if reason == "max_drawdown" else "consecutive_losses",
                max_drawdown_pct=cfg.max_drawdown_pct,
                drawdown_pct=(self.peak - equity) / self.peak * 100.0,
                max_consecutive_losses=cfg.max_consecutive_losses,
                consecutive_losses=self.consecutive_losses,
                equity=equity,
                peak_equity=self.peak,
            )
        )
