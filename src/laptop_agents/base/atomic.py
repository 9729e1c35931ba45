"""Crash-safe file writes: after a kill -9 at any instant, the file is the old version or the new one.

temp file in the same folder → write → fsync → os.replace → fsync the folder (so the rename is durable).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path


def atomic_write_bytes(
    path: Path, data: bytes, *, mode: int = 0o600, before_replace: Callable[[], None] | None = None
) -> None:
    """`mode`: the new file's permissions (0600 by default: a run's files are its owner's). `before_replace`
    runs with the new bytes durable in the temp file and the old file still in place (a crash point)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:  # a full disk (ENOSPC) or an I/O error: the old file stays, no temp file is left
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    os.close(fd)
    if before_replace is not None:
        before_replace()
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename inside `folder` durable. A no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
