"""The operator's controls as an operator uses them (issue 14): a real live-paper daemon in a subprocess,
`la stop`, `la resume` and `la watchdog` as real subprocesses, real signals, the run's real files."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from laptop_agents.daemon.watchdog import loop as watchdog_loop
from tests.daemon.test_daemon_process import clean_env, la_command, wait_for
from tests.helpers import read_events

pytestmark = pytest.mark.slow
LONGER_TRADES = ("--set", "strategy.stop_atr_mult=4", "--set", "strategy.tp_r=3")
"""Wider stops and targets: a position stays open long enough for an operator's command to find it."""


def start_daemon(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """At 1200x three intervals (the default stale-data threshold) are 0.15 s of wall time: a loaded CI
    machine's pause read as stale data ("degraded", shown before "halted"), so the threshold is far off."""
    return subprocess.Popen(
        [*la_command(), "run", "--mode", "live-paper", *args,
         "--set", "run.heartbeat_interval_s=0.2", "--set", "exchange.sim_speed=1200",
         "--set", "circuit_breaker.enabled=false", "--set", "data.stale_after_intervals=1000", *LONGER_TRADES],
        cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    proc = start_daemon(tmp_path, "--run-id", "main")
    run = tmp_path / "runs" / "main"
    try:
        wait_for(lambda: (run / "heartbeat.json").exists(), 20, "the first heartbeat")
        yield proc, run
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def la(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`la ARGS` as an operator types it, in the folder that holds `runs/`."""
    return subprocess.run(
        [*la_command(), *args], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip


def beat(run: Path) -> dict[str, Any]:
    for _ in range(20):
        try:
            data: dict[str, Any] = orjson.loads((run / "heartbeat.json").read_bytes())
            return data
        except (OSError, orjson.JSONDecodeError):
            time.sleep(0.02)
    raise AssertionError("heartbeat.json unreadable")


def events(run: Path) -> list[dict[str, Any]]:
    return read_events(run)


def test_la_stop_halts_entries_the_session_runs_on_exits_still_work_until_la_resume(
    daemon: tuple[subprocess.Popen[str], Path], tmp_path: Path
) -> None:
    """Item 1: halted means running. Before, the daemon wrote `RunFinished stopped` a second after
    `la stop` and the table said `Live-paper session ()`."""
    proc, run = daemon
    for _ in range(5):  # halt while a position is open (the market may close it first: then once more)
        wait_for(lambda: bool(beat(run)["positions"]), 60, "an open position")
        stopped = la(tmp_path, "stop", "main")  # a bare run id, as the RUNBOOK writes it
        assert stopped.returncode == 0, stopped.stderr
        assert "kill switch applied" in stopped.stdout and "entries halted" in stopped.stdout
        log = events(run)
        kill = max(i for i, e in enumerate(log) if e["event"] == "KillSwitch")
        if beat(run)["positions"] and [e["event"] for e in log[kill:]].count("PositionClosed") == 0:
            break
        assert la(tmp_path, "resume", "main").returncode == 0
    else:
        raise AssertionError("never halted with a position open")
    candles = beat(run)["candles"]
    wait_for(lambda: not beat(run)["positions"], 60, "the open position to exit on its own stop or target")
    wait_for(lambda: beat(run)["candles"] > candles + 20, 30, "candles going on while halted")
    assert proc.poll() is None  # still running
    hb = beat(run)
    assert hb["state"] == "halted" and "kill_switch" in hb["halts"] and hb["kill_switch"]["source"] == "cli"
    after = events(run)[kill:]
    assert not [e for e in after if e["event"] in ("PositionOpened", "RunFinished")]
    exits = [e["exit_reason"] for e in after if e["event"] == "PositionClosed"]
    assert len(exits) == 1 and exits[0] != "kill", exits  # the exit was still managed, by its own rule
    refused = {e["reason"] for e in after if e["event"] == "OrderRejected"}
    assert refused <= {"kill_switch"}
    released_before = sum(e["event"] == "KillSwitchReleased" for e in events(run))
    resumed = la(tmp_path, "resume", "main")
    assert resumed.returncode == 0, resumed.stderr
    assert "entries resumed" in resumed.stdout
    releases = [e for e in events(run) if e["event"] == "KillSwitchReleased"]
    assert len(releases) == released_before + 1
    assert releases[-1]["source"] == "cli" and "@" in releases[-1]["by"]
    wait_for(lambda: beat(run)["state"] == "running", 10, "the heartbeat running again")
    assert not (run / "KILL").exists()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Live-paper session (signal SIGTERM)" in out


def open_at(log: list[dict[str, Any]], index: int) -> bool:
    """Whether a position was open when event `index` was written."""
    opened = closed = 0
    for e in log[:index]:
        opened += e["event"] == "PositionOpened"
        closed += e["event"] == "PositionClosed"
    return opened > closed


def test_la_stop_flatten_terminate_flattens_before_it_signals(tmp_path: Path) -> None:
    """Item 2: before, `--terminate` sent SIGTERM at once and shutdown never read the KILL file, yet it
    printed "positions flattened". (The market may close the position between the look and the switch:
    then a fresh daemon tries again.)"""
    for attempt in range(3):
        run_id = f"f{attempt}"
        proc = start_daemon(tmp_path, "--run-id", run_id)
        run = tmp_path / "runs" / run_id
        try:
            wait_for(lambda r=run: (r / "heartbeat.json").exists() and bool(beat(r)["positions"]), 60, "a position")
            done = la(tmp_path, "stop", run_id, "--flatten", "--terminate")
            proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
        assert done.returncode == 0, done.stderr
        assert "positions flattened" in done.stdout and "daemon stopped" in done.stdout
        assert proc.returncode == 0
        log = events(run)
        kinds = [e["event"] for e in log]
        kill = kinds.index("KillSwitch")
        if not open_at(log, kill):
            continue
        closes = [i for i, e in enumerate(log) if e["event"] == "PositionClosed" and e["exit_reason"] == "kill"]
        assert closes and kill < closes[0] < kinds.index("RunFinished")
        assert log[-1]["event"] == "RunFinished" and log[-1]["status"] == "stopped" and not beat(run)["positions"]
        return
    raise AssertionError("the market closed the position before the switch, three times")


def test_la_stop_terminate_signals_only_the_process_that_holds_the_runs_lock(tmp_path: Path) -> None:
    """Item 3: a run folder whose heartbeat names a pid that is now someone else's (after a reboot)."""
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        run = tmp_path / "runs" / "old"
        run.mkdir(parents=True)
        (run / "events.jsonl").write_text("")
        (run / "heartbeat.json").write_bytes(orjson.dumps({"pid": bystander.pid, "wall_ts": 0, "state": "running"}))
        (run / ".lock").write_text(str(bystander.pid))  # the file is there, but nobody holds the lock
        done = la(tmp_path, "stop", "old", "--terminate")
        assert done.returncode == 0, done.stderr
        assert "not running" in done.stdout and "nothing to terminate" in done.stdout
        time.sleep(0.2)
        assert bystander.poll() is None  # not signalled
    finally:
        bystander.kill()
        bystander.wait()


def test_a_run_resumed_with_its_kill_switch_set_starts_halted_and_says_so(
    daemon: tuple[subprocess.Popen[str], Path], tmp_path: Path
) -> None:
    """Item 4: before, a resume with KILL present exited at once with a misleading table."""
    proc, run = daemon
    wait_for(lambda: (run / "state.json").exists(), 20, "a checkpoint")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=20)
    stopped = la(tmp_path, "stop", "main")
    assert stopped.returncode == 0 and "not running" in stopped.stdout and "start with entries halted" in stopped.stdout
    resumed = subprocess.run(
        [*la_command(), "run", "--mode", "live-paper", "--resume", "main", "--duration", "4",
         "--set", "run.heartbeat_interval_s=0.2", "--set", "exchange.sim_speed=1200",
         "--set", "circuit_breaker.enabled=false"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    notice = [line for line in resumed.stderr.splitlines() if "kill switch" in line]
    assert len(notice) == 1 and "la resume main" in notice[0]
    assert "duration of 4 s reached" in resumed.stdout  # it ran its course, halted
    log = events(run)
    later = log[max(i for i, e in enumerate(log) if e["event"] == "RunResumed") :]
    assert [e["event"] for e in later].count("KillSwitch") == 1, [e["event"] for e in later]
    assert not [e for e in later if e["event"] == "PositionOpened"]
    assert later[-1]["event"] == "RunFinished" and later[-1]["status"] == "stopped"


def test_a_kill_switch_lifted_while_the_daemon_was_down_is_recorded_when_it_resumes(
    daemon: tuple[subprocess.Popen[str], Path], tmp_path: Path
) -> None:
    proc, run = daemon
    assert la(tmp_path, "stop", "main").returncode == 0
    wait_for(lambda: (run / "state.json").exists(), 20, "a checkpoint")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=20)
    lifted = la(tmp_path, "resume", "main")
    assert lifted.returncode == 0 and "not running" in lifted.stdout
    resumed = subprocess.run(
        [*la_command(), "run", "--mode", "live-paper", "--resume", "latest", "--duration", "2",
         "--set", "exchange.sim_speed=1200"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "kill switch" not in resumed.stderr
    (released,) = [e for e in events(run) if e["event"] == "KillSwitchReleased"]
    assert released["source"] == "cli"


def test_watchdog_tells_running_halted_dead_and_stopped_apart(
    daemon: tuple[subprocess.Popen[str], Path], tmp_path: Path
) -> None:
    """Item 7: halted and stopped used to map to STALE, and `--loop --restart` restarted them; a dead
    daemon was only noticed after `--stale-after`."""
    proc, run = daemon
    ok = la(tmp_path, "watchdog", "main")
    assert ok.returncode == 0 and ok.stdout.startswith("OK run main"), ok.stdout + ok.stderr
    assert la(tmp_path, "stop", "main").returncode == 0
    halted = la(tmp_path, "watchdog", "main")
    assert halted.returncode == 0 and halted.stdout.startswith("HALTED"), halted.stdout
    marker = tmp_path / "restarted"
    restart = f"touch {marker}"
    assert watchdog_loop(run / "heartbeat.json", stale_after_s=30, interval_s=0.05, restart=restart, max_checks=3) == 0
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=20)
    stopped = la(tmp_path, "watchdog", "main")
    assert stopped.returncode == 3 and stopped.stdout.startswith("STOPPED"), stopped.stdout
    assert watchdog_loop(run / "heartbeat.json", stale_after_s=30, interval_s=0.05, restart=restart, max_checks=3) == 3
    assert not marker.exists()  # neither the halted nor the stopped daemon was restarted


def test_watchdog_says_dead_at_once_when_the_daemon_is_killed(
    daemon: tuple[subprocess.Popen[str], Path], tmp_path: Path
) -> None:
    proc, _ = daemon
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    dead = la(tmp_path, "watchdog", "main", "--stale-after", "3600")  # long before it could go stale
    assert dead.returncode == 1 and dead.stdout.startswith("DEAD"), dead.stdout


def test_every_command_takes_a_run_id_a_path_or_latest_and_refuses_a_wrong_one_in_one_line(
    daemon: tuple[subprocess.Popen[str], Path], tmp_path: Path
) -> None:
    """Item 8: `la stop main` and `la watchdog main` said "not a run folder"."""
    _, run = daemon
    for ref in ("main", str(run), "runs/main", "latest"):
        assert la(tmp_path, "watchdog", ref).returncode == 0, ref
    for ref in ("main", "latest", str(run)):
        assert la(tmp_path, "stop", ref, "--wait", "5").returncode == 0, ref
        assert la(tmp_path, "resume", ref, "--wait", "5").returncode == 0, ref
    wrong = la(tmp_path, "stop", "mian")
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1
    assert "no run 'mian'" in wrong.stderr and "run id" in wrong.stderr
    missing = la(tmp_path, "watchdog", "mian")
    assert missing.returncode == 2 and missing.stdout.startswith("MISSING")  # not started yet: MISSING


def _hold_lock(run: Path, pid_text: str) -> Any:
    import fcntl

    handle = (run / ".lock").open("a+")
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    handle.seek(0)
    handle.truncate()
    handle.write(pid_text)
    handle.flush()
    return handle


def test_a_held_lock_without_a_pid_is_never_signalled_as_pid_minus_one(tmp_path: Path) -> None:
    """Review finding: a lock held before its pid is written read as -1, and `os.kill(-1, SIGTERM)` signals
    every process the user may signal. Now nothing is signalled; the STOP file asks instead."""
    run = tmp_path / "runs" / "early"
    run.mkdir(parents=True)
    (run / "events.jsonl").write_text("")
    handle = _hold_lock(run, "")
    try:
        done = la(tmp_path, "stop", "early", "--terminate", "--wait", "1")
        assert done.returncode == 1  # the daemon never confirmed: said so
        assert (run / "STOP").exists()  # asked the graceful way, signalled nothing
    finally:
        handle.close()


def test_watchdog_says_starting_while_the_lock_holder_has_not_written_its_heartbeat(tmp_path: Path) -> None:
    """Review finding: a resume replaying its events (or warming up) still shows the last session's
    heartbeat; the watchdog called it STALE and restarted a daemon that was only starting."""
    run = tmp_path / "runs" / "slow"
    run.mkdir(parents=True)
    (run / "heartbeat.json").write_bytes(orjson.dumps({"pid": 1, "wall_ts": 0, "state": "stopped", "run_id": "slow"}))
    handle = _hold_lock(run, str(os.getpid()))
    try:
        starting = la(tmp_path, "watchdog", "slow", "--stale-after", "1")
        assert starting.returncode == 0 and starting.stdout.startswith("STARTING"), starting.stdout
        long_ago = time.time() - 3600
        os.utime(run / ".lock", (long_ago, long_ago))  # it took the lock an hour ago: stuck, not starting
        stuck = la(tmp_path, "watchdog", "slow", "--stale-after", "1")
        assert stuck.returncode == 1 and "stuck starting" in stuck.stdout, stuck.stdout
    finally:
        handle.close()
    stopped = la(tmp_path, "watchdog", "slow")
    assert stopped.returncode == 3 and stopped.stdout.startswith("STOPPED")
