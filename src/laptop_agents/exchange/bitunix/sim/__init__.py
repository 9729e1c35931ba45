"""The simulated Bitunix exchange (`la sim-exchange`): real wire format, replayed candles, switchable faults."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from laptop_agents.core.candle import Candle


def load_candles(path: Path) -> list[Candle]:
    """A whole candle file in memory (the simulator serves history from it)."""
    from laptop_agents.feeds.csv_source import CsvCandles

    return list(CsvCandles(path))
