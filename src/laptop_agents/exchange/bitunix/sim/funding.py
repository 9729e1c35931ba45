"""The simulated venue's funding: a constant rate at every 8-hour boundary, or a recorded history replayed
(`core.funding_rows.FundingRecord`, e.g. the `*.funding.csv` that `la download --funding` writes): what
`get_funding_rate_history` serves, and what positions are charged at each of its times, so a rehearsal on a
downloaded market pays that market's funding when that market paid it.
"""

from __future__ import annotations

FUNDING_PERIOD_MS = 8 * 3_600_000


def constant(rate: float, first_ts: int, upto: int) -> list[tuple[int, float]]:
    """`rate` at every 8-hour boundary from `first_ts` to `upto` (ms, both included)."""
    boundary = -(-first_ts // FUNDING_PERIOD_MS) * FUNDING_PERIOD_MS
    return [(ts, rate) for ts in range(boundary, upto + 1, FUNDING_PERIOD_MS)]
