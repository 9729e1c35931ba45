"""Stop a live-paper run and resume it: the books, files and trades continue as one uninterrupted run."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import orjson
import pytest

from laptop_agents.config.models import Settings
from laptop_agents.core.clock import LiveClock
from laptop_agents.core.errors import CheckpointError
from laptop_agents.daemon.live_paper import LiveResult, run_live_paper
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.runs.checkpoint import read_checkpoint
from laptop_agents.runs.run_folder import RunFolder
from tests.daemon.live_helpers import advance_until, start_live
from tests.daemon.test_live_paper import LIVE_SETTINGS, START, backtest_trades, read_trades
from tests.exchange.conftest import bundled_candles, sim_config
from tests.helpers import settings
from tests.reporting.test_report_numbers import embedded


async def session(sim: SimExchange, s: Settings, folder: RunFolder, candles: int, *, resume: bool) -> LiveResult:
    """Run until the core has seen `candles` candles in total, stepping the simulator by hand."""
    task, runner = await start_live(sim, s, folder, resume=resume)
    await advance_until(sim, runner, candles)
    runner.stop("test")
    return await asyncio.wait_for(task, 30)


async def test_stop_and_resume_continues_as_one_run(tmp_path: Path) -> None:
    base = settings(*LIVE_SETTINGS)
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:
        folder = RunFolder.create(tmp_path / "runs", "r")
        await session(sim, base, folder, 200, resume=False)
        before = read_checkpoint(folder.state)
        for _ in range(3):  # the daemon is down while the market moves on: a gap to backfill on resume
            await sim.hub.advance(sim.market.k)
        result = await session(sim, base, folder, 450, resume=True)
    events = [orjson.loads(line) for line in folder.events.read_bytes().splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # one sequence, nothing twice
    resumed = next(e for e in events if e["event"] == "RunResumed")
    assert resumed["from_event_seq"] == before["event_seq"] and resumed["cash"] == before["cash"]
    saved = before["symbols"]["BTCUSDT"]
    assert (resumed["position_side"], resumed["position_qty"]) == (saved["position_side"], saved["position_qty"])
    assert resumed["last_candle_ts"] == saved["last_candle_ts"]
    assert sum(e["event"] == "GapBackfilled" for e in events) == 1
    equity_ts = [int(line.split(",")[0]) for line in folder.equity.read_text().splitlines()[1:]]
    closed = [c.ts for c in bundled_candles()[START : START + len(equity_ts)]]
    assert equity_ts == closed  # contiguous, each candle once, across the restart
    with folder.trades.open() as f:
        ids = [int(r["trade_id"]) for r in csv.DictReader(f)]
    assert ids == list(range(1, len(ids) + 1))
    assert result.summary.candles == len(equity_ts) >= 450
    live = read_trades(folder.trades)
    assert live == backtest_trades(tmp_path, base, START - 30, START + len(equity_ts))
    assert len(live) >= 3
    # the report's trade pane has every trade's candles, the first session's too (rebuilt from its events)
    windows = embedded(folder.summary.read_text())["windows"]
    first_session = [t for t in live if int(t["exit_ts"]) <= saved["last_candle_ts"]]
    assert first_session and {t["trade_id"] for t in live} <= set(windows)
    for t in first_session:
        window = windows[t["trade_id"]]
        bars = window["b"][0::5]  # candles from t0
        assert window["t0"] <= int(t["entry_ts"]) and window["t0"] + bars[-1] * 60_000 >= int(t["exit_ts"])


async def test_a_torn_checkpoint_is_refused_and_nothing_is_touched(tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path, "torn")
    folder.state.write_text('{"schema": 2, "checksum": "sha256:00", "payload": {"mode": "live-paper"}}')
    folder.events.write_bytes(b"line\n")
    with pytest.raises(CheckpointError, match="fails its checksum"):
        await run_live_paper(settings(), folder=folder, wall_clock=LiveClock(), resume=True, install_signals=False)
    assert folder.events.read_bytes() == b"line\n"


async def test_resume_cuts_the_journal_back_to_the_checkpoint(tmp_path: Path) -> None:
    """A crash leaves journal.jsonl longer than the last checkpoint says (here: a torn record). --resume
    cuts it back, the supervisor's plan ids continue from the checkpoint, and every line is whole. A
    journal shorter than the checkpoint says is refused before any file is cut; so is a resume with other
    supervisor parameters (one line, no traceback)."""
    base = settings(*LIVE_SETTINGS, "strategy.name=supervisor")
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:
        folder = RunFolder.create(tmp_path / "runs", "j")
        await session(sim, base, folder, 200, resume=False)
        saved = read_checkpoint(folder.state)["files"]["journal"]
        whole = folder.journal.read_bytes()
        assert saved == len(whole) > 0
        last_plan = orjson.loads(whole.splitlines()[-1])["plan_id"]
        with folder.journal.open("ab") as f:
            f.write(b'{"ts":1,"symbol":"BTCUSDT","plan_id":' + str(last_plan + 1).encode() + b',"kind":"pl')
        await session(sim, base, folder, 400, resume=True)
        text = folder.journal.read_bytes()
        assert text.startswith(whole)
        records = [orjson.loads(line) for line in text.splitlines()]  # every line whole
        plans = [r["plan_id"] for r in records if r["kind"] == "plan"]
        assert plans == list(range(1, len(plans) + 1)) and plans[-1] > last_plan  # one plan per id, across the restart

        other = settings(*LIVE_SETTINGS, "strategy.name=supervisor", 'strategy.params={"cooldown_bars": 9}')
        with pytest.raises(CheckpointError, match=r"does not fit strategy 'supervisor'.*other supervisor parameters"):
            await session(sim, other, folder, 500, resume=True)

        with folder.journal.open("r+b") as f:
            f.truncate(read_checkpoint(folder.state)["files"]["journal"] - 10)
        with folder.events.open("ab") as f:
            f.write(b'{"torn')
        files = {p: p.read_bytes() for p in (folder.journal, folder.events, folder.trades, folder.equity)}
        with pytest.raises(CheckpointError, match=r"journal.jsonl is shorter"):
            await session(sim, base, folder, 500, resume=True)
        assert {p: p.read_bytes() for p in files} == files  # refused before any file was cut
