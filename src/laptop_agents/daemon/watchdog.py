"""The watchdog: is the daemon alive? Reads `heartbeat.json` and the run's lock, prints one status line.

Exit codes, and what `--loop --restart CMD` does with them:
- 0 `OK`: running, heartbeat fresh; also `HALTED`: the operator's kill switch is in force (running, on
  purpose: never restarted);
- 1 `STALE`: the heartbeat is older than `stale_after_s` (a wedged loop), or `DEAD`: the heartbeat says
  running but no process holds the run's lock (the daemon died: known at once, not after `stale_after_s`):
  restarted;
- 2 `MISSING` / `UNREADABLE`: no heartbeat (never started, or deleted): restarted;
- 3 `STOPPED`: the daemon stopped cleanly (its last heartbeat says so and it let go of its lock): a stop
  on purpose, never restarted. A daemon whose last heartbeat says `failed` (a task failed) is `FAILED`,
  exit 1: restarted.
A process that holds the lock but has not written its own first heartbeat yet (a resume replaying its
events, a warm-up, a reconciliation) is `STARTING`, exit 0: not restarted for being slow to start, unless
it has been so for more than `START_GRACE_S` (5 minutes, or `--stale-after` if longer): then `STALE`.
The heartbeat is written from the daemon's event loop, so a wedged loop shows as stale, not as alive. It
is replaced atomically; a read that still fails (a replace in progress on some platforms, a torn copy) is
retried once before it counts.

A heartbeat's age is taken by the machine's monotonic clock (`runs/heartbeat_age.py`), not by its wall
timestamp alone: the wall clock stepping forward does not make a live daemon STALE, nor stepping back a
wedged one OK; the line says when the two ages differ. `--loop` also follows the heartbeat's `seq`: a
lock holder whose sequence has not advanced for `stale_after_s` of the watchdog's own monotonic time is
STALE whatever its timestamps say.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from laptop_agents.base.lock import lock_holder
from laptop_agents.daemon.kill_switch import HALT_KEY
from laptop_agents.runs.heartbeat_age import heartbeat_age_s
from laptop_agents.runs.run_ref import run_folder_or_guess

FRESH, STALE, MISSING, STOPPED = 0, 1, 2, 3
RESTART_CODES = (STALE, MISSING)
RETRY_READ_S = 0.2
START_GRACE_S = 300.0
"""How long a lock holder may take to write its first heartbeat before it counts as stuck (STALE)."""


@dataclass(frozen=True, slots=True)
class Status:
    code: int
    line: str


class Progress:
    """Across the checks of a `--loop`: when the heartbeat's (pid, seq) last changed, on the watchdog's own
    monotonic clock."""

    def __init__(self) -> None:
        self._last: tuple[object, object] | None = None
        self._since = 0.0

    def still_s(self, beat: dict[str, Any], now_mono: float) -> float:
        """Seconds the beat's sequence has stood still (0 the first time it is seen, or when it moved)."""
        key = (beat.get("pid"), beat.get("seq"))
        if key != self._last:
            self._last, self._since = key, now_mono
        return now_mono - self._since


def resolve_heartbeat(target: str, runs_dir: str = "runs") -> Path:
    """A run id, a run folder, a heartbeat.json path, or 'latest' (the newest run under `runs_dir`)."""
    return run_folder_or_guess(target, runs_dir) / "heartbeat.json"


def _read(path: Path) -> dict[str, Any]:
    beat = orjson.loads(path.read_bytes())
    if not isinstance(beat, dict):
        raise ValueError("not a JSON object")
    int(beat["wall_ts"])
    return beat


def _lock_age_s(folder: Path) -> float | None:
    """Seconds since the lock's holder wrote its pid (when it took the lock)."""
    try:
        return time.time() - (folder / ".lock").stat().st_mtime
    except OSError:
        return None


def _number(value: object, spec: str) -> str:
    return format(value, spec) if isinstance(value, int | float) and not isinstance(value, bool) else "?"


def check(
    path: Path,
    *,
    stale_after_s: float,
    now_ms: int | None = None,
    now_mono: float | None = None,
    progress: Progress | None = None,
) -> Status:
    """One look at the run. `now_ms`/`now_mono`: the clocks to judge by (tests move them); `progress`: the
    loop's memory of the heartbeat's sequence."""
    holder = lock_holder(path.parent)
    beat: dict[str, Any] | None = None
    problem = ""
    for attempt in range(2):
        try:
            beat = _read(path)
            break
        except FileNotFoundError:
            problem = f"MISSING {path}: no heartbeat (is the daemon running?)"
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            problem = f"UNREADABLE {path}: {exc}"
        if attempt == 0:
            time.sleep(RETRY_READ_S)
    if holder is not None and (beat is None or beat.get("pid") != holder):
        who = f"pid {holder if holder > 0 else '?'} holds the run's lock"
        started = _lock_age_s(path.parent)
        if started is not None and started > max(stale_after_s, START_GRACE_S):
            return Status(STALE, f"STALE {path.parent.name}: {who} but has written no heartbeat in {started:.0f} s "
                                 "(stuck starting)")  # fmt: skip
        return Status(FRESH, f"STARTING {path.parent.name}: {who} and has not written its first heartbeat yet")
    if beat is None:
        return Status(MISSING, problem)
    state = str(beat.get("state", "?"))
    alive = holder is not None and beat.get("pid") == holder
    age, wall_age = heartbeat_age_s(beat, writer_alive=alive, now_ms=now_ms, now_mono=now_mono)
    age_s = float(age if age is not None else 0.0)
    jump = 0.0 if wall_age is None else wall_age - age_s
    moved = f" (the wall clock moved {jump:+.0f} s)" if abs(jump) >= 60 else ""
    raw_halts = beat.get("halts")
    halts: list[Any] = raw_halts if isinstance(raw_halts, list) else []
    summary = (
        f"run {beat.get('run_id', '?')} pid {beat.get('pid', '?')} state {state} age {age_s:.1f}s "
        f"candles {beat.get('candles', '?')} equity {_number(beat.get('equity'), ',.2f')} "
        f"breaker {beat.get('breaker', '?')} errors {beat.get('errors', '?')}{moved}"
    )
    if holder is None:
        if state == "stopped":
            return Status(STOPPED, f"STOPPED {summary} (stopped cleanly: not restarted)")
        if state == "failed":
            return Status(STALE, f"FAILED {summary}: a task failed and the daemon exited (see daemon.log)")
        return Status(STALE, f"DEAD {summary}: no process holds the run's lock (the daemon is gone)")
    if age_s > stale_after_s:
        return Status(STALE, f"STALE {summary} (threshold {stale_after_s:g}s)")
    still = 0.0 if progress is None else progress.still_s(beat, time.monotonic() if now_mono is None else now_mono)
    if still > stale_after_s:
        return Status(STALE, f"STALE {summary}: heartbeat seq {beat.get('seq', '?')} has not advanced in {still:.0f} s "
                             f"(threshold {stale_after_s:g}s)")  # fmt: skip
    if HALT_KEY in halts:
        return Status(FRESH, f"HALTED {summary} (kill switch: entries halted by the operator; la resume to trade)")
    other = f" (entries halted: {', '.join(map(str, halts))})" if halts else ""
    return Status(FRESH, f"OK {summary}{other}")


def loop(
    path: Path, *, stale_after_s: float, interval_s: float, restart: str | None, max_checks: int | None = None
) -> int:
    """Check every `interval_s`; when stale, dead or missing, run `restart` (a shell command) once per
    incident. A daemon halted or stopped on purpose is left alone."""
    checks = 0
    restarted = False
    status = Status(MISSING, "")
    progress = Progress()
    while max_checks is None or checks < max_checks:
        status = check(path, stale_after_s=stale_after_s, progress=progress)
        print(status.line, flush=True)
        if status.code not in RESTART_CODES:
            restarted = False
        elif restart and not restarted:
            print(f"running restart command: {restart}", flush=True)
            subprocess.run(restart, shell=True, check=False)  # the operator's own command, run as given
            restarted = True
        checks += 1
        if max_checks is None or checks < max_checks:
            time.sleep(interval_s)
    return status.code
