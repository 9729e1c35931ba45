"""The `la` command as a user runs it: a real subprocess, real files, exit codes and the lines it prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import REPO

LA = Path(sys.executable).with_name("la")


def la(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    command = [str(LA)] if LA.exists() else [sys.executable, "-m", "laptop_agents.cli"]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LA_")}
    full_env["LA_CONFIG_DIR"] = str(REPO / "config")
    full_env.update(env or {})
    return subprocess.run(
        [*command, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected exactly one line, got: {proc.stderr!r}"
    for fragment in fragments:
        assert fragment in lines[0], (fragment, proc.stderr)


def _csv(path: Path, body: str) -> Path:
    path.write_text("ts,open,high,low,close,volume\n" + body)
    return path


def test_backtest_of_bundled_data_prints_a_result_table(tmp_path: Path, bundled_csv: Path) -> None:
    proc = la("run", "--mode", "backtest", "--source", f"csv:{bundled_csv}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Backtest result" in out and "45,031 candles" in out
    trades = int(out.split("trades", 1)[1].split()[0].replace(",", ""))
    assert trades > 0
    latest = tmp_path / "runs" / "latest"
    assert (latest / "summary.html").is_file()
    assert f"runs/{latest.resolve().name}/summary.html" in out


def test_default_source_resolves_to_the_bundled_file_from_any_folder(tmp_path: Path) -> None:
    proc = la("run", "--set", "data.mock_candles=1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "ftx_btc-perp_1m_2022-01.csv" in proc.stdout


def test_mock_source_backtest(tmp_path: Path) -> None:
    proc = la("run", "--source", "mock", "--set", "data.mock_candles=2000", "--run-id", "m1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "runs" / "m1" / "trades.csv").is_file()


def test_print_config_shows_the_effective_values_with_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "mine.json"
    cfg.write_bytes(orjson.dumps({"risk": {"risk_pct": 0.7, "max_leverage": 2}, "broker": {"taker_fee_bps": 4}}))
    proc = la(
        "run",
        "--profile",
        "live",
        "--config",
        str(cfg),
        "--set",
        "risk.risk_pct=0.3",
        "--print-config",
        cwd=tmp_path,
        env={"LA_BROKER__TAKER_FEE_BPS": "5", "LA_DASHBOARD__TOKEN": "hunter2-secret"},
    )
    assert proc.returncode == 0, proc.stderr
    effective = orjson.loads(proc.stdout)
    assert effective["run"]["mode"] == "live-exchange"  # profile
    assert effective["risk"]["max_leverage"] == 2  # --config over profile
    assert effective["broker"]["taker_fee_bps"] == 5  # environment over --config
    assert effective["risk"]["risk_pct"] == 0.3  # --set over everything
    assert effective["circuit_breaker"]["max_drawdown_pct"] == 5.0  # from the profile, untouched
    assert effective["dashboard"]["token"] == "***"
    assert "hunter2" not in proc.stdout + proc.stderr


def test_selftest_passes(tmp_path: Path) -> None:
    proc = la("run", "--mode", "selftest", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "SELFTEST PASS"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--source", "csv:nope/missing.csv"), ("data.source", "not found", "missing.csv")),
        (("--set", "risk.risk_pct=-1"), ("risk.risk_pct = -1", "greater than 0", "allowed: > 0 and <= 100")),
        (("--set", "risk.riskpct=1"), ("risk.riskpct: unknown config key", "known keys here: risk_pct")),
        (("--mode", "paper-live"), ("run.mode = 'paper-live'", "'backtest'", "'live-paper'")),
        (("--interval", "7m"), ("data.interval = '7m'", "allowed: 1m")),
        (("--profile", "nope"), ("--profile nope: no such profile", "backtest")),
        (("--set", "risk_pct=1"), ("write it as section.key=value",)),
        (("--frobnicate",), ("unrecognized arguments: --frobnicate",)),
    ],
)
def test_bad_input_gets_one_clear_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    _assert_one_line_error(la("run", *args, cwd=tmp_path), *fragments)


def test_bad_environment_value_names_the_variable_source(tmp_path: Path) -> None:
    proc = la("run", "--print-config", cwd=tmp_path, env={"LA_RISK__MAX_LEVERAGE": "500"})
    _assert_one_line_error(proc, "risk.max_leverage = 500 (from environment)", "less than or equal to 125")


def test_malformed_csv_row_names_the_line(tmp_path: Path) -> None:
    path = _csv(tmp_path / "bad.csv", "1640995200000,1,2,0.5,1.5,3\n1640995260000,1,two,0.5,1.5,3\n")
    proc = la("run", "--source", f"csv:{path}", cwd=tmp_path)
    _assert_one_line_error(proc, "line 3", "high='two' is not a number")
    # the stopped run still left valid files behind
    run = next(p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    assert orjson.loads(run.joinpath("events.jsonl").read_bytes().splitlines()[-1])["status"] == "failed"


def test_ohlc_invalid_candle_names_the_line_and_the_rule(tmp_path: Path) -> None:
    path = _csv(tmp_path / "ohlc.csv", "1640995200000,10,11,9,10.5,3\n1640995260000,10,10.2,9,10.5,3\n")
    proc = la("run", "--source", f"csv:{path}", cwd=tmp_path)
    _assert_one_line_error(proc, "line 3", "high=10.2 is below max(open, close)=10.5")


def test_seconds_timestamps_are_explained(tmp_path: Path) -> None:
    path = _csv(tmp_path / "secs.csv", "1640995200,10,11,9,10.5,3\n")
    _assert_one_line_error(la("run", "--source", f"csv:{path}", cwd=tmp_path), "looks like seconds")


def test_missing_header_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "nohead.csv"
    path.write_text("1640995200000,10,11,9,10.5,3\n")
    _assert_one_line_error(la("run", "--source", f"csv:{path}", cwd=tmp_path), "header lacks")


def test_invalid_json_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "broken.json"
    cfg.write_text("{ nope")
    _assert_one_line_error(la("run", "--config", str(cfg), cwd=tmp_path), "--config", "not valid JSON")


def test_reusing_a_run_id_is_refused(tmp_path: Path) -> None:
    assert (
        la("run", "--source", "mock", "--set", "data.mock_candles=100", "--run-id", "r1", cwd=tmp_path).returncode == 0
    )
    proc = la("run", "--source", "mock", "--set", "data.mock_candles=100", "--run-id", "r1", cwd=tmp_path)
    _assert_one_line_error(proc, "run.run_id", "already exists")


def test_config_json_names_the_run_it_belongs_to(tmp_path: Path) -> None:
    """Issue 14, item 14: a run started without --run-id saved `run_id: null` in its config.json."""
    done = la("run", "--mode", "backtest", "--source", "mock", "--set", "data.mock_candles=300", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (folder,) = [p for p in (tmp_path / "runs").iterdir() if p.name != "latest"]
    assert orjson.loads((folder / "config.json").read_bytes())["run"]["run_id"] == folder.name


def test_an_unknown_la_variable_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    done = la("run", "--mode", "backtest", "--source", "mock", cwd=tmp_path, env={"LA_NOSUCH": "1"})
    _assert_one_line_error(done, "LA_NOSUCH", "LA_SECTION__KEY")
    assert not (tmp_path / "runs").exists()
