"""§6 market data (reliability.md scenarios 5 and 6), in live-paper sessions over the simulator on loopback.

Scenario 6, invalid OHLC from the exchange (`invalid_ohlc_next`: every push of the next candle broken one
of six ways). Before, the assembler dropped the candle without a word, counted nowhere the heartbeat
reads, and the next candle revealed it as a gap an interval later. Now the stream hands its place out:
it is counted (`invalid_candles`, `la_candles_rejected{reason="invalid_ohlc"}`), said (`CandleRejected`)
and its REST record fetched at once, so the strategy sees exactly the venue's valid candles. A record the
venue also lists broken (`invalid_ohlc_rest`) is refused too and is a hole (below); before, the broken
row failed its whole page and the backfill retried it for good, the symbol frozen.

Scenario 5, a hole in the venue's own history (`lose_candles`: neither pushed nor listed by REST), inside
a gap the stream left (`skip_candles`): the backfill returns fewer candles than are missing. Before, the
strategy traded straight across the hole; now `GapUnfilled` names the missing range and the symbol's
entries are halted (`data_hole`, said once) until the strategy's lookback is past the hole, exits working.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from laptop_agents.config.models import Settings
from laptop_agents.daemon.live_paper import LiveResult
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.replay.command import replay_run
from laptop_agents.runs.checkpoint import read_checkpoint
from laptop_agents.runs.run_folder import RunFolder
from tests.daemon.live_helpers import advance_until, start_live
from tests.daemon.test_live_paper import LIVE_SETTINGS, START, backtest_trades, read_trades
from tests.exchange.conftest import bundled_candles, eventually, sim_config
from tests.helpers import settings

LOOKBACK = 30  # sma_atr's warmup_candles with the default slow SMA of 30


async def session(
    tmp_path: Path, s: Settings, candles: int, faults_at: dict[int, dict[str, Any]], *, seen: int
) -> tuple[LiveResult, SimExchange, list[dict[str, Any]]]:
    """Live-paper on a hand-stepped simulator for `candles` candles (index i: the candle START + i), the
    faults of `faults_at[i]` switched on just before candle i is pushed (they act from the candle after it);
    returns once the core has seen `seen` candles: (result, simulator, events)."""
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:
        task, runner = await start_live(sim, s, RunFolder.create(tmp_path / "runs", "live"))
        for i in range(candles + 1):  # the first push of candle n+1 closes candle n
            if i in faults_at:
                sim.faults.update(faults_at[i])
            await sim.hub.advance(sim.market.k)
            await asyncio.sleep(0)
        await eventually(lambda: runner.core.candles >= seen, within_s=30, what=f"{seen} candles")
        runner.stop("test done")
        result = await asyncio.wait_for(task, 30)
        assert runner.errors == 0
    events = [orjson.loads(line) for line in result.folder.events.read_bytes().splitlines()]
    return result, sim, events


def of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == kind]


def seen_by_core(events: list[dict[str, Any]]) -> list[int]:
    return [e["ts_event"] for e in of(events, "CandleClosed") if not e["warmup"]]


def heartbeat(result: LiveResult) -> dict[str, Any]:
    beat: dict[str, Any] = orjson.loads((result.folder.path / "heartbeat.json").read_bytes())
    return beat


@pytest.mark.parametrize("confirm", ["off", "on"])  # on: the live-exchange feed (closed candles confirmed)
async def test_s06_invalid_candles_are_counted_refetched_and_never_reach_the_strategy(
    tmp_path: Path, confirm: str
) -> None:
    s = settings(*LIVE_SETTINGS, f"exchange.confirm_candles={confirm}")
    n, file = 220, bundled_candles()
    kinds = ["high_below_low", "high_below_body", "low_above_body", "negative_price", "nan_price", "negative_volume"]
    broken_at = [20 + 25 * k for k in range(len(kinds))]  # candles 21, 46, ... 146 pushed broken
    faults = {at: {"invalid_ohlc_next": 1, "invalid_ohlc_kind": k} for at, k in zip(broken_at, kinds, strict=True)}
    faults[190] = {"invalid_ohlc_next": 1, "invalid_ohlc_kind": "low_above_body", "invalid_ohlc_rest": True}
    record_broken = START + 191  # pushed broken and listed broken by REST, for good
    result, sim, events = await session(tmp_path, s, n, faults, seen=n - 1)
    assert sim.faults.counts["invalid_ohlc_next"] == len(kinds) + 1  # every broken candle was pushed

    rejected = of(events, "CandleRejected")
    pushed = [e for e in rejected if e["source"] == "stream"]
    assert [e["ts_event"] for e in pushed] == [file[START + at + 1].ts for at in broken_at] + [file[record_broken].ts]
    rules = ["below max(open, close)", "below max(open, close)", "above min(open, close)", "close=-",
             "open=nan is not a finite number", "volume=-", "above min(open, close)"]  # fmt: skip
    assert all(rule in e["reason"] for rule, e in zip(rules, pushed, strict=True)), pushed
    (listed,) = [e for e in rejected if e["source"] == "rest"]  # said once, however often it was read
    assert listed["ts_event"] == file[record_broken].ts and "above min(open, close)" in listed["reason"]

    # the strategy saw exactly the venue's valid record: every candle of the file, the broken ones refetched,
    # but the one the venue has no valid record of
    venue = [c.ts for c in file[START : START + n] if c.ts != file[record_broken].ts]
    assert seen_by_core(events) == venue
    closed = {e["ts_event"]: e for e in of(events, "CandleClosed")}
    for at in broken_at:
        candle = file[START + at + 1]
        assert [closed[candle.ts][k] for k in ("open", "high", "low", "close", "volume")] == list(candle.as_tuple()[1:])
    assert not of(events, "GapDetected")  # fetched at once, in place: no gap was needed to reveal them
    (hole,) = of(events, "GapUnfilled")
    assert (hole["from_ts"], hole["to_ts"], hole["missing"]) == (file[record_broken].ts,) * 2 + (1,)

    beat = heartbeat(result)
    assert beat["invalid_candles"] == len(kinds) + 1 and beat["stream"]["invalid"] == len(kinds) + 1
    assert beat["stream"]["rest_invalid"] == 1 and beat["holes"] == 1
    live, expected = read_trades(result.folder.trades), backtest_trades(tmp_path, s, START - 30, START + n)
    before = [t for t in expected if int(t["exit_ts"]) < file[record_broken].ts]
    assert len(before) >= 2 and live[: len(before)] == before  # trades equal a backtest of the file
    assert replay_run(result.folder.path).identical


@pytest.mark.parametrize("confirm", ["off", "on"])
async def test_s05_a_hole_in_the_venues_history_halts_entries_until_the_lookback_is_past_it(
    tmp_path: Path, confirm: str
) -> None:
    """The stream misses candles 48-55 (a drop), and the venue itself lost 50-54 (an outage): the backfill
    finds 3 of the 8. The long opened at candle 33 is stopped out at 63, inside the halt; the short a
    backtest of the venue's record opens on that same candle is refused (`data_hole`); the halt lifts
    right before candle 85, the first whose 30-candle window (the strategy's lookback) is past the hole."""
    s = settings(*LIVE_SETTINGS, f"exchange.confirm_candles={confirm}")
    n, file, step = 300, bundled_candles(), 60_000
    lost = set(range(START + 50, START + 55))
    result, sim, events = await session(tmp_path, s, n, {47: {"skip_candles": 8}, 49: {"lose_candles": 5}},
                                        seen=n - len(lost))  # fmt: skip
    assert sim.faults.counts["lose_candles"] == 1 and sim.faults.counts["missing_klines"] >= 5

    (gap,) = of(events, "GapDetected")
    assert (gap["from_ts"], gap["to_ts"], gap["missing"]) == (file[START + 48].ts, file[START + 55].ts, 8)
    assert of(events, "GapBackfilled")[0]["count"] == 3  # fewer than missing: 48, 49 and 55
    (hole,) = of(events, "GapUnfilled")
    assert (hole["from_ts"], hole["to_ts"], hole["missing"]) == (file[START + 50].ts, file[START + 54].ts, 5)
    assert hole["halt_candles"] == LOOKBACK
    assert "GapUnfilled" in (result.folder.path / "daemon.log").read_text()  # the operator's log says it too
    venue = [c for i, c in enumerate(file) if i not in lost]
    assert seen_by_core(events) == [c.ts for c in venue[START : START + n - len(lost)]]  # nothing made up

    # the halt: set once, right before the first candle after the hole; lifted once, right before the
    # first candle whose window no longer reaches into it
    order = [(e["event"], e.get("key"), e.get("detail"), e["ts_event"]) for e in events
             if (e["event"] == "CandleClosed" and not e["warmup"]) or e.get("key") == "data_hole"]  # fmt: skip
    sets = [i for i, e in enumerate(order) if e[1] == "data_hole" and e[2] is not None]
    lifts = [i for i, e in enumerate(order) if e[1] == "data_hole" and e[2] is None]
    assert len(sets) == 1 and len(lifts) == 1
    assert (order[sets[0] - 1][3], order[sets[0] + 1][3]) == (file[START + 49].ts, file[START + 55].ts)
    last_halted = file[START + 54].ts + LOOKBACK * step
    assert (order[lifts[0] - 1][3], order[lifts[0] + 1][3]) == (last_halted, last_halted + step)
    assert "no candles from" in order[sets[0]][2] and "30 candles past the hole" in order[sets[0]][2]

    # no entry from a window with the hole, an exit in it works; before the hole the trades are the backtest's
    hole_end = file[START + 54].ts
    opened = [e["ts_event"] for e in of(events, "PositionOpened")]
    assert not [ts for ts in opened if hole_end < ts <= last_halted]
    refused = [e for e in of(events, "OrderRejected") if e["reason"] == "data_hole"]
    assert [e["ts_event"] for e in refused] == [file[START + 63].ts]
    expected = backtest_trades(tmp_path, s, START - 30, START + n - len(lost), series=venue)
    assert [t["entry_ts"] for t in expected].count(str(file[START + 63].ts)) == 1  # a backtest enters there
    live = read_trades(result.folder.trades)
    before = [t for t in expected if int(t["entry_ts"]) < hole_end]
    assert live[: len(before)] == before
    stopped = next(t for t in live if int(t["entry_ts"]) < hole_end < int(t["exit_ts"]))
    assert (stopped["exit_ts"], stopped["exit_reason"]) == (str(file[START + 63].ts), "stop")

    # the run's files stay valid: equity rows for exactly the candles seen, the heartbeat says it, it replays
    equity_ts = [int(line.split(",")[0]) for line in result.folder.equity.read_text().splitlines()[1:]]
    assert equity_ts == seen_by_core(events)
    beat = heartbeat(result)
    assert beat["holes"] == 1 and beat["gaps"] == 1 and "data_hole" not in beat["halts"]  # lifted
    assert replay_run(result.folder.path).identical


async def test_s05_a_restart_inside_a_holes_halt_keeps_entries_halted_until_the_lookback_is_past_it(
    tmp_path: Path,
) -> None:
    """The daemon stops ten candles after the hole (50-54) and resumes from its checkpoint. Before, the
    restart forgot the halt: the restored indicators still held the candles around the hole, and entries
    were allowed again at once. Now the checkpoint carries where the halt ends (`hole_until`) and the
    resumed session halts entries again, before its first candle, until the same candle as without it."""
    s = settings(*LIVE_SETTINGS)
    file, step = bundled_candles(), 60_000
    lost = set(range(START + 50, START + 55))
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:
        folder = RunFolder.create(tmp_path / "runs", "live")
        task, runner = await start_live(sim, s, folder)
        for i in range(66):  # candles 0-64 close; 50-54 never reach the core
            sim.faults.update({47: {"skip_candles": 8}, 49: {"lose_candles": 5}}.get(i, {}))
            await sim.hub.advance(sim.market.k)
            await asyncio.sleep(0)
        await eventually(lambda: runner.core.candles >= 60, within_s=30, what="60 candles")
        runner.stop("restart")
        await asyncio.wait_for(task, 30)
        saved = read_checkpoint(folder.state)["symbols"]["BTCUSDT"]
        last_halted = file[START + 54].ts + LOOKBACK * step
        assert "data_hole" in saved["halts"]  # the core's halts are saved, never restored: judged afresh
        task, runner = await start_live(sim, s, folder, resume=True)
        await advance_until(sim, runner, 110)
        runner.stop("test done")
        await asyncio.wait_for(task, 30)
    events = [orjson.loads(line) for line in folder.events.read_bytes().splitlines()]
    resumed = next(i for i, e in enumerate(events) if e["event"] == "RunResumed")
    after = [(e["event"], e.get("key"), e.get("detail"), e["ts_event"]) for e in events[resumed:]
             if e["event"] == "CandleClosed" or e.get("key") == "data_hole"]  # fmt: skip
    assert after[0][:2] == ("HaltChanged", "data_hole") and "before the restart" in after[0][2]  # before a candle
    lifts = [i for i, e in enumerate(after) if e[1] == "data_hole" and e[2] is None]
    assert len(lifts) == 1 and (after[lifts[0] - 1][3], after[lifts[0] + 1][3]) == (last_halted, last_halted + step)
    opened = [e["ts_event"] for e in events[resumed:] if e["event"] == "PositionOpened"]
    assert not [ts for ts in opened if ts <= last_halted]
    beat = orjson.loads((folder.path / "heartbeat.json").read_bytes())
    assert "data_hole" not in beat["halts"]
    assert not [c for c in seen_by_core(events) if c in {file[i].ts for i in lost}]
    assert saved["hole_until"] == last_halted  # what the resume went by
    assert replay_run(folder.path).identical
