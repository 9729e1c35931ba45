"""The exchange's funding rate for the strategies' funding gate (A2) in the live modes.

`LiveFundingRates` asks the exchange for each symbol's current rate every `exchange.funding_poll_s`
(over REST, on the rate limiter the candle feed shares) and tells each answer to `on_rate(symbol, rate)`,
which hands it to the core as a recorded input (`FundingObserved`, see `engine.inputs`); once the last
answer is older than `exchange.funding_max_age_s` (judged here after each poll, on the monotonic clock: a
wall clock stepped back must not keep an old rate fresh, nor one stepped forward age a new one) it says
None (the gate's `funding_missing` flag). A strategy never reads the clock or this poller itself.

A failed poll never stops the session: the first failure of a run of them is an `Error` event (not
fatal), the rest are counted in the heartbeat (`funding`), and the next period asks again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol, runtime_checkable

from laptop_agents.core.clock import Clock
from laptop_agents.core.errors import LaptopAgentsError
from laptop_agents.core.events import Error, Event


@runtime_checkable
class FundingRateFeed(Protocol):
    """A feed with an exchange behind it that can say the current funding rate."""

    async def funding_rate(self, symbol: str) -> float:
        """The symbol's current funding rate, per 8 h period, as a fraction."""
        ...


class LiveFundingRates:
    name = "funding"
    """The heartbeat key of its status."""

    def __init__(
        self,
        feed: FundingRateFeed,
        *,
        poll_s: float,
        max_age_s: float,
        clock: Clock,
        emit: Callable[[Event], None],
        symbols: Sequence[str],
        on_rate: Callable[[str, float | None, str], None],
    ) -> None:
        self._feed = feed
        self.symbols = list(symbols)
        """The symbols polled (those whose strategies read the rate)."""
        self._on_rate = on_rate
        self._poll_s = poll_s
        self._max_age_s = max_age_s
        self._clock = clock
        self._emit = emit
        self._rates: dict[str, tuple[float, float]] = {}
        """symbol → (rate, monotonic seconds of the answer)."""
        self.polls = 0
        self.failures = 0
        self.last_error: str | None = None
        self._failing = False

    def current(self, symbol: str) -> float | None:
        reading = self._rates.get(symbol)
        if reading is None or self._clock.monotonic_s() - reading[1] > self._max_age_s:
            return None
        return reading[0]

    async def refresh(self) -> None:
        """Ask for every symbol's rate once; a failure keeps the previous answer (until it ages out)."""
        self.polls += 1
        answered = True
        for symbol in self.symbols:
            try:
                rate = await self._feed.funding_rate(symbol)
            except LaptopAgentsError as exc:
                answered = False
                self._failed(symbol, exc)
                continue
            self._rates[symbol] = (rate, self._clock.monotonic_s())
            self._on_rate(symbol, rate, "polled")
        if answered:  # the run of failures is over: the next one is reported again
            self._failing = False
        for symbol in self.symbols:
            if symbol in self._rates and self.current(symbol) is None:
                self._on_rate(symbol, None, f"the last answer is older than {self._max_age_s:g} s")

    def _failed(self, symbol: str, exc: LaptopAgentsError) -> None:
        self.failures += 1
        self.last_error = f"{symbol}: {exc}"
        if self._failing:
            return
        self._failing = True
        self._emit(
            Error(
                ts=self._clock.now_ms(),
                symbol=symbol,
                where="funding",
                fatal=False,
                message=(
                    f"funding rate poll failed ({exc}); the last rate is used for up to "
                    f"{self._max_age_s:g} s, then the funding gate flags funding_missing"
                ),
            )
        )

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            await self.refresh()

    # -- Service (runs beside the cores) ----------------------------------------------------------------

    def tasks(self) -> dict[str, Coroutine[Any, Any, None]]:
        return {"funding": self._poll()}

    async def shutdown(self) -> None:
        return None

    def status(self) -> dict[str, Any]:
        now = self._clock.monotonic_s()
        return {
            "rates": {s: self.current(s) for s in self.symbols},
            "age_s": {s: round(now - r[1], 1) for s, r in self._rates.items()},
            "polls": self.polls,
            "failures": self.failures,
            "last_error": self.last_error,
        }
