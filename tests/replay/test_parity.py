"""Issue 16: `la parity` backtests the candles a live session traded and names the cause of each decision that
differs: a candle the session saw otherwise than the venue records it (the last push was not final), a
refusal only live has (the kill switch), and what follows from them."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from laptop_agents.daemon.kill_switch import set_kill
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.replay.parity_command import parity_of
from laptop_agents.replay.parity_report import summary_lines
from laptop_agents.runs.run_folder import RunFolder
from tests.daemon.live_helpers import start_live
from tests.daemon.test_daemon_process import clean_env, la_command
from tests.daemon.test_live_paper import LIVE_SETTINGS
from tests.exchange.conftest import bundled_candles, eventually, sim_config
from tests.helpers import settings
from tests.live.test_live_daemon import la, write_config

BUNDLED = "data/ftx_btc-perp_1m_2022-01.csv"


async def _session(
    tmp_path: Path, faults: dict[str, object], *, kill_at: int | None = None, candles: int = 600
) -> Path:
    s = settings(*LIVE_SETTINGS)
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:
        folder = RunFolder.create(tmp_path / "runs", "live")
        task, runner = await start_live(sim, s, folder)
        sim.faults.update(faults)
        for n in range(candles):
            if kill_at is not None and n == kill_at:
                set_kill(folder.path, flatten=False, by="test")
                await eventually(lambda: "kill_switch" in runner.core.halts, within_s=10, what="the halt")
            if kill_at is not None and n == kill_at + 150:
                (folder.path / "KILL").unlink()
                await eventually(lambda: not runner.core.halts, within_s=10, what="the release")
            await sim.hub.advance(sim.market.k)
            await asyncio.sleep(0.002)
        await eventually(lambda: runner.core.candles >= candles - 2, within_s=30, what="the candles")
        runner.stop("test done")
        await asyncio.wait_for(task, 30)
    return folder.path


@pytest.mark.slow
async def test_a_session_with_lost_final_pushes_and_a_kill_switch_has_each_difference_named(tmp_path: Path) -> None:
    run = await _session(tmp_path, {"late_trades": 0.3, "drop_final_push_next": 400}, kill_at=150)
    result = parity_of(run, candles=[BUNDLED])
    assert len(result.candle_diffs) > 50  # the candles the socket closed lacked their late trades
    causes = result.by_cause()
    assert causes.get("candle", 0) >= 1 and causes.get("live_refusal", 0) >= 1, result.differences
    assert set(causes) <= {"candle", "live_refusal", "follows"}, causes
    refused = [d for d in result.differences if d.cause == "live_refusal"]
    assert all(d.layer == 1 and "kill_switch" in d.detail for d in refused)
    candle = [d for d in result.differences if d.cause == "candle"]
    assert all(d.layer == 2 and "differs from the venue's REST candle" in d.detail for d in candle)
    for d in candle:  # the named candle really is one the session saw otherwise, at or before the decision
        named = d.detail.split("the candle at ")[1][:16]
        assert any(seen.ts <= d.ts and named.replace(" ", "T") in _iso(seen.ts) for seen, _ in result.candle_diffs)

    done = await asyncio.to_thread(_la_parity, run)
    assert done.returncode == 0, done.stderr
    assert "differences, by cause:" in done.stdout and "refusal only live has: kill_switch" in done.stdout
    saved = orjson.loads((run / "parity.json").read_bytes())
    assert saved["by_cause"] == causes
    page = (run / "summary.html").read_text()
    assert page.count(">Parity with the backtest</h2>") == 1 and "refusal only live has" in page
    assert "CandleClosed" not in page  # the report's recent events are what happened, not every input
    assert (await asyncio.to_thread(_la_parity, run)).returncode == 0
    assert (run / "summary.html").read_text().count(">Parity with the backtest</h2>") == 1  # replaced, not added


@pytest.mark.slow
async def test_a_clean_session_equals_its_backtest(tmp_path: Path) -> None:
    run = await _session(tmp_path, {}, candles=400)
    result = parity_of(run, candles=[BUNDLED])
    assert result.candle_diffs == [] and result.differences == []
    assert result.live == result.backtest and result.live["trades"] >= 2


def _la_parity(run: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*la_command(), "parity", str(run), "--candles", BUNDLED], env=clean_env(),
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def _iso(ts: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
async def venue() -> AsyncIterator[SimExchange]:
    async with SimExchange(sim_config(speed=600.0, start_index=300), {"BTCUSDT": bundled_candles()}) as exchange:
        exchange.faults.client_id_dedupe = "open"
        yield exchange


@pytest.mark.slow
async def test_a_live_exchange_session_with_slippage_has_its_fills_named(tmp_path: Path, venue: SimExchange) -> None:
    """The venue fills our market orders 8 bps worse than its touch (the `slippage_bps` switch): each entry's
    fill is named against the modelled one, and so is its latency; the venue's candles come over its REST."""
    write_config(tmp_path, venue)
    venue.faults.update({"slippage_bps": 8.0})
    quick = ("--set", "strategy.fast_sma=3", "--set", "strategy.slow_sma=8")
    code, _, err = await la(tmp_path, "--run-id", "px", "--duration", "16", "--flatten-on-stop", *quick)
    assert code == 0, err
    result = await asyncio.to_thread(parity_of, tmp_path / "runs" / "px")
    lines = "\n".join(summary_lines(result))
    fills = [d for d in result.differences if d.cause == "fill_price" and d.what == "fill"]
    worse = [float(d.detail.split("filled ")[1].split(" bps")[0]) for d in fills]
    assert len(fills) >= 2 and max(worse) >= 5.0, lines  # 8 bps of slippage on top of the venue's spread
    assert [d for d in result.differences if d.cause == "latency"], lines  # the venue fills after the close
    assert result.candle_diffs == [] and "candle" not in result.by_cause(), lines  # confirmed with REST
    assert set(result.by_cause()) <= {"fill_price", "latency", "live_refusal", "follows"}, lines
