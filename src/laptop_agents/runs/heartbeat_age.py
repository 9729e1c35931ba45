"""How old a heartbeat is, by a clock the wall clock's jumps do not move.

A heartbeat carries its writer's `wall_ts` and `monotonic_s`. The monotonic clock is one per machine (Linux
CLOCK_MONOTONIC, Windows' tick count, macOS' mach time), so a reader on the same machine can subtract it
from its own, valid for as long as the machine has not rebooted. An NTP step, a laptop's clock set by hand
or a DST mistake then neither makes a live daemon look stale (the wall clock moved forward) nor a wedged one
look fresh (moved back). The same boot is known from the kernel's boot id (Linux), or because the writer
still holds the run's lock (elsewhere); otherwise the wall clock is all there is.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str | None:
    """This boot's id (Linux), None where the kernel does not say."""
    try:
        return BOOT_ID.read_text().strip() or None
    except OSError:
        return None


def heartbeat_age_s(
    beat: dict[str, Any], *, writer_alive: bool = False, now_ms: float | None = None, now_mono: float | None = None
) -> tuple[float | None, float | None]:
    """(age, wall age) of `beat` in seconds: the age by the monotonic clock when it can be trusted (same boot,
    or `writer_alive`: the pid that wrote it holds the lock now), else by the wall clock; the wall age
    alone too, so that a caller can say the wall clock moved. None where the beat lacks the field."""
    wall = beat.get("wall_ts")
    now_ms = time.time() * 1000 if now_ms is None else now_ms
    wall_age = (now_ms - float(wall)) / 1000 if isinstance(wall, int | float) and not isinstance(wall, bool) else None
    mono = beat.get("monotonic_s")
    if isinstance(mono, int | float) and not isinstance(mono, bool):
        ours = boot_id()
        if writer_alive or (ours is not None and beat.get("boot_id") == ours):
            return (time.monotonic() if now_mono is None else now_mono) - float(mono), wall_age
    return wall_age, wall_age
