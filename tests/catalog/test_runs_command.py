"""`la runs` over a runs folder holding a run of every mode, as real `la` subprocesses made them: a
backtest, a validate, a live-paper session, a live-exchange session against the simulator, a backtest
killed with SIGKILL half-way (no report, a torn tail) and a live-paper daemon still running."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from laptop_agents.exchange.bitunix.sim.server import SimExchange
from tests.exchange.conftest import bundled_candles, sim_config
from tests.live.test_live_daemon import KEYS, write_config
from tests.reporting.test_report_numbers import embedded

LA = Path(sys.executable).with_name("la")
pytestmark = pytest.mark.slow
FAST_LIVE = ("--set", "exchange.sim_speed=1200", "--set", "data.stale_after_intervals=1000",
             "--set", "run.heartbeat_interval_s=0.5")  # fmt: skip


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange(sim_config(speed=600.0, start_index=300), {"BTCUSDT": bundled_candles()}) as exchange:
        yield exchange


def _env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BITUNIX_", "LA_"))}
    return {**base, **extra}


async def _la(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout_s: float = 120) -> tuple[int, str, str]:
    command = [str(LA)] if LA.exists() else [sys.executable, "-m", "laptop_agents.cli"]
    proc = await asyncio.create_subprocess_exec(
        *command, *args, cwd=cwd, env=env or _env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _spawn(cwd: Path, *args: str) -> Any:
    command = [str(LA)] if LA.exists() else [sys.executable, "-m", "laptop_agents.cli"]
    return await asyncio.create_subprocess_exec(
        *command, *args, cwd=cwd, env=_env(), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )


async def _until(check: Any, timeout_s: float, what: str) -> None:
    for _ in range(int(timeout_s / 0.1)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _rows(listing: str) -> dict[str, list[str]]:
    """`la runs`' table by run id: the cells split on runs of two spaces."""
    rows = {}
    for line in listing.splitlines()[2:]:
        cells = [c.strip() for c in line.split("  ") if c.strip()]
        rows[cells[0]] = cells
    return rows


async def test_la_runs_lists_shows_compares_and_prunes_runs_of_every_mode(tmp_path: Path, sim: SimExchange) -> None:
    write_config(tmp_path, sim)
    runs = tmp_path / "runs"
    # the half-written backtest: killed with SIGKILL while it writes its files
    killed = await _spawn(tmp_path, "run", "--mode", "backtest", "--source", "mock", "--run-id", "killed",
                          "--set", "data.mock_candles=5000000")  # fmt: skip
    equity = runs / "killed" / "equity.csv"
    await _until(lambda: equity.exists() and equity.stat().st_size > 1 << 20, 60, "the backtest to write")
    killed.send_signal(signal.SIGKILL)
    await killed.wait()
    results = await asyncio.gather(
        _la(tmp_path, "run", "--mode", "backtest", "--run-id", "bt", "--set", "circuit_breaker.reset_after_bars=720"),
        _la(tmp_path, "run", "--mode", "validate", "--run-id", "va", "--grid", "fast_sma=5,10", "--train", "8000",
            "--test", "8000", "--jobs", "1"),
        _la(tmp_path, "run", "--mode", "live-paper", "--run-id", "lp", "--duration", "4", *FAST_LIVE),
        _la(tmp_path, "run", "--mode", "live-exchange", "--confirm-live", "--config", str(tmp_path / "live.json"),
            "--run-id", "lx", "--duration", "4", env=_env(**KEYS)),
    )  # fmt: skip
    for code, out, err in results:
        assert code == 0, (out, err)
    running = await _spawn(tmp_path, "run", "--mode", "live-paper", "--run-id", "up", "--duration", "120", *FAST_LIVE)
    try:
        await _until(lambda: (runs / "up" / "heartbeat.json").exists(), 30, "the running daemon's heartbeat")
        code, listing, err = await _la(tmp_path, "runs")
        assert code == 0, err
        rows = _rows(listing)
        assert set(rows) == {"killed", "bt", "va", "lp", "lx", "up"}, listing
        modes = {run: cells[1] for run, cells in rows.items()}
        assert modes == {"killed": "backtest", "bt": "backtest", "va": "validate", "lp": "live-paper",
                         "lx": "live-exchange", "up": "live-paper"}  # fmt: skip
        states = {run: cells[-1] for run, cells in rows.items()}
        assert states["killed"] == "incomplete" and states["bt"] == "finished" and states["va"] == "finished"
        assert states["lp"] == "stopped" and states["lx"] == "stopped" and states["up"] == "running", listing
        bt = rows["bt"]
        summary = orjson.loads((runs / "bt" / "summary.json").read_bytes())["summary"]
        assert bt[5] == f"{summary['trades']:,}" and bt[6] == f"{summary['net_pnl']:+,.2f}"
        assert bt[7] == f"{summary['max_drawdown_pct']:.2f} %"
        assert rows["killed"][7].endswith("%")  # read off the torn equity.csv itself
        code, shown, err = await _la(tmp_path, "runs", "show", "bt")
        assert code == 0 and "Sortino" in shown and "runs/bt/summary.html" in shown, (shown, err)
        code, compared, err = await _la(tmp_path, "runs", "compare", "bt", "lp", "killed")
        assert code == 0, err
        assert compared.splitlines()[0].split() == ["bt", "lp", "killed"]
        page = (runs / "compare.html").read_text()
        data = embedded(page.replace('id="compare-data"', 'id="report-data"'))
        assert [r["run_id"] for r in data["runs"]] == ["bt", "lp", "killed"]
        assert all(len(r["ts"]) > 10 for r in data["runs"])
        code, _, err = await _la(tmp_path, "runs", "compare", "bt", "nope")
        assert code == 2 and err.count("\n") == 1 and "nope" in err
        # prune: never the running daemon, nor the live-exchange run without --force, nor latest
        code, pruned, err = await _la(tmp_path, "runs", "prune", "--keep", "0", "--dry-run")
        assert code == 0 and all((runs / r).exists() for r in rows), pruned
        code, pruned, err = await _la(tmp_path, "runs", "prune", "--keep", "0")
        assert code == 0, err
        left = {p.name for p in runs.iterdir() if p.is_dir() and not p.is_symlink()}
        assert left == {"lx", "up"}, pruned
        assert "live-exchange" in pruned and "running" in pruned
        code, pruned, err = await _la(tmp_path, "runs", "prune", "--keep", "0", "--force")
        assert {p.name for p in runs.iterdir() if p.is_dir() and not p.is_symlink()} == {"up"}, pruned
    finally:
        if running.returncode is None:
            running.send_signal(signal.SIGTERM)
        await asyncio.wait_for(running.wait(), 30)
