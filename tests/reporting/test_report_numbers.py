"""The report's numbers, each checked by hand on a small case: breakdowns, drawdown episodes, Sortino, CAGR,
and the chart buckets (every candle's equity accounted for, the first bucket never dropped)."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from laptop_agents.backtest.driver import run_backtest
from laptop_agents.core.candle import Candle
from laptop_agents.core.clock import LiveClock
from laptop_agents.feeds.sources import open_source
from laptop_agents.reporting.breakdown import Trade, breakdown, cagr_pct, period_keys, read_trades, share_pct
from laptop_agents.reporting.curves import Curves
from laptop_agents.runs.run_folder import RunFolder
from tests.helpers import MINUTE, T0, settings

HOUR, DAY = 60 * MINUTE, 24 * 60 * MINUTE


def embedded(html: str) -> dict[str, Any]:
    """The chart data summary.html embeds for its script."""
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    assert match, "the page embeds no chart data"
    return dict(orjson.loads(match.group(1).replace("<\\/", "</")))


def _trade(i: int, net: float, *, side: str = "long", reason: str = "stop", setup: str = "a", symbol: str = "BTCUSDT",
           day: int = 0, fees: float = 1.0) -> Trade:  # fmt: skip
    entry = T0 + day * DAY + i * HOUR
    return Trade(i, symbol, side, entry, entry + 30 * MINUTE, net + fees, fees, net, reason, setup)


def test_breakdown_numbers_by_hand() -> None:
    # 2022-01-01 is a Saturday: days 0-1 are in the week of 2021-12-27, day 2 (Monday) starts the next one
    trades = [
        _trade(1, 30.0, day=0, reason="target"),
        _trade(2, -10.0, day=0, side="short"),
        _trade(3, -20.0, day=1, setup="b"),
        _trade(4, 50.0, day=2, reason="target", side="short", setup="b"),
        _trade(5, -5.0, day=31, reason="signal", symbol="ETHUSDT"),
        None,  # a torn row
    ]
    b = breakdown(trades)
    assert b.skipped_rows == 1
    t = b.total
    assert (t.trades, t.wins, t.net, t.gross_profit, t.gross_loss, t.fees) == (5, 2, 45.0, 80.0, 35.0, 5.0)
    assert t.win_rate_pct == 40.0
    assert t.profit_factor == pytest.approx(80 / 35)
    assert b.expectancy == 9.0 and b.avg_win == 40.0 and b.avg_loss == pytest.approx(35 / 3)
    assert b.expectancy_ratio == pytest.approx(9 / (35 / 3))
    assert (b.best, b.worst) == (50.0, -20.0)
    assert (b.max_win_streak, b.max_loss_streak) == (1, 2)
    assert b.gross_pnl == 50.0  # Σ pnl before fees: 45 net + 5 fees
    assert b.gross_won == 31.0 + 51.0  # the trades that made money before their fees
    assert b.avg_held_ms == 30 * MINUTE
    assert {k: (g.trades, g.net) for k, g in b.by_day.items()} == {
        "2022-01-01": (2, 20.0), "2022-01-02": (1, -20.0), "2022-01-03": (1, 50.0), "2022-02-01": (1, -5.0)
    }  # fmt: skip
    assert {k: g.trades for k, g in b.by_week.items()} == {
        "week of 2021-12-27": 3, "week of 2022-01-03": 1, "week of 2022-01-31": 1
    }  # fmt: skip
    assert {k: (g.trades, g.net) for k, g in b.by_month.items()} == {"2022-01": (4, 50.0), "2022-02": (1, -5.0)}
    assert {k: (g.trades, g.wins, g.net) for k, g in b.by_reason.items()} == {
        "target": (2, 2, 80.0), "stop": (2, 0, -30.0), "signal": (1, 0, -5.0)
    }  # fmt: skip
    assert {k: (g.trades, g.net) for k, g in b.by_setup.items()} == {"a": (3, 15.0), "b": (2, 30.0)}
    assert {k: (g.trades, g.net) for k, g in b.by_symbol.items()} == {"BTCUSDT": (4, 50.0), "ETHUSDT": (1, -5.0)}
    long, short = b.by_side["long"], b.by_side["short"]
    assert (long.trades, long.net, long.win_rate_pct) == (3, 5.0, pytest.approx(100 / 3))
    assert (short.trades, short.net, short.profit_factor) == (2, 40.0, 5.0)
    assert b.by_reason["target"].profit_factor is None  # no losing trade: no ratio
    assert period_keys(T0) == ("2022-01-01", "week of 2021-12-27", "2022-01")


def test_cagr_and_shares_by_hand() -> None:
    assert cagr_pct(10_000, 12_100, T0, T0 + 2 * 365 * DAY) == pytest.approx(10.0)  # 1.1² in two years
    assert cagr_pct(10_000, 12_100, T0, T0 + 89 * DAY) is None  # a quarter annualised says little
    assert cagr_pct(10_000, 0.0, T0, T0 + 400 * DAY) is None
    assert share_pct(25.0, -100.0) == 25.0 and share_pct(1.0, 0.0) is None


def _curves(tmp_path: Path, equities: list[float], *, step: int = MINUTE, max_points: int = 1200) -> Curves:
    c = Curves(tmp_path / "equity.csv", starting_balance=100.0, max_points=max_points)
    for i, e in enumerate(equities):
        c.record(Candle(T0 + i * step, 10.0, 10.0 + i % 3, 9.0, 10.0, 1.0), e, False)
    c.finish()
    return c


def test_drawdown_episodes_and_sortino_by_hand(tmp_path: Path) -> None:
    # one candle a day: 100 → 110 (peak, day 1) → 99 (day 2, trough -10 %) → 105 → 111 (back, day 4) → 100
    c = _curves(tmp_path, [100.0, 110.0, 99.0, 105.0, 111.0, 100.0], step=DAY)
    assert c.max_drawdown_pct == pytest.approx(10.0)
    assert (c.max_dd_start_ts, c.max_dd_trough_ts, c.max_dd_recovered_ts) == (T0 + 2 * DAY, T0 + 2 * DAY, T0 + 4 * DAY)
    assert c.longest_dd_ms == 2 * DAY  # days 2-4; the drop on day 5 lasts to the end (1 candle, 0 days)
    # daily returns: day closes 100, 110, 99, 105, 111, 100 against the starting balance 100
    closes = [100.0, 100.0, 110.0, 99.0, 105.0, 111.0, 100.0]
    rets = [b / a - 1 for a, b in itertools.pairwise(closes)]
    mean = sum(rets) / len(rets)
    downside = math.sqrt(sum(r * r for r in rets if r < 0) / len(rets))
    assert c.sortino == pytest.approx(mean / downside * math.sqrt(365))
    sd = math.sqrt(sum((r - mean) ** 2 for r in rets) / (len(rets) - 1))
    assert c.sharpe == pytest.approx(mean / sd * math.sqrt(365))


def test_chart_buckets_account_for_every_candle_and_start_at_the_first(tmp_path: Path) -> None:
    # a dip of one candle deep inside a bucket: the bucket's low shows it, the first bucket is not dropped
    equities = [100.0] * 5000
    equities[7] = 90.0  # in the very first bucket
    equities[3001] = 80.0
    c = _curves(tmp_path, equities, max_points=50)
    points = c.chart_points()
    assert points[0][0] == T0 and points[0][1] == 100.0  # the origin: the first candle, the starting balance
    assert points[-1][0] == T0 + 4999 * MINUTE
    assert len(points) <= 2 * 50 + 1
    assert min(p[3] for p in points) == 80.0 and max(p[4] for p in points) == 100.0
    first_bucket = points[1]
    assert first_bucket[3] == 90.0 and first_bucket[2] == pytest.approx(10.0)  # low and drawdown of candle 7
    prices = c.chart_prices()
    assert prices[0][0] == T0 and len(prices) == len(points)


HEADER = "trade_id,symbol,side,entry_ts,entry_price,exit_ts,exit_price,qty,pnl,fees,net_pnl,exit_reason,setup"
ROW = "7,BTCUSDT,long,1640995200000,47000.5,1640997000000,47100.0,0.01,0.995,0.2,0.795,target,sma_cross"


@pytest.mark.parametrize("cut", range(1, len(ROW) + 1))
def test_a_last_row_torn_anywhere_is_skipped_and_the_rows_before_it_count(tmp_path: Path, cut: int) -> None:
    """A run killed mid-write leaves the last row of trades.csv without its newline. Before, such a row
    parsed as a trade whenever its cells still did: a price cut to fewer digits, half an exit reason, or
    (cut after the net PnL) an exit reason of None that the breakdown then grouped under None."""
    path = tmp_path / "trades.csv"
    path.write_text(f"{HEADER}\n{ROW}\n\n{ROW}\n{ROW[:cut]}")
    *whole, torn = list(read_trades(path))
    assert (
        whole
        == [Trade(7, "BTCUSDT", "long", 1640995200000, 1640997000000, 0.995, 0.2, 0.795, "target", "sma_cross")] * 2
    )
    assert torn is None
    b = breakdown([*whole, torn])
    assert b.skipped_rows == 1 and b.total.trades == 2 and list(b.by_reason) == ["target"]


def test_a_trades_file_without_a_column_it_needs_counts_every_row_skipped(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv"
    path.write_text(f"{HEADER.replace(',exit_reason', '')}\n{ROW}\n{ROW}\n")
    assert list(read_trades(path)) == [None, None]
    for empty in ("", HEADER, f"{HEADER}\n"):  # a run that closed no trade, its header written or not yet ended
        path.write_text(empty)
        assert list(read_trades(path)) == []


def test_a_long_run_whose_trades_are_all_in_its_first_hour_charts_them(tmp_path: Path) -> None:
    """The first-bucket bug: on a long run the report's charts began one (grown) bucket after the data, so
    trades in the first hours fell outside them."""
    s = settings('data.source="mock"', "data.mock_candles=150000", "circuit_breaker.max_consecutive_losses=2")
    folder = RunFolder.create(tmp_path, "long")
    result = run_backtest(s, source=open_source(s.data, seed=3), folder=folder, wall_clock=LiveClock())
    trades = [t for t in read_trades(folder.trades) if t is not None]
    assert trades and result.summary.trades == len(trades)
    assert max(t.exit_ts for t in trades) - result.first_ts < 6 * HOUR  # the breaker stopped it early
    data = embedded(folder.summary.read_text())
    equity_ts = [row[0] for row in data["equity"]]
    price_ts = [row[0] for row in data["prices"]]
    assert equity_ts[0] == price_ts[0] == result.first_ts
    assert equity_ts[-1] == price_ts[-1] == result.last_ts
    for t in trades:
        assert equity_ts[0] <= t.entry_ts <= t.exit_ts <= equity_ts[-1]
    assert {row[0] for row in data["trades"]} == {t.trade_id for t in trades}
    assert set(data["windows"]) == {str(t.trade_id) for t in trades}  # each trade has its candles
    for t in trades:
        window = data["windows"][str(t.trade_id)]
        assert window["t0"] <= t.entry_ts and window["t0"] + window["b"][-5] * MINUTE >= t.exit_ts


def test_the_demo_backtest_spreads_its_trades_over_the_month(tmp_path: Path) -> None:
    """`make backtest` (the demo profile) shows something worth looking at: trades in every week, not a
    breaker tripped in the first hours and a flat month after it."""
    from laptop_agents.config.loader import load_settings
    from tests.conftest import REPO

    s = load_settings(profile="demo", environ={}, config_dir=REPO / "config", sets=[f"run.runs_dir={tmp_path}"])
    folder = RunFolder.create(tmp_path, "demo")
    run_backtest(s, source=open_source(s.data, seed=s.run.seed), folder=folder, wall_clock=LiveClock())
    trades = [t for t in read_trades(folder.trades) if t is not None]
    assert len(trades) >= 60
    weeks = {period_keys(t.exit_ts)[1] for t in trades}
    assert len(weeks) >= 5  # the month's five weeks (2021-12-27 .. 2022-01-31) each have trades
    # what the breaker prevented: its refused entries, taken on paper, in summary.json and the page
    prevented = orjson.loads((folder.path / "summary.json").read_bytes())["breaker_prevented"]
    assert prevented["trades"] > 0 and prevented["wins"] <= prevented["trades"]
    assert f"{prevented['trades']:,} trades ({prevented['wins']:,} won" in folder.summary.read_text()


def test_make_run_trades_over_days_of_the_demo_month_not_its_first_hours(tmp_path: Path) -> None:
    """`make run` is the demo profile as a 60 s live-paper session: the simulator replays the same 15-minute
    month fast enough to cover days, and those days (backtested here, the same candles) have trades on most
    of them and a breaker that does not hold entries to the end."""
    from laptop_agents.config.loader import load_settings
    from tests.conftest import REPO

    s = load_settings(profile="demo", environ={}, config_dir=REPO / "config", sets=[f"run.runs_dir={tmp_path}"])
    assert s.exchange.sim_data == s.data.source  # the live session replays what `make backtest` reads
    candles_in_a_minute = int(60 * s.exchange.sim_speed / (15 * 60))
    assert candles_in_a_minute >= 480  # five days and more of 15-minute candles
    rows = (REPO / s.data.source.removeprefix("csv:")).read_text().splitlines()[1:]
    first = s.exchange.sim_start_index - s.strategy.slow_sma  # the session's warm-up history, then its stream
    start, end = (int(rows[i].split(",")[0]) for i in (first, s.exchange.sim_start_index + candles_in_a_minute))
    window = load_settings(
        profile="demo", environ={}, config_dir=REPO / "config",
        sets=[f"run.runs_dir={tmp_path}", f"data.start={start}", f"data.end={end}"],
    )  # fmt: skip
    folder = RunFolder.create(tmp_path, "make-run")
    run_backtest(window, source=open_source(window.data, seed=window.run.seed), folder=folder, wall_clock=LiveClock())
    trades = [t for t in read_trades(folder.trades) if t is not None]
    assert len(trades) >= 12
    days = {period_keys(t.exit_ts)[0] for t in trades}
    assert len(days) >= 4
