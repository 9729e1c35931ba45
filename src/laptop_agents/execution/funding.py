"""Funding-rate schedules for perpetual futures: when funding is exchanged, and at what rate (a fraction).

A constant rate is exchanged every 8 hours (00:00, 08:00, 16:00 UTC). A table (`broker.funding_csv`, e.g.
the `*.funding.csv` that `la download --funding` writes) is the venue's own record: funding is exchanged at
each of its times, at its rate, whatever the venue's period was (8 h, 4 h, 1 h, or changed over time).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from laptop_agents.core.funding_rows import FUNDING_PERIOD_MS, FundingRecord, read_funding_rows


class FundingSchedule(Protocol):
    def rate_at(self, ts: int) -> float:
        """The funding rate (fraction per period) that applies at funding time `ts` (epoch ms)."""
        ...

    def first_time(self, ts: int) -> float:
        """The first funding time at or after `ts`; inf when there is none."""
        ...

    def times(self, due: int, upto: int) -> Sequence[int]:
        """The funding times in `[due, upto]`, in order (`due` is a funding time)."""
        ...

    def next_time(self, ts: int) -> float:
        """The first funding time after `ts`; inf when there is none."""
        ...

    def current_rate(self, ts: int) -> float | None:
        """The rate in force at `ts` as a strategy reads it: None when not known."""
        ...


class ConstantFunding:
    __slots__ = ("rate",)

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def rate_at(self, ts: int) -> float:
        return self.rate

    def first_time(self, ts: int) -> float:
        return -(-ts // FUNDING_PERIOD_MS) * FUNDING_PERIOD_MS

    def times(self, due: int, upto: int) -> Sequence[int]:
        return range(due, upto + 1, FUNDING_PERIOD_MS)

    def next_time(self, ts: int) -> float:
        return (ts // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS

    def current_rate(self, ts: int) -> float | None:
        """For a strategy's funding gate: the constant, always known."""
        return self.rate


class TableFunding(FundingRecord):
    """The venue's funding record (`core/funding_rows.py`): settled at each row's time at its rate, then on
    at its last interval and rate. A strategy reading the rate in force sees the latest row at or before
    the candle (None before the first)."""

    __slots__ = ()

    def current_rate(self, ts: int) -> float | None:
        return self.latest(ts)

    @classmethod
    def from_csv(cls, path: Path) -> TableFunding:
        """Read a `ts,rate` CSV (ts epoch ms, rate a fraction), as `la download --funding` writes it."""
        return cls(read_funding_rows(path, setting="broker.funding_csv"))


class ObservedFunding:
    """A strategy's funding source in the live modes: the last rate the core was given (`FundingObserved`),
    never the wall clock's idea of whether it is fresh (the poller decides that and says None)."""

    __slots__ = ("rate",)

    def __init__(self) -> None:
        self.rate: float | None = None

    def current_rate(self, ts: int) -> float | None:
        return self.rate
