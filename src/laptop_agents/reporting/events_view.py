"""Events as a trader reads them: values formatted, repeats grouped, what matters never pushed out.

A field is shown by what it is: prices to the market's tick, money in USDT with two decimals, percentages
with their sign, times as UTC dates, durations in words. None, empty values and false flags are left out;
a true flag is its name. Events of one kind, symbol and reason seen close together become one row
("× 39,006, from … to …"), so a tripped breaker's refusals do not fill the table.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, fields
from itertools import islice
from typing import Any

from laptop_agents.core.candle import Candle
from laptop_agents.core.events import (
    CircuitBreakerReset,
    CircuitBreakerTripped,
    Error,
    Event,
    KillSwitch,
    KillSwitchReleased,
    PositionLiquidated,
    RunFinished,
    RunResumed,
)
from laptop_agents.core.inputs import CandleClosed, ClockTick
from laptop_agents.reporting.timefmt import fmt_ts

NOTABLE: tuple[type[Event], ...] = (
    CircuitBreakerTripped,
    CircuitBreakerReset,
    Error,
    KillSwitch,
    KillSwitchReleased,
    PositionLiquidated,
    RunResumed,
)
"""Kept apart from the routine events, so the report always shows them however many came after."""

ROUTINE_INPUTS: tuple[type[Event], ...] = (CandleClosed, ClockTick)
"""Inputs the core is given every candle or tick: never listed."""
_ROUTINE = frozenset(ROUTINE_INPUTS)
_REASONS = ("reason", "blocked_reason")
"""The fields that name an event's reason, in order: the first one set groups it."""
_REASON_FIELDS: dict[type, tuple[str, ...]] = {}
"""Which of `_REASONS` each event type has (looked up once per type)."""
_NOTABLE = frozenset(NOTABLE)

_MONEY = ("equity", "pnl", "fee", "fees", "funding", "notional", "balance", "cash", "covered", "margin", "loss")
_SKIP = frozenset({"ts", "symbol"})


def price_decimals(candles: Sequence[Candle]) -> int:
    """The decimals of the market's tick, read off its closes; synthetic prices (every digit used) get
    what suits their size."""
    most = 0
    for c in candles[-200:]:
        text = repr(c.close)
        if "e" in text:
            most = 9
            break
        most = max(most, len(text.split(".")[1].rstrip("0")) if "." in text else 0)
    if most <= 5:
        return most
    price = candles[-1].close if candles else 1.0
    return 2 if price >= 100 else 4 if price >= 1 else 6


def duration(ms: float) -> str:
    """A duration in the two largest units: "3 d 4 h", "12 min", "850 ms"."""
    if ms < 1_000:
        return f"{ms:.0f} ms"
    s = ms / 1000
    units = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))
    parts: list[str] = []
    for name, size in units:
        if s >= size or parts:
            n = int(s // size)
            s -= n * size
            if n or parts:
                parts.append(f"{n} {name}")
        if len(parts) == 2:
            break
    return " ".join(p for p in parts if not p.startswith("0 ")) or "0 s"


def format_value(name: str, value: Any, decimals: int) -> str | None:
    """One field's value as text, or None to leave the field out."""
    if value is None or value is False or value == "" or value == [] or value == {}:
        return None
    if value is True:
        return ""
    if isinstance(value, int) and name.endswith("_ts"):
        return f"{fmt_ts(value)} UTC"
    if isinstance(value, float | int) and name.endswith("_ms"):
        return duration(float(value))
    if isinstance(value, float | int) and name.endswith("_s"):
        return duration(float(value) * 1000)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if name.endswith(("pct", "_rate")):
            return f"{value:.2f} %" if name.endswith("pct") else f"{value * 100:.4f} %"
        if "price" in name or name in ("stop", "target", "entry", "mark"):
            return f"{value:,.{decimals}f}"
        if any(word in name for word in _MONEY):
            return f"{value:,.2f} USDT"
        if name in ("qty", "size", "filled"):
            return f"{value:g}"
        return f"{value:,.6g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        inner = [(k, format_value(str(k), v, decimals)) for k, v in value.items()]
        return ", ".join(f"{k} {v}" if v else str(k) for k, v in inner if v is not None)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def event_details(event: Event, decimals: int) -> str:
    parts = []
    for f in fields(event):
        if f.name in _SKIP:
            continue
        text = format_value(f.name, getattr(event, f.name), decimals)
        if text is None:
            continue
        label = f.name.replace("_", " ")
        parts.append(label if text == "" else f"{label} {text}")
    return " · ".join(parts)


@dataclass(slots=True)
class EventGroup:
    """Events of one kind, symbol and reason seen close together: the first time, the last one, a count."""

    key: tuple[str, str, str]
    first_ts: int
    last: Event
    count: int = 1

    @property
    def kind(self) -> str:
        return self.key[0]


class RecentEvents:
    """The report's events, grouped as they arrive, plus the notable ones kept apart.

    An event joins a group among the last `lookback` with its key (so a refused signal and its refused
    order, alternating for a month, are two rows, not 78,000); the groups are ordered by their latest
    event. Candles and clock ticks the core is given are not listed.
    """

    def __init__(self, keep: int, *, notable_keep: int = 100, lookback: int = 6) -> None:
        self.groups: deque[EventGroup] = deque(maxlen=max(keep, 1))
        self.notable: deque[Event] = deque(maxlen=notable_keep)
        self.notable_seen = 0
        self._lookback = max(lookback, 1)  # the latest group is always looked at

    def on_event(self, event: Event) -> None:
        kind = type(event)
        if kind in _ROUTINE:
            return
        if kind in _NOTABLE or (kind is RunFinished and getattr(event, "status", "ok") != "ok"):
            self.notable.append(event)
            self.notable_seen += 1
        names = _REASON_FIELDS.get(kind)
        if names is None:
            declared = getattr(kind, "__dataclass_fields__", {})
            names = _REASON_FIELDS[kind] = tuple(n for n in _REASONS if n in declared or hasattr(kind, n))
        reason: Any = ""
        for name in names:  # the first of them that is set (a getattr with a default raises inside: slow)
            value = getattr(event, name, None)
            if value:
                reason = value
                break
        key = (kind.__name__, event.symbol, reason if type(reason) is str else str(reason))
        groups = self.groups
        # newest first among the last `lookback` groups; a trade's 5 or 6 events cycle through as many
        for back, group in enumerate(islice(reversed(groups), self._lookback), 1):
            if group.key == key:
                group.last = event
                group.count += 1
                if back > 1:  # moved to the end: the groups stay ordered by their latest event
                    del groups[-back]
                    groups.append(group)
                return
        groups.append(EventGroup(key, event.ts, event))
