"""What the trading core receives: every input that can change a decision, as a typed message.

A live session records each input in `events.jsonl` right before the core handles it (`engine.inputs`),
so `la replay` can feed the same inputs, in the same order, to a freshly built core and expect the same
decisions. The core has no other way in: it reads no clock, no file, no socket, and no global.

- `CandleClosed`: a closed candle as the core saw it (after backfill and confirmation); `warmup` ones only
  update the strategy's indicators.
- `FundingObserved`: the exchange's funding rate the poller read, or None once it is too old to use.
- `HaltChanged`: an entry halt set (`detail`) or lifted (None): stale data, the kill switch, a backfill, a
  checkpoint that cannot be written, an unreconciled venue, the stop.
- `FlattenRequested`: the operator (or a stop) asked for every position to be closed at market.
- `VenueTiers`: the exchange's risk-limit tiers a live-paper session margins a symbol with.
- `InputFile`: a backtest's inputs are files: their content hash, so a replay reads the same bytes.

`ts` is the time of the thing itself: a candle's open time; for the daemon's own inputs (a halt, a
funding answer, an operator's flatten) the moment they happened on the session's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from laptop_agents.core.candle import Candle
from laptop_agents.core.events import Event, ExitReason


@dataclass(frozen=True, slots=True, kw_only=True)
class Input(Event):
    """Base of the core's inputs (the events a replay feeds back)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CandleClosed(Input):
    open: float
    high: float
    low: float
    close: float
    volume: float
    warmup: bool = False

    @classmethod
    def of(cls, symbol: str, candle: Candle, *, warmup: bool = False) -> CandleClosed:
        return cls(ts=candle.ts, symbol=symbol, open=candle.open, high=candle.high, low=candle.low,
                   close=candle.close, volume=candle.volume, warmup=warmup)  # fmt: skip

    def candle(self) -> Candle:
        return Candle(self.ts, self.open, self.high, self.low, self.close, self.volume)


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingObserved(Input):
    """The funding rate (per period, fraction) the symbol's strategy reads from now on; None: unknown."""

    rate: float | None
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class HaltChanged(Input):
    """Entries on `symbol` halted for `key` (with `detail`), or that halt lifted (`detail` None)."""

    key: str
    detail: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class FlattenRequested(Input):
    """Close `symbol`'s open position at market at its last close (exit reason `reason`)."""

    reason: ExitReason


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueTiers(Input):
    """The exchange's tiers for `symbol`: (max notional, maintenance rate, max leverage) rows, ascending."""

    tiers: tuple[tuple[float, float, int], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class InputFile(Input):
    """A file a backtest read: `role` candles, marks or funding; its size and SHA-256 when the run began."""

    role: Literal["candles", "marks", "funding"]
    path: str
    size: int
    sha256: str


INPUT_TYPES: tuple[type[Input], ...] = (CandleClosed, FundingObserved, HaltChanged, FlattenRequested, VenueTiers,
                                        InputFile)  # fmt: skip
