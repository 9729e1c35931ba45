"""One daemon per run folder: an OS file lock on `<run>/.lock`, released by the kernel when the process dies
(even by kill -9), so it can never go stale."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

from laptop_agents.core.errors import InputError


class RunLock:
    def __init__(self, folder: Path) -> None:
        self.path = folder / ".lock"
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        handle = self.path.open("a+")
        try:
            _lock(handle)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise InputError(
                f"run folder {self.path.parent} is in use by pid {holder}; stop it first "
                "(la stop, or SIGTERM) or pick another run id"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file releases the lock
            self._handle = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


def _lock(handle: IO[str]) -> None:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
