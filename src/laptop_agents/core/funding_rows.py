"""The `ts,rate` funding file, read one way everywhere: the backtest's table (`broker.funding_csv`), the
simulated venue's record (`la sim-exchange --funding`) and `la download --funding`'s merge."""

from __future__ import annotations

import csv
from pathlib import Path

from laptop_agents.core.errors import DataError


def read_funding_rows(path: Path, *, setting: str) -> list[tuple[int, float]]:
    """(time ms, rate as a fraction) per row, in file order; a `DataError` naming `setting` and the line."""
    rows: list[tuple[int, float]] = []
    try:
        with path.open(newline="") as handle:  # build-time: read when a core or a venue is assembled
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or [h.strip().lower() for h in header[:2]] != ["ts", "rate"]:
                raise DataError(f"{setting} {path}: first line must be the header 'ts,rate'")
            for line_no, row in enumerate(reader, start=2):
                try:
                    rows.append((int(row[0]), float(row[1])))
                except (ValueError, IndexError):
                    raise DataError(f"{setting} {path} line {line_no}: expected 'ts,rate', got {row!r}") from None
    except FileNotFoundError:
        raise DataError(f"{setting}: file {path} not found; check the path") from None
    return rows
