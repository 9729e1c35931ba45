"""`events.jsonl` lines: one event (or input) with its envelope, written by `dump_event` and read back,
validated, by `parse_record`, so `parse_record(dump_event(e, ...)).event == e` for every type.

Every line carries two times (NautilusTrader's names): `ts_event`, the time of the thing itself (the
event's `ts`: a candle's open time, a fill's candle, the moment an operator acted) and `ts_init`, our wall
clock when the line was written. The envelope adds `v`, `seq`, `run_id` and `event` (the type name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from laptop_agents.core.errors import DataError
from laptop_agents.core.events import (
    CandleRejected,
    CheckpointSaved,
    CircuitBreakerReset,
    CircuitBreakerTripped,
    ConfigChanged,
    ConnectionRotated,
    DataStale,
    Error,
    Event,
    Fill,
    FundingApplied,
    GapBackfilled,
    GapDetected,
    GapUnfilled,
    JournalRecord,
    KillSwitch,
    KillSwitchReleased,
    MarketDataLoaded,
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
    OrderState,
    PositionClosed,
    PositionLiquidated,
    PositionOpened,
    PreflightCheck,
    RateLimited,
    Reconciled,
    Reconnected,
    RunFinished,
    RunResumed,
    RunStarted,
    SignalGenerated,
    StopMoved,
)
from laptop_agents.core.inputs import INPUT_TYPES

SCHEMA_VERSION = 2
"""v2: `ts_event` and `ts_init` (v1 wrote `ts` and `wall_ts`; both are still read)."""

EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        RunStarted,
        RunFinished,
        RunResumed,
        ConfigChanged,
        CheckpointSaved,
        KillSwitch,
        KillSwitchReleased,
        PreflightCheck,
        OrderState,
        Reconciled,
        Error,
        MarketDataLoaded,
        GapDetected,
        GapBackfilled,
        GapUnfilled,
        CandleRejected,
        DataStale,
        Reconnected,
        ConnectionRotated,
        RateLimited,
        SignalGenerated,
        JournalRecord,
        OrderPlaced,
        OrderRejected,
        OrderCancelled,
        Fill,
        PositionOpened,
        PositionClosed,
        StopMoved,
        FundingApplied,
        PositionLiquidated,
        CircuitBreakerTripped,
        CircuitBreakerReset,
        *INPUT_TYPES,
    )
}

_ENVELOPE_KEYS = ("v", "seq", "run_id", "event", "ts_init", "wall_ts", "ts_event")
_TS = b'{"ts":'


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One parsed `events.jsonl` line: the envelope and the typed event."""

    seq: int
    run_id: str
    ts_init: int
    event: Event


def dump_event(event: Event, *, seq: int, run_id: str, ts_init: int) -> bytes:
    """Serialise `event` as one `events.jsonl` line (with trailing newline)."""
    return EventFramer(run_id).frame(event, seq, ts_init)


class EventFramer:
    """`dump_event` for one run: the envelope's constant parts are made once, not for every event."""

    __slots__ = ("_head", "_names", "_run_id")

    def __init__(self, run_id: str) -> None:
        self._head = b'{"v":%d,"seq":' % SCHEMA_VERSION
        self._names: dict[type[Event], bytes] = {}
        self._run_id = b',"run_id":%s,"event":"' % orjson.dumps(run_id)

    def frame(self, event: Event, seq: int, ts_init: int) -> bytes:
        body = orjson.dumps(event)
        if not body.startswith(_TS):  # pragma: no cover - `ts` is the first field of every event
            raise TypeError(f"{type(event).__name__} does not start with ts")
        kind = type(event)
        name = self._names.get(kind)
        if name is None:
            name = self._names[kind] = self._run_id + kind.__name__.encode() + b'","ts_init":'
        return b'%b%d%b%d,"ts_event":%b\n' % (self._head, seq, name, ts_init, body[6:])


_ADAPTERS: dict[str, TypeAdapter[Any]] = {}


def _adapter(cls: type[Event]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls.__name__)
    if adapter is None:
        adapter = _ADAPTERS[cls.__name__] = TypeAdapter(cls)
    return adapter


def read_envelope(line: bytes | str) -> tuple[dict[str, Any], type[Event]]:
    """One `events.jsonl` line as JSON and its event type, the fields not validated yet (a reader that
    needs only the type and number of most lines, like `la replay`, validates the rest when it needs them);
    raise `DataError` naming what is wrong."""
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise DataError(f"event line is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise DataError("event line is not a JSON object")
    version = raw.get("v")
    if version not in (1, SCHEMA_VERSION):
        raise DataError(f"event schema v={version!r} unsupported; this version reads v=1 and v={SCHEMA_VERSION}")
    name = raw.get("event")
    cls = EVENT_TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise DataError(f"unknown event type {name!r}")
    return raw, cls


def parse_record(line: bytes | str) -> EventRecord:
    """Parse and validate one `events.jsonl` line; raise `DataError` naming what is wrong."""
    raw, cls = read_envelope(line)
    version, name = raw["v"], cls.__name__
    fields = {k: v for k, v in raw.items() if k not in _ENVELOPE_KEYS}
    if version == SCHEMA_VERSION:
        fields["ts"] = raw.get("ts_event")
    try:
        event = _adapter(cls).validate_python(fields)
        ts_init = int(raw["ts_init"] if version == SCHEMA_VERSION else raw["wall_ts"])
        return EventRecord(seq=int(raw["seq"]), run_id=str(raw["run_id"]), ts_init=ts_init, event=event)
    except (ValidationError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"invalid {name} event: {exc}") from exc
