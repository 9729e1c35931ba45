"""Reading a run's `events.jsonl` for a replay: a torn last line (the daemon killed mid-write) is cut, never a
reason to refuse; a bad line anywhere else is refused with its line number.

Each line is read with orjson only (its type and number); the typed event is validated when the replay
needs it (inputs and run boundaries). A recorded decision is compared with the replayed one as bytes: both
are orjson's serialisation of an event, so they are equal exactly when every field is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from laptop_agents.core.errors import DataError, InputError
from laptop_agents.core.event_codec import parse_record, read_envelope
from laptop_agents.core.events import Event
from laptop_agents.runs.compressed import read_bytes

_TS_EVENT = b'"ts_event":'


class Record:
    """One line of the log: its number, its event type, and the typed event on demand."""

    __slots__ = ("_event", "kind", "line", "seq")

    def __init__(self, seq: int, kind: type[Event], line: bytes) -> None:
        self.seq = seq
        self.kind = kind
        self.line = line
        self._event: Event | None = None

    @property
    def event(self) -> Event:
        if self._event is None:
            self._event = parse_record(self.line).event
        return self._event

    def body(self) -> bytes | None:
        """The event's own fields as serialised (`<ts>,"symbol":...}`), or None for a v1 line."""
        at = self.line.find(_TS_EVENT)
        return None if at < 0 else self.line[at + len(_TS_EVENT) :]


@dataclass(frozen=True, slots=True)
class RunRecords:
    records: list[Record]
    torn_bytes: int
    """Bytes of an unfinished last line that were left out (0: the file ends with a whole line)."""


def read_records(path: Path) -> RunRecords:
    try:
        data = read_bytes(path)  # a finished backtest's may be gzipped
    except OSError as exc:
        raise InputError(f"cannot read {path} ({exc.strerror}); is this a run folder?") from None
    end = data.rfind(b"\n") + 1
    torn = len(data) - end
    records = []
    for number, line in enumerate(data[:end].splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(_record(line))
        except DataError as exc:
            raise InputError(f"{path} line {number}: {exc}; the run's event log is damaged there") from None
    if torn:  # a torn tail may still parse when only its newline is missing: it is kept then
        try:
            record = _record(data[end:])
            record.event  # noqa: B018 - validated now: a half-written line must not pass as whole
            records.append(record)
            torn = 0
        except DataError:
            pass
    return RunRecords(records, torn)


def _record(line: bytes) -> Record:
    raw, kind = read_envelope(line)
    seq = raw.get("seq")
    if not isinstance(seq, int):
        raise DataError(f"event line has no seq number (seq={seq!r})")
    return Record(seq, kind, line)
