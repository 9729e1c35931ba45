"""The shared rate limiter and the one backoff policy, on a fake clock: rate, burst, fairness, the shared
penalty after a 429, and the waits between retries."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from laptop_agents.base.rate_limiter import RateLimiter
from laptop_agents.base.retry import Backoff, RetryPolicy


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_burst_then_steady_rate() -> None:
    t = FakeTime()
    limiter = RateLimiter(10, 3, monotonic=t.monotonic, sleep=t.sleep)
    times = []
    for _ in range(7):
        await limiter.acquire()
        times.append(round(t.now - 100.0, 6))
    assert times == [0, 0, 0, 0.1, 0.2, 0.3, 0.4]  # 3 at once, then one every 100 ms


async def test_never_above_the_rate_over_any_window() -> None:
    t = FakeTime()
    limiter = RateLimiter(5, 5, monotonic=t.monotonic, sleep=t.sleep)
    stamps = []
    for _ in range(50):
        await limiter.acquire()
        stamps.append(t.now)
    for i, start in enumerate(stamps):
        in_window = [s for s in stamps[i:] if s < start + 1.0]
        assert len(in_window) <= 5 + 5  # burst plus one second of rate


async def test_penalty_blocks_everyone_sharing_the_limiter() -> None:
    t = FakeTime()
    limiter = RateLimiter(10, 10, monotonic=t.monotonic, sleep=t.sleep)
    await limiter.acquire()
    limiter.penalize(2.0)
    await limiter.acquire()
    assert t.now - 100.0 >= 2.0
    assert limiter.penalties == 1


async def test_concurrent_waiters_are_served_in_order() -> None:
    limiter = RateLimiter(1000, 1)
    order: list[int] = []

    async def take(i: int) -> None:
        await limiter.acquire()
        order.append(i)

    await asyncio.gather(*(take(i) for i in range(10)))
    assert order == list(range(10))


async def test_retry_policy_retries_only_what_is_retryable() -> None:
    t = FakeTime()
    policy = RetryPolicy(attempts=4, backoff=Backoff(initial_s=0.5, max_s=4, jitter=0), sleep=t.sleep)
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("reset")
        return "ok"

    assert await policy.call(flaky, retryable=lambda e: isinstance(e, ConnectionError)) == "ok"
    assert t.sleeps == [0.5, 1.0]

    async def fatal() -> str:
        raise ValueError("bad request")

    with pytest.raises(ValueError, match="bad request"):
        await policy.call(fatal, retryable=lambda e: isinstance(e, ConnectionError))
    assert len(t.sleeps) == 2  # no wait for a final error


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    import random

    delays = Backoff(initial_s=1, max_s=8).delays(random.Random(1))
    got = [next(delays) for _ in range(8)]
    ceilings = [1, 2, 4, 8, 8, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(got, ceilings, strict=True))


def test_one_backoff_schedules_every_retrying_loop() -> None:
    """Issue 14: REST retries (tenacity), reconnects and backfills each had their own doubling; now all wait
    by `Backoff`, so a fixed schedule (jitter 0) is the same sequence whichever loop uses it."""
    from laptop_agents.base.retry import RECONNECT, REQUEST

    fixed = Backoff(initial_s=0.25, max_s=2, jitter=0)
    assert [fixed.delay(n) for n in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert list(itertools.islice(fixed.delays(), 6)) == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert fixed.delay(10_000) == 2.0  # no overflow on a very long outage
    assert RECONNECT.ceiling(100) == 30.0 and REQUEST.ceiling(100) == 8.0
    for bad in ({"initial_s": 0}, {"initial_s": 5, "max_s": 1}, {"jitter": 1.5}, {"factor": 0.5}):
        with pytest.raises(ValueError, match="backoff needs"):
            Backoff(**bad)  # type: ignore[arg-type]


async def test_rest_retries_wait_by_the_policys_backoff() -> None:
    t = FakeTime()
    policy = RetryPolicy(attempts=5, backoff=Backoff(initial_s=0.1, max_s=0.3, jitter=0), sleep=t.sleep)

    async def down() -> str:
        raise ConnectionError("refused")

    with pytest.raises(ConnectionError):
        await policy.call(down, retryable=lambda e: isinstance(e, ConnectionError))
    assert t.sleeps == [0.1, 0.2, 0.3, 0.3]
