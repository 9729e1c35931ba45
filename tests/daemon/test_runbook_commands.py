"""The RUNBOOK's operator commands, run literally and in order against a live-paper daemon (issue 14: every
command does what the RUNBOOK says). The commands are read from docs/RUNBOOK.md itself, so a command the
RUNBOOK changes is the command tested; only `.venv/bin/la` becomes this environment's `la`, and the
embedded simulator replays faster (through the environment, `LA_EXCHANGE__SIM_SPEED`)."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from tests.conftest import REPO
from tests.daemon.test_daemon_process import clean_env, la_command, wait_for
from tests.daemon.test_operator_controls import beat

pytestmark = pytest.mark.slow
RUNBOOK = REPO / "docs" / "RUNBOOK.md"


def runbook_commands() -> tuple[list[list[str]], list[str]]:
    """The first code block's `la` commands, and the watchdog command of "Watching it"."""
    text = RUNBOOK.read_text()
    block = text.split("## Start, stop, resume", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [
        shlex.split(line.split("#", 1)[0])[1:] for line in block.splitlines() if line.startswith(".venv/bin/la ")
    ]
    (watchdog,) = re.findall(r"`la (watchdog main[^`]*)`", text)[:1]
    return commands, shlex.split(watchdog)


def test_the_runbooks_operator_commands_do_what_it_says(tmp_path: Path) -> None:
    commands, watchdog = runbook_commands()
    assert [c[:2] for c in commands] == [["run", "--mode"], ["stop", "main"], ["resume", "main"], ["stop", "main"]]
    start, stop, resume, flatten_terminate = commands
    # at 1200x three intervals of market time (the stale-data threshold) are 0.15 s of wall time: a busy
    # machine's pause would read as stale data ("degraded", which the heartbeat shows before "halted")
    env = clean_env() | {"LA_EXCHANGE__SIM_SPEED": "1200", "LA_RUN__HEARTBEAT_INTERVAL_S": "0.2",
                         "LA_CIRCUIT_BREAKER__ENABLED": "false", "LA_DATA__STALE_AFTER_INTERVALS": "1000"}  # fmt: skip

    def la(args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*la_command(), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=90, check=False)  # fmt: skip

    def daemon() -> subprocess.Popen[str]:
        return subprocess.Popen([*la_command(), *start], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip

    run = tmp_path / "runs" / "main"
    proc = daemon()  # "start run main"
    try:
        wait_for(lambda: (run / "heartbeat.json").exists() and beat(run)["candles"] > 5, 30, "the daemon running")
        dog = la(watchdog)
        assert dog.returncode == 0 and dog.stdout.startswith("OK run main"), dog.stdout + dog.stderr
        done = la(stop)  # "kill switch: no new entries (exits still work)"
        assert done.returncode == 0 and "entries halted" in done.stdout, done.stderr
        assert beat(run)["state"] == "halted" and proc.poll() is None
        assert la(watchdog).stdout.startswith("HALTED")
        done = la(resume)  # "lift it: entries again"
        assert done.returncode == 0 and "entries resumed" in done.stdout, done.stderr
        wait_for(lambda: beat(run)["state"] == "running", 10, "running again")
        wait_for(lambda: bool(beat(run)["positions"]), 60, "a position to flatten")
        done = la(flatten_terminate)  # "close positions, wait until flat, then SIGTERM"
        assert done.returncode == 0, done.stdout + done.stderr
        assert "positions flattened" in done.stdout and "daemon stopped" in done.stdout
        proc.communicate(timeout=20)
        assert proc.returncode == 0 and not beat(run)["positions"]
        stopped = la(watchdog)
        assert stopped.returncode == 3 and stopped.stdout.startswith("STOPPED")
        proc = daemon()  # "or resume it": the same command, as the service runs it after a restart
        wait_for(lambda: beat(run)["state"] in ("halted", "running") and beat(run)["pid"] == proc.pid, 30,
                 "the resumed daemon")  # fmt: skip
        assert beat(run)["state"] == "halted"  # stopped with its kill switch set: it starts halted
        assert "kill switch set" in _stderr_so_far(proc)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0 and "Live-paper session (signal SIGTERM)" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    events = [orjson.loads(line) for line in (run / "events.jsonl").read_bytes().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds.count("RunResumed") == 1 and kinds.count("KillSwitchReleased") == 1


def _stderr_so_far(proc: subprocess.Popen[str]) -> str:
    """The daemon's first stderr lines (it writes its start-up notices, then nothing until it stops)."""
    assert proc.stderr is not None
    lines = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(lines) < 2:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
    return "".join(lines)
