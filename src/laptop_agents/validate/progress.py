"""A progress bar on stderr: redrawn in place on a terminal, a line every 10 % otherwise (logs, CI)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty()
        self._started = time.monotonic()
        self._last_decile = -1

    def advance(self, n: int = 1) -> None:
        self.done += n
        fraction = self.done / self.total
        elapsed = time.monotonic() - self._started
        eta = elapsed / fraction - elapsed if fraction > 0 else 0.0
        bar = "#" * int(fraction * 30)
        counts = f"{self.done}/{self.total} {fraction * 100:3.0f} %"
        line = f"{self.label} [{bar:<30}] {counts} · {elapsed:.0f} s, ~{eta:.0f} s left"
        if self._tty:
            self._stream.write("\r" + line)
            if self.done >= self.total:
                self._stream.write("\n")
        else:
            decile = int(fraction * 10)
            if decile == self._last_decile:
                return
            self._last_decile = decile
            self._stream.write(line + "\n")
        self._stream.flush()
