"""`la download --exchange ID` through CCXT (the optional extra), against a loopback stand-in for Binance's
USDⓈ-M API (CCXT's `exchange.urls` pointed at it by `--rest-url`), never the internet; and the base install
without ccxt, which says in one line how to get it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from laptop_agents.core.candle import Candle
from tests.daemon.test_daemon_process import clean_env
from tests.download.binance_stub import binance
from tests.download.helpers import FIRST_TS, HISTORY, MINUTE, bundled_rows, la_download
from tests.exchange.conftest import bundled_candles

OUT = Path("data") / "binanceusdm" / "BTCUSDT-1m.csv"


async def test_a_ccxt_venues_history_and_funding_download_like_bitunix(tmp_path: Path) -> None:
    record = [(FIRST_TS + 59 * MINUTE + i * 8 * 3_600_000, 0.0001 * (i - 1)) for i in range(4)]
    async with binance(bundled_candles()[: HISTORY + 1], record) as venue:  # the last one still forming
        args = ["--exchange", "binanceusdm", "--rest-url", venue.url, "--symbol", "BTCUSDT", "--since", "2021-12-31"]
        result = await la_download(None, tmp_path, *args, "--funding", rate=50)
        again = await la_download(None, tmp_path, *args, rate=50)
    assert result.code == 0, result.err
    assert (tmp_path / OUT).read_bytes() == bundled_rows(HISTORY)
    manifest = orjson.loads((tmp_path / OUT.with_suffix(".gaps.json")).read_bytes())
    assert (manifest["exchange"], manifest["symbol"], manifest["rows"]) == ("binanceusdm", "BTCUSDT", HISTORY)
    funding = (tmp_path / OUT.with_suffix(".funding.csv")).read_text().splitlines()
    assert funding == ["ts,rate"] + [f"{ts},{rate!r}" for ts, rate in record if ts < FIRST_TS + HISTORY * MINUTE]
    assert again.code == 0 and "already up to date" in again.out, again
    assert {"/fapi/v1/exchangeInfo", "/fapi/v1/klines", "/fapi/v1/fundingRate"} == set(venue.paths)


async def test_an_unknown_ccxt_symbol_or_venue_is_one_line_and_exit_2(tmp_path: Path) -> None:
    async with binance(bundled_candles()[:50]) as venue:
        wrong = await la_download(None, tmp_path, "--exchange", "binanceusdm", "--rest-url", venue.url,
                                  "--symbol", "NOPEUSDT", "--since", "2021-12-31", rate=50)  # fmt: skip
    assert wrong.code == 2 and "--symbol NOPEUSDT: binanceusdm lists no such market" in wrong.err
    nowhere = await la_download(
        None, tmp_path, "--exchange", "nosuchvenue", "--symbol", "BTCUSDT", "--since", "2022-01-01"
    )
    assert nowhere.code == 2 and "--exchange nosuchvenue: not a CCXT exchange id" in nowhere.err
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.csv"))


def test_without_ccxt_the_base_install_says_how_to_get_it_and_writes_nothing(tmp_path: Path) -> None:
    """ccxt made unimportable, as in an install without the extra: everything else works, and asking for
    another venue is one line naming the extra."""
    script = (
        "import sys; sys.modules['ccxt'] = None; sys.modules['ccxt.async_support'] = None\n"
        "from laptop_agents.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    run = subprocess.run([sys.executable, "-c", script, "download", "--exchange", "binance", "--symbol", "BTCUSDT",
                          "--since", "2024-01-01"], cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "la: --exchange: venues other than bitunix go through CCXT, not installed: pip install 'laptop-agents[ccxt]'"
    ]
    assert not any(tmp_path.iterdir())
    live = subprocess.run([sys.executable, "-c", script, "run", "--mode", "live-paper", "--set",
                           "exchange.ccxt_id=binanceusdm"], cwd=tmp_path, env=clean_env(), capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    hint = "venues other than bitunix go through CCXT, not installed: pip install 'laptop-agents[ccxt]'"
    assert live.returncode == 2 and live.stderr.strip().splitlines() == [f"la: exchange.ccxt_id: {hint}"]
    assert not any(tmp_path.iterdir())  # no run folder either
    listing = subprocess.run([sys.executable, "-c", script, "data", "list", str(tmp_path)], cwd=tmp_path,
                             env=clean_env(), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert listing.returncode == 0


async def test_a_venue_that_answers_fewer_rows_than_asked_and_weekly_candles_lose_nothing(tmp_path: Path) -> None:
    """Review of issue 19: the download stepped a whole page per request whatever came back, so a venue
    capped below it (OKX: 300) left gaps; and weekly candles (Binance's open on Mondays, not on the epoch's
    Thursday grid) were all refused."""
    async with binance(bundled_candles()[: HISTORY + 1], cap=120) as venue:
        capped = await la_download(None, tmp_path, "--exchange", "binanceusdm", "--rest-url", venue.url, "--symbol",
                                   "BTCUSDT", "--since", "2021-12-31", rate=200)  # fmt: skip
    assert capped.code == 0, capped.err
    assert (tmp_path / OUT).read_bytes() == bundled_rows(HISTORY) and "no gaps" in capped.out
    week = 7 * 86_400_000
    monday = 1_704_067_200_000  # 2024-01-01, a Monday
    weeks = [
        Candle(monday + i * week, c.open, c.high, c.low, c.close, c.volume)
        for i, c in enumerate(bundled_candles()[:31])
    ]
    async with binance(weeks) as venue:
        weekly = await la_download(None, tmp_path, "--exchange", "binanceusdm", "--rest-url", venue.url, "--symbol",
                                   "BTC/USDT:USDT", "--interval", "1w", "--since", "2024-01-01", rate=200)  # fmt: skip
    assert weekly.code == 0, weekly.err
    rows = (tmp_path / "data" / "binanceusdm" / "BTCUSDT-USDT-1w.csv").read_text().splitlines()
    assert len(rows) == 31 and rows[1].startswith(f"{monday},") and "no gaps" in weekly.out
    assert not (tmp_path / "data" / "binanceusdm" / "BTC").exists()  # CCXT's symbol is one file name
