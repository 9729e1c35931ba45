"""`NAME.funding.csv`: the venue's funding settlements over the candle file's period (`ts,rate`, the rate a
fraction), which a backtest charges at their own times with `broker.funding_csv`.

A few settlements a day, so the file is rewritten whole (atomically) with what was missing merged in.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from laptop_agents.base.atomic import atomic_write_bytes
from laptop_agents.core.funding_rows import read_funding_rows
from laptop_agents.download.candle_file import Manifest
from laptop_agents.download.engine import Request, patient
from laptop_agents.download.venues import HistoryVenue

HEADER = "ts,rate\n"


async def update_funding(venue: HistoryVenue, path: Path, request: Request, candles: Manifest) -> dict[str, Any]:
    """Fetch the settlements the file lacks over the candle file's period (its first candle to the end of its
    last); returns its summary."""
    rows = read_funding(path)
    start = request.since if candles.first is None else candles.first
    end = (candles.last or request.since) + request.step
    wanted: list[tuple[int, int]] = []
    if not rows:
        wanted.append((start, end))
    else:
        if start < min(rows):
            wanted.append((start, min(rows)))
        if max(rows) + 1 < end:
            wanted.append((max(rows) + 1, end))
    for lo, hi in wanted:
        for ts, rate in await patient(partial(venue.funding, request.symbol, lo, hi)):
            rows[ts] = rate
    if wanted:
        text = HEADER + "".join(f"{ts},{rate!r}\n" for ts, rate in sorted(rows.items()))
        atomic_write_bytes(path, text.encode(), mode=0o644)
    return {"rows": len(rows), "first": min(rows, default=None), "last": max(rows, default=None)}


def read_funding(path: Path) -> dict[int, float]:
    return dict(read_funding_rows(path, setting="--funding")) if path.exists() else {}
