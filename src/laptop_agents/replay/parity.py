"""`la parity`: why a live session's decisions differ from the backtest of the candles it traded.

The live decisions are compared in two layers, each changing one thing, so each difference has one cause:

1. **live → the same candles, backtested.** The candles the session's core saw (its `CandleClosed`
   inputs, warm-up included), on paper, with the configured funding and none of the session's own inputs
   (halts, flattens, the funding rate it polled). What differs here is what only live has: an entry
   refused by a halt (stale data, a backfill, the kill switch, the stop) or by the live venue (an order in
   flight, a stale decision, a hard limit), a flatten, the exchange's funding rate, and in live-exchange the
   venue's fill prices and their latency.
2. **those candles → the venue's REST candles.** The same backtest on the venue's own record of each
   candle (the file the simulator serves, or the exchange's klines): what differs here comes from a
   candle the session saw otherwise (a push that was not final, a late trade).

A difference that has no cause of its own at its moment follows from an earlier one (another position, so
other equity and sizes): it is named so, with the first difference of its layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from laptop_agents.config.models import Settings
from laptop_agents.core.candle import Candle, interval_ms
from laptop_agents.core.events import Event, OrderPlaced, OrderRejected, PositionClosed, SignalGenerated
from laptop_agents.core.inputs import CandleClosed
from laptop_agents.daemon.live_paper import order_id_prefix
from laptop_agents.engine.assembly import build_portfolio
from laptop_agents.engine.inputs import apply_input
from laptop_agents.replay.decisions import DECISION_TYPES
from laptop_agents.replay.differences import Difference, compare
from laptop_agents.replay.records import Record
from laptop_agents.reporting.timefmt import fmt_ts


@dataclass
class ParityResult:
    run_id: str
    mode: str
    candles: int
    candle_diffs: list[tuple[Candle, Candle]]
    """(as the session saw it, as the venue records it) for every candle that differs."""
    missing_at_venue: int
    live: dict[str, int]
    backtest: dict[str, int]
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What the reader should know about the comparison itself (a reconfigured run)."""

    def by_cause(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.differences:
            out[d.cause] = out.get(d.cause, 0) + 1
        return out


def traded_candles(records: Sequence[Record]) -> list[CandleClosed]:
    """Every candle input of the run, warm-up included, in the order the cores got them."""
    return [e for r in records if r.kind is CandleClosed and isinstance(e := r.event, CandleClosed)]


def backtest_decisions(
    settings: Settings, candles: Iterable[CandleClosed], *, run_id: str, swap: Callable[[CandleClosed], CandleClosed]
) -> list[Event]:
    """The decisions of a fresh paper portfolio given only `candles` (each through `swap`), in order."""
    out: list[Event] = []

    def keep(event: Event) -> None:
        if type(event) in DECISION_TYPES:
            out.append(event)

    portfolio = build_portfolio(settings, emit=keep, order_id_prefix=order_id_prefix(run_id))
    for item in candles:
        apply_input(portfolio, swap(item))
    return out


def count(events: Iterable[Event]) -> dict[str, int]:
    events = list(events)
    return {
        "signals": sum(isinstance(e, SignalGenerated) for e in events),
        "entries": sum(isinstance(e, OrderPlaced) and e.purpose == "entry" for e in events),
        "refusals": sum(isinstance(e, OrderRejected) for e in events),
        "trades": sum(isinstance(e, PositionClosed) for e in events),
    }


def candle_cause(
    diffs: dict[tuple[str, int], tuple[Candle, Candle]], lookback_ms: int
) -> Callable[[str, int, str], tuple[str, str] | None]:
    """Layer 2's cause: the latest candle at or before the decision (within the strategy's memory) that the
    session saw otherwise than the venue records it, one whose prices differ before one whose volume does."""
    by_symbol: dict[str, list[int]] = {}
    for symbol, ts in diffs:
        by_symbol.setdefault(symbol, []).append(ts)
    for stamps in by_symbol.values():
        stamps.sort()

    def cause(_kind: str, ts: int, symbol: str) -> tuple[str, str] | None:
        near = [t for t in by_symbol.get(symbol, []) if ts - lookback_ms <= t <= ts]
        if not near:
            return None
        priced = [t for t in near if diffs[(symbol, t)][0].as_tuple()[1:5] != diffs[(symbol, t)][1].as_tuple()[1:5]]
        at = (priced or near)[-1]
        seen, venue = diffs[(symbol, at)]
        fields = [f"{name} {a:g} vs {b:g}" for name, a, b in zip(("open", "high", "low", "close", "volume"),
                  seen.as_tuple()[1:], venue.as_tuple()[1:], strict=True) if a != b]  # fmt: skip
        return "candle", f"the candle at {fmt_ts(at)} differs from the venue's REST candle: {', '.join(fields)}"

    return cause


def run_parity(
    settings: Settings,
    records: Sequence[Record],
    *,
    run_id: str,
    mode: str,
    venue: dict[str, dict[int, Candle]],
    live_decisions: Sequence[Event],
    memory_candles: int,
) -> ParityResult:
    """Both layers on the run's `records`, against the `venue`'s candles (symbol → open time → candle)."""
    candles = traded_candles(records)
    diffs: dict[tuple[str, int], tuple[Candle, Candle]] = {}
    missing = 0
    for item in candles:
        theirs = venue.get(item.symbol, {}).get(item.ts)
        if theirs is None:
            missing += 1
            continue
        mine = item.candle()
        if mine.as_tuple() != theirs.as_tuple():
            diffs[(item.symbol, item.ts)] = (mine, theirs)

    def at_venue(item: CandleClosed) -> CandleClosed:
        theirs = venue.get(item.symbol, {}).get(item.ts)
        return item if theirs is None else CandleClosed.of(item.symbol, theirs, warmup=item.warmup)

    step = interval_ms(settings.data.interval)
    same_candles = backtest_decisions(settings, candles, run_id=run_id, swap=lambda c: c)
    venue_candles = backtest_decisions(settings, candles, run_id=run_id, swap=at_venue)
    result = ParityResult(
        run_id=run_id,
        mode=mode,
        candles=sum(not c.warmup for c in candles),
        candle_diffs=[diffs[k] for k in sorted(diffs, key=lambda k: (k[1], k[0]))],
        missing_at_venue=missing,
        live=count(live_decisions),
        backtest=count(venue_candles),
    )
    result.differences += compare(live_decisions, same_candles, layer=1, cause_of=lambda *_: None, step_ms=step,
                                  venue_fills=mode == "live-exchange")  # fmt: skip
    result.differences += compare(
        same_candles, venue_candles, layer=2, cause_of=candle_cause(diffs, memory_candles * step), step_ms=step
    )
    result.differences.sort(key=lambda d: (d.ts, d.layer, d.symbol))
    return result
