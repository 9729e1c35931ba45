"""Stub factories and fakes shared by the tests (hand-written, no MagicMock)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from laptop_agents.config.loader import load_settings
from laptop_agents.config.models import Settings
from laptop_agents.core.candle import Candle
from laptop_agents.core.events import Event, Side
from laptop_agents.core.orders import Intent
from laptop_agents.engine.assembly import build_core
from laptop_agents.engine.trading_core import TradingCore
from laptop_agents.strategy.base import NO_INTENTS, BaseStrategy

MINUTE = 60_000
T0 = 1_640_995_200_000  # 2022-01-01 00:00 UTC, a funding time


def settings(*sets: str) -> Settings:
    """Settings from the embedded defaults plus `section.key=value` overrides (environment ignored)."""
    return load_settings(sets=list(sets), environ={})


def candle(i: int, o: float, h: float, low: float, c: float, v: float = 1.0, *, step: int = MINUTE) -> Candle:
    return Candle(T0 + i * step, o, h, low, c, v)


def closes_to_candles(closes: Sequence[float], *, wick: float = 0.5, start: int = 0) -> list[Candle]:
    """Candles whose open is the previous close and whose wicks reach `wick` beyond the body."""
    out = []
    prev = closes[0]
    for i, c in enumerate(closes):
        out.append(candle(start + i, prev, max(prev, c) + wick, min(prev, c) - wick, c))
        prev = c
    return out


class Recorder:
    """An event sink that keeps every event and checks the broker's books after each one."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.core: TradingCore | None = None

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if self.core is not None:
            self.core.broker.check_invariants()

    def of(self, cls: type[Event]) -> list[Any]:
        return [e for e in self.events if type(e) is cls]


class ScriptedStrategy(BaseStrategy):
    """Returns prepared intents at given candle numbers (0-based), to pin broker and core rules exactly."""

    name = "scripted"

    def __init__(self, script: dict[int, Sequence[Intent]]) -> None:
        self.script = script
        self.n = -1
        self.positions_seen: list[Side | None] = []

    def warmup_candles(self) -> int:
        return 0

    def on_candle(self, candle: Candle, position: Side | None) -> Sequence[Intent]:
        self.n += 1
        self.positions_seen.append(position)
        return self.script.get(self.n, NO_INTENTS)


def make_core(s: Settings, strategy: Any = None) -> tuple[TradingCore, Recorder, list[tuple[int, float, bool]]]:
    """A real TradingCore (real broker, sizer, breaker) recording events and equity marks."""
    rec = Recorder()
    marks: list[tuple[int, float, bool]] = []
    core = build_core(s, emit=rec, on_equity=lambda c, eq, pos: marks.append((c.ts, eq, pos)))
    if strategy is not None:
        core.strategy = strategy
    rec.core = core
    return core, rec, marks


def run_candles(core: TradingCore, candles: Iterable[Candle], *, finish: bool = True) -> None:
    for c in candles:
        core.on_candle(c)
    if finish:
        core.finish()


# A user strategy module with two bugs: `Boom` raises on its 40th candle, `Bare` returns an intent where a
# list of intents belongs (issue 14, item 11).
BROKEN_STRATEGIES = """
from laptop_agents.strategy.base import BaseStrategy
from laptop_agents.core.orders import EntryIntent


class Boom(BaseStrategy):
    # No trades; on its 40th candle, a bug.

    name = "boom"

    def __init__(self, params, *, emit, symbol):
        self.seen = 0

    def on_candle(self, candle, position):
        self.seen += 1
        if self.seen == 40:
            raise ZeroDivisionError("the strategy divided by zero")
        return []


class Bare(Boom):
    name = "bare"

    def on_candle(self, candle, position):
        self.seen += 1
        return EntryIntent(side="long", stop_distance=100.0, setup="x", reason="y") if self.seen == 40 else []
"""


def read_events(folder: Path) -> list[dict[str, Any]]:
    """The whole lines of a run's `events.jsonl` so far (none when it is not there yet): read while a daemon
    writes it, the last line may be half written."""
    path = folder / "events.jsonl"
    data = path.read_bytes() if path.exists() else b""
    return [orjson.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]
