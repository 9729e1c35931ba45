"""Stream candles from a CSV file `ts,open,high,low,close,volume`, one block at a time (memory stays flat).

Columns are found by header name (any order; extra columns are ignored). `ts` is the candle open time in
integer epoch milliseconds. Every error names the file, the line and what to fix.

The file is read in blocks of whole lines. A block of plain numbers (the common case: a file we or an
exchange wrote) is parsed in one call as a JSON array of rows, five times faster than a row-by-row
`csv.reader` with `float()`; JSON numbers are a subset of what `float()` reads and both round correctly,
so the values are the same. Anything else in a block (quotes, blank lines, `nan`, a stray word) sends that
block through the row-by-row reader, which accepts what `float()` accepts and names the line that is wrong.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from laptop_agents.core.candle import Candle
from laptop_agents.core.errors import CandleError, DataError

COLUMNS = ("ts", "open", "high", "low", "close", "volume")
_SECONDS_CUTOFF = 100_000_000_000
"""A ts below this (year 1973 in ms, year 5138 in s) is surely seconds, not milliseconds."""
BLOCK_BYTES = 1 << 20
_NUMBER_BYTES = b"0123456789.-eE,\r\n"
"""A block made of only these is tried as JSON; a JSON error sends it to the row-by-row reader."""

_Block = tuple[list[Candle], int, list[int] | None]
"""A block's candles, the line of its first candle, and each candle's line when they are not consecutive."""


class CsvCandles:
    """Iterate over the candles of a CSV file; `line_of` says which line a candle just read came from."""

    def __init__(self, path: Path, *, setting: str = "data.source") -> None:
        self.path = path
        self.setting = setting
        """The setting that named the file, for error messages."""
        self._lines = 0  # lines read so far (the header included)
        self._block: _Block = ([], 0, None)  # the block being read, and the one before it
        self._previous: _Block = self._block
        if not path.exists():
            raise DataError(f"{setting}: file {path} not found; check the path (csv:PATH)")
        if not path.is_file():
            raise DataError(f"{setting}: {path} is not a file")
        self._check_header()  # before a run folder exists: a wrong file leaves nothing behind

    @property
    def _where(self) -> str:
        return f"{self.setting} {self.path}"

    def _check_header(self) -> None:
        try:
            with self.path.open("rb") as handle:
                _header(self._where, handle.readline())
        except OSError as exc:
            raise DataError(f"{self._where}: cannot open ({exc.strerror})") from None

    def describe(self) -> str:
        return f"csv:{self.path}"

    def line_of(self, candle: Candle) -> int:
        """The file line of `candle`, one of the candles of the last two blocks read (else the last line read)."""
        for candles, first_line, lines in (self._block, self._previous):
            for i, read in enumerate(candles):
                if read is candle:
                    return first_line + i if lines is None else lines[i]
        return self._lines

    def __iter__(self) -> Iterator[Candle]:
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise DataError(f"{self._where}: cannot open ({exc.strerror})") from None
        with handle:
            names = _header(self._where, handle.readline())
            index = tuple(names.index(c) for c in COLUMNS)
            self._lines = 1
            rest = b""
            while True:
                data = handle.read(BLOCK_BYTES)
                if data:
                    data = rest + data
                    cut = data.rfind(b"\n") + 1
                    if not cut:  # no whole line yet
                        rest = data
                        continue
                    data, rest = data[:cut], data[cut:]
                elif rest:
                    data, rest = rest, b""  # the last line, without its newline
                else:
                    return
                self._previous = self._block
                self._block = self._parse(data, index)
                self._lines += data.count(b"\n") + (not data.endswith(b"\n"))
                yield from self._block[0]

    def _parse(self, data: bytes, index: tuple[int, ...]) -> _Block:
        """The candles of a block of whole lines that starts after line `self._lines`."""
        first = self._lines + 1
        if not data.translate(None, _NUMBER_BYTES):
            candles = _fast(data, index)
            if candles is not None:
                return candles, first, None
        candles, lines = self._slow(data, index)
        return candles, first, lines

    def _slow(self, data: bytes, index: tuple[int, ...]) -> tuple[list[Candle], list[int]]:
        """Row by row, with `float()`: accepts what the fast path refused, or names the line that is wrong."""
        where = self._where
        i_ts, i_o, i_h, i_l, i_c, i_v = index
        width = max(index) + 1
        line_no = self._lines
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = line_no + 1 + data.count(b"\n", 0, exc.start)
            raise DataError(f"{where} line {bad}: unreadable ({exc.reason}: byte {data[exc.start]:#04x})") from None
        candles: list[Candle] = []
        lines: list[int] = []
        try:
            for row in csv.reader(io.StringIO(text, newline="")):
                line_no += 1
                if len(row) < width:
                    if not row or not "".join(row).strip():
                        continue  # blank line
                    raise DataError(
                        f"{where} line {line_no}: expected {width} columns, got {len(row)}: {','.join(row)[:80]}"
                    )
                try:
                    ts = int(row[i_ts])
                    candle = Candle(ts, float(row[i_o]), float(row[i_h]), float(row[i_l]), float(row[i_c]),
                                    float(row[i_v]))  # fmt: skip
                except CandleError as exc:
                    raise DataError(f"{where} line {line_no}: {exc}") from None
                except ValueError:
                    raise DataError(_explain_row(where, line_no, row, index)) from None
                if ts < _SECONDS_CUTOFF:
                    raise DataError(_seconds(where, line_no, ts))
                candles.append(candle)
                lines.append(line_no)
        except csv.Error as exc:
            raise DataError(f"{where} line {line_no + 1}: unreadable ({exc})") from None
        return candles, lines


def _fast(data: bytes, index: tuple[int, ...]) -> list[Candle] | None:
    """A block of numbers as one JSON array of rows; None when any row is not a valid candle (the slow path
    then says which)."""
    body = data[:-1] if data.endswith(b"\n") else data
    try:
        rows: list[list[Any]] = orjson.loads(b"[[" + body.replace(b"\n", b"],[") + b"]]")
        i_ts, i_o, i_h, i_l, i_c, i_v = index
        candles = [Candle(r[i_ts], float(r[i_o]), float(r[i_h]), float(r[i_l]), float(r[i_c]), float(r[i_v]))
                   for r in rows]  # fmt: skip
    except (orjson.JSONDecodeError, CandleError, IndexError, OverflowError):
        return None
    if candles and min(c.ts for c in candles) < _SECONDS_CUTOFF:
        return None
    return candles


def _seconds(where: str, line_no: int, ts: int) -> str:
    return f"{where} line {line_no}: ts={ts} looks like seconds; ts must be epoch milliseconds (multiply by 1000)"


def _header(where: str, first_line: bytes) -> list[str]:
    """The lower-cased column names of the header row; a `DataError` naming what is missing."""
    try:
        header = next(csv.reader([first_line.decode("utf-8")]), None) if first_line else None
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
