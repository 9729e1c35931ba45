"""`heartbeat.json`, written atomically from the event loop, so a wedged loop shows as a stale file.

A write that fails (a full disk, an I/O error, a folder made read-only) loses that beat, never the session
and never the file: the last beat stays whole on disk, its age grows, and the watchdog calls the daemon
STALE by it (restarting it under `--loop --restart`). What cannot be told through the file is said once per
incident through `on_failed` (an `Error` in events.jsonl, paged) and in the beats the dashboard reads fresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from laptop_agents.base import scrub
from laptop_agents.base.atomic import atomic_write_bytes


class HeartbeatFile:
    def __init__(self, path: Path, *, on_failed: Callable[[str], None]) -> None:
        self.path = path
        self.seq = 0
        """The beat's sequence: it advances with every beat, written or not, so a reader sees the lost ones."""
        self.written_s: float | None = None
        """When a beat last reached the disk (monotonic): its age is a metric."""
        self.error: str | None = None
        """Why the last write failed; None once one succeeds again."""
        self.failures = 0
        self._on_failed = on_failed

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def write(self, data: bytes) -> bool:
        """True when the beat reached the disk. The first failure of an incident is said, the rest counted."""
        data = scrub.scrub_bytes(data)  # a halt's detail holding a venue's echo of the key
        try:
            atomic_write_bytes(self.path, data)
        except OSError as exc:
            self.failures += 1
            if self.error is None:
                self.error = f"{type(exc).__name__}: {exc}"
                self._on_failed(self.error)
            return False
        self.error = None
        self.written_s = time.monotonic()
        return True

    def status(self) -> dict[str, Any]:
        """As of the last write before this beat: the first beat to reach the disk after an incident still
        shows it (`ok` false, the error), the next one `ok`; `failures` counts every beat lost so far."""
        return {"ok": self.error is None, "error": self.error, "failures": self.failures}
