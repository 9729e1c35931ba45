"""The CSV reader: blocks of plain numbers go through one JSON parse, anything else row by row with `float()`;
both must give the same candles, and every error must name its own line, whichever block it is in."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from laptop_agents.core.candle import Candle
from laptop_agents.core.clock import LiveClock
from laptop_agents.core.errors import DataError
from laptop_agents.feeds import csv_source
from laptop_agents.feeds.csv_source import CsvCandles
from laptop_agents.feeds.sources import open_source
from laptop_agents.runs.run_folder import RunFolder
from tests.helpers import MINUTE, T0, settings

BUNDLED = Path("data/ftx_btc-perp_1m_2022-01.csv")
HEADER = "ts,open,high,low,close,volume\n"


def reference(path: Path) -> list[tuple[int, float, float, float, float, float]]:
    """The file as the row-by-row reader with `float()` reads it: what every candle must equal."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        (int(r["ts"]), float(r["open"]), float(r["high"]), float(r["low"]), float(r["close"]), float(r["volume"]))
        for r in rows
        if r["ts"].strip()
    ]


def read(path: Path) -> list[tuple[int, float, float, float, float, float]]:
    return [c.as_tuple() for c in CsvCandles(path)]


def rows_text(n: int, *, seed: int = 1, start: int = 0) -> list[str]:
    """n candles whose numbers take every form a writer uses: 17 digits, integers, exponents, few digits."""
    rng = random.Random(seed)
    lines = []
    price = 30_000.0
    for i in range(start, start + n):
        o = price
        c = o * (1 + rng.uniform(-0.002, 0.002))
        h, low = max(o, c) * (1 + rng.random() / 1e3), min(o, c) * (1 - rng.random() / 1e3)
        v = rng.random() * 50
        form = i % 4
        if form == 0:
            text = [repr(o), repr(h), repr(low), repr(c), repr(v)]
        elif form == 1:
            text = [f"{o:.0f}", f"{h + 1:.0f}", f"{low - 1:.0f}", f"{c:.0f}", f"{v:.3e}"]
        elif form == 2:
            text = [f"{o:.2f}", f"{h:.2f}", f"{low:.2f}", f"{c:.2f}", "0"]
        else:
            text = [f"{o:.6E}", f"{h * 1.001:.6E}", f"{low * 0.999:.6E}", f"{c:.6E}", f"{v:.1f}"]
        lines.append(",".join([str(T0 + i * MINUTE), *text]))
        price = c
    return lines


def test_the_bundled_data_reads_exactly_as_float_reads_it() -> None:
    assert read(BUNDLED) == reference(BUNDLED)


def test_every_number_form_in_small_blocks_reads_as_float_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_source, "BLOCK_BYTES", 777)  # blocks end mid-line: the rest carries over
    path = tmp_path / "forms.csv"
    path.write_text(HEADER + "\n".join(rows_text(2_000)) + "\n")
    assert read(path) == reference(path)
    assert isinstance(CsvCandles(path).__iter__().__next__().open, float)  # "30000" is read as 30000.0


def test_crlf_no_final_newline_reordered_and_extra_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_source, "BLOCK_BYTES", 500)
    lines = rows_text(300)
    reordered = []
    for line in lines:  # volume,close,ts,count,low,high,open
        ts, o, h, low, c, v = line.split(",")
        reordered.append(",".join([v, c, ts, "7", low, h, o]))
    path = tmp_path / "crlf.csv"
    path.write_bytes(("volume,close,ts,count,low,high,open\r\n" + "\r\n".join(reordered)).encode())
    assert read(path) == reference(path)
    assert len(read(path)) == 300


def test_quotes_blank_lines_and_loose_numbers_fall_back_to_the_row_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `float()` reads and JSON does not ("1.", ".5", "+2", spaces, quotes) is still read, block by block."""
    monkeypatch.setattr(csv_source, "BLOCK_BYTES", 400)
    lines = rows_text(200)
    lines[10] = f'"{T0 + 10 * MINUTE}","30000.0","30010.","29990.5"," 30000",+.5'
    lines.insert(50, "")
    lines.insert(51, "   ")
    path = tmp_path / "loose.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n\n")
    candles = read(path)
    assert candles == reference(path)
    assert candles[10] == (T0 + 10 * MINUTE, 30000.0, 30010.0, 29990.5, 30000.0, 0.5)
    assert len(candles) == 200


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{ts},30000,30010,29990,30000,nan", "volume=nan is not a finite number"),
        ("{ts},30000,30010,29990,30000,-1", "volume=-1.0 must be >= 0"),
        ("{ts},30000,29000,29990,30000,1", "high=29000.0 is below max(open, close)=30000.0"),
        ("{ts},30000,30010,29990,30000,1e999", "volume=inf is not a finite number"),
        ("{ts}.0,30000,30010,29990,30000,1", "ts='{ts}.0' is not an integer epoch-ms time"),
        ("1640995,30000,30010,29990,30000,1", "ts=1640995 looks like seconds"),
        ("{ts},30000,30010,29990", "expected 6 columns, got 4"),
        ("{ts},30000,,29990,30000,1", "high='' is not a number"),
    ],
)
def test_a_bad_row_deep_in_the_file_is_named_by_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str, message: str
) -> None:
    monkeypatch.setattr(csv_source, "BLOCK_BYTES", 4096)
    lines = rows_text(1_000)
    lines[700] = bad.format(ts=T0 + 700 * MINUTE)  # line 702 of the file, many blocks in
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"bad.csv line 702: ") as caught:
        read(path)
    assert message.format(ts=T0 + 700 * MINUTE) in str(caught.value)


def test_bytes_that_are_not_utf8_are_named_by_their_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_source, "BLOCK_BYTES", 1000)
    lines = [line.encode() for line in rows_text(100)]
    lines[60] = lines[60][:-1] + b"\xff"
    path = tmp_path / "binary.csv"
    path.write_bytes(HEADER.encode() + b"\n".join(lines) + b"\n")
    with pytest.raises(DataError, match=r"line 62: unreadable \(invalid start byte: byte 0xff\)"):
        read(path)


def test_an_empty_file_and_a_header_only_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="the file is empty"):
        CsvCandles(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text(HEADER)
    assert read(header_only) == []


def test_an_unsorted_row_in_a_later_block_is_named_by_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver asks the source for the line of the candle it refuses: the line is the candle's own, not the
    last one read ahead in its block."""
    monkeypatch.setattr(csv_source, "BLOCK_BYTES", 3000)
    lines = rows_text(500)
    lines[300], lines[301] = lines[301], lines[300]  # line 303 (row 302) comes before line 302
    path = tmp_path / "unsorted.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n")
    from laptop_agents.backtest.driver import run_backtest

    s = settings(f'data.source="csv:{path}"')
    folder = RunFolder.create(tmp_path / "runs", "run")
    with pytest.raises(DataError, match=rf"line 303: ts={T0 + 300 * MINUTE} comes before the previous"):
        run_backtest(s, source=open_source(s.data, seed=1), folder=folder, wall_clock=LiveClock())


def test_line_of_names_each_candle_of_the_last_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_source, "BLOCK_BYTES", 2000)
    lines = rows_text(300)
    lines.insert(100, "")  # a blank line: line numbers after it skip one
    path = tmp_path / "lines.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n")
    source = CsvCandles(path)
    seen: list[Candle] = []
    for candle in source:
        seen.append(candle)
        n = len(seen)
        assert source.line_of(candle) == n + 1 + (n > 100)
        if n > 1:
            assert source.line_of(seen[-2]) == n + (n - 1 > 100)  # the one before, maybe in the block before
