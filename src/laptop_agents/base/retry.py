"""The one backoff policy, and the retry that uses it. Sleeping and randomness are injected.

Every loop that waits before trying again (a REST request, a socket's reconnect, a backfill, a candle's
confirmation) waits by `Backoff`: exponential, capped, with jitter so that restarts spread out. Only what
`retryable` accepts is retried (network errors, timeouts, HTTP 5xx, rate limits). Order placement is never
retried blindly: a caller that is not sure whether an order arrived looks it up by client id instead (the
live-exchange broker's job).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Wait n (from 0) has the ceiling `min(initial_s * factor**n, max_s)` and is drawn uniformly from
    `[ceiling * (1 - jitter), ceiling]`: `jitter=0` is a fixed schedule, `jitter=1` full jitter."""

    initial_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not (0 < self.initial_s <= self.max_s and self.factor >= 1 and 0 <= self.jitter <= 1):
            raise ValueError(f"a backoff needs 0 < initial_s <= max_s, factor >= 1, 0 <= jitter <= 1: {self}")

    def ceiling(self, n: int) -> float:
        return min(self.initial_s * self.factor ** min(n, 64), self.max_s)

    def delay(self, n: int, rng: random.Random | None = None) -> float:
        top = self.ceiling(n)
        return top if self.jitter == 0 else (rng or random).uniform(top * (1 - self.jitter), top)

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The waits in order, forever. Start a new iterator after a success to begin afresh."""
        n = 0
        while True:
            yield self.delay(n, rng)
            n += 1


RECONNECT = Backoff(initial_s=0.5, max_s=30.0)
"""A socket's reconnects: half a second first, at most 30 s apart."""

REQUEST = Backoff(initial_s=0.25, max_s=8.0)
"""A REST request's retries: quick, since the caller is waiting on the answer."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    backoff: Backoff = REQUEST
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)

    async def call(self, fn: Callable[[], Awaitable[T]], *, retryable: Callable[[BaseException], bool]) -> T:
        def wait(state: RetryCallState) -> float:
            return self.backoff.delay(state.attempt_number - 1)

        retrying = AsyncRetrying(
            retry=retry_if_exception(retryable),
            wait=wait,
            stop=stop_after_attempt(self.attempts),
            sleep=self.sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await fn()
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover


PATIENT = Backoff(initial_s=0.5, max_s=10.0)
"""A start's waits for a busy venue: half a second first, then at most 10 s apart."""


async def patiently(
    call: Callable[[], Awaitable[T]],
    *,
    waits_out: Callable[[BaseException], bool],
    patience_s: float,
    monotonic: Callable[[], float],
    on_first_wait: Callable[[BaseException], None],
    backoff: Backoff = PATIENT,
) -> T:
    """`call()`, again after each error `waits_out` accepts (capped backoff) until `patience_s` have passed
    since the first try; then that error is raised. `on_first_wait` says once that it waits, and why: a start
    that meets a busy venue (its client's own retries spent) waits a while instead of ending the run."""
    delays, said = backoff.delays(), False
    deadline = monotonic() + patience_s
    while True:
        try:
            return await call()
        except Exception as exc:
            if not waits_out(exc) or monotonic() >= deadline:
                raise
            if not said:
                said = True
                on_first_wait(exc)
            await asyncio.sleep(next(delays))
