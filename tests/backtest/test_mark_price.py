"""Stops, liquidations and funding by the mark price when a backtest has a mark series (issue 15).

Bitunix liquidates by the mark price. Without a mark series the backtest goes by the last price and
`summary.html` says so; with `data.mark_source` liquidations and funding go by the mark candle of each open
time, and stops stay on the last price (the live daemon's stop-losses trigger on it).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from laptop_agents.backtest.driver import run_backtest
from laptop_agents.core.candle import Candle
from laptop_agents.core.clock import LiveClock
from laptop_agents.core.errors import DataError
from laptop_agents.core.events import FundingApplied, PositionClosed
from laptop_agents.core.orders import EntryIntent
from laptop_agents.feeds.sources import open_source
from laptop_agents.runs.run_folder import RunFolder
from tests.exchange.conftest import bundled_candles
from tests.helpers import T0, ScriptedStrategy, candle, make_core, run_candles, settings
from tests.test_cli import la


def write(path: Path, candles: list[Candle]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts", "open", "high", "low", "close", "volume"])
        w.writerows(c.as_tuple() for c in candles)
    return path


def trades(folder: RunFolder) -> list[dict[str, str]]:
    with folder.trades.open() as f:
        return list(csv.DictReader(f))


LEVERED = ("exchange.leverage=50", "risk.max_leverage=47")


def test_a_liquidation_the_mark_reaches_though_the_last_price_never_did(tmp_path: Path) -> None:
    """Bitunix liquidates by the mark price. The mark dips 5 % on the candle after the first entry while
    the last price stays where it was: at 50x the position is liquidated there, by the mark; stops stay on
    the last price, as the live daemon sets them."""
    last = bundled_candles()[:3000]
    path = write(tmp_path / "last.csv", last)
    s = settings(f'data.source="csv:{path}"', *LEVERED)
    folder = RunFolder.create(tmp_path / "runs", "last")
    run_backtest(s, source=open_source(s.data, seed=0), folder=folder, wall_clock=LiveClock())
    first = trades(folder)[0]
    entry_ts = int(first["entry_ts"])
    index = next(i for i, c in enumerate(last) if c.ts == entry_ts) + 1
    marks = list(last)
    c = marks[index]
    up = first["side"] == "short"
    marks[index] = Candle(c.ts, c.open, c.high * 1.05 if up else c.high, c.low if up else c.low * 0.95, c.close,
                          c.volume)  # fmt: skip
    mark_path = write(tmp_path / "mark.csv", marks)
    m = settings(f'data.source="csv:{path}"', f'data.mark_source="csv:{mark_path}"', *LEVERED)
    marked = RunFolder.create(tmp_path / "runs", "mark")
    run_backtest(m, source=open_source(m.data, seed=0), folder=marked, wall_clock=LiveClock())
    got = trades(marked)[0]
    assert int(first["exit_ts"]) > last[index].ts and first["exit_reason"] != "liquidation"  # by the last price
    assert got["entry_ts"] == first["entry_ts"] and int(got["exit_ts"]) == last[index].ts
    assert got["exit_reason"] == "liquidation"
    page = marked.summary.read_text()
    assert "liquidations and funding go by the mark price" in page and "3,000 of 3,000 candles had a mark" in page
    assert "stops and liquidations on the last price" in folder.summary.read_text()


def test_a_mark_file_out_of_order_is_refused_naming_its_line(tmp_path: Path) -> None:
    last = bundled_candles()[:200]
    path = write(tmp_path / "last.csv", last)
    marks = last[:50] + [last[60]] + last[50:60] + last[61:]
    mark_path = write(tmp_path / "mark.csv", marks)
    m = settings(f'data.source="csv:{path}"', f'data.mark_source="csv:{mark_path}"')
    with pytest.raises(DataError, match=r"data.mark_source .* line 53: ts=\d+ does not come after"):
        run_backtest(m, source=open_source(m.data, seed=0), folder=RunFolder.create(tmp_path / "runs", "m"),
                     wall_clock=LiveClock())  # fmt: skip


def test_funding_and_liquidation_go_by_the_mark_candle() -> None:
    s = settings("exchange.leverage=20", "risk.max_leverage=19", "risk.risk_pct=50", "circuit_breaker.enabled=false",
                 "broker.funding_rate=0.001")  # fmt: skip
    long = EntryIntent(side="long", stop_distance=8.0, setup="t", reason="r")
    core, rec, _ = make_core(s, ScriptedStrategy({0: [long]}))
    day = 8 * 3_600_000
    run_candles(core, [candle(0, 100, 100.5, 99.5, 100, step=day)], finish=False)
    core.broker.set_mark(Candle(T0 + day, 99.0, 99.6, 90.0, 99.2, 1.0))  # type: ignore[attr-defined]
    run_candles(core, [candle(1, 99.5, 99.8, 99.0, 99.4, step=day)], finish=False)  # last: no liquidation
    (funding,) = rec.of(FundingApplied)
    assert funding.mark_price == 99.0  # charged on the notional at the mark's open
    (closed,) = rec.of(PositionClosed)
    assert closed.exit_reason == "liquidation"  # the mark's low reached the liquidation price


def test_a_missing_mark_file_is_one_line_and_no_run_folder(tmp_path: Path) -> None:
    done = la("run", "--mode", "backtest", "--set", 'data.mark_source="csv:nosuch.csv"', cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "data.mark_source: file nosuch.csv not found" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_a_live_session_refuses_a_mark_series_it_would_not_read(tmp_path: Path) -> None:
    done = la("run", "--mode", "live-paper", "--set", 'data.mark_source="csv:m.csv"', "--print-config", cwd=tmp_path)
    assert done.returncode == 2 and "data.mark_source is read by backtests only" in done.stderr
