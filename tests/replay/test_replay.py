"""Issue 16: `la replay` rebuilds a run's core from its recorded inputs and finds every decision again, or
names the first one that differs. Backtests replay from their files (checked by hash); live-paper sessions
from the inputs in `events.jsonl` (candles as the core saw them, halts, funding answers, flattens)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from laptop_agents.backtest.driver import run_backtest
from laptop_agents.core.clock import LiveClock
from laptop_agents.core.events import OrderPlaced
from laptop_agents.daemon.kill_switch import set_kill
from laptop_agents.daemon.runner import AsyncRunner
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.feeds.sources import open_source
from laptop_agents.replay.command import replay_run
from laptop_agents.replay.decisions import DECISION_TYPES
from laptop_agents.replay.parity_command import parity_of
from laptop_agents.runs.run_folder import RunFolder
from tests.daemon.live_helpers import start_live
from tests.daemon.test_daemon_process import clean_env, la_command
from tests.daemon.test_live_paper import LIVE_SETTINGS, live_session
from tests.exchange.conftest import bundled_candles, eventually, sim_config
from tests.helpers import settings

DECISIONS = {t.__name__ for t in DECISION_TYPES}


def _backtest(tmp_path: Path, run_id: str, *sets: str) -> RunFolder:
    s = settings(*sets)
    folder = RunFolder.create(tmp_path / "runs", run_id)
    run_backtest(s, source=open_source(s.data, seed=0), folder=folder, wall_clock=LiveClock())
    return folder


def _decisions(folder: RunFolder) -> list[dict[str, object]]:
    lines = [orjson.loads(line) for line in folder.events.read_bytes().splitlines()]
    return [e for e in lines if e["event"] in DECISIONS]


def _la(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*la_command(), *args], env=clean_env(), capture_output=True, text=True, timeout=120)


def test_a_backtest_replays_identical(tmp_path: Path) -> None:
    folder = _backtest(tmp_path, "bt")
    recorded = _decisions(folder)
    assert len(recorded) > 1000
    done = _la("replay", "bt", "--runs-dir", str(tmp_path / "runs"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"identical: {len(recorded)} decisions"
    inputs = [orjson.loads(line) for line in folder.events.read_bytes().splitlines()]
    (data,) = [e for e in inputs if e["event"] == "InputFile"]
    assert data["role"] == "candles" and len(data["sha256"]) == 64


def test_a_changed_parameter_diverges_at_the_first_decision_it_changes(tmp_path: Path) -> None:
    """The divergence is the first decision a backtest with that parameter makes differently, named with the
    fields that differ and the candle before it."""
    base = _backtest(tmp_path, "base")
    other = _backtest(tmp_path, "other", "risk.risk_pct=0.6")
    a, b = _decisions(base), _decisions(other)
    strip = ("seq", "ts_init", "run_id")
    pairs = [({k: v for k, v in x.items() if k not in strip}, {k: v for k, v in y.items() if k not in strip})
             for x, y in zip(a, b, strict=False)]  # fmt: skip
    first = next(i for i, (x, y) in enumerate(pairs) if x != y)
    done = _la("replay", "base", "--runs-dir", str(tmp_path / "runs"), "--set", "risk.risk_pct=0.6")
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert "changed for this replay: risk.risk_pct 1.0 -> 0.6" in out
    assert f"diverged at decision {first + 1} (events.jsonl seq {a[first]['seq']}), after {first} identical" in out
    assert f"qty: {a[first]['qty']} → {b[first]['qty']}" in out
    assert "after:    the candle at " in out


def test_a_torn_last_line_is_cut_and_a_damaged_one_is_refused(tmp_path: Path) -> None:
    folder = _backtest(tmp_path, "torn")
    with folder.events.open("ab") as handle:
        handle.write(b'{"v":2,"seq":99999,"run_id":"torn","event":"Fill","ts_in')  # kill -9 mid-write
    result = replay_run(folder.path)
    assert result.identical and result.torn_bytes > 0
    assert "the log's last line was torn" in "\n".join(result.lines())

    lines = folder.events.read_bytes().splitlines(keepends=True)
    lines[10] = b"{not json\n"
    folder.events.write_bytes(b"".join(lines))
    done = _la("replay", str(folder.path))
    assert done.returncode == 2
    assert "events.jsonl line 11: event line is not JSON" in done.stderr and len(done.stderr.splitlines()) == 1


def test_a_data_file_changed_since_the_run_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "candles.csv"
    shutil.copy(Path("data/ftx_btc-perp_1m_2022-01.csv"), data)
    folder = _backtest(tmp_path, "moved", f"data.source=csv:{data}")
    with data.open("a") as handle:
        handle.write("1643673600000,38000,38100,37900,38050,12\n")
    done = _la("replay", str(folder.path))
    assert done.returncode == 2
    assert "candles file" in done.stderr and "changed since the run" in done.stderr


@pytest.mark.slow
async def test_live_paper_with_a_gap_lost_final_pushes_and_late_trades_replays_identical(tmp_path: Path) -> None:
    """The candles the core saw were backfilled over REST (a 37-candle gap) and confirmed against the venue
    (final pushes lost, trades late): the replay feeds the recorded candles and finds every decision."""
    s = settings(*LIVE_SETTINGS, "exchange.confirm_candles=on")
    faults = {"skip_candles": 37, "late_trades": 0.25, "drop_final_push_next": 40}
    result, sim = await live_session(tmp_path, s, 400, faults=faults)
    assert result.gaps == 1 and sim.faults.counts["drop_final_push_next"] == 40
    replayed = replay_run(result.folder.path)
    assert replayed.identical, replayed.divergence
    assert replayed.decisions == len(_decisions(result.folder)) > 20
    lines = [orjson.loads(line) for line in result.folder.events.read_bytes().splitlines()]
    assert all(e["ts_event"] > 0 and e["ts_init"] > 0 for e in lines)  # two times on every line, never 0
    (started,) = [e for e in lines if e["event"] == "RunStarted"]
    assert abs(started["ts_event"] - started["ts_init"]) < 60_000  # the start happened now, on the wall clock
    candles = [e for e in lines if e["event"] == "CandleClosed" and not e["warmup"]]
    assert [e["ts_event"] for e in candles] == [c.ts for c in bundled_candles()[1500 : 1500 + 400]]
    moved = shutil.copytree(result.folder.path, tmp_path / "elsewhere" / "renamed")  # a run folder moved away
    assert replay_run(moved).identical  # client ids come from the recorded run id, not the folder's name
    changed = replay_run(result.folder.path, sets=["strategy.stop_atr_mult=1.2"])
    assert not changed.identical and "stop_price" in (changed.divergence or "")


@pytest.mark.slow
async def test_funding_answers_and_the_kill_switch_are_inputs_a_replay_feeds_back(tmp_path: Path) -> None:
    """A supervisor reads the exchange's funding rate: each answer is a recorded `FundingObserved` (the rate
    changes mid-session); the kill switch halts and flattens (`HaltChanged`, `FlattenRequested`), and its
    release lifts the halt. The replay finds the same decisions, blocked entries and the flatten included."""
    s = settings(
        "strategy.name=supervisor",
        'strategy.params={"funding_refresh_bars": 1, "cooldown_bars": 0}',
        *LIVE_SETTINGS,
        "exchange.funding_poll_s=1",
    )
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:
        folder = RunFolder.create(tmp_path / "runs", "live")
        sim.ledger.funding_rate = 0.005  # above funding_halt_above: entries blocked
        task, runner = await start_live(sim, s, folder)

        async def candles(n: int) -> None:
            target = runner.core.candles + n
            while runner.core.candles < target:
                await sim.hub.advance(sim.market.k)
                await asyncio.sleep(0.005)

        await candles(80)
        sim.ledger.funding_rate = 0.0001
        await eventually(lambda: runner.core.funding is not None and runner.core.funding.rate == pytest.approx(0.0001),
                         within_s=10, what="the new rate")  # fmt: skip
        opened = await _until_position(runner, sim, within=600)
        assert opened
        set_kill(folder.path, flatten=True, by="test")
        await eventually(lambda: runner.core.broker.position is None, within_s=10, what="the flatten")
        runner.write_checkpoint()  # one taken under the kill switch: a replay from it must hold the halt
        middle = (folder.path / "state.json").read_bytes()
        refused = _blocked_by_kill(folder)
        await _until(lambda: _blocked_by_kill(folder) > refused, sim, runner)  # an entry refused while halted
        (folder.path / "KILL").unlink()
        await eventually(lambda: not runner.core.halts, within_s=10, what="the release")
        await candles(100)
        runner.stop("test done")
        await asyncio.wait_for(task, 30)
    kinds = [orjson.loads(line)["event"] for line in folder.events.read_bytes().splitlines()]
    assert kinds.count("FundingObserved") >= 2 and kinds.count("FlattenRequested") == 1
    assert kinds.count("HaltChanged") >= 3  # kill set, kill lifted, stopping
    replayed = replay_run(folder.path)
    assert replayed.identical, replayed.divergence
    assert replayed.decisions > 20

    (folder.path / "state.json").write_bytes(middle)  # the checkpoint from the middle of the session
    later = replay_run(folder.path, from_checkpoint=True)
    assert later.identical, later.divergence
    assert 0 < later.decisions < replayed.decisions
    smaller = replay_run(folder.path, from_checkpoint=True, sets=["risk.risk_pct=0.3"])
    assert not smaller.identical and "qty: " in (smaller.divergence or "")  # an entry after the checkpoint

    parity = parity_of(folder.path, candles=["data/ftx_btc-perp_1m_2022-01.csv"])  # and against its backtest:
    causes = parity.by_cause()  # the exchange's rate blocked entries the configured one lets through
    assert causes.get("live_refusal", 0) >= 1, parity.differences
    assert [d for d in parity.differences if d.cause == "funding" and d.what == "signal"], parity.differences
    assert [d for d in parity.differences if d.cause == "flatten" and d.what == "trade"], parity.differences


def _blocked_by_kill(folder: RunFolder) -> int:
    lines = [orjson.loads(line) for line in folder.events.read_bytes().splitlines()]
    return sum(1 for e in lines if "kill_switch" in f"{e.get('blocked_reason')} {e.get('reason')}")


async def _until(condition: Callable[[], bool], sim: SimExchange, runner: AsyncRunner, within: int = 2000) -> None:
    for _ in range(within):
        if condition():
            return
        await sim.hub.advance(sim.market.k)
        await asyncio.sleep(0.005)
    raise AssertionError(f"not within {within} candles ({runner.core.candles} so far)")


async def _until_position(runner: object, sim: SimExchange, *, within: int) -> bool:
    core = runner.core  # type: ignore[attr-defined]
    for _ in range(within):
        if core.broker.position is not None:
            return True
        await sim.hub.advance(sim.market.k)
        await asyncio.sleep(0.005)
    return False


def test_an_order_event_is_a_decision() -> None:
    """The decisions compared are what the core decides, not what the edges report."""
    assert OrderPlaced in DECISION_TYPES
    assert {"RunStarted", "CheckpointSaved", "GapDetected", "Reconnected", "CandleClosed"}.isdisjoint(DECISIONS)


def test_a_run_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    done = _la("replay", str(tmp_path / "nowhere"))
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert f"{tmp_path / 'nowhere'} is not a run folder" in done.stderr  # it said "is a run folder"


@pytest.mark.slow
async def test_a_stopped_and_resumed_session_replays_identical_and_a_kill_mid_write_is_no_divergence(
    tmp_path: Path,
) -> None:
    """A session stopped, then resumed (`--resume`: a fresh portfolio restored from the checkpoint, the
    venue's tiers read again): the replay restores at the `RunResumed` as the daemon did and finds every
    decision. Then the log is cut inside one input's decisions, as kill -9 can leave it: not a divergence."""
    s = settings(*LIVE_SETTINGS)
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:
        folder = RunFolder.create(tmp_path / "runs", "live")
        for resume in (False, True):
            task, runner = await start_live(sim, s, folder, resume=resume)
            for _ in range(250):
                await sim.hub.advance(sim.market.k)
                await asyncio.sleep(0.002)
            await eventually(lambda r=runner: r.core.candles >= 200, within_s=30, what="the candles")  # type: ignore[misc]
            runner.stop("test done")
            await asyncio.wait_for(task, 30)
    lines = folder.events.read_bytes().splitlines(keepends=True)
    kinds = [orjson.loads(line)["event"] for line in lines]
    assert kinds.count("RunResumed") == 1 and kinds.count("VenueTiers") == 2
    whole = replay_run(folder.path)
    assert whole.identical, whole.divergence
    assert whole.decisions == len(_decisions(folder)) > 20

    # kill -9 between two decisions of one candle (an entry's OrderPlaced written, its Fill not)
    placed = max(i for i, k in enumerate(kinds) if k == "OrderPlaced")
    folder.events.write_bytes(b"".join(lines[: placed + 1]))
    cut = replay_run(folder.path)
    assert cut.identical, cut.divergence
    assert cut.decisions == len(_decisions(folder))
    lines[placed] = lines[placed].replace(b'"qty":', b'"qty":9')  # the decisions written must still be the same
    folder.events.write_bytes(b"".join(lines[: placed + 1]))
    changed = replay_run(folder.path)
    assert not changed.identical and "qty: 9" in (changed.divergence or ""), changed.divergence


def test_a_live_run_recorded_before_its_inputs_were_is_refused_in_one_line(tmp_path: Path) -> None:
    """A v1 log (written before issue 16) has no inputs: not a divergence (exit 1) but bad input (exit 2)."""
    run = tmp_path / "runs" / "old"
    run.mkdir(parents=True)
    (run / "config.json").write_bytes(orjson.dumps({"run": {"mode": "live-paper"}}))
    (run / "events.jsonl").write_bytes(
        b'{"v":1,"seq":1,"run_id":"old","event":"RunStarted","wall_ts":5,"ts":0,"symbol":"BTCUSDT",'
        b'"mode":"live-paper","strategy":"sma_atr","source":"x","interval":"1m","starting_balance":10000.0}\n'
    )
    (run / "state.json").write_bytes(b"{}")
    done = _la("replay", str(run))
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stdout + done.stderr
    assert "recorded before the core's inputs were" in done.stderr
