"""`state.json`: a versioned, checksummed checkpoint written atomically, with the previous one kept.

Layout: {"schema": 2, "checksum": "sha256:<hex of the canonical payload>", "payload": {...}}.
A file that does not parse, fails its checksum or has an unknown schema is refused with `CheckpointError`
(never silently replaced by an empty state); `state.json.prev` is the fallback a user can choose.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from laptop_agents.base import scrub
from laptop_agents.base.atomic import atomic_write_bytes
from laptop_agents.core.errors import CheckpointError

CHECKPOINT_SCHEMA = 2  # 2: per-symbol cores under "symbols", the account at the top
_OPTS = orjson.OPT_SORT_KEYS


def _checksum(payload: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(orjson.dumps(payload, option=_OPTS)).hexdigest()


def encode_checkpoint(payload: dict[str, Any]) -> bytes:
    doc = {"schema": CHECKPOINT_SCHEMA, "checksum": _checksum(payload), "payload": payload}
    return orjson.dumps(doc, option=_OPTS | orjson.OPT_INDENT_2) + b"\n"


def write_checkpoint(path: Path, payload: dict[str, Any], *, step: Callable[[str], None] | None = None) -> int:
    """Write `payload` to `path` atomically, keeping the previous file as `<path>.prev`. Returns bytes.

    The previous checkpoint is *copied* to `.prev` (atomically) and then replaced: at every instant, even
    under kill -9, `path` holds the old checkpoint or the new one. Renaming it away first would leave a
    moment with no checkpoint at all. `step(name)` is called at each step of that protocol (crash points).
    """
    at = step if step is not None else (lambda _: None)
    data = encode_checkpoint(payload)
    if scrub.active() and scrub.holds_secret(data):  # a venue's echo of the key inside a halt's detail
        data = encode_checkpoint(orjson.loads(scrub.scrub_bytes(data))["payload"])  # a JSON-escaped one too
    if path.exists():
        atomic_write_bytes(path.with_name(path.name + ".prev"), path.read_bytes(),
                           before_replace=lambda: at("checkpoint_prev_tmp"))  # fmt: skip
        at("checkpoint_prev")
    atomic_write_bytes(path, data, before_replace=lambda: at("checkpoint_tmp"))
    at("checkpoint_written")
    return len(data)


class CheckpointDamaged(CheckpointError):
    """The file is not the checkpoint it was written as (not JSON, no payload, a failed checksum): damaged on
    disk or by hand, unlike a checkpoint of another schema, which is whole but not this version's."""


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Read and verify a checkpoint; raise `CheckpointError` naming the problem and the way out."""
    fallback = f"; the previous checkpoint is {path.name}.prev"
    try:
        doc = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} not found") from None
    except orjson.JSONDecodeError as exc:
        raise CheckpointDamaged(f"checkpoint {path} is not valid JSON ({exc}){fallback}") from None
    if not isinstance(doc, dict) or "payload" not in doc or not isinstance(doc["payload"], dict):
        raise CheckpointDamaged(f"checkpoint {path} has no payload{fallback}")
    if doc.get("schema") != CHECKPOINT_SCHEMA:
        raise CheckpointError(
            f"checkpoint {path} has schema {doc.get('schema')!r}; this version reads {CHECKPOINT_SCHEMA}{fallback}"
        )
    payload: dict[str, Any] = doc["payload"]
    if doc.get("checksum") != _checksum(payload):
        raise CheckpointDamaged(f"checkpoint {path} fails its checksum (torn or edited){fallback}")
    return payload


CHECKPOINT_RETRY_S = 10.0
"""While checkpoints fail (a full disk), one more try at most this often."""


class CheckpointWriter:
    """`state.json` for a live session. A write that fails (ENOSPC, EIO) keeps the previous checkpoint
    (and `.prev`) as they were and leaves no temp file; the session is told (`error`), and the next try
    waits `CHECKPOINT_RETRY_S` (monotonic), so a full disk is not hammered."""

    def __init__(self, path: Path, *, step: Callable[[str], None] | None = None) -> None:
        self.path = path
        self._step = step
        """Called at each step of the protocol (the crash points `checkpoint_*`)."""
        self.error: str | None = None
        self.lost: str | None = None
        """Why the run's files can no longer be trusted to be on disk: an fsync of one failed (EIO, ENOSPC).
        A later fsync of the same file may succeed without the lost pages ever being written (the kernel
        drops them and clears the error), so no checkpoint is written again in this process: the last good
        one stays the one a restart resumes from."""
        self.failing_since: float | None = None
        self._next_try = 0.0

    def retry_due(self) -> bool:
        if self.lost is not None:
            return False
        return self.error is None or time.monotonic() >= self._next_try

    def write(self, snapshot: Callable[[], dict[str, Any]]) -> int | None:
        """Bytes written, or None when the write failed (see `error`). `snapshot` is taken here, since it
        fsyncs the files it counts and that can fail (EIO, ENOSPC) like the write itself."""
        if self.lost is not None:
            return None
        now = time.monotonic()
        try:
            payload = snapshot()
        except OSError as exc:
            self.error = self.lost = f"{exc.strerror or exc} (syncing the run's files)"
            self.failing_since = self.failing_since if self.failing_since is not None else now
            return None
        if self._step is not None:
            self._step("checkpoint_synced")
        try:
            size = write_checkpoint(self.path, payload, step=self._step)
        except OSError as exc:
            self.error = f"{exc.strerror or exc} ({self.path.name})"
            self.failing_since = self.failing_since if self.failing_since is not None else now
            self._next_try = now + CHECKPOINT_RETRY_S
            return None
        self.error = None
        self.failing_since = None
        return size

    def status(self) -> dict[str, Any]:
        """For the heartbeat."""
        since = self.failing_since
        return {
            "ok": self.error is None,
            "error": self.error,
            "failing_for_s": None if since is None else round(time.monotonic() - since, 1),
        }
