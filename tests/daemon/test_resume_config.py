"""`--resume` runs the run's own configuration (issue 14, item 5): its saved `config.json`, not today's
command line. A change is refused in one line unless `--reconfigure`, which records it. Real `la`
subprocesses over a real run folder."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.daemon.test_daemon_process import clean_env, la_command

pytestmark = pytest.mark.slow
FAST = ("--set", "exchange.sim_speed=1200", "--set", "run.heartbeat_interval_s=0.2")


def la(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*la_command(), *args], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=90, check=False
    )


def effective(tmp_path: Path, *args: str) -> dict[str, Any]:
    shown = la(tmp_path, "run", "--mode", "live-paper", *args, "--print-config")
    assert shown.returncode == 0, shown.stderr
    config: dict[str, Any] = orjson.loads(shown.stdout)
    return config


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A live-paper run started with the breaker off and 3 % risk, stopped after 2 s."""
    started = la(tmp_path, "run", "--mode", "live-paper", "--run-id", "r", "--duration", "2", *FAST,
                 "--set", "circuit_breaker.enabled=false", "--set", "risk.risk_pct=3")  # fmt: skip
    assert started.returncode == 0, started.stderr
    return tmp_path / "runs" / "r"


def test_a_resume_without_settings_runs_the_runs_own_configuration(tmp_path: Path, run: Path) -> None:
    """Before: the breaker came back on and the risk went back to 1 %, silently."""
    config = effective(tmp_path, "--resume", "r")
    assert config["circuit_breaker"]["enabled"] is False and config["risk"]["risk_pct"] == 3
    assert config["exchange"]["sim_speed"] == 1200
    resumed = la(tmp_path, "run", "--mode", "live-paper", "--resume", "r", "--duration", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert orjson.loads((run / "config.json").read_bytes())["circuit_breaker"]["enabled"] is False


def test_a_run_pointed_at_an_external_exchange_stays_pointed_at_it(tmp_path: Path, run: Path) -> None:
    """Before: a resume without the URLs switched the run to the embedded simulator."""
    saved = orjson.loads((run / "config.json").read_bytes())
    saved["exchange"]["rest_url"] = "http://127.0.0.1:18777"
    saved["exchange"]["ws_public_url"] = "ws://127.0.0.1:18777/public/"
    (run / "config.json").write_bytes(orjson.dumps(saved))
    config = effective(tmp_path, "--resume", "r")
    assert config["exchange"]["rest_url"] == "http://127.0.0.1:18777"


def test_a_setting_that_changes_the_run_is_refused_in_one_line(tmp_path: Path, run: Path) -> None:
    before = (run / "events.jsonl").read_bytes()
    refused = la(tmp_path, "run", "--mode", "live-paper", "--resume", "r", "--set", "circuit_breaker.enabled=true")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert "circuit_breaker.enabled false -> true" in refused.stderr and "--reconfigure" in refused.stderr
    assert (run / "events.jsonl").read_bytes() == before  # nothing was touched
    session_only = effective(tmp_path, "--resume", "r", "--duration", "5", "--set", 'run.log_level="debug"')
    assert session_only["run"]["duration_s"] == 5  # a session's own settings are not a change
    wrong_mode = la(tmp_path, "run", "--mode", "live-exchange", "--confirm-live", "--resume", "r")
    assert wrong_mode.returncode == 2 and "it is a live-paper run" in wrong_mode.stderr


def test_reconfigure_changes_the_run_and_records_it(tmp_path: Path, run: Path) -> None:
    changed = la(tmp_path, "run", "--mode", "live-paper", "--resume", "r", "--duration", "2", "--reconfigure",
                 "--set", "circuit_breaker.enabled=true")  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    events = [orjson.loads(line) for line in (run / "events.jsonl").read_bytes().splitlines()]
    (change,) = [e for e in events if e["event"] == "ConfigChanged"]
    assert (change["key"], change["before"], change["after"]) == ("circuit_breaker.enabled", "false", "true")
    assert orjson.loads((run / "config.json").read_bytes())["circuit_breaker"]["enabled"] is True
    assert effective(tmp_path, "--resume", "r")["circuit_breaker"]["enabled"] is True  # from now on, the run's


def test_resume_and_duration_are_refused_outside_the_live_modes(tmp_path: Path) -> None:
    """Item 14: they did nothing in backtest mode."""
    for flags in (("--resume", "x"), ("--duration", "5")):
        refused = la(tmp_path, "run", "--mode", "backtest", *flags)
        assert refused.returncode == 2 and "is for the live modes" in refused.stderr, refused.stderr
    assert not (tmp_path / "runs").exists()


def test_the_table_after_a_resume_counts_the_whole_run(tmp_path: Path) -> None:
    """Item 6: after a resume the table said "breaker never tripped" next to "entries refused: 4
    circuit_breaker" (the trip was in the first session), and forgot the first session's gaps."""
    first = la(tmp_path, "run", "--mode", "live-paper", "--run-id", "t", "--duration", "5", *FAST,
               "--set", "circuit_breaker.max_consecutive_losses=1",
               "--set", "circuit_breaker.reset_after_bars=0")  # fmt: skip
    assert first.returncode == 0, first.stderr
    breaker_line = next(line for line in first.stdout.splitlines() if line.startswith("breaker"))
    assert "never tripped" not in breaker_line, first.stdout  # the first session tripped it
    resumed = la(tmp_path, "run", "--mode", "live-paper", "--resume", "t", "--duration", "2")
    assert resumed.returncode == 0, resumed.stderr
    after = next(line for line in resumed.stdout.splitlines() if line.startswith("breaker"))
    assert after == breaker_line, resumed.stdout  # the same trip, not "never tripped"
    trades_line = next(line for line in resumed.stdout.splitlines() if line.startswith("trades"))
    first_trades = next(line for line in first.stdout.splitlines() if line.startswith("trades"))
    assert int(trades_line.split()[1]) >= int(first_trades.split()[1])
