"""The exchange's REST API not answering the order sync: maintenance, a DNS failure, 5xx or timeouts.

Each step of a sync pass already says its own failure once (`OrderLog.trouble`), and a failed
reconciliation halts entries until one passes. What a pass could not tell is that the venue is gone as a
whole: the session went on reporting `running`, and passed every poll interval (0.05-2 s) with every read
retried, for as long as the outage lasted. A pass in which requests went unanswered and none was
answered is now a failed pass: the session reports `degraded` (heartbeat, dashboard, watchdog), the next
pass waits twice as long each time (capped at `MAX_RETRY_S`), and a pass that the venue answers again
ends it. Entries wait for a reconciliation that passed (its halt), so they resume only once the books were
compared with the exchange; exits are still tried and the exchange's own stop and target stay in place.
"""

from __future__ import annotations

from typing import Any

MAX_RETRY_S = 30.0


class RestOutage:
    def __init__(self) -> None:
        self.failed_passes = 0
        """Passes in a row the venue did not answer at all (0: it answers)."""
        self.since_s: float | None = None
        self._before = (0, 0)

    def begin(self, answered: int, unreachable: int) -> None:
        """The transport's counters before a pass."""
        self._before = (answered, unreachable)

    def end(self, answered: int, unreachable: int, now_s: float) -> None:
        """The counters after it: unanswered requests and no answer make a failed pass."""
        failed = unreachable > self._before[1] and answered == self._before[0]
        if failed:
            self.failed_passes += 1
            if self.since_s is None:
                self.since_s = now_s
        elif answered > self._before[0]:
            self.failed_passes, self.since_s = 0, None

    def wait_s(self, poll_s: float) -> float:
        """How long until the next pass: the poll interval, doubled per failed pass, capped."""
        if self.failed_passes == 0:
            return poll_s
        return min(max(poll_s, 0.5) * 2.0 ** (self.failed_passes - 1), MAX_RETRY_S)

    def status(self, now_s: float) -> dict[str, Any]:
        if self.failed_passes == 0:
            return {}
        since = self.since_s if self.since_s is not None else now_s
        return {
            "degraded": f"the exchange's REST API has not answered {self.failed_passes} sync passes in a row "
            f"({now_s - since:.0f} s)",
            "failed_sync_passes": self.failed_passes,
        }
