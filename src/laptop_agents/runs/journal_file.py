"""`journal.jsonl`: the supervisor's trade journal (`JournalRecord` events), one JSON object per line.

The same records are in `events.jsonl`; this file holds only them, for a trader to read a plan and what
became of it without the rest. It is created with the first record (runs without a journaling strategy
have none), flushed like the event log, and cut back with it on `--resume`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

import orjson

from laptop_agents.core.events import Event, JournalRecord


class JournalFile:
    def __init__(self, path: Path, *, durable: bool) -> None:
        self.path = path
        self._durable = durable
        self._handle: IO[bytes] | None = None
        self.records = 0

    def on_event(self, event: Event) -> None:
        if type(event) is not JournalRecord:
            return
        handle = self._handle
        if handle is None:
            handle = self._handle = self.path.open("ab")
        handle.write(orjson.dumps(event) + b"\n")
        if self._durable:
            handle.flush()
        self.records += 1

    def offset(self, *, sync: bool = False) -> int:
        """Bytes written so far (flushed; with `sync` fsynced too): what a checkpoint accounts for."""
        if self._handle is None:
            return self.path.stat().st_size if self.path.exists() else 0
        self._handle.flush()
        if sync:
            os.fsync(self._handle.fileno())
        return self._handle.tell()

    def close(self) -> None:
        if self._handle is not None and not self._handle.closed:
            self._handle.close()
