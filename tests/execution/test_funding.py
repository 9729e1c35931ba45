"""Funding tables: the latest rate at or before a time, settled at the table's own times; clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from laptop_agents.core.errors import DataError
from laptop_agents.core.events import Fill, FundingApplied
from laptop_agents.core.orders import EntryIntent
from laptop_agents.execution.funding import TableFunding
from tests.helpers import T0, ScriptedStrategy, candle, make_core, run_candles, settings


def test_rate_lookup(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("ts,rate\n28800000,0.0001\n57600000,-0.0002\n")
    table = TableFunding.from_csv(path)
    assert [table.rate_at(t) for t in (0, 28_800_000, 40_000_000, 57_600_000, 10**13)] == [
        0.0,
        0.0001,
        0.0001,
        -0.0002,
        -0.0002,
    ]


def test_bad_rows_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("ts,rate\n28800000,abc\n")
    with pytest.raises(DataError, match="line 2"):
        TableFunding.from_csv(path)
    with pytest.raises(DataError, match="not found"):
        TableFunding.from_csv(tmp_path / "none.csv")


def test_a_recorded_table_is_charged_at_its_own_times_and_rates(tmp_path: Path) -> None:
    """A venue's funding record (`la download --funding`) settles at its own times, not every 8 hours: here
    at 01:00, 03:30 and 05:00 of a 6-hour run, each at its own rate; the 12:00 row lies after the data.
    A long of 50 at 100 pays 50 × open × rate each time (hand computation below)."""
    half_hour = 1_800_000
    table = tmp_path / "BTCUSDT-1m.funding.csv"
    times = [T0 + 3_600_000, T0 + 12_600_000, T0 + 18_000_000, T0 + 43_200_000]
    table.write_text(
        "ts,rate\n" + "".join(f"{t},{r}\n" for t, r in zip(times, (0.001, -0.002, 0.0005, 0.003), strict=True))
    )
    long = EntryIntent(side="long", stop_distance=2.0, target_r=20.0, setup="test", reason="scripted")
    core, rec, _ = make_core(settings(f"broker.funding_csv={table}"), ScriptedStrategy({0: [long]}))
    opens = [100.0, 100.0, 101.0, 101.0, 102.0, 102.0, 103.0, 103.0, 104.0, 104.0, 105.0, 105.0]
    run_candles(core, [candle(i, o, o + 0.5, o - 0.5, o, step=half_hour) for i, o in enumerate(opens)], finish=False)
    applied = rec.of(FundingApplied)
    assert [a.ts for a in applied] == times[:3]
    qty = rec.of(Fill)[0].qty
    hand = [qty * 101.0 * 0.001, qty * 103.0 * -0.002, qty * 105.0 * 0.0005]  # the open at each of those times
    assert [a.amount for a in applied] == pytest.approx(hand)
    assert core.broker.funding_paid == pytest.approx(sum(hand))
    assert core.broker.cash == pytest.approx(10_000 - rec.of(Fill)[0].fee - sum(hand))


def test_after_its_last_row_a_table_goes_on_at_its_last_interval_and_rate(tmp_path: Path) -> None:
    """Review of issue 19: a record stopped charging at its last row (a live-paper run with a downloaded
    table paid nothing). The venue goes on settling: at the record's last interval (its last two rows apart,
    8 hours with one row), at its last rate, as a one-row table always did."""
    hour = 3_600_000
    one = tmp_path / "one.csv"
    one.write_text(f"ts,rate\n{T0},0.001\n")
    table = TableFunding.from_csv(one)
    assert table.times(T0, T0 + 48 * hour) == [T0 + k * 8 * hour for k in range(7)]
    assert table.next_time(T0 + 9 * hour) == T0 + 16 * hour and table.rate_at(T0 + 40 * hour) == 0.001
    four = tmp_path / "four.csv"
    four.write_text(f"ts,rate\n{T0},0.001\n{T0 + 4 * hour},-0.002\n")
    table = TableFunding.from_csv(four)
    assert table.times(T0 + hour, T0 + 13 * hour) == [T0 + 4 * hour, T0 + 8 * hour, T0 + 12 * hour]
    assert table.first_time(T0 + 5 * hour) == T0 + 8 * hour and table.rate_at(T0 + 12 * hour) == -0.002
    assert TableFunding([]).first_time(T0) == float("inf") and TableFunding([]).times(T0, T0 + hour) == []
    long = EntryIntent(side="long", stop_distance=2.0, target_r=50.0, setup="test", reason="scripted")
    core, rec, _ = make_core(settings(f"broker.funding_csv={one}"), ScriptedStrategy({0: [long]}))
    run_candles(core, [candle(i, 100, 100.5, 99.5, 100, step=hour) for i in range(49)], finish=False)
    assert [a.ts for a in rec.of(FundingApplied)] == [T0 + k * 8 * hour for k in range(1, 7)]  # opened at 0
