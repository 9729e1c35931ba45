"""The simulated venue's funding: a constant rate at every 8-hour boundary, or a recorded history replayed.

A record (rows of time and rate, e.g. the `*.funding.csv` that `la download --funding` writes) is what
`get_funding_rate_history` serves and what positions are charged at each boundary (the rate in force then),
so a rehearsal on a downloaded market pays that market's funding.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

FUNDING_PERIOD_MS = 8 * 3_600_000


class FundingRecord:
    def __init__(self, rows: Sequence[tuple[int, float]]) -> None:
        self.rows = sorted(rows)
        self._times = [ts for ts, _ in self.rows]

    def __bool__(self) -> bool:
        return bool(self.rows)

    def rate_at(self, ts: int) -> float:
        """The latest rate at or before `ts` (the first one before the record starts)."""
        i = bisect.bisect_right(self._times, ts)
        return self.rows[max(i - 1, 0)][1]

    def between(self, first_ts: int, upto: int) -> list[tuple[int, float]]:
        """The settlements from `first_ts` to `upto` (ms, both included), oldest first."""
        return self.rows[bisect.bisect_left(self._times, first_ts) : bisect.bisect_right(self._times, upto)]


def constant(rate: float, first_ts: int, upto: int) -> list[tuple[int, float]]:
    """`rate` at every 8-hour boundary from `first_ts` to `upto` (ms, both included)."""
    boundary = -(-first_ts // FUNDING_PERIOD_MS) * FUNDING_PERIOD_MS
    return [(ts, rate) for ts in range(boundary, upto + 1, FUNDING_PERIOD_MS)]
