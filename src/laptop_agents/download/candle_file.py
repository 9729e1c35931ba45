"""The downloaded candle file and its manifest, kept valid whatever interrupts a download.

The CSV is ours (`ts,open,high,low,close,volume`, open time in ms, ascending, no duplicates), so every
command reads it. New candles are appended a window at a time, each window one `write` then `fsync`; a row
torn by a crash or a full disk is cut off when the file is next opened, so the file always ends at a
window's last whole row. Candles from before the file's first row go to a side file first and are joined
to the front in one atomic replace. The manifest beside it (`NAME.gaps.json`) says which market the file
holds (so a second download never mixes in another symbol or interval), the rows, and the gap report.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from laptop_agents.base.atomic import atomic_write_bytes, fsync_dir
from laptop_agents.core.candle import Candle
from laptop_agents.core.errors import DataError, InputError

HEADER = b"ts,open,high,low,close,volume\n"
MANIFEST_FORMAT = 1


def manifest_path(csv: Path) -> Path:
    return csv.with_suffix(".gaps.json")


def funding_path(csv: Path) -> Path:
    return csv.with_suffix(".funding.csv")


@dataclass
class Manifest:
    exchange: str
    symbol: str
    interval: str
    first: int | None = None
    last: int | None = None
    rows: int = 0
    complete: bool = False
    """False while a download is writing the file (or after one was interrupted)."""
    history_starts: int | None = None
    """The venue's first candle, when a download asked for earlier ones (before the symbol's listing)."""
    rejected: int = 0
    """Rows the venue sent that were not valid candles: skipped, so their buckets are gaps."""
    gaps: dict[str, Any] = field(default_factory=dict)
    funding: dict[str, Any] = field(default_factory=dict)
    format: int = MANIFEST_FORMAT

    @classmethod
    def load(cls, path: Path) -> Manifest | None:
        try:
            raw = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, orjson.JSONDecodeError) as exc:
            raise DataError(f"{path}: unreadable ({exc}); delete it and download again") from None
        if not isinstance(raw, Mapping) or not {"exchange", "symbol", "interval"} <= raw.keys():
            raise DataError(f"{path}: not a download manifest (no exchange, symbol, interval); delete it")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in raw.items() if k in known})

    def save(self, path: Path) -> None:
        atomic_write_bytes(path, orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2) + b"\n", mode=0o644)

    def save_beside(self, csv: Path) -> None:
        self.save(manifest_path(csv))

    def market(self) -> str:
        return f"{self.symbol} {self.interval} from {self.exchange}"


def encode(candles: Iterable[Candle]) -> bytes:
    """Rows as we write them: floats by `repr`, the shortest text that reads back as the same number."""
    return "".join(f"{c.ts},{c.open!r},{c.high!r},{c.low!r},{c.close!r},{c.volume!r}\n" for c in candles).encode()


class CandleFile:
    """One candle CSV being downloaded: its span, appends, and the join of earlier candles to its front."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.head_part = path.with_name(f".{path.name}.head.partial")
        """Candles from before the file's first row, until they are joined to its front."""

    def exists(self) -> bool:
        return self.path.exists()

    def create(self) -> None:
        atomic_write_bytes(self.path, HEADER, mode=0o644)

    def span(self) -> tuple[int, int, int] | None:
        """(first open time, last open time, rows), after cutting off a torn last row; None when empty."""
        return _span(self.path, repair=True)

    def append(self, candles: list[Candle]) -> None:
        _append(self.path, candles)

    # -- Candles before the first row --------------------------------------------------------------------

    def head_span(self, start: int, end: int) -> tuple[int, int, int] | None:
        """The side file's span if it holds part of a download of `[start, end)` (left by an interrupted
        run); otherwise (none, or one left for another range) it is started again."""
        if self.head_part.exists():
            span = _span(self.head_part, repair=True)
            if span is not None and span[0] == start and span[1] < end:
                return span
        atomic_write_bytes(self.head_part, HEADER, mode=0o644)
        return None

    def append_head(self, candles: list[Candle]) -> None:
        _append(self.head_part, candles)

    def join_head(self) -> None:
        """Side file + file → one file, in one atomic replace (a crash leaves the old file and the side file)."""
        tmp = self.path.with_name(f".{self.path.name}.joined-{os.getpid()}")
        with tmp.open("wb") as out:
            for part in (self.head_part, self.path):
                with part.open("rb") as source:
                    if part is not self.head_part:
                        source.readline()  # the second header
                    shutil.copyfileobj(source, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        self.head_part.unlink()
        fsync_dir(self.path.parent)


def check_header(path: Path) -> None:
    with path.open("rb") as handle:
        header = handle.readline()
    if header.replace(b"\r\n", b"\n") != HEADER:
        raise InputError(
            f"--out {path}: its first line is {header[:60]!r}, not {HEADER.decode().strip()!r}: not a candle file "
            "la download wrote; choose another --out"
        )


def timestamps(path: Path) -> Iterator[int]:
    """Every row's open time, in file order (for the gap report and `la data list`)."""
    with path.open("rb") as handle:
        handle.readline()
        for number, line in enumerate(handle, start=2):
            head = line.split(b",", 1)[0]
            try:
                yield int(head)
            except ValueError:
                raise DataError(f"{path} line {number}: expected an open time in ms, got {head[:30]!r}") from None


def _append(path: Path, candles: list[Candle]) -> None:
    if not candles:
        return
    data = memoryview(encode(candles))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _span(path: Path, *, repair: bool) -> tuple[int, int, int] | None:
    with path.open("rb+" if repair else "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if repair and size:
            _cut_torn_row(handle, size)
        handle.seek(0)
        handle.readline()  # the header
        first_line = handle.readline()
        if not first_line:
            return None
        rows = 1 + sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
        handle.seek(max(0, handle.seek(0, os.SEEK_END) - 4096))
        last_line = handle.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    try:
        return int(first_line.split(b",", 1)[0]), int(last_line.split(b",", 1)[0]), rows
    except ValueError:
        raise DataError(f"{path}: its first or last row has no open time; delete it and download again") from None


def _cut_torn_row(handle: Any, size: int) -> None:
    """A last row without its newline was torn mid-write: cut the file back to the row before it."""
    handle.seek(size - 1)
    if handle.read(1) == b"\n":
        return
    back = min(size, 1 << 16)
    handle.seek(size - back)
    tail = handle.read(back)
    cut = tail.rfind(b"\n")
    handle.truncate(size - back + cut + 1 if cut >= 0 else 0)
    handle.flush()
    os.fsync(handle.fileno())
