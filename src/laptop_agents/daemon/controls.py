"""The operator's controls on a run, as `la stop` and `la resume` carry them out.

Each one acts on the files the daemon polls (`kill_switch.py`) and then reports what the daemon did,
from its heartbeat, instead of promising it: `la stop --flatten` says "positions flattened" only once the
heartbeat shows no position left. A signal goes only to the process that holds the run's lock (the
kernel says who that is), never to whatever pid an old heartbeat names.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from laptop_agents.base.lock import lock_holder
from laptop_agents.daemon.kill_switch import (
    HALT_KEY,
    clear_kill,
    operator_name,
    read_kill,
    request_stop,
    set_kill,
)

POLL_S = 0.1


@dataclass(frozen=True, slots=True)
class Outcome:
    code: int
    lines: list[str]


def read_heartbeat(folder: Path) -> dict[str, Any] | None:
    try:
        beat = orjson.loads((folder / "heartbeat.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return beat if isinstance(beat, dict) else None


def _applied(beat: dict[str, Any] | None, pid: int, flatten: bool) -> bool:
    """The heartbeat of daemon `pid` shows the switch in force, and with `flatten` no position and no open
    order left (live-exchange: the closes have filled)."""
    if beat is None or beat.get("pid") != pid or HALT_KEY not in (beat.get("halts") or []):
        return False
    if not flatten:
        return True
    exchange = beat.get("exchange")
    open_orders = exchange.get("open_orders") if isinstance(exchange, dict) else None
    return not beat.get("positions") and not open_orders


def _wait(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True


def _wait_for_pid(folder: Path) -> int | None:
    """The lock is held but its pid is not readable yet (a daemon starting): wait a moment for it."""
    pid = lock_holder(folder)
    deadline = time.monotonic() + 3.0
    while pid == -1 and time.monotonic() < deadline:
        time.sleep(POLL_S)
        pid = lock_holder(folder)
    return pid


def stop(folder: Path, *, flatten: bool, terminate: bool, wait_s: float, shown: str) -> Outcome:
    """Set the kill switch; wait (at most `wait_s`) until the daemon's heartbeat shows it applied (and the
    flatten filled); with `terminate`, then SIGTERM the lock holder and wait for it to let go."""
    set_kill(folder, flatten=flatten, by=operator_name())
    pid = lock_holder(folder)
    if pid == -1:
        pid = _wait_for_pid(folder)
    if pid is None:
        lines = [f"kill switch set on {shown}: the daemon is not running (no process holds its lock); it will "
                 f"start with entries halted. `la resume {folder.name}` lifts it"]  # fmt: skip
        if terminate:
            lines.append("nothing to terminate")
        return Outcome(0, lines)
    applied = _wait(lambda: _applied(read_heartbeat(folder), pid, flatten), wait_s)
    what = "entries halted" + (" and positions flattened" if flatten else "")
    if applied:
        lines = [f"kill switch applied on {shown} (pid {pid}): {what}; exits and stops are still managed"]
        code = 0
    else:
        beat = read_heartbeat(folder) or {}
        held = ", ".join(beat.get("positions") or {}) or "none"
        lines = [f"kill switch set on {shown}, but pid {pid} has not shown {what} within {wait_s:g} s "
                 f"(open positions: {held}); check heartbeat.json"]  # fmt: skip
        code = 1
    if terminate:
        if flatten and not applied:  # stopping now could leave the positions open: the operator decides
            lines.append("not terminated: the flatten was not confirmed (run `la stop --terminate` to stop anyway)")
            return Outcome(1, lines)
        if lock_holder(folder) != pid:
            lines.append(f"pid {pid} no longer holds the run's lock: nothing signalled")
            return Outcome(code, lines)
        request_stop(folder, by=operator_name())  # the graceful stop everywhere; the only one on Windows
        how = "STOP file"
        if sys.platform != "win32" and pid > 0:
            try:
                os.kill(pid, signal.SIGTERM)
                how = "SIGTERM"
            except OSError as exc:
                lines.append(f"could not signal pid {pid} ({exc.strerror}): it reads the STOP file instead")
        if _wait(lambda: lock_holder(folder) is None, max(wait_s, 30.0) if pid > 0 else wait_s):
            lines.append(f"daemon stopped (pid {pid}, {how})")
        else:
            lines.append(f"{how} sent to pid {pid}; it still holds the run's lock")
            code = 1
    return Outcome(code, lines)


def resume(folder: Path, *, wait_s: float, shown: str) -> Outcome:
    """Lift the kill switch (recording who); report when the running daemon has lifted the halt."""
    order = read_kill(folder)
    if order is None:
        return Outcome(0, [f"{shown}: no kill switch is set; entries are not halted by the operator"])
    clear_kill(folder, by=operator_name())
    pid = lock_holder(folder)
    if pid == -1:
        pid = _wait_for_pid(folder)
    if pid is None:
        return Outcome(0, [f"kill switch removed from {shown}; the daemon is not running: "
                           f"`la run --resume {folder.name}` (with the run's mode) starts it trading"])  # fmt: skip

    def lifted() -> bool:
        beat = read_heartbeat(folder)
        return beat is not None and beat.get("pid") == pid and HALT_KEY not in (beat.get("halts") or [])

    if _wait(lifted, wait_s):
        return Outcome(0, [f"entries resumed on {shown} (pid {pid}), by {operator_name()}"])
    return Outcome(1, [f"kill switch removed from {shown}, but pid {pid} has not shown it lifted within "
                       f"{wait_s:g} s; check heartbeat.json"])  # fmt: skip
