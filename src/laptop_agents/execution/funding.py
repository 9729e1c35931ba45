"""Funding-rate schedules for perpetual futures (rates per 8-hour period, as fractions)."""

from __future__ import annotations

import bisect
import csv
from pathlib import Path
from typing import Protocol

from laptop_agents.core.errors import DataError

FUNDING_PERIOD_MS = 8 * 3_600_000
"""Funding is exchanged every 8 hours, at 00:00, 08:00 and 16:00 UTC (multiples of this since the epoch)."""


class FundingSchedule(Protocol):
    def rate_at(self, ts: int) -> float:
        """The funding rate (fraction per period) that applies at funding time `ts` (epoch ms)."""
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

    def current_rate(self, ts: int) -> float | None:
        """For a strategy's funding gate: the constant, always known."""
        return self.rate


class TableFunding:
    """Rates from a table: the latest rate whose time is at or before `ts` (0 before the first)."""

    __slots__ = ("_rates", "_times")

    def __init__(self, rows: list[tuple[int, float]]) -> None:
        rows = sorted(rows)
        self._times = [ts for ts, _ in rows]
        self._rates = [rate for _, rate in rows]

    def rate_at(self, ts: int) -> float:
        i = bisect.bisect_right(self._times, ts)
        return self._rates[i - 1] if i else 0.0

    def current_rate(self, ts: int) -> float | None:
        """For a strategy's funding gate: the latest rate at or before `ts`; None before the table starts."""
        i = bisect.bisect_right(self._times, ts)
        return self._rates[i - 1] if i else None

    @classmethod
    def from_csv(cls, path: Path) -> TableFunding:
        """Read a `ts,rate` CSV (ts epoch ms, rate per 8 h as a fraction)."""
        rows: list[tuple[int, float]] = []
        try:
            with path.open(newline="") as handle:  # build-time: the table is read when the core is assembled
                reader = csv.reader(handle)
                header = next(reader, None)
                if header is None or [h.strip().lower() for h in header[:2]] != ["ts", "rate"]:
                    raise DataError(f"broker.funding_csv {path}: first line must be the header 'ts,rate'")
                for line_no, row in enumerate(reader, start=2):
                    try:
                        rows.append((int(row[0]), float(row[1])))
                    except (ValueError, IndexError):
                        raise DataError(
                            f"broker.funding_csv {path} line {line_no}: expected 'ts,rate', got {row!r}"
                        ) from None
        except FileNotFoundError:
            raise DataError(f"broker.funding_csv: file {path} not found; check the path") from None
        return cls(rows)


class ObservedFunding:
    """A strategy's funding source in the live modes: the last rate the core was given (`FundingObserved`),
    never the wall clock's idea of whether it is fresh (the poller decides that and says None)."""

    __slots__ = ("rate",)

    def __init__(self) -> None:
        self.rate: float | None = None

    def current_rate(self, ts: int) -> float | None:
        return self.rate
