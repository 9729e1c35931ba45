"""Every event type survives dump → parse unchanged, and bad lines are refused clearly."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, get_args, get_origin

import orjson
import pytest

from laptop_agents.core.errors import DataError
from laptop_agents.core.event_codec import EVENT_TYPES, dump_event, parse_record
from laptop_agents.core.events import Event


def _sample(field_type: Any, name: str) -> Any:
    """A non-default value of the annotated type, so a field that is dropped would be noticed."""
    origin = get_origin(field_type)
    if origin is typing.Literal:
        return get_args(field_type)[-1]
    if origin in (typing.Union, __import__("types").UnionType):
        args = [a for a in get_args(field_type) if a is not type(None)]
        return _sample(args[0], name)
    if field_type is int or field_type == "int":
        return 1_640_995_260_123
    if field_type is float or field_type == "float":
        return 0.1 + 0.2  # 0.30000000000000004: repr precision must survive
    if field_type is bool or field_type == "bool":
        return True
    if field_type is str or field_type == "str":
        return f"{name}-é✓"
    if origin is dict:
        return {"atr": 12.5, "fast_sma": 1e-9}
    if origin is list:
        return [f"{name}-a", f"{name}-b"]
    if origin is tuple:  # VenueTiers rows, BooksRestored lines
        args = get_args(field_type)
        if len(args) == 2 and args[1] is Ellipsis:
            return (_sample(args[0], name), _sample(args[0], name))
        return tuple(_sample(arg, name) for arg in args)
    raise AssertionError(f"no sample for {field_type!r}")


def _instance(cls: type[Event]) -> Event:
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _sample(hints[f.name], f.name) for f in dataclasses.fields(cls)})


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_every_event_round_trips(name: str) -> None:
    """parse(dump(e)) == e, with the envelope intact."""
    event = _instance(EVENT_TYPES[name])
    line = dump_event(event, seq=7, run_id="run-1", ts_init=123)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    record = parse_record(line)
    assert record.event == event
    assert (record.seq, record.run_id, record.ts_init) == (7, "run-1", 123)
    assert orjson.loads(line)["event"] == name


def test_design_vocabulary_is_complete() -> None:
    """The events named in design §5 all exist."""
    required = {
        "RunStarted",
        "RunFinished",
        "MarketDataLoaded",
        "GapDetected",
        "GapBackfilled",
        "DataStale",
        "Reconnected",
        "SignalGenerated",
        "OrderPlaced",
        "OrderRejected",
        "OrderCancelled",
        "Fill",
        "PositionOpened",
        "PositionClosed",
        "StopMoved",
        "FundingApplied",
        "CircuitBreakerTripped",
        "CircuitBreakerReset",
        "CheckpointSaved",
        "RateLimited",
        "KillSwitch",
        "Error",
    }
    assert required <= set(EVENT_TYPES)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"v":3,"event":"Fill"}', "schema v=3 unsupported"),
        (b'{"v":1,"seq":1,"run_id":"r","wall_ts":1,"event":"Nope","ts":1}', "unknown event type 'Nope'"),
        (
            b'{"v":1,"seq":1,"run_id":"r","wall_ts":1,"event":"GapDetected","ts":1,"from_ts":"x","to_ts":2,'
            b'"missing":1}',
            "invalid GapDetected event",
        ),
    ],
)
def test_bad_lines_are_refused(line: bytes, fragment: str) -> None:
    with pytest.raises(DataError, match=fragment):
        parse_record(line)


def test_a_line_carries_the_time_of_the_thing_and_the_time_it_was_written() -> None:
    """Issue 16: `ts_event` (the event's own time) and `ts_init` (the wall clock on writing) on every line."""
    line = dump_event(_instance(EVENT_TYPES["Fill"]), seq=3, run_id="r", ts_init=99)
    raw = orjson.loads(line)
    assert raw["ts_event"] == 1_640_995_260_123 and raw["ts_init"] == 99
    assert "ts" not in raw and "wall_ts" not in raw


def test_a_version_1_line_is_still_read() -> None:
    """Runs written before issue 16 (`ts`, `wall_ts`) replay and resume as before."""
    record = parse_record(
        b'{"v":1,"seq":4,"run_id":"r","event":"GapDetected","wall_ts":77,"ts":5,"symbol":"X","from_ts":1,'
        b'"to_ts":2,"missing":1}'
    )
    assert record.ts_init == 77 and record.event.ts == 5 and record.seq == 4
