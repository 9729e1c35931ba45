"""`events.jsonl`: the run's event log, one typed event per line, and a fan-out to in-process listeners.

The log numbers events (`seq`) and stamps wall time; listeners (trade log, report, dashboard) see the
same typed objects, so everything a run shows is derived from the events it wrote.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from laptop_agents.base import scrub
from laptop_agents.core.clock import Clock
from laptop_agents.core.event_codec import EventFramer
from laptop_agents.core.events import Event

Listener = Callable[[Event], None]


def scrubbed(event: Event) -> Event:
    """The event with every known secret's value masked in its text, nested ones too (a journal record's
    `detail`, a reject's message inside it): listeners are given this one, and the line is framed from it."""
    masked: dict[str, Any] = {}
    for name in event.__dataclass_fields__:
        value = getattr(event, name)
        clean = _masked(value)
        if clean is not value:
            masked[name] = clean
    return dataclasses.replace(event, **masked) if masked else event


def _masked(value: Any) -> Any:
    """`value` with secrets masked in every string it holds (in dicts, lists, tuples, named tuples, sets and
    dataclasses); the same object when it holds none, or when it cannot be rebuilt (its line is masked all
    the same)."""
    if isinstance(value, str):
        clean = scrub.scrub(value)
        return value if clean == value else clean
    try:
        if isinstance(value, dict):
            items = [(_masked(k), _masked(v)) for k, v in value.items()]
            same = all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(items, value.items(), strict=True))
            return value if same else dict(items)
        if isinstance(value, list | tuple | set | frozenset):
            parts = [_masked(v) for v in value]
            if all(p is v for p, v in zip(parts, value, strict=True)):
                return value
            if isinstance(value, tuple) and hasattr(value, "_make"):  # a named tuple
                return value._make(parts)
            return parts if isinstance(value, list) else type(value)(parts)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: _masked(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
            changed = {k: v for k, v in fields.items() if v is not getattr(value, k)}
            return dataclasses.replace(value, **changed) if changed else value
    except Exception:  # a type that cannot be rebuilt from its parts
        return value
    return value


class EventLog:
    """Appends events to `path`. `durable=True` flushes every line (live modes); backtests buffer."""

    def __init__(
        self, path: Path, *, run_id: str, wall_clock: Clock, durable: bool = False, start_seq: int = 0
    ) -> None:
        self.path = path
        self.run_id = run_id
        self.seq = start_seq
        self._clock = wall_clock
        self._durable = durable
        self._handle = path.open("ab", buffering=1 << 20)
        self._frame = EventFramer(run_id).frame
        self._listeners: list[Listener] = []
        self._typed: dict[type[Event], list[Listener]] = {}

    def subscribe(self, listener: Listener, types: Iterable[type[Event]] | None = None) -> None:
        """`listener` gets every event, or with `types` only those (one lookup per event for all of them:
        a listener of a few rare types costs the candles nothing)."""
        if types is None:
            self._listeners.append(listener)
            return
        for kind in types:
            self._typed.setdefault(kind, []).append(listener)

    def emit(self, event: Event) -> None:
        self.seq += 1
        line = self._frame(event, self.seq, self._clock.now_ms())
        if scrub.active() and scrub.holds_secret(line):  # an exception's text, a venue's echo of the key
            event = scrubbed(event)
            line = self._frame(event, self.seq, self._clock.now_ms())
            line = scrub.scrub_bytes(line)  # a secret inside a nested field: masked in the line itself
        self._handle.write(line)
        if self._durable:
            self._handle.flush()
        for listener in self._listeners:
            listener(event)
        if self._typed:
            for listener in self._typed.get(type(event), ()):
                listener(event)

    def flush(self) -> None:
        self._handle.flush()

    def offset(self, *, sync: bool = False) -> int:
        """Bytes written so far (flushed), for a checkpoint to truncate back to on resume. `sync`: on disk
        too (fsync), so a checkpoint never counts bytes a power loss could take back."""
        self._handle.flush()
        if sync:
            os.fsync(self._handle.fileno())
        return self._handle.tell()

    @property
    def closed(self) -> bool:
        return self._handle.closed

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.flush()
            self._handle.close()
