"""The `la` command as a user runs it: a real subprocess, real files, exit codes and the lines it prints."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import REPO
from tests.helpers import BROKEN_STRATEGIES

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


@pytest.mark.parametrize(
    ("strategy", "fragments"),
    [
        ("userstrat:Boom", ("strategy boom raised on the BTCUSDT candle at", "ZeroDivisionError", "traceback.txt")),
        ("userstrat:Bare", ("strategy bare returned EntryIntent(", "must return a list (or tuple)")),
    ],
)
def test_a_strategy_that_raises_or_returns_no_intents_ends_the_run_failed_in_one_line(
    tmp_path: Path, strategy: str, fragments: tuple[str, ...]
) -> None:
    """Issue 14, item 11: a raising strategy printed a traceback and left a run folder with only
    `RunStarted`; one that returned a bare intent was silently ignored."""
    (tmp_path / "userstrat.py").write_text(BROKEN_STRATEGIES)
    done = la("run", "--mode", "backtest", "--strategy", strategy, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)})
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.strip().count("\n") == 0, done.stderr
    assert all(f in done.stderr for f in fragments), done.stderr
    (folder,) = [p for p in (tmp_path / "runs").iterdir() if p.name != "latest"]
    events = [orjson.loads(line) for line in (folder / "events.jsonl").read_bytes().splitlines()]
    assert [e["event"] for e in events][-2:] == ["Error", "RunFinished"] and events[-1]["status"] == "failed"
    assert events[-2]["where"] == "strategy"
    if strategy.endswith("Boom"):
        assert "the strategy divided by zero" in (folder / "traceback.txt").read_text()


def test_a_csv_with_a_wrong_header_creates_no_run_folder(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n1,2,3\n")
    done = la("run", "--mode", "backtest", "--source", f"csv:{bad}", cwd=tmp_path)
    _assert_one_line_error(done, "header lacks ts")
    assert not (tmp_path / "runs").exists()


def test_an_exchange_url_that_is_no_url_is_refused_at_config_time(tmp_path: Path) -> None:
    done = la("run", "--mode", "live-paper", "--set", 'exchange.rest_url="nonsense"', cwd=tmp_path)
    _assert_one_line_error(done, "exchange.rest_url", "must start with http:// or https://")
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_an_unreachable_exchange_ends_the_run_failed_without_a_leak_warning(tmp_path: Path) -> None:
    """Before: the error line was followed by aiohttp's `Unclosed client session` warning, and the run's
    events stopped at `RunStarted`."""
    done = la("run", "--mode", "live-paper", "--run-id", "u", "--set", 'exchange.rest_url="http://127.0.0.1:9"',
              "--set", 'exchange.ws_public_url="ws://127.0.0.1:9/public/"', cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Unclosed" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "Cannot connect to host 127.0.0.1:9" in done.stderr
    events = [orjson.loads(line) for line in (tmp_path / "runs" / "u" / "events.jsonl").read_bytes().splitlines()]
    assert events[-1]["event"] == "RunFinished" and events[-1]["status"] == "failed"


def test_sim_exchange_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = la("sim-exchange", "--port", str(port), cwd=tmp_path, timeout=30)
    _assert_one_line_error(done, f"--port {port}", "pick another port")


def test_single_prints_the_decision_on_the_latest_candle_and_writes_nothing(tmp_path: Path) -> None:
    """Issue 14, item 16: `--mode single` did not exist."""
    done = la("run", "--mode", "single", "--strategy", "supervisor", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.strip().splitlines()
    assert line.startswith("BTCUSDT 1m supervisor: last closed candle 2022-02-01 05:31 UTC, close 38,544.00")
    assert "order: sell 1.296 BTC limit at 38,551.54; once filled, stop 38,577.85, target 38,498.94" in line
    quiet = la("run", "--mode", "single", cwd=tmp_path)
    assert quiet.returncode == 0 and "no order" in quiet.stdout  # sma_atr has no signal on that candle
    assert not (tmp_path / "runs").exists()


async def test_single_fetches_the_latest_candles_from_the_exchange(tmp_path: Path) -> None:
    from laptop_agents.exchange.bitunix.sim.server import SimExchange
    from tests.exchange.conftest import bundled_candles, sim_config

    async with SimExchange(sim_config(start_index=2000), {"BTCUSDT": bundled_candles()}) as sim:
        await sim.hub.advance(4 * 60)
        command = [str(LA)] if LA.exists() else [sys.executable, "-m", "laptop_agents.cli"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("LA_")} | {"LA_CONFIG_DIR": str(REPO / "config")}
        proc = await asyncio.create_subprocess_exec(
            *command, "run", "--mode", "single", "--set", f'exchange.rest_url="{sim.rest_url}"',
            cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        newest = bundled_candles()[2000 + 58]  # the newest kline (candle 59) is the forming one: dropped
    assert proc.returncode == 0, err.decode()
    assert f"close {newest.close:,.2f}" in out.decode() and "last closed candle" in out.decode()


def test_mode_live_is_live_paper_and_says_so_once(tmp_path: Path) -> None:
    done = la("run", "--mode", "live", "--duration", "2", "--set", "exchange.sim_speed=1200", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("--mode live is live-paper") == 1
    assert "Live-paper session (duration of 2 s reached)" in done.stdout


def test_python_dash_m_laptop_agents_is_la(tmp_path: Path) -> None:
    """What Windows users run where the `la` script is not on PATH (`py -m laptop_agents ...`)."""
    done = subprocess.run([sys.executable, "-m", "laptop_agents", "--version"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0 and done.stdout.startswith("la ")


def test_the_powershell_script_runs_what_the_makefile_runs() -> None:
    """scripts/la.ps1 cannot run here (no PowerShell); it must at least run the same steps as `make test`
    and `make run`."""
    make = (REPO / "Makefile").read_text()
    ps1 = (REPO / "scripts" / "la.ps1").read_text()
    for step in ("ruff check src tests bench scripts examples", "ruff format --check src tests bench scripts examples",
                 "mypy --strict src", "pytest -q", "--cov --cov-report=", "scripts/coverage_gate.py",
                 "run --profile demo --mode live-paper --duration 60"):  # fmt: skip
        assert step in make and step in ps1, step


IMPORTED_BY = """
import sys
import laptop_agents.cli as cli
{action}
heavy = ("pydantic", "structlog", "asyncio", "aiohttp", "laptop_agents.config.models",
         "laptop_agents.strategy.supervisor", "laptop_agents.daemon")
print(sorted({{m.split(".")[0] if not m.startswith("laptop_agents") else m for m in sys.modules
              if any(m == h or m.startswith(h + ".") for h in heavy)}}))
"""


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("cli.build_parser()", []),  # la --help and a usage error: argparse only
        (
            "import io, contextlib\nwith contextlib.redirect_stdout(io.StringIO()):\n"
            "    cli.main(['run', '--print-config'])",
            ["laptop_agents.config.models", "pydantic"],
        ),
    ],
    ids=["parser", "print-config"],
)
def test_la_imports_only_what_the_command_runs(tmp_path: Path, action: str, expected: list[str]) -> None:
    """Start-up: `la --help` cost 0.55 s when the parser module imported pydantic, structlog and asyncio at the
    top; building the parser now imports none of them, and --print-config only the config models."""
    code = IMPORTED_BY.format(action=action)
    env = {**os.environ, "LA_CONFIG_DIR": str(REPO / "config")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          check=True)  # fmt: skip
    assert orjson.loads(proc.stdout.strip().replace("'", '"')) == expected


def test_a_sma_atr_backtest_does_not_load_the_supervisor(tmp_path: Path) -> None:
    code = IMPORTED_BY.format(
        action="import io, contextlib\nwith contextlib.redirect_stdout(io.StringIO()):\n"
        "    cli.main(['run', '--source', 'mock', '--set', 'data.mock_candles=100'])"
    )
    env = {**os.environ, "LA_CONFIG_DIR": str(REPO / "config")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          check=True)  # fmt: skip
    loaded = orjson.loads(proc.stdout.strip().replace("'", '"'))
    assert "laptop_agents.strategy.supervisor" not in loaded and "laptop_agents.config.models" in loaded
