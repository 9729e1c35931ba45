"""What a user should notice about a run, gathered from its events: breaker trips, refused entries, gaps."""

from __future__ import annotations

from typing import Any

from laptop_agents.config.models import default_leverage
from laptop_agents.core.events import (
    CircuitBreakerReset,
    CircuitBreakerTripped,
    Event,
    GapBackfilled,
    GapDetected,
    OrderRejected,
    PositionClosed,
    PositionLiquidated,
    RunResumed,
)
from laptop_agents.engine.breaker_shadow import ShadowTally
from laptop_agents.reporting.timefmt import fmt_ts


class RunNotes:
    def __init__(self) -> None:
        self.trips: list[CircuitBreakerTripped] = []
        self.resets = 0
        self.reset_ts: list[int] = []
        self.refused: dict[str, int] = {}
        self.gaps = 0
        self.missing = 0
        self.backfilled = 0
        """Candles a live session fetched over REST for its gaps (a backtest's gaps stay missing)."""
        self.trades_by_symbol: dict[str, int] = {}
        self.marked: tuple[int, int] | None = None
        """Backtest with a mark series: (candles that had a mark, candles)."""
        self.liquidations = 0
        self.covered = 0.0
        """What gaps took beyond the liquidated positions' margins (the venue's loss, not ours)."""
        self.prevented: ShadowTally | None = None
        """The breaker's refused entries taken on paper (`engine.breaker_shadow`), set at the run's end."""
        self.resumes: dict[int, int | None] = {}
        """Each resume (by the checkpoint's event number, shared by its per-symbol `RunResumed`) → the last
        candle before it (market time; None: before any candle)."""

    TYPES = (PositionClosed, OrderRejected, CircuitBreakerTripped, CircuitBreakerReset, RunResumed,
             PositionLiquidated, GapDetected, GapBackfilled)  # fmt: skip
    """What `on_event` reads (subscribe with these: the others cost it nothing)."""

    def on_event(self, event: Event) -> None:
        kind = type(event)
        if kind is PositionClosed:
            assert isinstance(event, PositionClosed)
            self.trades_by_symbol[event.symbol] = self.trades_by_symbol.get(event.symbol, 0) + 1
        elif kind is OrderRejected:
            assert isinstance(event, OrderRejected)
            self.refused[event.reason] = self.refused.get(event.reason, 0) + 1
        elif kind is CircuitBreakerTripped:
            assert isinstance(event, CircuitBreakerTripped)
            self.trips.append(event)
        elif kind is CircuitBreakerReset:
            self.resets += 1
            self.reset_ts.append(event.ts)
        elif kind is RunResumed:
            assert isinstance(event, RunResumed)
            self.resumes.setdefault(event.from_event_seq, event.last_candle_ts)
        elif kind is PositionLiquidated:
            assert isinstance(event, PositionLiquidated)
            self.liquidations += 1
            self.covered += event.covered
        elif kind is GapDetected:
            assert isinstance(event, GapDetected)
            self.gaps += 1
            self.missing += event.missing
        elif kind is GapBackfilled:
            assert isinstance(event, GapBackfilled)
            self.backfilled += event.count

    def margin_line(self, config: dict[str, Any]) -> str:
        """The margin model the run used, its liquidations, and which price triggered them."""
        broker, risk, exchange = config["broker"], config["risk"], config["exchange"]
        if broker["margin_mode"] == "off":
            return "off (no margin, no liquidation: equity may go below zero)"
        leverage = exchange["leverage"] or default_leverage(risk["max_leverage"])
        liquidated = f"{self.liquidations:,} liquidation{'' if self.liquidations == 1 else 's'}"
        if self.covered:
            liquidated += f" ({self.covered:,.2f} USDT beyond the margins, taken by the venue)"
        if config["data"].get("mark_source"):
            matched, candles = self.marked or (0, 0)
            priced = (
                f"liquidations and funding go by the mark price ({config['data']['mark_source']}: "
                f"{matched:,} of {candles:,} candles had a mark, the rest the last price); stops by the last price"
            )
        else:
            priced = "stops and liquidations on the last price (the venue liquidates by the mark; no mark series)"
        return f"isolated at {leverage}x, {liquidated}; {priced}"

    def breaker_line(self) -> str:
        if not self.trips:
            return "never tripped"
        first = self.trips[0]
        why = (
            f"{first.consecutive_losses} losses in a row"
            if first.reason == "consecutive_losses"
            else f"drawdown {first.drawdown_pct:.2f} % ≥ {first.max_drawdown_pct:g} %"
        )
        more = f", tripped {len(self.trips)}× and reset {self.resets}×" if len(self.trips) > 1 else ""
        after = "; stayed tripped to the end" if len(self.trips) > self.resets else ""
        return f"tripped {fmt_ts(first.ts)} UTC ({why}){more}{after}"

    def tripped_ms(self, last_ts: int | None) -> int:
        """Market time the breaker held entries back: each trip to its reset, the last one to `last_ts`."""
        total = 0
        for i, trip in enumerate(self.trips):
            end = self.reset_ts[i] if i < len(self.reset_ts) else last_ts
            if end is not None and end > trip.ts:
                total += end - trip.ts
        return total

    def sessions_line(self) -> str:
        """The sessions a run was made of: where each resume took over."""
        if not self.resumes:
            return "one session"
        at = ", ".join("before any candle" if ts is None else f"after {fmt_ts(ts)} UTC" for ts in self.resumes.values())
        return f"{len(self.resumes) + 1} sessions: resumed {at}"

    def per_symbol_line(self, symbols: tuple[str, ...]) -> str:
        """Trades per symbol, for a run with several: " (BTCUSDT 4 · ETHUSDT 2)"; empty for one symbol."""
        if len(symbols) < 2:
            return ""
        return " (" + " · ".join(f"{s} {self.trades_by_symbol.get(s, 0):,}" for s in symbols) + ")"

    def prevented_line(self) -> str:
        """What the breaker's refused entries would have done (empty when it refused none it could size)."""
        return "" if self.prevented is None else self.prevented.line()

    def refused_line(self) -> str:
        if not self.refused:
            return "none"
        return ", ".join(f"{n:,} {reason}" for reason, n in sorted(self.refused.items()))
