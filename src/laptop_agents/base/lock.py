"""One daemon per run folder: an OS file lock on `<run>/.lock`, released by the kernel when the process dies
(even by kill -9), so it can never go stale."""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path
from types import ModuleType
from typing import IO

from laptop_agents.core.errors import InputError

fcntl: ModuleType | None
try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
WINDOWS_LOCK_OFFSET = 1 << 20


PROBE_RETRIES = 5
PROBE_RETRY_S = 0.05


class RunLock:
    """`path`: another lock file than the run folder's (`la download` locks `.NAME.lock` beside its file);
    `busy`: the one line when it is held, `{pid}` filled in."""

    def __init__(self, folder: Path, *, path: Path | None = None, busy: str | None = None) -> None:
        self.path = path or folder / ".lock"
        self._busy = busy
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, or refuse in one line. A probe (`lock_holder`: the watchdog, the dashboard) holds it
        shared for an instant: a few quick retries tell that apart from a daemon that holds it."""
        handle = self.path.open("a+")
        try:
            for attempt in range(PROBE_RETRIES + 1):
                try:
                    _lock(handle)
                    break
                except OSError:
                    if attempt == PROBE_RETRIES:
                        raise
                    time.sleep(PROBE_RETRY_S)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            if self._busy is not None:
                raise InputError(self._busy.format(pid=holder)) from None
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


def lock_holder(folder: Path) -> int | None:
    """The pid of the process that holds `folder`'s run lock, None when none does (the daemon is not
    running, whatever its last heartbeat says: after a reboot that pid may be another process's), or -1
    when it is held but its pid cannot be told (not written yet, or the file cannot be read).

    Probes with the lock itself, so the kernel, not a file's content, says whether the holder is alive:
    a shared lock where there is one (it never conflicts with another probe), let go at once."""
    path = folder / ".lock"
    if not path.exists():
        return None
    try:
        handle = path.open("r")
    except OSError:
        return -1  # there, but unreadable to us: say "held" rather than call a live daemon dead
    with handle:
        try:
            _lock(handle, shared=True)
        except OSError:
            text = handle.read().strip()
            return int(text) if text.isdigit() and int(text) > 0 else -1
        return None  # closing the handle releases the probe's lock


def _lock(handle: IO[str], *, shared: bool = False) -> None:
    """A non-blocking lock on `handle`'s file (exclusive, or `shared` for a probe); OSError when another
    process holds it exclusively. Windows has no shared locks: a probe takes the exclusive one briefly."""
    if fcntl is not None:
        fcntl.flock(handle.fileno(), (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        return
    msvcrt = importlib.import_module("msvcrt")  # Windows: no fcntl
    here = handle.tell()
    handle.seek(WINDOWS_LOCK_OFFSET)  # Windows' locks are mandatory: lock a byte past the pid, so it stays readable
    try:
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    finally:
        handle.seek(here)
