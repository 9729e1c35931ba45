"""The kill switch: `la stop --flatten` halts entries for the session and closes the position at market."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from laptop_agents.cli import main as la_main
from laptop_agents.daemon.kill_switch import set_kill
from laptop_agents.runs.run_folder import RunFolder
from tests.daemon.live_helpers import start_replay
from tests.exchange.conftest import bundled_candles, eventually
from tests.helpers import settings


async def test_stop_with_flatten_closes_the_position_and_refuses_new_entries(tmp_path: Path) -> None:
    s = settings("circuit_breaker.enabled=false", "data.stale_after_intervals=1000", "run.heartbeat_interval_s=0.1")
    candles = bundled_candles()[:3_000]
    folder = RunFolder.create(tmp_path, "k")
    session, runner = await start_replay(s, folder, candles, speed=30_000)
    await eventually(lambda: runner.core.broker.position is not None, within_s=30, what="an open position")
    set_kill(folder.path, flatten=True, by="test")  # what `la stop --flatten` writes
    assert runner.check_kill_switch()  # what the polling task does, here with no candle in between
    assert runner.core.broker.position is None
    await asyncio.sleep(0.3)  # keep trading candles coming for a while: none may open a position
    runner.stop("test done")
    await asyncio.wait_for(session, 30)
    events = [orjson.loads(line) for line in folder.events.read_bytes().splitlines()]
    kill_at = next(i for i, e in enumerate(events) if e["event"] == "KillSwitch")
    assert events[kill_at]["flatten"] is True and events[kill_at]["source"] == "cli"
    closed = [e for e in events[kill_at:] if e["event"] == "PositionClosed"]
    assert len(closed) == 1 and closed[0]["exit_reason"] == "kill"
    assert not [e for e in events[kill_at:] if e["event"] == "PositionOpened"]
    refused = [e["reason"] for e in events[kill_at:] if e["event"] == "OrderRejected"]
    assert set(refused) <= {"kill_switch"}
    beat = orjson.loads((folder.path / "heartbeat.json").read_bytes())
    assert "kill_switch" in beat["halts"] and beat["kill_switch"] == {"source": "cli", "by": "test", "flatten": True}


def test_stop_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    assert la_main(["stop", str(tmp_path)]) == 2


async def test_a_requested_stop_halts_entries_while_the_queue_drains(tmp_path: Path) -> None:
    s = settings("circuit_breaker.enabled=false", "data.stale_after_intervals=1000")
    folder = RunFolder.create(tmp_path, "drain")
    session, runner = await start_replay(s, folder, bundled_candles()[:5_000])
    await eventually(lambda: runner.core.candles > 100, what="some candles")
    runner.stop("signal SIGTERM")
    assert runner.core.halts["stopping"] == "signal SIGTERM"  # before anything else is drained
    opened_before = sum(b'"event":"PositionOpened"' in line for line in folder.events.read_bytes().splitlines())
    await asyncio.wait_for(session, 30)
    opened_after = sum(b'"event":"PositionOpened"' in line for line in folder.events.read_bytes().splitlines())
    assert opened_after == opened_before


async def test_an_unreadable_kill_file_still_halts_and_never_crashes_the_session(tmp_path: Path) -> None:
    """Review finding: a KILL written 0600 by another user (`sudo la stop`) raised PermissionError in the
    kill-switch task and ended the session. Unreadable here: a folder where the file belongs (we run as
    root, who can read any file)."""
    s = settings("circuit_breaker.enabled=false", "data.stale_after_intervals=1000")
    folder = RunFolder.create(tmp_path, "u")
    session, runner = await start_replay(s, folder, bundled_candles()[:3_000], speed=30_000)
    await eventually(lambda: runner.core.candles > 50, what="candles")
    (folder.path / "KILL").mkdir()
    assert runner.check_kill_switch()
    assert "kill_switch" in runner.core.halts
    await asyncio.sleep(0.3)  # the polling task meets it too
    assert not session.done()
    runner.stop("test done")
    await asyncio.wait_for(session, 30)
