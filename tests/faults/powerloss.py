"""Disk faults for tests: a disk that forgets on power loss, and an fsync that fails.

`PowerLossDisk` wraps `os.fsync` for files under `root`: an fsync of a file records the bytes it holds then
(by inode), an fsync of a folder records its entries then (name -> inode). `image()` writes the folder as a
power cut at that instant would leave it under the strict model of a journaling filesystem: a name exists
only if its folder was fsynced after it appeared, and a file holds the bytes of its last fsync (nothing at
all if it was never fsynced), however much more was written and flushed to the page cache since.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path


class PowerLossDisk:
    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.content: dict[int, bytes] = {}
        self.entries: dict[str, dict[str, int]] = {}
        self.on_folder_synced: Callable[[str, str], None] | None = None
        """Called as (folder, name of the last file fsynced) after a folder's fsync is recorded."""
        self._fsync = os.fsync
        self._last_file = ""

    def fsync(self, fd: int) -> None:
        self._fsync(fd)
        path = os.readlink(f"/proc/self/fd/{fd}")
        if not path.startswith(self.root):
            return
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            self.entries[path] = {entry.name: entry.inode() for entry in os.scandir(path)}
            if self.on_folder_synced is not None:
                self.on_folder_synced(path, self._last_file)
            return
        with open(f"/proc/self/fd/{fd}", "rb") as same_file:  # the inode, even if renamed or write-only
            self.content[os.fstat(same_file.fileno()).st_ino] = same_file.read()
        self._last_file = os.path.basename(path)

    def image(self, folder: Path, into: Path) -> Path:
        """`folder` as the power cut would leave it, written to `into` (created)."""
        into.mkdir(parents=True)
        for name, inode in self.entries.get(str(folder), {}).items():
            (into / name).write_bytes(self.content.get(inode, b""))
        return into

    def unsynced(self, folder: Path) -> dict[str, int]:
        """Bytes each file of `folder` holds beyond what a power cut would keep (what the model drops)."""
        durable = self.entries.get(str(folder), {})
        lost = {}
        for path in folder.iterdir():
            if path.is_file():
                kept = len(self.content.get(durable[path.name], b"")) if path.name in durable else 0
                if path.stat().st_size > kept:
                    lost[path.name] = path.stat().st_size - kept
        return lost


class FailingFsync:
    """`os.fsync` of the files whose path contains `name` fails with `code` while `failing` (a full disk, an
    I/O error); every other fsync is real. `refused` counts the failures."""

    def __init__(self, name: str, code: int = errno.EIO) -> None:
        self.name = name
        self.code = code
        self.failing = False
        self.refused = 0
        self._fsync = os.fsync

    def fsync(self, fd: int) -> None:
        if self.failing and self.name in os.readlink(f"/proc/self/fd/{fd}"):
            self.refused += 1
            raise OSError(self.code, os.strerror(self.code))
        self._fsync(fd)
