"""A venue's funding record, one way everywhere: the `ts,rate` file (`la download --funding` writes it) and
the schedule it makes, which the backtest's paper broker (`broker.funding_csv`) and the simulated venue
(`la sim-exchange --funding`) both settle by."""

from __future__ import annotations

import bisect
import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

from laptop_agents.core.errors import DataError

FUNDING_PERIOD_MS = 8 * 3_600_000
"""Funding is exchanged every 8 hours, at 00:00, 08:00 and 16:00 UTC (multiples of this since the epoch),
unless a record says otherwise."""


def read_funding_rows(path: Path, *, setting: str) -> list[tuple[int, float]]:
    """(time ms, rate as a fraction) per row, in file order; a `DataError` naming `setting` and the line."""
    rows: list[tuple[int, float]] = []
    try:
        data = path.read_bytes()  # build-time: read when a core or a venue is assembled
    except FileNotFoundError:
        raise DataError(f"{setting}: file {path} not found; check the path") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{setting} {path} line {line}: unreadable ({exc.reason}: byte {data[exc.start]:#04x})"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header[:2]] != ["ts", "rate"]:
            raise DataError(f"{setting} {path}: first line must be the header 'ts,rate'")
        for line_no, row in enumerate(reader, start=2):
            try:
                ts, rate = int(row[0]), float(row[1])
            except (ValueError, IndexError):
                raise DataError(f"{setting} {path} line {line_no}: expected 'ts,rate', got {row!r}") from None
            if not math.isfinite(rate):
                raise DataError(f"{setting} {path} line {line_no}: rate {row[1]!r} is not a finite number")
            rows.append((ts, rate))
    except csv.Error as exc:
        raise DataError(f"{setting} {path} line {reader.line_num}: unreadable ({exc})") from None
    return rows


class FundingRecord:
    """A venue's funding record as a schedule: settled at each row's time at its rate, and after the last
    row on at the record's last interval (its last two rows apart; 8 hours with one row) at the last rate,
    as the venue goes on settling after a downloaded file ends. Empty: no settlements at all."""

    __slots__ = ("_period", "_rates", "_times")

    def __init__(self, rows: Sequence[tuple[int, float]]) -> None:
        ordered = sorted(rows)
        self._times = [ts for ts, _ in ordered]
        self._rates = [rate for _, rate in ordered]
        gap = self._times[-1] - self._times[-2] if len(self._times) >= 2 else 0
        self._period = gap if gap > 0 else FUNDING_PERIOD_MS

    def __bool__(self) -> bool:
        return bool(self._times)

    def rows(self) -> list[tuple[int, float]]:
        """The recorded rows, oldest first."""
        return list(zip(self._times, self._rates, strict=True))

    def rate_at(self, ts: int) -> float:
        """The latest recorded rate at or before `ts` (0 before the record starts)."""
        i = bisect.bisect_right(self._times, ts)
        return self._rates[i - 1] if i else 0.0

    def latest(self, ts: int) -> float | None:
        """The latest recorded rate at or before `ts`; None before the record starts."""
        i = bisect.bisect_right(self._times, ts)
        return self._rates[i - 1] if i else None

    def first_time(self, ts: int) -> float:
        """The first settlement at or after `ts`; inf when the record is empty."""
        if not self._times:
            return math.inf
        i = bisect.bisect_left(self._times, ts)
        if i < len(self._times):
            return self._times[i]
        last = self._times[-1]
        return last + -(-(ts - last) // self._period) * self._period

    def next_time(self, ts: int) -> float:
        """The first settlement after `ts`; inf when the record is empty."""
        return self.first_time(ts + 1)

    def times(self, due: int, upto: int) -> list[int]:
        """The settlements in `[due, upto]`, oldest first: recorded ones, then those after the record."""
        if not self._times:
            return []
        found = self._times[bisect.bisect_left(self._times, due) : bisect.bisect_right(self._times, upto)]
        last = self._times[-1]
        after = int(self.first_time(max(due, last + 1)))
        return found + list(range(after, upto + 1, self._period))
