"""The wall clock moving under a running daemon (issue 21, "Time"): an NTP step, a clock set by hand.

The watchdog used to take a heartbeat's age from its wall timestamp alone: the wall clock stepped two hours
forward made a live daemon STALE (and `--loop --restart` restarted it), stepped back made a wedged one OK
for two hours. The age is now taken by the machine's monotonic clock, which the heartbeat carries; the
watchdog's own clocks are moved here (`now_ms`, `now_mono`), the daemon is a real `la run` process. The
watchdog also judges a lock holder by its heartbeat's sequence advancing, and tolerates a torn read.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import orjson
import pytest

from laptop_agents.core.events import Event
from laptop_agents.daemon.watchdog import FRESH, STALE, Progress, check
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from tests.daemon.test_daemon_process import daemon, wait_for
from tests.exchange.conftest import bundled_candles, sim_config
from tests.feeds.test_funding_rates import Told, rates_poller

__all__ = ["daemon"]  # the fixture: a live-paper `la run` writing a heartbeat every 0.2 s
pytestmark = pytest.mark.slow
HOUR_MS = 3_600_000


def _fresh(run: Path) -> dict[str, object]:
    wait_for(lambda: b'"seq"' in (run / "heartbeat.json").read_bytes(), 20, "a heartbeat")
    return orjson.loads((run / "heartbeat.json").read_bytes())  # type: ignore[no-any-return]


def test_a_wall_clock_step_neither_makes_a_live_daemon_stale_nor_a_wedged_one_fresh(
    daemon: tuple[subprocess.Popen[str], Path],
) -> None:
    proc, run = daemon
    _fresh(run)
    path = run / "heartbeat.json"
    now = time.time_ns() // 1_000_000
    ahead = check(path, stale_after_s=10, now_ms=now + 2 * HOUR_MS)
    assert ahead.code == FRESH and ahead.line.startswith("OK"), ahead.line
    assert "the wall clock moved +7200 s" in ahead.line
    behind = check(path, stale_after_s=10, now_ms=now - 2 * HOUR_MS)
    assert behind.code == FRESH and "the wall clock moved -7200 s" in behind.line, behind.line
    os.kill(proc.pid, signal.SIGSTOP)  # wedged: no heartbeat any more
    try:
        later = time.monotonic() + 30  # half a minute on, while the wall clock was set two hours back
        wedged = check(path, stale_after_s=10, now_ms=now - 2 * HOUR_MS, now_mono=later)
        assert wedged.code == STALE and wedged.line.startswith("STALE"), wedged.line
    finally:
        os.kill(proc.pid, signal.SIGCONT)


def test_a_heartbeat_whose_sequence_stands_still_is_stale_whatever_its_timestamp(
    daemon: tuple[subprocess.Popen[str], Path],
) -> None:
    """A heartbeat without the monotonic field (a daemon of an older version), its wall timestamp in the
    future: only the sequence tells that it stopped."""
    proc, run = daemon
    beat = _fresh(run)
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        beat = orjson.loads((run / "heartbeat.json").read_bytes())
        beat.pop("monotonic_s")
        beat["wall_ts"] = time.time_ns() // 1_000_000 + HOUR_MS
        (run / "heartbeat.json").write_bytes(orjson.dumps(beat))
        progress, t0 = Progress(), time.monotonic()
        assert check(run / "heartbeat.json", stale_after_s=10, now_mono=t0, progress=progress).code == FRESH
        still = check(run / "heartbeat.json", stale_after_s=10, now_mono=t0 + 11, progress=progress)
        assert still.code == STALE and f"seq {beat['seq']} has not advanced in 11 s" in still.line, still.line
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    wait_for(lambda: orjson.loads((run / "heartbeat.json").read_bytes())["seq"] != beat["seq"], 10, "a new beat")
    moved = check(run / "heartbeat.json", stale_after_s=10, now_mono=time.monotonic(), progress=progress)
    assert moved.code == FRESH, moved.line  # the sequence moved on: fresh again


def test_a_torn_heartbeat_read_is_retried_not_counted(daemon: tuple[subprocess.Popen[str], Path]) -> None:
    proc, run = daemon
    _fresh(run)
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        whole = (run / "heartbeat.json").read_bytes()
        (run / "heartbeat.json").write_bytes(whole[: len(whole) // 2])  # a copy caught half written
        mend = threading.Timer(0.05, lambda: (run / "heartbeat.json").write_bytes(whole))
        mend.start()
        status = check(run / "heartbeat.json", stale_after_s=10)
        mend.join()
        assert status.code == FRESH and status.line.startswith("OK"), status.line
    finally:
        os.kill(proc.pid, signal.SIGCONT)


class SteppedClock:
    """A wall clock set by hand (an NTP step) beside a monotonic clock that only moves forward."""

    def __init__(self) -> None:
        self.wall_ms = 1_800_000_000_000
        self.mono_s = 1_000.0

    def now_ms(self) -> int:
        return self.wall_ms

    def monotonic_s(self) -> float:
        return self.mono_s


async def test_the_funding_rates_age_is_taken_by_the_monotonic_clock_whatever_the_wall_clock_does() -> None:
    """The funding gate's rate goes missing once the last answer is older than `funding_max_age_s` (60 s
    here). Before, that age was taken by the wall clock: stepped two hours forward, a rate polled a second
    ago was dropped (entries gated on `funding_missing`); stepped back, a rate from minutes ago stayed fresh
    for two more hours while every poll failed."""
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:
        clock, events, told = SteppedClock(), list[Event](), Told()
        async with rates_poller(sim, clock, events, told) as rates:
            sim.ledger.funding_rate = 0.0007
            await rates.refresh()
            assert told[-1][:2] == ("BTCUSDT", pytest.approx(0.0007))
            clock.wall_ms += 2 * HOUR_MS  # stepped forward, one second later
            clock.mono_s += 1
            sim.faults.http_error_next = 2  # the next poll fails (2 attempts): the last answer must stand
            await rates.refresh()
            assert len(told) == 1 and rates.current("BTCUSDT") == pytest.approx(0.0007)
            assert rates.status()["age_s"] == {"BTCUSDT": 1.0}
            clock.wall_ms -= 4 * HOUR_MS  # stepped back past where it began, 61 s after the answer
            clock.mono_s += 60
            sim.faults.http_error_next = 2
            await rates.refresh()
            assert told[-1][:2] == ("BTCUSDT", None) and "older than 60 s" in told[-1][2]
