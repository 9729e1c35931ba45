"""A full disk (issue 14, item 12): ENOSPC on the checkpoint's fsync. Before, it was a fatal `Error`, then
the final checkpoint raised again with a traceback: no `RunFinished`, the temp file left behind, and the
heartbeat `running` until it went stale.

The disk is made full for the checkpoint's temp file only: `os.fsync` of that file fails with ENOSPC
(a real full filesystem cannot be made without privileges CI may not have); every other write is real.
"""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path

import orjson
import pytest

from laptop_agents.base import atomic
from laptop_agents.runs import checkpoint
from laptop_agents.runs.run_folder import RunFolder
from tests.daemon.live_helpers import start_replay
from tests.exchange.conftest import bundled_candles, eventually
from tests.faults.powerloss import FailingFsync
from tests.helpers import settings


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to tell the checkpoint's file")
async def test_a_full_disk_keeps_the_old_checkpoint_halts_entries_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FailingFsync(".state.json", errno.ENOSPC)  # full for the checkpoint's temp file only
    monkeypatch.setattr(atomic.os, "fsync", disk.fsync)
    monkeypatch.setattr(checkpoint, "CHECKPOINT_RETRY_S", 0.3)
    s = settings("circuit_breaker.enabled=false", "data.stale_after_intervals=1000", "run.heartbeat_interval_s=0.05",
                 "run.checkpoint_interval_s=0.1")  # fmt: skip
    folder = RunFolder.create(tmp_path, "disk")
    session, runner = await start_replay(s, folder, bundled_candles()[:20_000], speed=3_000)
    await eventually(lambda: folder.state.exists() and runner.core.candles > 50, within_s=30, what="a checkpoint")
    disk.failing = True
    await eventually(lambda: disk.refused >= 1, what="a refused checkpoint")
    good = folder.state.read_bytes()
    await eventually(lambda: "checkpoint" in runner.core.halts, what="entries halted")
    await eventually(lambda: orjson.loads((folder.path / "heartbeat.json").read_bytes())["state"] == "halted",
                     what="the heartbeat halted")  # fmt: skip
    beat = orjson.loads((folder.path / "heartbeat.json").read_bytes())
    assert beat["checkpoint"]["ok"] is False and "No space left" in beat["checkpoint"]["error"]
    await asyncio.sleep(1.0)
    assert folder.state.read_bytes() == good  # the last good checkpoint, untouched
    assert not list(folder.path.glob(".state.json*tmp*"))  # no temp file left behind
    assert 2 <= disk.refused <= 6  # retried at a bounded rate (every 0.3 s here), not every 0.1 s
    disk.failing = False  # space freed
    await eventually(lambda: "checkpoint" not in runner.core.halts, what="the halt lifted")
    assert folder.state.read_bytes() != good
    disk.failing = True  # full again, through the stop: the final checkpoint fails too, cleanly
    runner.stop("test done")
    result = await asyncio.wait_for(session, 30)
    events = [orjson.loads(line) for line in folder.events.read_bytes().splitlines()]
    said = [e for e in events if e["event"] == "Error" and e["where"] == "checkpoint"]
    assert len(said) == 2 and not any(e["fatal"] for e in said)  # once per incident, never fatal
    assert events[-1]["event"] == "RunFinished" and events[-1]["status"] == "stopped"
    assert result.summary.candles > 50
    assert not list(folder.path.glob(".state.json*tmp*"))
