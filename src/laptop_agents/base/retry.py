"""Retry policy: which failures to retry, how long to wait, and the reconnect backoff. Sleeping is injected.

Only what `is_retryable` accepts is retried (network errors, timeouts, HTTP 5xx, rate limits), with
exponential backoff, full jitter and a cap. Order placement is never retried blindly: a caller that is
not sure whether an order arrived looks it up by client id instead (the live-exchange broker's job).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    initial_s: float = 0.25
    max_s: float = 8.0
    jitter_s: float = 0.25
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)

    async def call(self, fn: Callable[[], Awaitable[T]], *, retryable: Callable[[BaseException], bool]) -> T:
        retrying = AsyncRetrying(
            retry=retry_if_exception(retryable),
            wait=wait_exponential_jitter(multiplier=self.initial_s, max=self.max_s, jitter=self.jitter_s),
            stop=stop_after_attempt(self.attempts),
            sleep=self.sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await fn()
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover


def backoff_delays(
    *, initial_s: float = 0.5, factor: float = 2.0, max_s: float = 30.0, rng: random.Random | None = None
) -> Iterator[float]:
    """Reconnect delays: exponential with full jitter, capped. Restart the generator after a good connect."""
    rand = rng or random.Random()
    ceiling = initial_s
    while True:
        yield rand.uniform(ceiling / 2, ceiling)
        ceiling = min(ceiling * factor, max_s)
