"""The live-paper daemon as a real process: SIGTERM, the watchdog (fresh, stale, missing), the run lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.conftest import REPO

LA = Path(sys.executable).with_name("la")


def la_command() -> list[str]:
    return [str(LA)] if LA.exists() else [sys.executable, "-m", "laptop_agents.cli"]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LA_")}
    env["LA_CONFIG_DIR"] = str(REPO / "config")
    return env


def wait_for(condition: object, within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    run = tmp_path / "runs" / "d1"
    proc = subprocess.Popen(
        [
            *la_command(),
            "run",
            "--mode",
            "live-paper",
            "--run-id",
            "d1",
            "--set",
            f'run.runs_dir="{tmp_path / "runs"}"',
            "--set",
            "run.heartbeat_interval_s=0.2",
            "--set",
            "exchange.sim_speed=1200",
        ],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: (run / "heartbeat.json").exists(), 20, "the first heartbeat")
        yield proc, run
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
        proc.communicate(timeout=10)


def run_live_paper_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`la run --mode live-paper ARGS` on the test's runs folder, run to completion (exit code, output)."""
    command = [*la_command(), "run", "--mode", "live-paper", *args, "--set", f'run.runs_dir="{tmp_path / "runs"}"']
    return subprocess.run(
        command, cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=30, check=False
    )


def watchdog(target: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "monitor_heartbeat.py"), str(target), *extra],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=clean_env(),
    )


@pytest.mark.slow
def test_sigterm_stops_within_10_s_with_final_checkpoint_and_report(daemon: tuple[subprocess.Popen[str], Path]) -> None:
    proc, run = daemon
    wait_for(lambda: orjson.loads((run / "heartbeat.json").read_bytes())["candles"] >= 5, 20, "some candles")
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert time.monotonic() - started < 10
    assert "Live-paper session (signal SIGTERM)" in out
    state = orjson.loads((run / "state.json").read_bytes())
    assert state["payload"]["status"] == "stopped"
    last = orjson.loads((run / "events.jsonl").read_bytes().splitlines()[-1])
    assert (last["event"], last["status"]) == ("RunFinished", "stopped")
    assert (run / "summary.html").stat().st_size > 0
    assert orjson.loads((run / "heartbeat.json").read_bytes())["state"] == "stopped"


@pytest.mark.slow
def test_watchdog_fresh_then_stale_when_the_loop_is_stopped_then_missing(
    daemon: tuple[subprocess.Popen[str], Path], tmp_path: Path
) -> None:
    proc, run = daemon
    fresh = watchdog(run, "--stale-after", "2")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert fresh.stdout.startswith("OK run d1") and fresh.stdout.count("\n") == 1
    os.kill(proc.pid, signal.SIGSTOP)  # the event loop stops: no more heartbeats
    try:
        time.sleep(2.5)
        stale = watchdog(run, "--stale-after", "2")
        assert stale.returncode == 1 and stale.stdout.startswith("STALE")
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    missing = watchdog(tmp_path / "no-such-run")
    assert missing.returncode == 2 and missing.stdout.startswith("MISSING")


@pytest.mark.slow
def test_a_second_daemon_on_the_same_run_folder_exits_with_a_clear_line(
    daemon: tuple[subprocess.Popen[str], Path], tmp_path: Path
) -> None:
    proc, run = daemon
    config_before = (run / "config.json").read_bytes(), (run / "config.json").stat().st_mtime_ns
    second = run_live_paper_cli(tmp_path, "--run-id", "d1")
    assert second.returncode == 2
    assert second.stderr.strip().count("\n") == 0 and "already exists" in second.stderr
    assert ((run / "config.json").read_bytes(), (run / "config.json").stat().st_mtime_ns) == config_before
    assert orjson.loads((run / "heartbeat.json").read_bytes())["pid"] == proc.pid  # still the first daemon's


def test_watchdog_loop_runs_the_restart_command_once_per_incident(tmp_path: Path) -> None:
    from laptop_agents.daemon.watchdog import MISSING, loop

    marker = tmp_path / "restarted"
    code = loop(
        tmp_path / "heartbeat.json", stale_after_s=1, interval_s=0.01, restart=f"echo x >> {marker}", max_checks=3
    )
    assert code == MISSING
    assert marker.read_text() == "x\n"  # once per incident, not once per check


@pytest.mark.slow
def test_resuming_a_run_that_is_still_running_is_refused_by_the_lock(
    daemon: tuple[subprocess.Popen[str], Path], tmp_path: Path
) -> None:
    proc, run = daemon
    wait_for(lambda: (run / "state.json").exists(), 20, "a checkpoint")
    size_before = (run / "events.jsonl").stat().st_size
    second = run_live_paper_cli(tmp_path, "--resume", "d1")
    assert second.returncode == 2, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr  # one clear line, nothing announced
    assert lines[0].startswith("la: run folder") and f"is in use by pid {proc.pid}" in lines[0]
    assert (run / "events.jsonl").stat().st_size >= size_before  # nothing was cut back
    assert proc.poll() is None  # the first daemon runs on


@pytest.mark.slow
def test_resume_or_start_starts_then_resumes_the_same_run(tmp_path: Path) -> None:
    def once() -> subprocess.CompletedProcess[str]:
        return run_live_paper_cli(tmp_path, "--resume-or-start", "svc", "--duration", "2")

    first = once()
    assert first.returncode == 0, first.stderr
    assert "live-paper session svc" in first.stderr
    checkpoint = orjson.loads((tmp_path / "runs" / "svc" / "state.json").read_bytes())["payload"]
    second = once()
    assert second.returncode == 0, second.stderr
    assert "resuming svc" in second.stderr
    events = [orjson.loads(line) for line in (tmp_path / "runs" / "svc" / "events.jsonl").read_bytes().splitlines()]
    resumed = [e for e in events if e["event"] == "RunResumed"]
    assert len(resumed) == 1 and resumed[0]["from_event_seq"] == checkpoint["event_seq"]
    (tmp_path / "runs" / "empty").mkdir()
    refused = run_live_paper_cli(tmp_path, "--resume-or-start", "empty")
    assert refused.returncode == 2 and "exists but has no checkpoint" in refused.stderr
