"""§6 state, disk and process (reliability.md scenarios 23-29), the ones not pinned elsewhere.

Scenario 24, power loss with un-fsynced data. Before, a live checkpoint counted the bytes of events.jsonl,
trades.csv and equity.csv that were only flushed, never fsynced, while the checkpoint itself was fsynced:
after a power cut the durable checkpoint was longer than its files and `--resume` refused the run
("events.jsonl is shorter than checkpoint state.json says"). The files are now fsynced before the
checkpoint counts them.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from laptop_agents.base import atomic
from laptop_agents.core.events import Error, OrderRejected
from laptop_agents.daemon.watchdog import FRESH, STALE, check
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.live.venue import HALT_JOURNAL
from laptop_agents.runs import checkpoint
from laptop_agents.runs.checkpoint import read_checkpoint
from laptop_agents.runs.resume import prepare_resume
from laptop_agents.runs.run_folder import RunFolder
from tests.daemon.live_helpers import advance_until, start_live, start_replay
from tests.daemon.test_daemon_process import clean_env, la_command, wait_for
from tests.daemon.test_live_paper import LIVE_SETTINGS, START, backtest_trades, read_trades
from tests.exchange.conftest import KEY, bundled_candles, eventually, sim_config
from tests.faults.powerloss import FailingFsync, PowerLossDisk
from tests.helpers import settings
from tests.live.conftest import LiveHarness


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name an fsynced file")
async def test_s24_power_loss_with_unsynced_data_resumes_from_the_last_durable_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = PowerLossDisk(tmp_path)
    monkeypatch.setattr(os, "fsync", disk.fsync)
    base = settings(*LIVE_SETTINGS)
    folder = RunFolder.create(tmp_path / "runs", "r")
    cuts: list[Path] = []

    def cut_after_third_checkpoint(path: str, last_file: str) -> None:
        """The worst instant: the new checkpoint just became durable, the events after it are in flight."""
        if path == str(folder.path) and last_file.startswith(".state.json") and not cuts:
            checkpoints = getattr(cut_after_third_checkpoint, "seen", 0) + 1
            cut_after_third_checkpoint.seen = checkpoints  # type: ignore[attr-defined]
            if checkpoints == 3:
                cuts.append(disk.image(folder.path, tmp_path / "cut-at-checkpoint" / "r"))

    disk.on_folder_synced = cut_after_third_checkpoint
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:
        task, runner = await start_live(sim, base, folder)
        await advance_until(sim, runner, 150)
        await asyncio.sleep(0.7)  # a checkpoint or more since, and events flushed after it
        lost = disk.unsynced(folder.path)
        cuts.append(disk.image(folder.path, tmp_path / "cut-between" / "r"))
        runner.stop("test")
        await asyncio.wait_for(task, 30)
        assert len(cuts) == 2 and "events.jsonl" in lost  # the cut really drops flushed, unsynced bytes
        for cut in cuts:
            image = RunFolder(cut)
            saved = read_checkpoint(image.state)
            task, runner = await start_live(sim, base, image, resume=True)
            await advance_until(sim, runner, saved["symbols"]["BTCUSDT"]["candles"] + 60)
            runner.stop("test")
            result = await asyncio.wait_for(task, 30)
            events = [orjson.loads(line) for line in image.events.read_bytes().splitlines()]
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # nothing lost, nothing twice
            resumed = next(e for e in events if e["event"] == "RunResumed")
            assert resumed["from_event_seq"] == saved["event_seq"]
            equity_ts = [int(line.split(",")[0]) for line in image.equity.read_text().splitlines()[1:]]
            assert equity_ts == [c.ts for c in bundled_candles()[START : START + len(equity_ts)]]
            assert result.summary.candles == len(equity_ts)
            live = read_trades(image.trades)
            assert live == backtest_trades(tmp_path / cut.parent.name, base, START - 30, START + len(equity_ts))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name an fsynced file")
async def test_s25_an_fsync_of_the_event_log_that_failed_halts_entries_for_the_rest_of_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed fsync is not retried until it succeeds: after EIO the kernel may have dropped the dirty pages
    and cleared the error, so a later fsync of the same file can succeed over bytes that never reached the
    disk. Before, the next checkpoint's fsync did, and its success lifted the halt; now entries stay halted
    and no checkpoint is written again in this process, so a resume starts from the last good one."""
    disk = FailingFsync("events.jsonl", errno.EIO)  # the disk lost pages of the event log
    monkeypatch.setattr(os, "fsync", disk.fsync)
    monkeypatch.setattr(checkpoint, "CHECKPOINT_RETRY_S", 0.2)
    s = settings("circuit_breaker.enabled=false", "data.stale_after_intervals=1000", "run.heartbeat_interval_s=0.05",
                 "run.checkpoint_interval_s=0.1")  # fmt: skip
    folder = RunFolder.create(tmp_path, "eio")
    session, runner = await start_replay(s, folder, bundled_candles()[:20_000], speed=3_000)
    await eventually(lambda: folder.state.exists() and runner.core.candles > 50, within_s=30, what="a checkpoint")
    disk.failing = True
    await eventually(lambda: "checkpoint" in runner.core.halts, what="entries halted")
    good = folder.state.read_bytes()
    disk.failing = False  # the disk answers again: its answer proves nothing about the lost pages
    await asyncio.sleep(1.0)
    assert "--resume" in runner.core.halts["checkpoint"]
    assert folder.state.read_bytes() == good and disk.refused == 1  # never retried, never rewritten
    beat = orjson.loads((folder.path / "heartbeat.json").read_bytes())
    assert beat["state"] == "halted" and "Input/output error" in beat["checkpoint"]["error"]
    runner.stop("test done")
    await asyncio.wait_for(session, 30)
    assert folder.state.read_bytes() == good  # the stop's checkpoint is not written either
    said = [orjson.loads(line) for line in folder.events.read_bytes().splitlines()]
    assert [e["where"] for e in said if e["event"] == "Error"] == ["checkpoint"]
    saved = prepare_resume(folder, "live-paper")  # the files check out against the last good checkpoint
    assert saved["event_seq"] == read_checkpoint(folder.state)["event_seq"]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to tell the heartbeat's file")
async def test_s25_a_heartbeat_that_cannot_be_written_stays_whole_goes_stale_and_is_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, a failed beat was dropped without a word: the watchdog saw it stale, nothing said why, and
    the dashboard's fresh beat showed nothing wrong. Now the last beat stays whole and ages (the watchdog
    calls it STALE), one `Error where=heartbeat` per incident says why, the session trades on, and the
    beats the dashboard reads count the lost ones until one reaches the disk again."""
    disk = FailingFsync(".heartbeat.json", errno.ENOSPC)  # full for the heartbeat's temp file only
    monkeypatch.setattr(atomic.os, "fsync", disk.fsync)
    s = settings("circuit_breaker.enabled=false", "data.stale_after_intervals=1000", "run.heartbeat_interval_s=0.05")
    folder = RunFolder.create(tmp_path, "beat")
    path = folder.path / "heartbeat.json"
    session, runner = await start_replay(s, folder, bundled_candles()[:20_000], speed=1_000)
    await eventually(lambda: path.exists() and runner.core.candles > 20, within_s=30, what="a heartbeat")
    disk.failing = True
    await eventually(lambda: disk.refused >= 3, what="lost beats")
    last = path.read_bytes()
    candles = runner.core.candles
    await asyncio.sleep(0.6)
    assert path.read_bytes() == last and orjson.loads(last)["seq"] < runner.heartbeat()["seq"]  # whole, no newer
    await eventually(lambda: b'"where":"heartbeat"' in folder.events.read_bytes(), what="the failure said")
    assert not list(folder.path.glob(".heartbeat.json*tmp*"))  # no temp file left behind
    stale = check(path, stale_after_s=0.5)
    assert stale.code == STALE, stale.line  # the watchdog judges it by the last beat's age
    assert runner.core.candles > candles  # the session trades on
    shown = runner.heartbeat()["heartbeat_file"]  # what the dashboard reads fresh
    assert shown["ok"] is False and "No space left" in shown["error"] and shown["failures"] >= 3
    disk.failing = False  # space freed
    await eventually(lambda: path.read_bytes() != last, what="a beat on disk again")
    assert check(path, stale_after_s=0.5).code == FRESH
    await eventually(lambda: orjson.loads(path.read_bytes())["heartbeat_file"]["ok"] is True, what="said on disk")
    disk.failing = True  # a second incident is said again, once
    refused = disk.refused
    await eventually(lambda: disk.refused >= refused + 3, what="lost beats again")
    disk.failing = False
    runner.stop("test done")
    await asyncio.wait_for(session, 30)
    events = [orjson.loads(line) for line in folder.events.read_bytes().splitlines()]
    said = [e for e in events if e["event"] == "Error"]
    assert [e["where"] for e in said] == ["heartbeat", "heartbeat"] and not any(e["fatal"] for e in said)
    assert "No space left" in said[0]["message"] and "stale" in said[0]["message"]
    assert events[-1]["event"] == "RunFinished" and events[-1]["status"] == "stopped"
    assert orjson.loads(path.read_bytes())["state"] == "stopped"  # the final beat reached the disk


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
async def test_s25_an_order_journal_that_cannot_be_written_halts_every_order_and_resumes_whole(
    live: LiveHarness, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """Before, a failed write of orders.jsonl raised out of the core's call (the close) or the order task,
    and the session failed. Now the journal breaks for the process: the order is refused unsent
    (`journal_unwritable`), every symbol halts with one `Error`, syncs stop booking, later writes are not
    tried even once the disk answers again, and a restart over the file resumes with the books whole."""
    assert live.venue is not None and live.broker is not None and live.enter("la-e-000001", 0.03)
    await live.send_queued()
    await live.venue.executor.sync()
    assert live.broker.position is not None
    disk = FailingFsync("orders.jsonl", code)
    monkeypatch.setattr(os, "fsync", disk.fsync)
    disk.failing = True
    live.broker.close_market(ts=0, ref_price=0.0, reason="signal")
    await live.send_queued()
    (refused,) = [e for e in live.of(OrderRejected) if e.reason == "journal_unwritable"]
    assert refused.client_order_id == "la-e-000001-x1" and os.strerror(code) in refused.detail
    assert HALT_JOURNAL in live.halts and len(live.placements()) == 1  # the entry only: the close was not sent
    (said,) = [e for e in live.of(Error) if e.where == "journal"]
    assert "--resume" in said.message and not said.fatal
    disk.failing = False  # the disk answers again: this process still writes nothing more
    live.broker.close_market(ts=0, ref_price=0.0, reason="signal")
    await live.send_queued()
    await live.venue.executor.sync()
    assert disk.refused == 1 and len(live.placements()) == 1
    assert len([e for e in live.of(OrderRejected) if e.reason == "journal_unwritable"]) == 2
    again = await live.restart()  # a new process over the same file: valid, and the books are whole
    try:
        assert again.venue is not None and again.broker is not None and HALT_JOURNAL not in again.halts
        assert again.broker.position is not None and again.broker.position.qty == pytest.approx(0.03)
        # the refused close's intent reached the file (its write did, the fsync failed): the restart sends it as
        # an intent never sent, once; nothing else
        assert [(o.client_id, o.state) for o in again.venue.journal.orders.values()] == [
            ("la-e-000001", "FILLED"), ("la-e-000001-x1", "INTENT")]  # fmt: skip
        await asyncio.sleep(1.1)  # the restart's preflight used up the venue's request window
        await again.send_queued()
        await again.settle()
        assert again.venue.journal.orders["la-e-000001-x1"].state == "FILLED" and len(again.placements()) == 2
        assert again.broker.position is None and "BTCUSDT" not in again.sim.ledger.accounts[KEY].positions
    finally:
        await again.stop()


async def test_s26_a_damaged_checkpoint_resumes_from_the_previous_one_and_keeps_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, a checkpoint that failed its checksum ended the run until the operator swapped in
    `state.json.prev` by hand (a RUNBOOK step). Now the resume takes `.prev` when it verifies and the files
    are long enough for it, keeps the damaged file as `state.json.bad`, and says so in one line; the run goes
    on as after a kill just before the last checkpoint. A checkpoint of another schema is still refused."""
    base = settings(*LIVE_SETTINGS)
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:
        folder = RunFolder.create(tmp_path / "runs", "r")
        task, runner = await start_live(sim, base, folder, resume=False)
        await advance_until(sim, runner, 200)
        runner.stop("test")
        await asyncio.wait_for(task, 30)
        prev = read_checkpoint(folder.state.with_name("state.json.prev"))
        damaged = bytearray(folder.state.read_bytes())
        damaged[damaged.index(b'"cash"') + 9] ^= 1  # one flipped bit in the payload: the checksum fails
        folder.state.write_bytes(bytes(damaged))
        task, runner = await start_live(sim, base, folder, resume=True)
        await advance_until(sim, runner, 300)
        runner.stop("test")
        await asyncio.wait_for(task, 30)
    (line,) = [x for x in capsys.readouterr().err.splitlines() if "state.json.prev" in x]
    assert "fails its checksum" in line and "kept as state.json.bad" in line, line
    assert folder.state.with_name("state.json.bad").read_bytes() == bytes(damaged)
    events = [orjson.loads(x) for x in folder.events.read_bytes().splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    (resumed,) = [e for e in events if e["event"] == "RunResumed"]
    assert resumed["from_event_seq"] == prev["event_seq"] and resumed["cash"] == prev["cash"]
    read_checkpoint(folder.state)  # the resumed session's own checkpoints are whole again


def _live_paper(runs: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*la_command(), "run", "--mode", "live-paper", *args, "--set", f'run.runs_dir="{runs}"',
         "--set", "run.heartbeat_interval_s=0.2", "--set", "exchange.sim_speed=1200"],
        cwd=runs.parent, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _events(run: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in (run / "events.jsonl").read_bytes().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("how", ["--run-id", "--resume-or-start", "--resume"])
def test_s29_two_daemons_started_at_the_same_instant_leave_exactly_one_running(tmp_path: Path, how: str) -> None:
    """Two starts of one run at once (a scheduler's repeat trigger beside a hand start): the existing test
    starts the second after the first holds the lock; here both interpreters start together, so the second
    can meet the first anywhere from creating the folder to taking the lock. Exactly one runs; the other
    exits 2 with one line, having written nothing into the run."""
    runs = tmp_path / "runs"
    run = runs / "twin"
    if how == "--resume":  # a run with a checkpoint to resume
        first = _live_paper(runs, "--run-id", "twin")
        wait_for(lambda: (run / "state.json").exists(), 30, "a checkpoint")
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
        assert first.returncode == 0
    pair = [_live_paper(runs, how, "twin"), _live_paper(runs, how, "twin")]
    try:
        wait_for(lambda: any(p.poll() is not None for p in pair), 30, "one of the two to be refused")
        refused = next(p for p in pair if p.poll() is not None)
        running = next(p for p in pair if p is not refused)
        _, err = refused.communicate()
        assert refused.returncode == 2 and err.strip().count("\n") == 0, err
        assert "already exists" in err or f"is in use by pid {running.pid}" in err or "has no checkpoint" in err, err
        beat = run / "heartbeat.json"
        wait_for(lambda: beat.exists() and b'"seq"' in beat.read_bytes(), 30, "a heartbeat")
        wait_for(lambda: orjson.loads((run / "heartbeat.json").read_bytes())["pid"] == running.pid, 30, "its beat")
        time.sleep(0.5)
        assert running.poll() is None  # the one that won runs on
        running.send_signal(signal.SIGTERM)
        running.communicate(timeout=30)
        assert running.returncode == 0
    finally:
        for proc in pair:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
    events = _events(run)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # one sequence, nothing interleaved
    starts = [e["event"] for e in events if e["event"] in ("RunStarted", "RunResumed")]
    assert starts == ["RunStarted", "RunResumed"] if how == "--resume" else ["RunStarted"], starts
    assert events[-1]["event"] == "RunFinished"  # one session since the race, ended


@pytest.mark.slow
@pytest.mark.parametrize(
    "point", ["checkpoint_synced", "checkpoint_prev_tmp", "checkpoint_prev", "checkpoint_tmp", "checkpoint_written"]
)
def test_s23_a_kill_at_each_step_of_the_checkpoint_protocol_resumes_from_the_old_or_the_new_one(
    tmp_path: Path, point: str
) -> None:
    """The daemon kills itself (SIGKILL, `LA_CRASH_AT`) at one step of its third checkpoint: after the run's
    files are fsynced, with the old checkpoint's copy in its temp file, after `.prev` is replaced, with the
    new checkpoint in its temp file, after the rename. Each leaves `state.json` and `.prev` whole, and the
    resume continues from what `state.json` holds: one event sequence, every candle once."""
    runs = tmp_path / "runs"
    run = runs / "cp"
    env = {**clean_env(), "LA_CRASH_AT": f"{point}:3"}
    crashed = subprocess.run(
        [*la_command(), "run", "--mode", "live-paper", "--run-id", "cp", "--set", f'run.runs_dir="{runs}"',
         "--set", "run.checkpoint_interval_s=0.2", "--set", "exchange.sim_speed=1200"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    saved = read_checkpoint(run / "state.json")  # whole, whatever the step
    read_checkpoint(run / "state.json.prev")
    resumed = subprocess.run(
        [*la_command(), "run", "--mode", "live-paper", "--resume", "cp", "--duration", "2",
         "--set", f'run.runs_dir="{runs}"'],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    events = _events(run)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    starts = [e for e in events if e["event"] == "RunResumed"]
    assert len(starts) == 1 and starts[0]["from_event_seq"] == saved["event_seq"]
    candles = [e["ts_event"] for e in events if e["event"] == "CandleClosed"]
    assert candles == sorted(set(candles)) and len(candles) > 10  # each once, in order, across the kill
    assert not list(run.glob(".*tmp*")), list(run.glob(".*tmp*"))  # no temp file of the dead process left
