"""Clocks: simulated time only moves forward; live time is the real wall clock."""

from __future__ import annotations

import time

from laptop_agents.core.clock import LiveClock, SimClock


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
