"""The backtest driver over real files: determinism, artifacts, gaps, duplicates and refusals."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pytest

from laptop_agents.backtest.driver import BacktestResult, run_backtest
from laptop_agents.config.models import Settings
from laptop_agents.core.clock import LiveClock
from laptop_agents.core.errors import DataError
from laptop_agents.core.event_codec import parse_record
from laptop_agents.core.events import GapDetected, MarketDataLoaded, RunFinished
from laptop_agents.feeds.sources import open_source
from laptop_agents.runs.checkpoint import read_checkpoint
from laptop_agents.runs.run_folder import RunFolder
from tests.helpers import MINUTE, T0, settings


def _run(tmp_path: Path, s: Settings, name: str = "run") -> BacktestResult:
    folder = RunFolder.create(tmp_path / "runs", name)
    return run_backtest(s, source=open_source(s.data, seed=s.run.seed), folder=folder, wall_clock=LiveClock())


def _write_csv(path: Path, rows: list[tuple[int, float, float, float, float, float]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts", "open", "high", "low", "close", "volume"])
        w.writerows(rows)
    return path


def _walk(n: int, start: int = 0) -> list[tuple[int, float, float, float, float, float]]:
    rows, price = [], 100.0
    for i in range(n):
        close = price * (1.003 if (i // 7) % 2 else 0.997)
        rows.append((T0 + (start + i) * MINUTE, price, max(price, close) + 0.2, min(price, close) - 0.2, close, 1.0))
        price = close
    return rows


def _events(folder: RunFolder) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in folder.events.read_bytes().splitlines()]


def test_same_data_and_config_give_byte_identical_trades(tmp_path: Path, bundled_csv: Path) -> None:
    """Design invariant 1: determinism of trades.csv and of events (wall-clock fields aside)."""
    s = settings(f'data.source="csv:{bundled_csv}"', "circuit_breaker.enabled=false")
    a, b = _run(tmp_path, s, "a"), _run(tmp_path, s, "b")
    assert a.summary.trades > 100
    assert a.folder.trades.read_bytes() == b.folder.trades.read_bytes()
    assert a.folder.equity.read_bytes() == b.folder.equity.read_bytes()
    strip = [{k: v for k, v in e.items() if k not in ("ts_init", "run_id")} for e in _events(a.folder)]
    assert strip == [{k: v for k, v in e.items() if k not in ("ts_init", "run_id")} for e in _events(b.folder)]


def test_run_folder_holds_every_artifact_and_they_agree(tmp_path: Path) -> None:
    s = settings('data.source="mock"', "data.mock_candles=3000", "circuit_breaker.enabled=false")
    result = _run(tmp_path, s)
    folder = result.folder
    for name in ("events.jsonl", "trades.csv", "equity.csv", "state.json", "config.json", "summary.html"):
        assert (folder.path / name).stat().st_size > 0, name
    records = [parse_record(line) for line in folder.events.read_bytes().splitlines()]
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    assert type(records[0].event).__name__ == "RunStarted"
    assert isinstance(records[-1].event, RunFinished) and records[-1].event.status == "ok"
    with folder.equity.open() as f:
        equity_rows = list(csv.DictReader(f))
    assert len(equity_rows) == 3000
    state = read_checkpoint(folder.state)
    assert float(equity_rows[-1]["equity"]) == state["cash"] == result.summary.final_equity
    with folder.trades.open() as f:
        trades = list(csv.DictReader(f))
    assert len(trades) == result.summary.trades > 0
    assert state["cash"] == pytest.approx(10_000 + sum(float(t["net_pnl"]) for t in trades))
    assert orjson.loads(folder.config.read_bytes())["data"]["mock_candles"] == 3000


def test_gaps_are_reported_before_the_candle_after_them(tmp_path: Path) -> None:
    rows = _walk(50) + _walk(50, start=87)  # open times 50..86 are missing: one gap of 37 candles
    path = _write_csv(tmp_path / "gappy.csv", rows)
    result = _run(tmp_path, settings(f'data.source="csv:{path}"'))
    assert (result.gaps, result.missing_candles) == (1, 37)
    events = _events(result.folder)
    gap_i = next(i for i, e in enumerate(events) if e["event"] == "GapDetected")
    gap = parse_record(orjson.dumps(events[gap_i])).event
    assert isinstance(gap, GapDetected)
    assert (gap.from_ts, gap.to_ts, gap.missing, gap.ts) == (T0 + 50 * MINUTE, T0 + 86 * MINUTE, 37, T0 + 87 * MINUTE)
    loaded = [parse_record(orjson.dumps(e)).event for e in events if e["event"] == "MarketDataLoaded"]
    assert isinstance(loaded[0], MarketDataLoaded) and loaded[0].candles == 100


def test_exact_duplicate_rows_are_dropped_and_counted(tmp_path: Path) -> None:
    rows = _walk(60)
    path = _write_csv(tmp_path / "dups.csv", rows[:30] + [rows[29], rows[29]] + rows[30:])
    result = _run(tmp_path, settings(f'data.source="csv:{path}"'))
    assert result.duplicates_dropped == 2 and result.summary.candles == 60


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda rows: rows[:10] + [rows[5]] + rows[10:], "comes before the previous ts"),
        (lambda rows: rows[:10] + [(rows[9][0], *rows[10][1:])] + rows[10:], "two different candles with ts="),
        (lambda rows: rows[:10] + [(rows[9][0] + 30_000, *rows[10][1:])] + rows[11:], "not a whole number of 1m"),
    ],
)
def test_unsorted_or_conflicting_data_stops_the_run_and_leaves_valid_files(
    tmp_path: Path, mutate: object, fragment: str
) -> None:
    path = _write_csv(tmp_path / "bad.csv", mutate(_walk(40)))  # type: ignore[operator]
    with pytest.raises(DataError, match=fragment):
        _run(tmp_path, settings(f'data.source="csv:{path}"'))
    folder = RunFolder(tmp_path / "runs" / "run")
    records = [parse_record(line) for line in folder.events.read_bytes().splitlines()]
    finished = records[-1].event
    assert isinstance(finished, RunFinished) and finished.status == "failed" and fragment in (finished.error or "")
    assert read_checkpoint(folder.state)["status"] == "failed"
    assert "This run failed" in folder.summary.read_text()


def test_sort_option_accepts_an_unsorted_file(tmp_path: Path) -> None:
    rows = _walk(60)
    path = _write_csv(tmp_path / "shuffled.csv", rows[30:] + rows[:30] + rows[5:8])
    result = _run(tmp_path, settings(f'data.source="csv:{path}"', "data.sort=true"))
    assert result.summary.candles == 60 and result.gaps == 0


def test_interval_mismatch_is_explained(tmp_path: Path) -> None:
    rows = [(T0 + i * 3_600_000, 100.0, 101.0, 99.0, 100.0, 1.0) for i in range(10)]
    path = _write_csv(tmp_path / "hourly.csv", rows)
    with pytest.raises(DataError, match=r"data\.interval is 1m but the candles are 1h apart; set --interval 1h"):
        _run(tmp_path, settings(f'data.source="csv:{path}"'))


def test_mock_source_is_deterministic_per_seed(tmp_path: Path) -> None:
    base = ('data.source="mock"', "data.mock_candles=500")
    a = list(open_source(settings(*base).data, seed=7))
    b = list(open_source(settings(*base).data, seed=7))
    c = list(open_source(settings(*base).data, seed=8))
    assert a == b and a != c and len(a) == 500
