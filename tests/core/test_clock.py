"""Clocks: simulated time only moves forward; live time is the real wall clock."""

from __future__ import annotations

import time

from laptop_agents.core.clock import LiveClock, SimClock, VenueClock


def test_sim_clock_moves_forward_only() -> None:
    clock = SimClock(1_000)
    clock.advance_to(5_000)
    clock.advance_to(2_000)
    assert clock.now_ms() == 5_000
    assert clock.monotonic_s() == 5.0


def test_live_clock_reads_wall_time() -> None:
    before = time.time() * 1000
    now = LiveClock().now_ms()
    assert before - 5 <= now <= time.time() * 1000 + 5
    assert LiveClock().monotonic_s() <= LiveClock().monotonic_s()


def test_venue_clock_knows_nothing_before_a_push_then_runs_on_from_the_newest() -> None:
    mono = SimClock(0)
    venue = VenueClock(mono)
    assert venue.now_ms() is None
    venue.observe(1_000_000)
    mono.advance_to(2_500)  # 2.5 s of monotonic time later
    assert venue.now_ms() == 1_002_500
    venue.observe(1_001_000)  # an older push (reordered, late) does not move it back
    assert venue.now_ms() == 1_002_500
    venue.observe(1_010_000)
    assert venue.now_ms() == 1_010_000
