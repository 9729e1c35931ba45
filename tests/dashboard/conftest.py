"""A dashboard served on loopback over a runs folder written the way a daemon leaves it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from laptop_agents.dashboard.app import Dashboard, build_app
from laptop_agents.dashboard.security import Guard

RUN_ID = "20260101-000000-live-paper-abcd"
MINUTE = 60_000
T0 = 1_640_995_200_000


def write_run(runs: Path, run_id: str = RUN_ID, *, strategy: str = "sma_atr", state: str = "running") -> Path:
    """A run folder with the files a live-paper daemon writes: config, heartbeat, events, equity, trades."""
    folder = runs / run_id
    folder.mkdir(parents=True)
    config = {
        "run": {"mode": "live-paper", "heartbeat_interval_s": 5.0},
        "data": {"symbol": "BTCUSDT", "interval": "1m"},
        "strategy": {"name": strategy},
        "circuit_breaker": {
            "max_drawdown_pct": 10.0,
            "max_consecutive_losses": 5,
            "reset_after_bars": 0,
            "enabled": True,
        },
    }
    (folder / "config.json").write_bytes(orjson.dumps(config))
    beat = {
        "pid": 1,
        "seq": 3,
        "wall_ts": int(time.time() * 1000),
        "run_id": run_id,
        "mode": "live-paper",
        "state": state,
        "equity": 10_050.0,
        "data_age_s_by_symbol": {"BTCUSDT": 0.5},
        "positions": {
            "BTCUSDT": {
                "side": "long",
                "qty": 0.5,
                "entry_price": 46_000.0,
                "stop_price": 45_800.0,
                "target_price": 46_400.0,
                "mark_price": 46_100.0,
                "unrealized": 50.0,
                "entry_ts": T0 + 5 * MINUTE,
                "notional": 23_050.0,
                "trade_id": 2,
            }
        },
        "breaker": "armed",
        "halts": [],
        "kill_switch": None,
        "errors": 0,
        "candles": 10,
        "gaps": 2,
        "invalid_candles": 1,
        "holes": 1,
    }
    (folder / "heartbeat.json").write_bytes(orjson.dumps(beat))
    events = [
        {
            "v": 2,
            "seq": i + 1,
            "run_id": run_id,
            "event": "CandleClosed",
            "ts_event": T0 + i * MINUTE,
            "symbol": "BTCUSDT",
            "close": 46_000.0 + i,
        }
        for i in range(10)
    ]
    (folder / "events.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    rows = "".join(f"{T0 + i * MINUTE},{10_000 + i * 5},{0.0}\n" for i in range(11))
    (folder / "equity.csv").write_text("ts,equity,drawdown_pct\n" + rows)
    (folder / "trades.csv").write_text(
        "trade_id,symbol,side,entry_ts,entry_price,exit_ts,exit_price,qty,pnl,fees,net_pnl,exit_reason,setup\n"
        f"1,BTCUSDT,short,{T0},46100.0,{T0 + 2 * MINUTE},46000.0,0.5,50.0,10.0,40.0,target,sma_cross\n"
    )
    return folder


@dataclass
class Served:
    url: str
    port: int
    runs: Path
    guard: Guard


async def serve(runs: Path, *, token: str | None = None, allowed: tuple[str, ...] = ()) -> tuple[Served, web.AppRunner]:
    guard = Guard("127.0.0.1", 0, token=token, allowed_hosts=allowed)
    runner = web.AppRunner(build_app(Dashboard(runs, guard)), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    guard.port = port
    return Served(f"http://127.0.0.1:{port}", port, runs, guard), runner


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    write_run(tmp_path / "runs")
    board, runner = await serve(tmp_path / "runs")
    yield board
    await runner.cleanup()
