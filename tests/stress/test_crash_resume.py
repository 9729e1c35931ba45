"""kill -9 at random points, 20 times: every restart resumes the last checkpoint, nothing is lost or doubled.

Real processes throughout: `la sim-exchange` keeps the market moving while the `la run --mode live-paper`
daemon is killed with SIGKILL and restarted with `--resume`. The kill times are random (seeded) so some
land in the middle of a checkpoint write (checkpoints are written every 0.1 s here).
"""

from __future__ import annotations

import csv
import random
import re
import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from laptop_agents.core.errors import CheckpointError
from laptop_agents.runs.checkpoint import read_checkpoint
from tests.daemon.test_daemon_process import clean_env, la_command, wait_for
from tests.daemon.test_live_paper import LIVE_SETTINGS, backtest_trades, read_trades
from tests.exchange.conftest import bundled_candles
from tests.helpers import settings

KILLS = 20
SIM_START = 1500


def start_daemon(run_dir: Path, rest: str, ws: str, *, resume: bool) -> subprocess.Popen[bytes]:
    args = [
        "run",
        "--mode",
        "live-paper",
        "--set",
        f'run.runs_dir="{run_dir.parent}"',
        "--set",
        f'exchange.rest_url="{rest}"',
        "--set",
        f'exchange.ws_public_url="{ws}"',
        "--set",
        "run.checkpoint_interval_s=0.1",
        "--set",
        "run.heartbeat_interval_s=0.2",
    ]
    args += [f"--set={item}" for item in LIVE_SETTINGS]
    args += ["--resume", run_dir.name] if resume else ["--run-id", run_dir.name]
    return subprocess.Popen(
        [*la_command(), *args],
        cwd=run_dir.parent.parent,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_twenty_kill_9s_then_resume_equal_an_uninterrupted_run(tmp_path: Path) -> None:
    rng = random.Random(20260121)
    sim = subprocess.Popen(
        [*la_command(), "sim-exchange", "--speed", "1200", "--start-index", str(SIM_START)],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    daemon: subprocess.Popen[bytes] | None = None
    try:
        assert sim.stdout is not None
        ready = sim.stdout.readline()
        rest = re.search(r"REST (\S+)", ready).group(1)  # type: ignore[union-attr]
        ws = re.search(r"WS (\S+)", ready).group(1)  # type: ignore[union-attr]
        run = tmp_path / "runs" / "crash"
        checkpoints = []
        for kill in range(KILLS + 1):
            daemon = start_daemon(run, rest, ws, resume=kill > 0)
            state = run / "state.json"
            seq_before = read_checkpoint(state)["event_seq"] if kill else 0
            wait_for(lambda s=state, b=seq_before: s.exists() and _seq(s) > b, 20, f"a fresh checkpoint (start {kill})")
            if kill == KILLS:
                break
            time.sleep(rng.uniform(0.05, 0.6))
            daemon.send_signal(signal.SIGKILL)
            daemon.communicate(timeout=10)  # reaps it and closes its pipe
            checkpoints.append(read_checkpoint(state))  # old or new, never torn: this would raise
        assert daemon is not None
        # the last start runs until the run has closed a few trades: under load the starts eat the wall time,
        # and a run of one trade proves little (it failed on that once with two suites on two cores)
        wait_for(lambda: _closed_trades(run / "trades.csv") >= 3, 120, "three closed trades")
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=20)
        assert daemon.returncode == 0, err.decode()[-2000:]
    finally:
        for proc in (daemon, sim):
            if proc is not None:
                if proc.poll() is None:
                    proc.kill()
                proc.communicate(timeout=10)  # also closes the pipes
    events = [orjson.loads(line) for line in (run / "events.jsonl").read_bytes().splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    resumed = [e for e in events if e["event"] == "RunResumed"]
    assert len(resumed) == KILLS
    for event, checkpoint in zip(resumed, checkpoints, strict=True):
        assert event["from_event_seq"] == checkpoint["event_seq"]
        assert event["cash"] == checkpoint["cash"]
        saved = checkpoint["symbols"]["BTCUSDT"]
        assert (event["position_side"], event["position_qty"]) == (saved["position_side"], saved["position_qty"])
    equity_ts = [int(line.split(",")[0]) for line in (run / "equity.csv").read_text().splitlines()[1:]]
    candles = bundled_candles()
    first = next(i for i, c in enumerate(candles) if c.ts == equity_ts[0])  # the market had moved on before start
    assert first >= SIM_START
    assert equity_ts == [c.ts for c in candles[first : first + len(equity_ts)]]  # each candle once, in order
    with (run / "trades.csv").open() as handle:
        ids = [int(r["trade_id"]) for r in csv.DictReader(handle)]
    assert ids == list(range(1, len(ids) + 1))
    expected = backtest_trades(tmp_path, settings(*LIVE_SETTINGS), first - 30, first + len(equity_ts))
    assert read_trades(run / "trades.csv") == expected
    assert len(expected) >= 3, "the run was too short to prove anything about trades"
    replayed = subprocess.run([*la_command(), "replay", str(run)], env=clean_env(), capture_output=True, text=True,
                              timeout=120)  # fmt: skip
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr  # issue 16: across all 20 resumes
    assert replayed.stdout.splitlines()[-1].startswith("identical: ")


def _seq(state: Path) -> int:
    try:
        return int(read_checkpoint(state)["event_seq"])
    except (CheckpointError, OSError):
        return -1


def _closed_trades(path: Path) -> int:
    try:
        return max(0, len(path.read_text().splitlines()) - 1)
    except FileNotFoundError:
        return 0
