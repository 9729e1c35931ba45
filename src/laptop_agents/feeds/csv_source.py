"""Stream candles from a CSV file `ts,open,high,low,close,volume`, one row at a time (memory stays flat).

Columns are found by header name (any order; extra columns are ignored). `ts` is the candle open time in
integer epoch milliseconds. Every error names the file, the line and what to fix.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from laptop_agents.core.candle import Candle
from laptop_agents.core.errors import CandleError, DataError

COLUMNS = ("ts", "open", "high", "low", "close", "volume")
_SECONDS_CUTOFF = 100_000_000_000
"""A ts below this (year 1973 in ms, year 5138 in s) is surely seconds, not milliseconds."""


class CsvCandles:
    """Iterate over the candles of a CSV file. `line_no` is the line of the last candle read."""

    def __init__(self, path: Path, *, setting: str = "data.source") -> None:
        self.path = path
        self.line_no = 0
        self.setting = setting
        """The setting that named the file, for error messages."""
        if not path.exists():
            raise DataError(f"{setting}: file {path} not found; check the path (csv:PATH)")
        if not path.is_file():
            raise DataError(f"{setting}: {path} is not a file")
        self._check_header()  # before a run folder exists: a wrong file leaves nothing behind

    def _check_header(self) -> None:
        where = f"{self.setting} {self.path}"
        try:
            with self.path.open(newline="", encoding="utf-8") as handle:
                _header(where, csv.reader(handle))
        except OSError as exc:
            raise DataError(f"{where}: cannot open ({exc.strerror})") from None

    def describe(self) -> str:
        return f"csv:{self.path}"

    def __iter__(self) -> Iterator[Candle]:
        where = f"{self.setting} {self.path}"
        try:
            handle = self.path.open(newline="", encoding="utf-8")
        except OSError as exc:
            raise DataError(f"{where}: cannot open ({exc.strerror})") from None
        with handle:
            reader = csv.reader(handle)
            names = _header(where, reader)
            i_ts, i_o, i_h, i_l, i_c, i_v = (names.index(c) for c in COLUMNS)
            width = max(i_ts, i_o, i_h, i_l, i_c, i_v) + 1
            line_no = 1
            try:
                for row in reader:
                    line_no += 1
                    if len(row) < width:
                        if not row or not "".join(row).strip():
                            continue  # blank line
                        raise DataError(
                            f"{where} line {line_no}: expected {width} columns, got {len(row)}: {','.join(row)[:80]}"
                        )
                    try:
                        ts = int(row[i_ts])
                        candle = Candle(
                            ts,
                            float(row[i_o]),
                            float(row[i_h]),
                            float(row[i_l]),
                            float(row[i_c]),
                            float(row[i_v]),
                        )
                    except CandleError as exc:
                        raise DataError(f"{where} line {line_no}: {exc}") from None
                    except ValueError:
                        raise DataError(_explain_row(where, line_no, row, (i_ts, i_o, i_h, i_l, i_c, i_v))) from None
                    if ts < _SECONDS_CUTOFF:
                        raise DataError(
                            f"{where} line {line_no}: ts={ts} looks like seconds; "
                            "ts must be epoch milliseconds (multiply by 1000)"
                        )
                    self.line_no = line_no
                    yield candle
            except (csv.Error, UnicodeDecodeError) as exc:
                raise DataError(f"{where} line {line_no + 1}: unreadable ({exc})") from None


def _header(where: str, reader: Iterator[list[str]]) -> list[str]:
    """The lower-cased column names of the header row; a `DataError` naming what is missing."""
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise DataError(f"{where} line 1: unreadable ({exc})") from None
    if header is None:
        raise DataError(f"{where}: the file is empty; expected a header ts,open,high,low,close,volume")
    names = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise DataError(
            f"{where} line 1: header lacks {', '.join(missing)}; expected "
            f"ts,open,high,low,close,volume (got {','.join(header)[:80]})"
        )
    return names


def _explain_row(where: str, line_no: int, row: list[str], idx: tuple[int, ...]) -> str:
    for name, i in zip(COLUMNS, idx, strict=True):
        text = row[i].strip()
        try:
            int(text) if name == "ts" else float(text)
        except ValueError:
            kind = "an integer epoch-ms time" if name == "ts" else "a number"
            return f"{where} line {line_no}: {name}={text!r} is not {kind}"
    return f"{where} line {line_no}: malformed row {','.join(row)[:80]}"
