"""Pick the synchronous candle source a backtest reads, from `data.source`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from laptop_agents.config.loader import find_config_dir
from laptop_agents.config.models import DataConfig
from laptop_agents.core.candle import Candle, interval_ms, normalise
from laptop_agents.core.errors import DataError
from laptop_agents.core.timespec import format_ms
from laptop_agents.feeds.csv_source import CsvCandles
from laptop_agents.feeds.mock_source import MockCandles


class CandleSource(Protocol):
    def describe(self) -> str: ...

    def line_of(self, candle: Candle) -> int:
        """Where `candle`, one of those just read, came from (file line, or candle number), for error messages."""
        ...

    def __iter__(self) -> Iterator[Candle]: ...


class SortedCandles:
    """A source read whole, sorted and deduplicated first (`data.sort`); uses memory O(file)."""

    def __init__(self, inner: CandleSource) -> None:
        self._inner = inner
        self._sorted: list[Candle] = []
        self.duplicates = 0
        """Exact duplicate rows dropped while sorting (the run's `duplicates_dropped` counts them)."""

    def describe(self) -> str:
        return f"{self._inner.describe()} (sorted)"

    def line_of(self, candle: Candle) -> int:
        """Its place in the sorted series (1 = the first)."""
        return next((n for n, read in enumerate(self._sorted, start=1) if read is candle), len(self._sorted))

    def __iter__(self) -> Iterator[Candle]:
        rows = list(self._inner)
        self._sorted = normalise(rows)
        self.duplicates = len(rows) - len(self._sorted)
        yield from self._sorted


class RangedCandles:
    """The candles of a source that open in `[start, end)` (`data.start`, `data.end`, `--timerange`).

    The whole source is still read: its order is checked to its end, as without a range (a row out of order
    after the range would otherwise hide one inside it). A range that holds no candle is a `DataError`
    saying what the source holds instead.
    """

    def __init__(self, inner: CandleSource, *, start: int | None, end: int | None) -> None:
        self._inner = inner
        self._start = -1 if start is None else start
        self._end = end

    def describe(self) -> str:
        return f"{self._inner.describe()} {_span(self._start if self._start >= 0 else None, self._end)}"

    def line_of(self, candle: Candle) -> int:
        return self._inner.line_of(candle)

    @property
    def duplicates(self) -> int:
        """Exact duplicates the source under it dropped (`data.sort`)."""
        return self._inner.duplicates if isinstance(self._inner, SortedCandles) else 0

    def __iter__(self) -> Iterator[Candle]:
        start, end = self._start, self._end
        first: Candle | None = None
        last: Candle | None = None
        inside = 0
        for candle in self._inner:
            if first is None:
                first = candle
            last = candle
            if candle.ts < start or (end is not None and candle.ts >= end):
                continue
            inside += 1
            yield candle
        if not inside:
            held = "no candles" if first is None or last is None else _span(first.ts, last.ts, closed=True)
            raise DataError(
                f"data.start/data.end: no candle {_span(start if start >= 0 else None, end)} in "
                f"{self._inner.describe()}, which holds {held}; change --timerange"
            )


def _span(start: int | None, end: int | None, *, closed: bool = False) -> str:
    if closed and start is not None and end is not None:
        return f"from {format_ms(start)} to {format_ms(end)}"
    return " ".join(
        part
        for part in (
            "" if start is None else f"from {format_ms(start)}",
            "" if end is None else f"before {format_ms(end)}",
        )
        if part
    )


def resolve_data_path(text: str) -> Path:
    """A relative path is taken from the current folder, else from the project folder (for `data/...`)."""
    path = Path(text).expanduser()
    if path.is_absolute() or path.exists():
        return path
    config_dir = find_config_dir()
    if config_dir is not None and (config_dir.parent / path).exists():
        return config_dir.parent / path
    return path


def open_source(data: DataConfig, *, seed: int) -> CandleSource:
    if data.source == "mock":
        source: CandleSource = MockCandles(
            count=data.mock_candles,
            seed=seed,
            start_price=data.mock_start_price,
            volatility_bps=data.mock_volatility_bps,
            start_ts=data.mock_start_ts,
            step_ms=interval_ms(data.interval),
        )
    else:
        source = CsvCandles(resolve_data_path(data.source.removeprefix("csv:")))
    if data.sort:
        source = SortedCandles(source)
    if data.start is not None or data.end is not None:
        source = RangedCandles(source, start=data.start_ms, end=data.end_ms)
    return source


def open_marks(data: DataConfig) -> CsvCandles | None:
    """The mark-price candles `data.mark_source` names (checked now, before any run folder exists)."""
    if data.mark_source is None:
        return None
    return CsvCandles(resolve_data_path(data.mark_source.removeprefix("csv:")), setting="data.mark_source")
