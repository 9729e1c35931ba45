"""A backtest runs its candles with fewer cyclic collections, and leaves the collector as it found it."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from laptop_agents.backtest.driver import run_backtest
from laptop_agents.base.collector import BATCH_THRESHOLD, fewer_collections
from laptop_agents.core.candle import Candle
from laptop_agents.core.clock import LiveClock
from laptop_agents.core.errors import DataError
from laptop_agents.feeds.sources import open_source
from laptop_agents.runs.run_folder import RunFolder
from tests.helpers import settings


def test_the_threshold_is_raised_inside_and_restored_after_even_on_an_error() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold() == (max(before[0], BATCH_THRESHOLD), *before[1:])
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("boom")
    assert gc.get_threshold() == before


def test_a_backtest_streams_its_candles_with_fewer_collections(tmp_path: Path) -> None:
    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []

    def hook(_candle: Candle) -> None:
        seen.append(gc.get_threshold())

    s = settings('data.source="mock"', "data.mock_candles=300")
    folder = RunFolder.create(tmp_path, "run")
    run_backtest(s, source=open_source(s.data, seed=1), folder=folder, wall_clock=LiveClock(), on_candle_hook=hook)
    assert len(seen) == 300 and {t[0] for t in seen} == {max(before[0], BATCH_THRESHOLD)}
    assert gc.get_threshold() == before
    bad = tmp_path / "bad.csv"
    bad.write_text("ts,open,high,low,close,volume\n1640995200000,1,2,0.5,1,1\n1640995260000,1,2,x,1,1\n")
    s = settings(f'data.source="csv:{bad}"')
    with pytest.raises(DataError):
        run_backtest(s, source=open_source(s.data, seed=1), folder=RunFolder.create(tmp_path, "bad"),
                     wall_clock=LiveClock())  # fmt: skip
    assert gc.get_threshold() == before
