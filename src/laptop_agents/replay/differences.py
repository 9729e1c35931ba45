"""Comparing two runs' decisions, and naming why each differs: signals, entries (placed or refused) and their
fills matched by symbol, candle and side; trades by symbol, the candle their entry was decided on, and side;
funding by symbol. A layer of `la parity` (see `parity.py`) gives `compare` its own causes (`cause_of`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from laptop_agents.core.events import (
    Event,
    Fill,
    FundingApplied,
    OrderPlaced,
    OrderRejected,
    PositionClosed,
    PositionOpened,
    SignalGenerated,
)
from laptop_agents.replay.decisions import when
from laptop_agents.reporting.timefmt import fmt_ts

LIVE_REFUSALS = frozenset(
    ("order_in_flight", "stale_decision", "max_order_notional", "max_position", "max_daily_loss",
     "max_daily_loss_pct", "orders_per_minute", "not_found", "exchange_rejected", "entry_type_unsupported",
     "data_stale", "backfilling", "kill_switch", "stopping", "checkpoint", "reconciliation",
     "external_position", "exchange_auth", "exchange_ban", "exchange_margin", "exchange_filters")
)  # fmt: skip
"""Refusal reasons only a live session can give: its halts and its venue's checks."""

FUNDING_FLAGS = ("funding_halt", "funding_no_trade", "funding_missing", "funding_half_size")


@dataclass(frozen=True, slots=True)
class Difference:
    ts: int
    symbol: str
    what: str
    """entry, refusal, signal, trade, fill, funding"""
    live: str
    backtest: str
    cause: str
    """candle, fill_price, latency, live_refusal, flatten, funding, follows"""
    detail: str
    layer: int


Cause = tuple[str, str] | None
CauseOf = Callable[[str, int, str], Cause]
"""(what, time, symbol) → (cause, detail) of a difference there, or None when it has none of its own."""


class _Rows:
    """The differences of one layer. One without a cause of its own follows from the earliest one before it
    that has one (told once all are found, in time order)."""

    def __init__(self, layer: int) -> None:
        self.layer = layer
        self._rows: list[tuple[int, str, str, str, str, Cause]] = []

    def add(self, ts: int, symbol: str, what: str, live: str, backtest: str, own: Cause) -> None:
        self._rows.append((ts, symbol, what, live, backtest, own))

    def done(self) -> list[Difference]:
        out: list[Difference] = []
        first: Difference | None = None
        for ts, symbol, what, live, backtest, own in sorted(self._rows, key=lambda r: (r[0], r[1])):
            if own is None:
                own = (
                    "follows",
                    (
                        f"follows from the first difference ({first.what} at {fmt_ts(first.ts)}: {first.cause})"
                        if first is not None
                        else "no cause found at this moment (another position or equity path before it)"
                    ),
                )
            row = Difference(ts, symbol, what, live, backtest, own[0], own[1], self.layer)
            if first is None and row.cause != "follows":
                first = row
            out.append(row)
        return out


def compare(
    live: Sequence[Event],
    backtest: Sequence[Event],
    *,
    layer: int,
    cause_of: CauseOf,
    step_ms: int,
    venue_fills: bool = False,
) -> list[Difference]:
    """Decision by decision: signals, entries (placed or refused) and their fills matched by symbol, candle
    and side; trades by symbol, entry candle and side; funding by symbol. `venue_fills`: the live side's
    fills are the exchange's (live-exchange), so their price and time are causes of their own."""
    rows = _Rows(layer)
    _compare_entries(live, backtest, rows, cause_of, step_ms, venue_fills)
    _compare_trades(live, backtest, rows, cause_of, venue_fills, step_ms)
    _compare_funding(live, backtest, rows, venue_fills)
    return rows.done()


def _compare_entries(
    live: Sequence[Event], backtest: Sequence[Event], rows: _Rows, cause_of: CauseOf, step_ms: int, venue: bool
) -> None:
    a_signals, b_signals = _signals(live), _signals(backtest)
    a_entries, b_entries = _entries(live), _entries(backtest)
    a_fills, b_fills = _entry_fills(live), _entry_fills(backtest)
    keys = set(a_entries) | set(b_entries) | set(a_signals) | set(b_signals)
    for key in sorted(keys, key=lambda k: (k[1], k[0])):
        symbol, ts, _side = key
        sa, sb = a_signals.get(key), b_signals.get(key)
        if (sa is None) != (sb is None):
            rows.add(ts, symbol, "signal", _signal(sa), _signal(sb), cause_of("signal", ts, symbol))
            continue  # what the strategy saw differs: the entry (or its absence) follows from it
        if sa is not None and sb is not None and sa.blocked_reason != sb.blocked_reason:
            own = _blocked_cause(sa, sb) or cause_of("signal", ts, symbol)
            rows.add(ts, symbol, "signal", _signal(sa), _signal(sb), own)
        ea, eb = a_entries.get(key), b_entries.get(key)
        if ea is None and eb is None:
            continue
        if isinstance(ea, OrderRejected) and not isinstance(eb, OrderRejected):
            live_only = ("live_refusal", f"refusal only live has: {ea.reason} ({ea.detail})")
            rows.add(ts, symbol, "entry", _entry(ea), _entry(eb),
                     live_only if _live_only(ea.reason) else cause_of("entry", ts, symbol))  # fmt: skip
        elif not isinstance(ea, OrderPlaced) or not isinstance(eb, OrderPlaced):
            if type(ea) is not type(eb) or (isinstance(ea, OrderRejected) and ea.reason != _reason(eb)):
                rows.add(ts, symbol, "entry", _entry(ea), _entry(eb), cause_of("entry", ts, symbol))
        else:
            if ea.qty != eb.qty:
                rows.add(ts, symbol, "entry", _entry(ea), _entry(eb), cause_of("entry", ts, symbol))
            fa, fb = a_fills.get(ea.client_order_id), b_fills.get(eb.client_order_id)
            if fa is not None and fb is not None:
                own = _fill_cause(fa, fb) if venue else cause_of("fill", ts, symbol)
                if fa.price != fb.price:
                    rows.add(ts, symbol, "fill", f"{fa.price:g}", f"{fb.price:g}", own)
                if venue:
                    _latency(fa, ts, rows, step_ms)


def _fill_cause(fa: Fill, fb: Fill) -> Cause:
    worse = (fa.price - fb.price) / fb.price * 1e4 * (1 if fa.side == "buy" else -1)
    return "fill_price", f"filled {worse:+.1f} bps from the modelled price (slippage, spread)"


def _latency(fa: Fill, decided: int, rows: _Rows, step_ms: int) -> None:
    closed = decided + step_ms  # the decision was taken at its candle's close
    if fa.ts > closed:
        rows.add(decided, fa.symbol, "fill", f"at {when(fa.ts)}", f"at {when(closed)}",
                 ("latency", f"filled {(fa.ts - closed) / 1000:.1f} s after the decision's candle closed"))  # fmt: skip


def _compare_trades(
    live: Sequence[Event], backtest: Sequence[Event], rows: _Rows, cause_of: CauseOf, venue: bool, step_ms: int
) -> None:
    a_trades, b_trades = _trades(live), _trades(backtest)
    a_open, b_open = _entries(live), _entries(backtest)
    for key in sorted(set(a_trades) ^ set(b_trades), key=lambda k: (k[1], k[0])):
        if not (isinstance(a_open.get(key), OrderPlaced) and isinstance(b_open.get(key), OrderPlaced)):
            continue  # an entry only one side made: reported as the entry
        ta, tb = a_trades.get(key), b_trades.get(key)
        closed = ta or tb
        assert closed is not None
        rows.add(closed.ts - closed.ts % step_ms, key[0], "trade", _trade(ta) if ta else "still open at the end",
                 _trade(tb) if tb else "still open at the end", cause_of("exit", closed.ts, key[0]))  # fmt: skip
    for key in sorted(set(a_trades) & set(b_trades), key=lambda k: (k[1], k[0])):  # an unmatched one: its entry
        ta, tb = a_trades[key], b_trades[key]
        exit_candle = ta.ts - ta.ts % step_ms  # a venue's exit happens inside a candle: the candle's open
        if (ta.exit_reason, exit_candle, ta.exit_price) == (tb.exit_reason, tb.ts, tb.exit_price):
            continue
        symbol, decided = key[0], key[1]
        own = cause_of("exit", exit_candle, symbol) if exit_candle != tb.ts else cause_of("trade", decided, symbol)
        if ta.exit_reason == "kill" and tb.exit_reason != "kill":
            own = ("flatten", "the kill switch flattened it live")
        elif own is None and venue and ta.exit_reason == tb.exit_reason and exit_candle == tb.ts:
            own = ("fill_price", "the venue's exit fill, away from the modelled price (slippage, spread)")
        rows.add(exit_candle, symbol, "trade", _trade(ta), _trade(tb), own)


def _compare_funding(live: Sequence[Event], backtest: Sequence[Event], rows: _Rows, venue: bool) -> None:
    """Funding paid. On paper both sides charge the configured rate: a difference follows from the positions.
    A venue charges its own rates: that is a cause of its own."""
    fa_total, fb_total = _funding(live), _funding(backtest)
    for symbol in sorted(set(fa_total) | set(fb_total)):
        (a, at), (b, bt) = fa_total.get(symbol, (0.0, 0)), fb_total.get(symbol, (0.0, 0))
        if a != b:
            own: Cause = ("funding", "the venue's funding rates live, the configured rate in the backtest")
            rows.add(at or bt, symbol, "funding", f"paid {a:.4f}", f"paid {b:.4f}", own if venue else None)


def _reason(e: OrderPlaced | OrderRejected | None) -> str | None:
    return e.reason if isinstance(e, OrderRejected) else None


def _live_only(reason: str) -> bool:
    return reason in LIVE_REFUSALS or (reason.startswith("risk_gate:") and reason[10:] in LIVE_REFUSALS)


def _blocked_cause(a: SignalGenerated, b: SignalGenerated) -> tuple[str, str] | None:
    reason = a.blocked_reason or ""
    if reason.startswith("risk_gate:") and _live_only(reason):
        return "live_refusal", f"refusal only live has: {reason[10:]}"
    if any(flag in (a.blocked_reason or "") + (b.blocked_reason or "") for flag in FUNDING_FLAGS):
        return "funding", "the exchange's funding rate live vs the configured one"
    return None


Key = tuple[str, int, str]


def _entries(events: Iterable[Event]) -> dict[Key, OrderPlaced | OrderRejected]:
    """Entry decisions by symbol, candle and side: placed, or refused. A refused exit (a close the venue
    would not take) is not one: its client id is an exit order's."""
    out: dict[Key, OrderPlaced | OrderRejected] = {}
    exits: set[str] = set()
    for e in events:
        if isinstance(e, OrderPlaced) and e.purpose == "exit":
            exits.add(e.client_order_id)
        elif (isinstance(e, OrderPlaced) and e.purpose == "entry") or (
            isinstance(e, OrderRejected) and e.client_order_id not in exits
        ):
            out.setdefault((e.symbol, e.ts, _dir(e.side)), e)
    return out


def _signals(events: Iterable[Event]) -> dict[Key, SignalGenerated]:
    return {(e.symbol, e.ts, e.direction): e for e in events if isinstance(e, SignalGenerated)}


def _trades(events: Iterable[Event]) -> dict[Key, PositionClosed]:
    """Closed trades by symbol, the candle their entry was decided on and side (a venue fills an entry later
    than the decision: its `entry_ts` is the fill's time, the decision's candle is its order's)."""
    decided: dict[str, int] = {}
    opened_by: dict[tuple[str, int], str] = {}
    last_fill: dict[str, str] = {}
    out: dict[Key, PositionClosed] = {}
    for e in events:
        if isinstance(e, OrderPlaced):
            decided.setdefault(e.client_order_id, e.ts)
        elif isinstance(e, Fill):
            last_fill[e.symbol] = e.client_order_id
        elif isinstance(e, PositionOpened):
            opened_by[(e.symbol, e.trade_id)] = last_fill.get(e.symbol, "")
        elif isinstance(e, PositionClosed):
            cid = opened_by.get((e.symbol, e.trade_id), "")
            out[(e.symbol, decided.get(cid, e.entry_ts), e.side)] = e
    return out


def _entry_fills(events: Iterable[Event]) -> dict[str, Fill]:
    out: dict[str, Fill] = {}
    for e in events:
        if isinstance(e, Fill):
            out.setdefault(e.client_order_id, e)
    return out


def _funding(events: Iterable[Event]) -> dict[str, tuple[float, int]]:
    out: dict[str, tuple[float, int]] = {}
    for e in events:
        if isinstance(e, FundingApplied):
            total, first = out.get(e.symbol, (0.0, e.ts))
            out[e.symbol] = (total + e.amount, first)
    return out


def _dir(side: str) -> str:
    return "long" if side == "buy" else "short"


def _signal(e: SignalGenerated | None) -> str:
    if e is None:
        return "no signal"
    return f"{e.direction} {e.setup}" + ("" if e.entry_allowed else f" blocked ({e.blocked_reason})")


def _entry(e: OrderPlaced | OrderRejected | None) -> str:
    if e is None:
        return "no entry"
    if isinstance(e, OrderRejected):
        return f"refused {e.reason}"
    return f"{e.side} {e.qty:g}"


def _trade(e: PositionClosed) -> str:
    return f"{e.exit_reason} at {e.exit_price:g} ({fmt_ts(e.ts)}), net {e.net_pnl:+.2f}"
