"""Pick the synchronous candle source a backtest reads, from `data.source`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from laptop_agents.config.loader import find_config_dir
from laptop_agents.config.models import DataConfig
from laptop_agents.core.candle import Candle, interval_ms, normalise
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
    return SortedCandles(source) if data.sort else source


def open_marks(data: DataConfig) -> CsvCandles | None:
    """The mark-price candles `data.mark_source` names (checked now, before any run folder exists)."""
    if data.mark_source is None:
        return None
    return CsvCandles(resolve_data_path(data.mark_source.removeprefix("csv:")), setting="data.mark_source")
