"""One rate limiter per exchange scope, shared by every REST call and every WS subscribe/login message.

A token bucket: `rate_per_s` tokens a second, at most `burst` saved up. `acquire()` waits its turn
(callers are served first come, first served). After the exchange answers with a rate-limit code,
`penalize(seconds)` makes *everyone* sharing the limiter wait, so no request is sent during the backoff.
`acquire(urgent=True)` (order placements and cancels) is served before every ordinary caller still
waiting: a decision must not queue behind the polling reads. The clock and sleep are injectable, so tests
can check the waits exactly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class RateLimiter:
    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = monotonic()
        self._blocked_until = 0.0
        self._lock = asyncio.Lock()
        self._urgent = 0
        self._no_urgent = asyncio.Event()
        self._no_urgent.set()
        self.acquired = 0
        self.waited_s = 0.0
        self.penalties = 0

    @property
    def blocked_until(self) -> float:
        """Monotonic time before which nothing may be sent (0 when not penalised)."""
        return self._blocked_until

    def penalize(self, seconds: float) -> None:
        """Nobody sends for `seconds` from now (an existing longer block is kept); the bucket empties."""
        self.penalties += 1
        until = self._monotonic() + seconds
        if until > self._blocked_until:
            self._blocked_until = until
        self._tokens = 0.0
        self._updated = self._monotonic()

    async def acquire(self, *, urgent: bool = False) -> None:
        if not urgent:
            await self._take()
            return
        self._urgent += 1
        self._no_urgent.clear()
        try:
            await self._take(urgent=True)
        finally:
            self._urgent -= 1
            if not self._urgent:
                self._no_urgent.set()

    async def _take(self, *, urgent: bool = False) -> None:
        while not urgent and self._urgent:  # an urgent caller is waiting: it goes first
            await self._no_urgent.wait()
        async with self._lock:
            while True:
                if not urgent and self._urgent:
                    break  # step aside: released below, then wait for the urgent ones
                now = self._monotonic()
                if now < self._blocked_until:
                    await self._wait(self._blocked_until - now)
                    continue
                self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate_per_s)
                self._updated = now
                # The epsilon absorbs float noise (0.1 s × 10/s can come out as 0.9999999999999432 tokens,
                # and the remaining wait then rounds away to nothing).
                if self._tokens >= 1.0 - 1e-9:
                    self._tokens = max(0.0, self._tokens - 1.0)
                    self.acquired += 1
                    return
                await self._wait((1.0 - self._tokens) / self.rate_per_s)
        await self._take()  # stepped aside for an urgent caller: queue again

    async def _wait(self, seconds: float) -> None:
        self.waited_s += seconds
        await self._sleep(seconds)
