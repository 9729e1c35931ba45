"""Named points in a live session where a test can kill the daemon as `kill -9` would.

`LA_CRASH_AT=sent:2` makes the process SIGKILL itself when the second order reaches the point "sent".
Points, in an order's life and around it:
- `intent`: the intent is fsynced, nothing sent yet;
- `accepted`: the send got no clear answer (with the simulator's lost-ack fault the venue has the order),
  nothing journaled about it yet;
- `sent`: the exchange answered, the answer not yet journaled;
- `booking`: an execution was read from the exchange, not yet journaled;
- `reconcile`: the exchange's positions were read, not yet compared with the books;
- `backfill`: a gap's candles were fetched over REST, not yet given to the core;
- the checkpoint's protocol, step by step: `checkpoint_synced` (the run's files fsynced and counted, nothing
  written), `checkpoint_prev_tmp` (the copy of the old checkpoint durable in its temp file), `checkpoint_prev`
  (`.prev` replaced), `checkpoint_tmp` (the new checkpoint durable in its temp file, the old one in place),
  `checkpoint_written` (renamed over the old one).
Unset (the normal case) it does nothing. The exactly-once tests and `scripts/crash_matrix.py` use it to
stop the process at an exact step, which no outside timing can do reliably.
"""

from __future__ import annotations

import os
import signal

POINTS = (
    "intent", "accepted", "sent", "booking", "reconcile", "backfill",
    "checkpoint_synced", "checkpoint_prev_tmp", "checkpoint_prev", "checkpoint_tmp", "checkpoint_written",
)  # fmt: skip


class CrashPoints:
    def __init__(self, spec: str | None) -> None:
        self.point = ""
        self.nth = 0
        self._count = 0
        if spec:
            point, _, nth = spec.partition(":")
            if point not in POINTS or not nth.isdigit() or int(nth) < 1:
                raise ValueError(f"LA_CRASH_AT={spec!r}: use POINT:N with POINT one of {', '.join(POINTS)}")
            self.point, self.nth = point, int(nth)

    def at(self, point: str) -> None:
        if point != self.point:
            return
        self._count += 1
        if self._count == self.nth:
            os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
