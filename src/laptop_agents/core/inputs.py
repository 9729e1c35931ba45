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

A live-exchange session's books are changed by the exchange, not by the core; what it reports reaches them
through one door too (`live.inputs`), recorded the same way:
- `BooksChanged`: one order-journal record the books apply: a fill of ours, an execution of the exchange's
  TP/SL, a position adopted or closed by reconciliation, the funding the exchange settled.
- `OrderState` (in `events`): an order's journaled state (sent, acknowledged, unknown, rejected, cancelled,
  not found), with the refusal's reason: the books forget a resting entry that ended.
- `StopHeld`: the stop the exchange holds for the position after a trailing move (or None: unconfirmed).
- `OutsidePnl`: the day's realized PnL of executions the journal does not hold (the daily loss limit).
- `BooksRestored`: at a session's start, the journal lines the log lost (written after the checkpoint)
  and the books rebuilt from the whole journal.
- `VenueContract`: the contract's rules and the leverage the preflight read (quantities, ticks, limits).
- `ContractRefreshed`: the contract's rules read again mid-session and found changed (the periodic read,
  or the one right after the exchange refused an order for a filter): the broker checks against them.
- `ClockTick`: the exchange's time, the wall time and the monotonic time when an input reached the core;
  the live broker's checks (a decision's age, orders per minute) read these, never a clock.

`ts` is the time of the thing itself: a candle's open time; for the daemon's own inputs (a halt, a
funding answer, an operator's flatten) the moment they happened on the session's clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from laptop_agents.core.candle import Candle
from laptop_agents.core.events import Event, ExitReason
from laptop_agents.core.quick_init import quick_init


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Input(Event):
    """Base of the core's inputs (the events a replay feeds back)."""


@quick_init
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


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class FundingObserved(Input):
    """The funding rate (per period, fraction) the symbol's strategy reads from now on; None: unknown."""

    rate: float | None
    detail: str = ""


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class HaltChanged(Input):
    """Entries on `symbol` halted for `key` (with `detail`), or that halt lifted (`detail` None)."""

    key: str
    detail: str | None


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class FlattenRequested(Input):
    """Close `symbol`'s open position at market at its last close (exit reason `reason`)."""

    reason: ExitReason


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class VenueTiers(Input):
    """The exchange's tiers for `symbol`: (max notional, maintenance rate, max leverage) rows, ascending."""

    tiers: tuple[tuple[float, float, int], ...]


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class InputFile(Input):
    """A file a backtest read: `role` candles, marks or funding; its size and SHA-256 when the run began."""

    role: Literal["candles", "marks", "funding"]
    path: str
    size: int
    sha256: str


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ClockTick(Input):
    """The clocks when an input reached a live-exchange core: `venue_ms` the exchange's (None: no push yet),
    `wall_ms` ours, `mono_s` the monotonic one. `ts` is `wall_ms`."""

    venue_ms: int | None
    wall_ms: int
    mono_s: float


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class BooksChanged(Input):
    """One order-journal record the live books apply (`op`: fill, trade, adopt, book_close, funding), as
    journaled; `ts` is its time on the exchange's clock."""

    record: dict[str, Any] = field(default_factory=dict)


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class StopHeld(Input):
    """The stop the exchange holds for `symbol`'s position after a trailing move; None: not confirmed."""

    stop: float | None


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OutsidePnl(Input):
    """An execution of today the journal does not hold (an earlier run's, a manual trade): its realized PnL
    after fees counts toward the daily loss limit. `ts` is its time on the exchange's clock."""

    trade_id: str
    pnl: float


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class BooksRestored(Input):
    """A session's start: the order-journal lines written after the checkpoint (`lines`; a resume cut the
    log back to it; a new run has only the journal's first line), then the books rebuilt from the whole
    journal, and the orders of the last minute placed on the new process's clock (`wall_ms`, `mono_s`)."""

    lines: tuple[dict[str, Any], ...] = ()
    wall_ms: int
    mono_s: float


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class VenueContract(Input):
    """What the preflight read for `symbol`: the contract's rules (`spec`, the fields of the exchange's
    `ContractSpec`) and the leverage it set."""

    spec: dict[str, Any] = field(default_factory=dict)
    leverage: int


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ContractRefreshed(Input):
    """`symbol`'s contract rules as the exchange has them now (`spec`, the fields of its `ContractSpec`), read
    again mid-session and found changed; `changes` says what changed, for the reader."""

    spec: dict[str, Any] = field(default_factory=dict)
    changes: str = ""


INPUT_TYPES: tuple[type[Input], ...] = (CandleClosed, FundingObserved, HaltChanged, FlattenRequested, VenueTiers,
                                        InputFile, ClockTick, BooksChanged, StopHeld, OutsidePnl, BooksRestored,
                                        VenueContract, ContractRefreshed)  # fmt: skip
