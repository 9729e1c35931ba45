"""What `la runs` knows of each run folder: what it is, how it went, and whether it is still going.

A finished run wrote `summary.json` beside its report, so listing hundreds of runs reads one small file
each. A run without one (running, stopped by kill -9, or from an older version) is read from its own
files: `config.json`, the edges of `equity.csv`, `trades.csv`, the heartbeat and the lock; its maximum
drawdown is then the largest value of equity.csv's drawdown column (one streaming pass).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from laptop_agents.dashboard.run_view import RunView, read_json
from laptop_agents.runs.compressed import open_binary
from laptop_agents.runs.run_ref import is_run_folder

LIVE_STATES = frozenset({"running", "halted", "stale", "stopping", "unresponsive"})
"""A daemon that may still be working in the folder (its lock is held)."""


@dataclass(frozen=True, slots=True)
class RunInfo:
    path: Path
    run_id: str
    mode: str
    strategy: str
    symbols: tuple[str, ...]
    interval: str | None
    first_ts: int | None
    last_ts: int | None
    trades: int
    net_pnl: float | None
    max_drawdown_pct: float | None
    state: str
    """finished, failed, running, halted, stale, stopping, stopped, crashed, unresponsive, incomplete."""
    summary: dict[str, Any] | None
    """summary.json's statistics, when the run wrote them."""

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES


def max_drawdown_of(equity_csv: Path) -> float | None:
    """The largest drawdown_pct in equity.csv; a torn last line is skipped."""
    deepest: float | None = None
    try:
        with open_binary(equity_csv) as handle:
            handle.readline()
            for line in handle:
                cut = line.rfind(b",")
                with contextlib.suppress(ValueError):
                    value = float(line[cut + 1 :])
                    if math.isfinite(value) and (deepest is None or value > deepest):
                        deepest = value
    except OSError:
        return None
    return deepest


def run_info(path: Path) -> RunInfo:
    view = RunView(path)
    row = view.summary()
    saved = read_json(path / "summary.json")
    stats = saved.get("summary") if saved else None
    state = str(row["state"])
    if state == "unknown":  # no heartbeat (a backtest or validate) and no RunFinished: it never ended
        state = "incomplete"
    if saved and state in ("unknown", "incomplete", "finished"):
        state = "failed" if saved.get("error") else "finished"
    net: float | None
    drawdown: float | None
    validation = read_json(path / "validation.json") if stats is None else None
    if validation is not None:  # a validate run: its out-of-sample result is what it made
        oos = validation.get("out_of_sample") or {}
        state = "finished"
        net, drawdown, trades = float(oos.get("net_pnl", 0.0)), None, int(oos.get("trades", 0))
        first_ts, last_ts = validation.get("first_ts"), validation.get("last_ts")
    elif isinstance(stats, dict):
        net = float(stats["net_pnl"])
        drawdown = float(stats["max_drawdown_pct"])
        trades = int(stats["trades"])
        first_ts, last_ts = stats.get("first_ts"), stats.get("last_ts")
    else:
        net = float(row["net_pnl"]) if row["trades"] or row["final_equity"] is not None else None
        drawdown = max_drawdown_of(path / "equity.csv")
        trades = int(row["trades"])
        first_ts, last_ts = row["first_ts"], row["last_ts"]
    return RunInfo(
        path=path,
        run_id=path.name,
        mode=str(row["mode"]),
        strategy=str(row["strategy"]),
        symbols=tuple(row["symbols"]),
        interval=row["interval"],
        first_ts=None if first_ts is None else int(first_ts),
        last_ts=None if last_ts is None else int(last_ts),
        trades=trades,
        net_pnl=net,
        max_drawdown_pct=drawdown,
        state=state,
        summary=stats if isinstance(stats, dict) else None,
    )


def list_runs(runs_dir: Path) -> list[RunInfo]:
    """Every run folder under `runs_dir`, oldest first (by when its configuration was written)."""
    if not runs_dir.is_dir():
        return []
    folders = [p for p in runs_dir.iterdir() if not p.is_symlink() and p.name != "latest" and is_run_folder(p)]
    return [run_info(p) for p in sorted(folders, key=_started)]


def started_ms(path: Path) -> float:
    """When the run began: its first event's wall time, else when its configuration was written."""
    with (
        contextlib.suppress(OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError),
        open_binary(path / "events.jsonl") as handle,
    ):
        return float(orjson.loads(handle.readline())["ts_init"])
    for candidate in (path / "config.json", path):
        with contextlib.suppress(OSError):
            return candidate.stat().st_mtime * 1000
    return 0.0


def _started(path: Path) -> tuple[float, str]:
    return started_ms(path), path.name
