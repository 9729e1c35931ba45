"""The files a download leaves: a torn row cut off, the funding history as the venue recorded it, `la data
list` over a folder of them, and `la sim-exchange --data` serving a downloaded market as its own."""

from __future__ import annotations

import asyncio
import io
import shutil
from pathlib import Path

import orjson
import pytest

from laptop_agents.cli import build_parser, main
from laptop_agents.download.candle_file import CandleFile, Manifest
from laptop_agents.download.progress import Progress
from laptop_agents.exchange.bitunix.sim.cli import build
from tests.conftest import REPO
from tests.daemon.test_daemon_process import clean_env, la_command
from tests.download.helpers import FIRST_TS, HISTORY, MINUTE, bundled_rows, la_download, venue

HOURS_8 = 8 * 3_600_000


def test_a_row_torn_by_a_crash_is_cut_off_when_the_file_is_next_opened(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-1m.csv"
    path.write_bytes(bundled_rows(3) + b"1640991840000,46411.0,464")
    assert CandleFile(path).span() == (FIRST_TS, FIRST_TS + 2 * MINUTE, 3)
    assert path.read_bytes() == bundled_rows(3)


async def test_the_funding_history_is_downloaded_as_the_venue_recorded_it(tmp_path: Path) -> None:
    first_boundary = -(-FIRST_TS // HOURS_8) * HOURS_8
    record = tuple((first_boundary + i * HOURS_8, round(0.0001 * (i % 5 - 2), 6)) for i in range(300))
    async with venue(funding=record) as sim:
        result = await la_download(sim, tmp_path, "--symbol", "BTCUSDT", "--since", "2021-12-31", "--funding")
        again = await la_download(sim, tmp_path, "--symbol", "BTCUSDT", "--funding")
    assert result.code == 0 and again.code == 0, result.err + again.err
    end = FIRST_TS + HISTORY * MINUTE  # the venue's "now": settlements up to it exist
    expected = [(ts, rate) for ts, rate in record if ts < end]
    funding = tmp_path / "data" / "bitunix" / "BTCUSDT-1m.funding.csv"
    lines = funding.read_text().splitlines()
    assert lines[0] == "ts,rate" and [(int(a), float(b)) for a, b in (x.split(",") for x in lines[1:])] == expected
    assert len(expected) == 4 and len({rate for _, rate in expected}) > 1
    assert f"funding: {len(expected)} settlements" in result.out and "broker.funding_csv=" in result.out


def test_la_data_list_shows_every_candle_file_with_its_market_span_and_gaps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    (data / "bitunix").mkdir(parents=True)
    shutil.copy(REPO / "data" / "ftx_btc-perp_15m_2022-01.csv", data / "ftx-15m.csv")
    done = data / "bitunix" / "BTCUSDT-1m.csv"
    rows = bundled_rows(20).splitlines(keepends=True)
    done.write_bytes(b"".join(rows[:6] + rows[9:]))  # 3 candles lost
    Manifest("bitunix", "BTCUSDT", "1m", complete=True).save_beside(done)
    cut = data / "bitunix" / "ETHUSDT-1m.csv"
    cut.write_bytes(bundled_rows(5))
    Manifest("bitunix", "ETHUSDT", "1m", complete=False).save_beside(cut)
    (data / "bitunix" / "BTCUSDT-1m.funding.csv").write_text("ts,rate\n1,0.1\n")
    (data / "notes.csv").write_text("a,b\n1,2\n")
    assert main(["data", "list", str(data)]) == 0
    out = capsys.readouterr().out.splitlines()
    table = {line.split()[0]: line.split() for line in out[2:]}
    assert set(table) == {"bitunix/BTCUSDT-1m.csv", "bitunix/ETHUSDT-1m.csv", "ftx-15m.csv"}
    assert table["bitunix/BTCUSDT-1m.csv"][1:4] == ["bitunix", "BTCUSDT", "1m"]
    assert " ".join(table["bitunix/BTCUSDT-1m.csv"][4:]) == "2021-12-31 23:01 2021-12-31 23:20 17 1 (3 candles)"
    assert out[next(i for i, line in enumerate(out) if "ETHUSDT" in line)].endswith("none · download interrupted")
    assert table["ftx-15m.csv"][1:8] == ["-", "-", "15m", "2021-12-31", "23:15", "2022-02-01", "05:15"]


def test_the_simulator_serves_a_downloaded_file_as_the_market_it_recorded(tmp_path: Path) -> None:
    csv = tmp_path / "ETHUSDT-15m.csv"
    shutil.copy(REPO / "data" / "ftx_btc-perp_15m_2022-01.csv", csv)
    Manifest("bitunix", "ETHUSDT", "15m", complete=True).save_beside(csv)
    (tmp_path / "ETHUSDT-15m.funding.csv").write_text("ts,rate\n1641024000000,0.0003\n1641052800000,-0.0001\n")
    args = build_parser().parse_args(["sim-exchange", "--data", str(csv), "--speed", "0"])
    exchange = build(args)
    assert exchange.market.symbols == ["ETHUSDT"] and exchange.market.interval_ms == 900_000
    assert exchange.ledger.funding.rows() == [(1641024000000, 0.0003), (1641052800000, -0.0001)]
    assert exchange.ledger.rate_at(1641052800000 + 1) == -0.0001
    plain = build(
        build_parser().parse_args(["sim-exchange", "--data", str(REPO / "data" / "ftx_btc-perp_15m_2022-01.csv")])
    )
    assert plain.market.symbols == ["BTCUSDT"] and plain.market.interval_ms == 900_000  # the file's own step
    assert orjson.loads(csv.with_suffix(".gaps.json").read_bytes())["symbol"] == "ETHUSDT"


def test_progress_is_a_redrawn_bar_on_a_terminal_and_one_line_per_tenth_in_a_log() -> None:
    log = io.StringIO()
    progress = Progress(log, label="BTCUSDT 1m", tty=False)
    progress.begin(1_000)
    progress.skip(250)  # before the listing: known empty
    for _ in range(75):
        progress.advance(10, FIRST_TS)
    lines = log.getvalue().splitlines()
    assert len(lines) == 9 and "\r" not in log.getvalue()  # 26 % (the skip), then 30 % ... 100 %
    assert lines[0].startswith("BTCUSDT 1m [") and " 26% 260/1,000 candles" in lines[0]
    assert " 100% 1,000/1,000 candles · at 2021-12-31 23:01 · ETA 0m00s" in lines[-1]
    screen = io.StringIO()
    bar = Progress(screen, label="BTCUSDT 1m", tty=True)
    bar.begin(100)
    for _ in range(100):
        bar.advance(1, None)
    bar.end()
    drawn = screen.getvalue()
    assert drawn.startswith("\r") and drawn.endswith("\n") and drawn.count("\r") < 10  # redrawn, throttled
    assert "100% 100/100 candles" in drawn.rsplit("\r", 1)[-1]


async def test_a_downloaded_market_served_by_la_sim_exchange_downloads_back_the_same(tmp_path: Path) -> None:
    """The rehearsal path: what `la download` wrote, `la sim-exchange --data` serves as that market (its
    symbol and interval from the manifest, its funding), and downloading it back gives the same rows."""
    ours = tmp_path / "mine" / "ETHUSDT-1m.csv"
    ours.parent.mkdir()
    ours.write_bytes(bundled_rows(900))
    Manifest("bitunix", "ETHUSDT", "1m", complete=True).save_beside(ours)
    (tmp_path / "mine" / "ETHUSDT-1m.funding.csv").write_text("ts,rate\n1640995200000,0.0002\n1641024000000,-0.0001\n")
    sim = await asyncio.create_subprocess_exec(
        *la_command(), "sim-exchange", "--data", str(ours), "--speed", "0", "--start-index", "800",
        env=clean_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert sim.stdout is not None
        ready = (await asyncio.wait_for(sim.stdout.readline(), 30)).decode()
        url = ready.split("REST ")[1].split()[0]
        back = await la_download(None, tmp_path, "--rest-url", url, "--symbol", "ETHUSDT", "--since", "2021-12-31",
                                 "--funding", "--out", "back/ETHUSDT-1m.csv", rate=100)  # fmt: skip
    finally:
        sim.terminate()
        await sim.wait()
    assert back.code == 0, back.err
    assert (tmp_path / "back" / "ETHUSDT-1m.csv").read_bytes() == bundled_rows(800)
    funding = (tmp_path / "back" / "ETHUSDT-1m.funding.csv").read_text()
    assert funding == "ts,rate\n1640995200000,0.0002\n1641024000000,-0.0001\n"


def test_the_simulator_says_when_a_file_with_gaps_is_replayed_back_to_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Review of issue 19: the replay re-times candles to one every interval, so a downloaded file with gaps
    is served with later candles earlier than they were: said once on stderr."""
    rows = bundled_rows(400).splitlines(keepends=True)
    gappy = tmp_path / "gappy.csv"
    gappy.write_bytes(b"".join(rows[:101] + rows[201:]))  # 100 candles missing
    build(build_parser().parse_args(["sim-exchange", "--data", str(gappy), "--speed", "0", "--start-index", "100"]))
    assert "has 1 gap (100 candles missing); the replay serves its candles back to back" in capsys.readouterr().err
    build(build_parser().parse_args(["sim-exchange", "--data", str(REPO / "data" / "ftx_btc-perp_15m_2022-01.csv")]))
    assert capsys.readouterr().err == ""
