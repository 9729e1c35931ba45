"""`la data list [FOLDER]`: every candle CSV under a folder, with what it holds.

A downloaded file's manifest says its market and gaps; any other CSV with our header is read for its span
and its gaps (the interval taken as the most common step between rows).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from laptop_agents.core.candle import INTERVAL_MS, interval_name, usual_step
from laptop_agents.core.errors import DataError, InputError
from laptop_agents.core.timespec import format_ms
from laptop_agents.download.candle_file import HEADER, Manifest, manifest_path, timestamps
from laptop_agents.download.gaps import gap_report


def run(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    if not folder.is_dir():
        raise InputError(f"la data list {folder}: no such folder; e.g. la data list data")
    rows = [row for path in sorted(folder.rglob("*.csv")) if (row := _row(path, folder)) is not None]
    if not rows:
        print(f"no candle files under {folder} (la download --symbol BTCUSDT --since 2024-01-01 makes one)")
        return 0
    header = ("file", "exchange", "symbol", "interval", "first", "last", "rows", "gaps")
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for number, row in enumerate(table):
        cells = zip(row, widths, strict=True)
        print("  ".join(cell.ljust(w) if i < 4 else cell.rjust(w) for i, (cell, w) in enumerate(cells)))
        if number == 0:
            print("  ".join("-" * w for w in widths))
    return 0


def _row(path: Path, folder: Path) -> tuple[str, ...] | None:
    with path.open("rb") as handle:
        if handle.readline().replace(b"\r\n", b"\n") != HEADER:
            return None  # not a candle file (a funding file, someone else's CSV)
    name = str(path.relative_to(folder))
    try:
        manifest = Manifest.load(manifest_path(path))
        times = list(timestamps(path))
    except DataError as exc:
        return (name, "?", "?", "?", "-", "-", "-", f"unreadable: {exc}")
    if not times:
        return (name, "-", "-", "-", "-", "-", "0", "-")
    step = INTERVAL_MS.get(manifest.interval, 0) if manifest else 0
    if not step:
        step = usual_step(times) or 0
    try:
        gaps = gap_report(times, step, where=str(path)) if step > 0 else {"missing": 0, "ranges": 0}
        shown = f"{gaps['ranges']:,} ({gaps['missing']:,} candles)" if gaps["missing"] else "none"
    except DataError:
        shown = "out of order"
    if manifest is not None and not manifest.complete:
        shown += " · download interrupted"
    return (
        name,
        manifest.exchange if manifest else "-",
        manifest.symbol if manifest else "-",
        manifest.interval if manifest else interval_name(step),
        format_ms(times[0]),
        format_ms(times[-1]),
        f"{len(times):,}",
        shown,
    )
