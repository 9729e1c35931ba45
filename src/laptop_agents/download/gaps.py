"""The gap report: the buckets between a file's first and last candle that hold no candle.

Nothing is filled in: a strategy that needs a continuous series decides (the backtest reports gaps too).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from laptop_agents.core.errors import DataError
from laptop_agents.core.timespec import format_ms

SHOWN = 10
"""Gaps listed one by one in the report (the count and the longest cover the rest)."""


def gap_report(times: Iterable[int], step: int, *, where: str) -> dict[str, Any]:
    """`{missing, ranges, longest, first}` over ascending open times; a time out of order is a `DataError`."""
    missing = ranges = 0
    longest: dict[str, Any] | None = None
    shown: list[dict[str, Any]] = []
    previous: int | None = None
    for ts in times:
        if previous is not None:
            if ts <= previous:
                raise DataError(f"{where}: open time {ts} after {previous}: rows out of order or repeated")
            lost = (ts - previous) // step - 1
            if lost > 0:
                gap = {"from": previous + step, "to": ts, "candles": lost}
                missing += lost
                ranges += 1
                if longest is None or lost > longest["candles"]:
                    longest = gap
                if len(shown) < SHOWN:
                    shown.append(gap)
        previous = ts
    return {"missing": missing, "ranges": ranges, "longest": longest, "first": shown}


def describe(report: dict[str, Any]) -> str:
    """One line: `no gaps`, or `3 gaps, 45 candles missing; longest 40 from 2024-01-02 10:00`."""
    if not report.get("missing"):
        return "no gaps"
    longest = report["longest"]
    return (
        f"{report['ranges']:,} gap{'s' if report['ranges'] != 1 else ''}, {report['missing']:,} candles missing; "
        f"longest {longest['candles']:,} from {format_ms(longest['from'])}"
    )
