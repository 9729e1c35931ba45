"""Market times as the reports and the console print them: UTC, to the minute."""

from __future__ import annotations

from datetime import UTC, datetime


def fmt_ts(ts: int, with_time: bool = True) -> str:
    dt = datetime.fromtimestamp(ts / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")
