"""The watchdog: is the daemon alive? Reads `heartbeat.json`, prints one status line, exits 0/1/2.

0 = fresh (written within `stale_after_s`), 1 = stale or halted, 2 = missing or unreadable.
The heartbeat is written from the daemon's event loop, so a wedged loop shows as stale, not as alive.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

FRESH, STALE, MISSING = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Status:
    code: int
    line: str


def resolve_heartbeat(target: str, runs_dir: str = "runs") -> Path:
    """A run folder, a heartbeat.json path, or 'latest' (the newest run under `runs_dir`)."""
    path = Path(runs_dir) / "latest" if target == "latest" else Path(target)
    return path if path.name == "heartbeat.json" else path / "heartbeat.json"


def check(path: Path, *, stale_after_s: float, now_ms: int | None = None) -> Status:
    try:
        beat = orjson.loads(path.read_bytes())
        wall_ts = int(beat["wall_ts"])
        state = str(beat.get("state", "?"))
    except FileNotFoundError:
        return Status(MISSING, f"MISSING {path}: no heartbeat (is the daemon running?)")
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        return Status(MISSING, f"UNREADABLE {path}: {exc}")
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    age_s = (now - wall_ts) / 1000.0
    summary = (
        f"run {beat.get('run_id', '?')} pid {beat.get('pid', '?')} state {state} age {age_s:.1f}s "
        f"candles {beat.get('candles', '?')} equity {beat.get('equity', 0):,.2f} "
        f"breaker {beat.get('breaker', '?')} errors {beat.get('errors', '?')}"
    )
    if age_s > stale_after_s:
        return Status(STALE, f"STALE {summary} (threshold {stale_after_s:g}s)")
    if state in ("halted", "stopped"):
        return Status(STALE, f"{state.upper()} {summary}")
    return Status(FRESH, f"OK {summary}")


def loop(
    path: Path, *, stale_after_s: float, interval_s: float, restart: str | None, max_checks: int | None = None
) -> int:
    """Check every `interval_s`; on stale or missing, run `restart` (a shell command) once per incident."""
    checks = 0
    restarted = False
    status = Status(MISSING, "")
    while max_checks is None or checks < max_checks:
        status = check(path, stale_after_s=stale_after_s)
        print(status.line, flush=True)
        if status.code == FRESH:
            restarted = False
        elif restart and not restarted:
            print(f"running restart command: {restart}", flush=True)
            subprocess.run(restart, shell=True, check=False)  # the operator's own command, run as given
            restarted = True
        checks += 1
        if max_checks is None or checks < max_checks:
            time.sleep(interval_s)
    return status.code
