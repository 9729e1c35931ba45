"""Time ranges: `--timerange 20240101-20240301` and `data.start`/`data.end` pick a backtest's or validate's
candles from a file without cutting it by hand; bad ranges are one line each."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import pytest

from laptop_agents.config.loader import load_settings
from laptop_agents.core.errors import ConfigError, DataError, InputError
from laptop_agents.core.timespec import format_ms, parse_instant, parse_timerange, split_timerange
from laptop_agents.feeds.sources import open_source
from tests.conftest import REPO
from tests.daemon.test_daemon_process import clean_env, la_command

FIFTEEN = REPO / "data" / "ftx_btc-perp_15m_2022-01.csv"
JAN_5, JAN_12 = 1_641_340_800_000, 1_641_945_600_000


def test_instants_and_ranges_in_every_form_a_user_types() -> None:
    for text in (
        "2022-01-05",
        "20220105",
        "2022-01-05T00:00",
        "2022-01-05 00:00:00",
        "2022-01-05T00:00:00Z",
        str(JAN_5),
    ):
        assert parse_instant(text, field="--since") == JAN_5, text
    assert parse_timerange("20220105-20220112") == (JAN_5, JAN_12)
    assert parse_timerange("2022-01-05-2022-01-12") == (JAN_5, JAN_12)
    assert parse_timerange("20220105-") == (JAN_5, None) and parse_timerange("-20220112") == (None, JAN_12)
    assert split_timerange("2022-01-05-") == ("2022-01-05", None)
    assert format_ms(JAN_5) == "2022-01-05 00:00" and format_ms(JAN_5 + 1_000) == "2022-01-05 00:00:01"
    for bad, says in (("20220112-20220105", "start must be before the end"), ("-", "START-END"),
                      ("20221301-", "UTC date"), ("soon", "START-END")):  # fmt: skip
        with pytest.raises(InputError, match=says):
            split_timerange(bad)


def test_a_range_reads_only_its_candles_and_an_empty_one_says_what_the_file_holds() -> None:
    data = load_settings(sets=[f"data.source=csv:{FIFTEEN}", "data.interval=15m", "data.start=20220105",
                               "data.end=2022-01-12"]).data  # fmt: skip
    candles = list(open_source(data, seed=1))
    assert (candles[0].ts, candles[-1].ts, len(candles)) == (JAN_5, JAN_12 - 900_000, 7 * 96)
    late = load_settings(sets=[f"data.source=csv:{FIFTEEN}", "data.start=20230101"]).data
    with pytest.raises(
        DataError, match=r"no candle from 2023-01-01 00:00 in .* holds from 2021-12-31 23:15 to 2022-02-01"
    ):
        list(open_source(late, seed=1))


def test_a_range_is_for_backtest_and_validate_and_must_run_forwards() -> None:
    with pytest.raises(ConfigError, match="not live-paper's"):
        load_settings(sets=["run.mode=live-paper", "data.start=20220105"])
    with pytest.raises(ConfigError, match=r"data.start \(20220112\) must be before data.end \(20220105\)"):
        load_settings(sets=["data.start=20220112", "data.end=20220105"])
    with pytest.raises(ConfigError, match=r"data\.start"):
        load_settings(sets=["data.start=next tuesday"])


def _la(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*la_command(), "run", "--profile", "demo", "--set", f"run.runs_dir={tmp_path / 'runs'}",
                           *args], cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=120)  # fmt: skip


def test_a_backtest_and_a_validate_over_a_timerange_equal_them_over_a_file_cut_by_hand(tmp_path: Path) -> None:
    lines = FIFTEEN.read_text().splitlines(keepends=True)
    cut = tmp_path / "cut.csv"
    cut.write_text(lines[0] + "".join(line for line in lines[1:] if JAN_5 <= int(line.split(",")[0]) < JAN_12))
    ranged = _la(tmp_path, "--timerange", "20220105-20220112", "--run-id", "ranged")
    by_hand = _la(tmp_path, "--source", f"csv:{cut}", "--run-id", "by-hand")
    assert ranged.returncode == 0 and by_hand.returncode == 0, ranged.stderr + by_hand.stderr
    runs = tmp_path / "runs"
    trades = (runs / "ranged" / "trades.csv").read_bytes()
    assert trades == (runs / "by-hand" / "trades.csv").read_bytes() and trades.count(b"\n") > 3
    assert (runs / "ranged" / "equity.csv").read_bytes() == (runs / "by-hand" / "equity.csv").read_bytes()
    grid = ("--mode", "validate", "--grid", "fast_sma=5,10", "--train", "200", "--test", "100", "--jobs", "1")
    validated = _la(tmp_path, *grid, "--timerange", "20220105-20220112", "--run-id", "validated")
    assert validated.returncode == 0, validated.stderr
    report = orjson.loads((runs / "validated" / "validation.json").read_bytes())
    assert (report["candles"], report["first_ts"], report["last_ts"]) == (7 * 96, JAN_5, JAN_12 - 900_000)
    live = subprocess.run([*la_command(), "run", "--mode", "live-paper", "--timerange", "20220105-"], cwd=REPO,
                          env=clean_env(), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert live.returncode == 2 and "not live-paper's" in live.stderr and len(live.stderr.splitlines()) == 1
