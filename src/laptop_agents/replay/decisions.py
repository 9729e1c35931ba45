"""What a replay compares: the decisions the core takes (signals, orders, fills, positions, stop moves,
funding, liquidations, breaker trips), each with every field, in order.

`DecisionCheck` is the replayed core's event sink: it compares each decision with the next recorded one
and raises `Diverged` at the first that differs, naming both sides, the fields that differ and the input
the core had just been given.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from laptop_agents.core.errors import LaptopAgentsError
from laptop_agents.core.events import (
    CircuitBreakerReset,
    CircuitBreakerTripped,
    Event,
    Fill,
    FundingApplied,
    JournalRecord,
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
    PositionClosed,
    PositionLiquidated,
    PositionOpened,
    SignalGenerated,
    StopMoved,
)
from laptop_agents.replay.records import Record

DECISION_TYPES: frozenset[type[Event]] = frozenset(
    (SignalGenerated, JournalRecord, OrderPlaced, OrderRejected, OrderCancelled, Fill, PositionOpened,
     PositionClosed, StopMoved, FundingApplied, PositionLiquidated, CircuitBreakerTripped, CircuitBreakerReset)
)  # fmt: skip


class Diverged(LaptopAgentsError):
    """The replay took a different decision than the run (or one more, or one fewer)."""

    def __init__(self, report: str) -> None:
        super().__init__(report)
        self.report = report


def when(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe(event: Event | None) -> str:
    """One line: type, symbol, time and every field that says something."""
    if event is None:
        return "(nothing)"
    fields = {k: v for k, v in dataclasses.asdict(event).items() if k not in ("ts", "symbol") and v not in (None, "")}
    body = " ".join(f"{k}={_short(v)}" for k, v in fields.items())
    return f"{type(event).__name__} {event.symbol} at {when(event.ts)}: {body}"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    text = orjson.dumps(value).decode() if isinstance(value, dict | list | tuple) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def differences(recorded: Event, replayed: Event) -> list[str]:
    """The fields that differ, as `name: recorded → replayed`."""
    if type(recorded) is not type(replayed):
        return [f"type: {type(recorded).__name__} → {type(replayed).__name__}"]
    a, b = dataclasses.asdict(recorded), dataclasses.asdict(replayed)
    out = []
    for key in a:
        x, y = a[key], b[key]
        if _canon(x) == _canon(y):
            continue
        if isinstance(x, dict) and isinstance(y, dict):  # name the entries that differ (indicators, detail)
            out += [f"{key}.{k}: {_short(x.get(k))} → {_short(y.get(k))}" for k in {**x, **y}
                    if _canon(x.get(k)) != _canon(y.get(k))]  # fmt: skip
        else:
            out.append(f"{key}: {_short(x)} → {_short(y)}")
    return out


def _canon(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def same(recorded: Event, replayed: Event) -> bool:
    return type(recorded) is type(replayed) and _canon(recorded) == _canon(replayed)


class DecisionCheck:
    """The replayed core's event sink. `expect` queues the run's decisions (those after one input, or a
    whole backtest's); each replayed decision must equal the next one; `settle` says none is left over."""

    def __init__(self) -> None:
        self._expected: deque[Record] = deque()
        self.decisions = 0
        """Decisions compared and found identical."""
        self.last_input: str = "the run's start"
        """What the core was given last (for the report of a divergence)."""
        self.cut_short = False
        """The run was killed while this input's decisions were being written: the log may hold only the
        first of them, so further replayed ones are not a divergence."""
        self.input_at: Callable[[int], str] | None = None
        """Names the input of the candle at a time (a backtest's: its inputs are not in the log)."""

    def expect(self, records: Iterable[Record]) -> None:
        self._expected.extend(records)

    def __call__(self, event: Event) -> None:
        if type(event) not in DECISION_TYPES:
            return
        if not self._expected:
            if self.cut_short:
                return
            self._diverge(None, event)
        recorded = self._expected.popleft()
        body = recorded.body()
        if recorded.kind is not type(event) or (
            orjson.dumps(event)[6:] != body if body is not None else not same(recorded.event, event)
        ):
            self._diverge(recorded, event)
        self.decisions += 1

    def settle(self) -> None:
        """Every queued decision was replayed (else the run took one the replay did not)."""
        if self._expected:
            self._diverge(self._expected.popleft(), None)

    def fail(self, what: str, recorded: str, replayed: str) -> None:
        """A divergence that is not one decision (the books at a resume, the final equity)."""
        raise Diverged(
            f"diverged after {self.decisions} identical decisions: {what}\n"
            f"  recorded: {recorded}\n  replayed: {replayed}\n  after:    {self.last_input}"
        )

    def _diverge(self, recorded: Record | None, replayed: Event | None) -> None:
        at = f"decision {self.decisions + 1}"
        if recorded is not None:
            at += f" (events.jsonl seq {recorded.seq})"
        lines = [f"diverged at {at}, after {self.decisions} identical decisions",
                 f"  recorded: {describe(recorded.event if recorded else None)}",
                 f"  replayed: {describe(replayed)}"]  # fmt: skip
        if recorded is not None and replayed is not None:
            named = differences(recorded.event, replayed) or ["the same values, in another order"]
            lines.append(f"  differs:  {'; '.join(named)}")
        after = self.last_input
        event = replayed if replayed is not None else recorded.event if recorded is not None else None
        if self.input_at is not None and event is not None:
            after = self.input_at(event.ts)
        lines.append(f"  after:    {after}")
        raise Diverged("\n".join(lines))
