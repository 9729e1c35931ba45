"""Issue 15's rule fixes, each pinned with the exact rows the issue gives (or the smallest that show it).

1. A trailing stop with `trail_activation_r=0` trailed before any close had moved in favour: the best
   close started at the entry price, which is no close.
2. Float ties made crosses that are not there: two averages of the same flat prices differed in their
   last bit.
3. A zero stop distance (a flat candle's ATR) crashed the run instead of refusing the entry.
Also: the line named for an unsorted row, and the duplicates `data.sort` drops.
"""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pytest

from laptop_agents.backtest.driver import BacktestResult, run_backtest
from laptop_agents.config.models import Settings
from laptop_agents.core.clock import LiveClock
from laptop_agents.core.errors import DataError
from laptop_agents.core.events import OrderRejected, PositionOpened, StopMoved
from laptop_agents.core.orders import EntryIntent
from laptop_agents.feeds.sources import open_source
from laptop_agents.indicators.rolling import RollingSum
from laptop_agents.indicators.sma import SMA
from laptop_agents.runs.run_folder import RunFolder
from tests.conftest import BUNDLED
from tests.helpers import MINUTE, T0, ScriptedStrategy, candle, make_core, run_candles, settings

COST = (5 + 1) / 1e4  # half spread + slippage of the default broker


def backtest(tmp_path: Path, s: Settings, name: str = "run") -> BacktestResult:
    folder = RunFolder.create(tmp_path / "runs", name)
    return run_backtest(s, source=open_source(s.data, seed=s.run.seed), folder=folder, wall_clock=LiveClock())


def trades(result: BacktestResult) -> list[dict[str, str]]:
    with (result.folder.path / "trades.csv").open() as f:
        return list(csv.DictReader(f))


def events(result: BacktestResult) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in result.folder.events.read_bytes().splitlines()]


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n")
    return path


# -- 1. the trailing stop ------------------------------------------------------------------------------


def test_a_trailing_stop_with_no_activation_waits_for_a_close_in_favour_on_the_bundled_data(tmp_path: Path) -> None:
    """The issue's trade 1: long filled at 46457.858, stop 46404.054 (R = 53.804). The next close, 46437,
    is below the entry; the stop moved to 46430.956 all the same and the trade left `trail` at 46426.313.
    It must leave `stop` at 46399.414 (the stop, less the slippage)."""
    s = settings(f'data.source="csv:{BUNDLED}"', "strategy.trail_enabled=true", "strategy.trail_activation_r=0",
                 "strategy.trail_distance_r=0.5")  # fmt: skip
    first = trades(backtest(tmp_path, s))[0]
    assert float(first["entry_price"]) == pytest.approx(46457.858)
    assert first["exit_reason"] == "stop"
    assert float(first["exit_price"]) == pytest.approx(46399.414, abs=1e-3)


def test_with_no_activation_the_stop_trails_from_the_first_close_beyond_the_entry() -> None:
    trail = EntryIntent(side="long", stop_distance=2.0, setup="t", reason="r", trail_activation_r=0.0,
                        trail_distance_r=0.5)  # fmt: skip
    core, rec, _ = make_core(settings(), ScriptedStrategy({0: [trail]}))
    entry = 100 * (1 + COST)  # 100.06
    candles = [
        candle(0, 100, 100.5, 99.5, 100),
        candle(1, 100, 100.3, 99.9, 100.03),  # below the entry: no close has moved in favour, no trail
        candle(2, 100.03, 100.2, 99.95, entry),  # at the entry: still nothing in favour
        candle(3, 100.06, 101.2, 100.0, 101),  # in favour: the stop trails 0.5 R (1.0) behind 101
    ]
    run_candles(core, candles, finish=False)
    moves = rec.of(StopMoved)
    assert [m.ts for m in moves] == [candles[3].ts]
    assert moves[0].new_stop == pytest.approx(100.0)


# -- 2. float ties -------------------------------------------------------------------------------------


def flat_after_a_decline() -> list[float]:
    """A decline from 1.0 to 0.7 over 30 candles, then 80 flat candles at exactly 0.7."""
    return [1.0 - 0.01 * i for i in range(30)] + [0.7] * 80


def test_averages_of_equal_values_are_the_value_exactly() -> None:
    """The running sums gave fast 0.7000000000000001 and slow 0.6999999999999993 over the same flat 0.7s."""
    fast, slow, rolling = SMA(10), SMA(30), RollingSum(30)
    for close in flat_after_a_decline():
        fast.update(close)
        slow.update(close)
        rolling.push(close)
    assert fast.value == 0.7 and slow.value == 0.7 and rolling.mean == 0.7
    for period in range(1, 200):  # and in general: n copies of x average to x (a sum / n need not)
        sma = SMA(period)
        for x in (0.1, 0.3, 0.7, 46457.858):
            for _ in range(period):
                sma.update(x)
            assert sma.value == x, (period, x)


def test_an_sma_restored_mid_run_of_equal_values_continues_bit_for_bit() -> None:
    closes = flat_after_a_decline()
    whole, first = SMA(30), SMA(30)
    for close in closes[:45]:
        whole.update(close)
        first.update(close)
    resumed = SMA(30)
    resumed.restore(orjson.loads(orjson.dumps(first.state())))
    for close in closes[45:]:
        assert resumed.update(close) == whole.update(close)


def test_no_cross_is_made_out_of_flat_prices(tmp_path: Path) -> None:
    """Both averages are exactly 0.7 on the flat candles, so by rule 1 there is no cross and no long."""
    rows = "\n".join(
        f"{T0 + i * MINUTE},{c},{c + 0.005},{c - 0.005},{c},1.0" for i, c in enumerate(flat_after_a_decline())
    )
    path = write_csv(tmp_path / "flat.csv", f"ts,open,high,low,close,volume\n{rows}")
    result = backtest(tmp_path, settings(f'data.source="csv:{path}"', "circuit_breaker.enabled=false"))
    signals = [e for e in events(result) if e["event"] == "SignalGenerated"]
    assert signals == [] and trades(result) == []


# -- 3. a zero stop distance ---------------------------------------------------------------------------

FLAT_CROSS = """
ts,open,high,low,close,volume
1640995200000,1.0,1.0,1.0,1.0,1.0
1640995260000,1.0,3.0,1.0,3.0,1.0
1640995320000,3.0,3.0,2.0,2.0,1.0
1640995380000,2.0,2.0,2.0,2.0,1.0
1640995440000,2.0,2.5,1.5,2.2,1.0
"""


def test_a_zero_stop_distance_is_a_refusal_and_the_run_ends_ok(tmp_path: Path) -> None:
    """The issue's CSV: the cross lands on a flat candle where ATR(1) is 0. The run died with `ValueError:
    stop_distance must be > 0`, leaving no RunFinished, state.json or summary.html."""
    path = write_csv(tmp_path / "flat_cross.csv", FLAT_CROSS)
    s = settings(f'data.source="csv:{path}"', "strategy.fast_sma=2", "strategy.slow_sma=3", "strategy.atr_period=1",
                 "strategy.min_atr_pct=0")  # fmt: skip
    result = backtest(tmp_path, s)
    recorded = events(result)
    refused = [e for e in recorded if e["event"] == "OrderRejected"]
    assert [e["reason"] for e in refused] == ["zero_stop_distance"], recorded
    assert recorded[-1]["event"] == "RunFinished" and recorded[-1]["status"] == "ok"
    assert result.folder.state.exists() and result.folder.summary.exists()


def test_the_core_refuses_a_zero_or_negative_stop_distance_from_any_strategy() -> None:
    for distance in (0.0, -1.0):
        bad = EntryIntent(side="long", stop_distance=distance, setup="t", reason="r")
        core, rec, _ = make_core(settings(), ScriptedStrategy({0: [bad]}))
        run_candles(core, [candle(0, 100, 100.5, 99.5, 100), candle(1, 100, 100.5, 99.5, 100)])
        (refused,) = rec.of(OrderRejected)
        assert refused.reason == "zero_stop_distance" and rec.of(PositionOpened) == []
    with pytest.raises(ValueError, match="finite"):
        EntryIntent(side="long", stop_distance=float("nan"), setup="t", reason="r")


# -- reading a CSV ---------------------------------------------------------------------------------------


def test_an_unsorted_row_is_named_by_its_own_line(tmp_path: Path) -> None:
    """The row on line 3 comes before the one on line 2; the error said line 5 (the driver reads four
    candles ahead to check the interval)."""
    rows = [(T0 + MINUTE, 1), (T0, 2), (T0 + 2 * MINUTE, 3), (T0 + 3 * MINUTE, 4), (T0 + 4 * MINUTE, 5)]
    body = "\n".join(f"{ts},{c},{c + 1},{c - 0.5},{c},1.0" for ts, c in rows)
    path = write_csv(tmp_path / "unsorted.csv", f"ts,open,high,low,close,volume\n{body}")
    with pytest.raises(DataError, match=r"line 3: ts=1640995200000 comes before the previous ts=1640995260000"):
        backtest(tmp_path, settings(f'data.source="csv:{path}"'))


def test_an_unsorted_row_after_the_first_candles_is_named_by_its_own_line(tmp_path: Path) -> None:
    rows = [(T0 + i * MINUTE, 100 + i) for i in range(8)]
    rows[6], rows[7] = rows[7], rows[6]  # line 9 (row 8) comes before line 8
    body = "\n".join(f"{ts},{c},{c + 1},{c - 0.5},{c},1.0" for ts, c in rows)
    path = write_csv(tmp_path / "unsorted.csv", f"ts,open,high,low,close,volume\n{body}")
    with pytest.raises(DataError, match=r"line 9: ts="):
        backtest(tmp_path, settings(f'data.source="csv:{path}"'))


def test_duplicates_dropped_by_data_sort_are_counted(tmp_path: Path) -> None:
    rows = [(T0 + i * MINUTE, 100 + i) for i in range(40)]
    shuffled = rows[20:] + rows[:20] + [rows[5], rows[30]]  # two exact duplicates
    body = "\n".join(f"{ts},{c},{c + 1},{c - 0.5},{c},1.0" for ts, c in shuffled)
    path = write_csv(tmp_path / "shuffled.csv", f"ts,open,high,low,close,volume\n{body}")
    result = backtest(tmp_path, settings(f'data.source="csv:{path}"', "data.sort=true"))
    assert result.duplicates_dropped == 2 and result.summary.candles == 40
    (loaded,) = [e for e in events(result) if e["event"] == "MarketDataLoaded"]
    assert loaded["duplicates_dropped"] == 2


def test_a_timerange_keeps_the_duplicates_count_and_the_order_check(tmp_path: Path) -> None:
    """Review of issue 19: wrapped in a range, `data.sort`'s duplicates were counted 0; and the range stopped
    reading at its end, so a row out of order after it went unseen while rows inside the range were lost."""
    rows = [(T0 + i * MINUTE, 100 + i) for i in range(40)]
    shuffled = rows[20:] + rows[:20] + [rows[5], rows[30]]  # two exact duplicates
    body = "\n".join(f"{ts},{c},{c + 1},{c - 0.5},{c},1.0" for ts, c in shuffled)
    path = write_csv(tmp_path / "shuffled.csv", f"ts,open,high,low,close,volume\n{body}")
    ranged = settings(f'data.source="csv:{path}"', "data.sort=true", f"data.start={T0 + 10 * MINUTE}")
    result = backtest(tmp_path, ranged, "sorted")
    assert result.duplicates_dropped == 2 and result.summary.candles == 30
    swapped = [(T0 + i * MINUTE, 100 + i) for i in range(40)]
    swapped[5], swapped[35] = swapped[35], swapped[5]  # a row after the range early, one of it late in the file
    body = "\n".join(f"{ts},{c},{c + 1},{c - 0.5},{c},1.0" for ts, c in swapped)
    path = write_csv(tmp_path / "swapped.csv", f"ts,open,high,low,close,volume\n{body}")
    with pytest.raises(DataError, match=r"line 37: ts="):  # the range's own row 5, found out of place
        backtest(tmp_path, settings(f'data.source="csv:{path}"', f"data.end={T0 + 20 * MINUTE}"), "swapped")
