"""The one event vocabulary: every state change is a typed, immutable event.

Events are frozen, slotted dataclasses (with `quick_init`'s cheaper `__init__`: they are built on the hot path),
serialised natively by orjson.
`core.event_codec` frames one as an `events.jsonl` line; `core.inputs` holds what the core receives.

`ts` (written as `ts_event`) is the time of the thing itself: for what the core decides, the open time
(epoch ms UTC) of the candle being processed; for a venue's report, the venue's time of it; for what
happens to the daemon (a start, a reconnect, a rate limit, a preflight check), the wall clock then. The
envelope adds `ts_init`, the wall clock when the line was written.
Prices are in quote currency (USDT), quantities in base (BTC), fees and PnL in quote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from laptop_agents.core.quick_init import quick_init

Side = Literal["long", "short"]
OrderSide = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "stop"]
Liquidity = Literal["taker", "maker"]
ExitReason = Literal["stop", "trail", "target", "signal", "end", "kill", "reconcile", "liquidation"]


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of all events: when (market time) and which symbol ("" for run-wide events)."""

    ts: int
    symbol: str = ""


# -- Run lifecycle ---------------------------------------------------------------------------------------


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Event):
    mode: str
    strategy: str
    source: str
    interval: str
    starting_balance: float
    funding: Literal["configured", "observed"] = "configured"
    """What the strategies read as the funding rate: the configured one, or the exchange's (`FundingObserved`)."""


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished(Event):
    status: Literal["ok", "failed", "stopped"]
    candles: int
    trades: int
    final_equity: float
    error: str | None = None


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class RunResumed(Event):
    """A restart continued this run from its checkpoint; the books as restored."""

    from_event_seq: int
    last_candle_ts: int | None
    cash: float
    equity: float
    position_side: str | None
    position_qty: float | None
    funding: Literal["configured", "observed"] = "configured"
    """What the strategies read as the funding rate in the resumed session (see `RunStarted`)."""


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigChanged(Event):
    """`--resume --reconfigure` changed one setting of the run's configuration (JSON text, before and after)."""

    key: str
    before: str
    after: str


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointSaved(Event):
    path: str
    event_seq: int
    size_bytes: int


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class KillSwitch(Event):
    source: Literal["file", "cli", "dashboard", "signal"]
    flatten: bool


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class KillSwitchReleased(Event):
    """The operator resumed entries (`la resume`, or removed the KILL file): `by` names who."""

    by: str
    source: Literal["file", "cli", "dashboard"]


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PreflightCheck(Event):
    """One live-exchange check before the first order (connectivity, clock, keys, contracts, leverage,
    balance); any failure refuses the start."""

    check: str
    ok: bool
    detail: str


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderState(Event):
    """live-exchange: an order's journaled state changed (SENT, ACKED, UNKNOWN, NOT_FOUND, ...), or is said
    again after a restart. Also the books' input (`live.inputs`): an ended order leaves them."""

    client_order_id: str
    state: str
    order_id: str | None
    detail: str
    reason: str = ""
    """REJECTED and NOT_FOUND: the refusal's code (the broker's `OrderRejected` carries it)."""


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Reconciled(Event):
    """live-exchange: the books compared with the exchange. `action`: in_sync, adopted (an unknown
    exchange position taken into the books), closed_in_books (a position the exchange no longer has),
    adjusted (quantity taken from the exchange), external_order (an order not ours, left alone), failed."""

    action: str
    detail: str


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Error(Event):
    where: str
    message: str
    fatal: bool


# -- Market data -----------------------------------------------------------------------------------------


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class MarketDataLoaded(Event):
    source: str
    interval: str
    candles: int
    first_ts: int | None
    last_ts: int | None
    gaps: int
    missing_candles: int
    duplicates_dropped: int


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class GapDetected(Event):
    """Open times `from_ts`..`to_ts` (inclusive) are missing: `missing` candles."""

    from_ts: int
    to_ts: int
    missing: int


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class GapBackfilled(Event):
    from_ts: int
    to_ts: int
    count: int
    duration_ms: int


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class GapUnfilled(Event):
    """The venue's history has no (valid) candles `from_ts`..`to_ts` (inclusive): `missing` of them, even
    after a backfill asked again. The symbol's entries are halted (`data_hole`) until `halt_candles` (the
    strategy's lookback) candles past the hole have been seen: no signal comes from a window with a hole."""

    from_ts: int
    to_ts: int
    missing: int
    halt_candles: int


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class CandleRejected(Event):
    """A closed candle from the venue broke the OHLC rules (`reason` names the rule) and never reached the
    strategy; `ts` is its open time. `source` "stream": a push (the venue's REST record is fetched at
    once); "rest": a history row (left out: a gap, or a hole if nothing better comes)."""

    reason: str
    source: Literal["stream", "rest"]


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class DataStale(Event):
    """Data age crossed the threshold (`cleared=False`) or fresh data flows again (`cleared=True`)."""

    age_ms: int
    threshold_ms: int
    cleared: bool


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Reconnected(Event):
    channel: str
    attempt: int
    downtime_ms: int
    reason: str


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionRotated(Event):
    """A socket was replaced at its age limit (before the venue's cutoff) or on the venue's shutdown notice: a
    second connection took over once the two streams overlapped, so nothing was missed (not a `Reconnected`)."""

    channel: str
    age_ms: int
    reason: str
    overlap_ms: int
    """How long both connections were live."""


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimited(Event):
    scope: str
    retry_after_ms: int
    code: str


# -- Decisions and orders --------------------------------------------------------------------------------


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class SignalGenerated(Event):
    """A strategy saw a setup. `entry_allowed=False` names what blocked the entry in `blocked_reason`."""

    direction: Side
    setup: str
    reason: str
    entry_allowed: bool
    blocked_reason: str | None = None
    indicators: dict[str, float] = field(default_factory=dict)


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class JournalRecord(Event):
    """The supervisor's trade journal (A5 JournalCoach), also written to `journal.jsonl`: one `plan` record
    per trade idea, then its updates under the same `plan_id` (`fill`, `exit`, `cancel`, `reject`).
    `detail` holds the figures of the record (planned entry/stop/target/rr, fill price, exit PnL, R,
    bars held); `tags` are the coach's reading of it (`followed_plan_to_target`, `stopped_fast`, ...)."""

    plan_id: int
    kind: Literal["plan", "fill", "exit", "cancel", "reject"]
    setup: str
    side: Side
    detail: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPlaced(Event):
    client_order_id: str
    side: OrderSide
    order_type: OrderType
    qty: float
    price: float | None
    reduce_only: bool
    purpose: Literal["entry", "exit"]


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRejected(Event):
    """A business refusal: nothing was (or will be) filled. `reason` is a stable code, `detail` prose."""

    client_order_id: str | None
    side: OrderSide
    reason: str
    detail: str


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelled(Event):
    client_order_id: str
    reason: str


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Fill(Event):
    fill_id: str
    client_order_id: str
    side: OrderSide
    qty: float
    price: float
    fee: float
    liquidity: Liquidity


# -- Positions -------------------------------------------------------------------------------------------


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PositionOpened(Event):
    trade_id: int
    side: Side
    qty: float
    entry_price: float
    stop_price: float
    target_price: float | None
    setup: str


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PositionClosed(Event):
    """One closed trade; `ts` is the open time of the candle where the exit happened."""

    trade_id: int
    side: Side
    qty: float
    entry_ts: int
    entry_price: float
    exit_price: float
    pnl: float
    fees: float
    net_pnl: float
    funding: float
    exit_reason: ExitReason
    setup: str


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class StopMoved(Event):
    trade_id: int
    old_stop: float
    new_stop: float
    reason: str


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class FundingApplied(Event):
    """`amount` > 0 is paid by us, < 0 received. `rate` is per funding period, as a fraction."""

    trade_id: int
    rate: float
    mark_price: float
    qty: float
    amount: float


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PositionLiquidated(Event):
    """The venue's liquidation engine closed an isolated position: the candle's adverse extreme reached
    `liquidation_price` (where the position's margin plus its loss is its maintenance margin). It fills at
    `price` (the liquidation price, or the open when the candle gapped beyond it) with `fee`. The loss never
    exceeds `margin`: what a gap takes beyond it is `covered` by the venue (its insurance fund), so the
    account's cash is the fills' PnL minus fees and funding, plus `covered`. `PositionClosed` follows
    with `exit_reason` "liquidation"."""

    trade_id: int
    side: Side
    qty: float
    entry_price: float
    liquidation_price: float
    price: float
    margin: float
    maintenance_margin: float
    fee: float
    covered: float


# -- Risk ------------------------------------------------------------------------------------------------


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitBreakerTripped(Event):
    reason: Literal["max_drawdown", "consecutive_losses"]
    max_drawdown_pct: float
    drawdown_pct: float
    max_consecutive_losses: int
    consecutive_losses: int
    equity: float
    peak_equity: float


@quick_init
@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitBreakerReset(Event):
    after_bars: int
    equity: float
