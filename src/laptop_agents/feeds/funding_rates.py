"""The exchange's funding rate for the strategies' funding gate (A2) in the live modes.

`LiveFundingRates` asks the exchange for each symbol's current rate every `exchange.funding_poll_s`
(over REST, on the rate limiter the candle feed shares) and keeps the latest answer. A strategy reads it
through `source(symbol)`, a `FundingSource`: the latest rate, or None (the gate's `funding_missing` flag)
before the first answer and once the last answer is older than `exchange.funding_max_age_s`.

A failed poll never stops the session: the first failure of a run of them is an `Error` event (not
fatal), the rest are counted in the heartbeat (`funding`), and the next period asks again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
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


class SymbolFunding:
    """One symbol's view of the polled rates: what its strategy's funding gate reads."""

    __slots__ = ("_rates", "symbol")

    def __init__(self, rates: LiveFundingRates, symbol: str) -> None:
        self._rates = rates
        self.symbol = symbol

    def current_rate(self, ts: int) -> float | None:
        """The latest polled rate while it is fresh, else None. `ts` (candle time) is not used: freshness
        is measured on the wall clock, since a replayed market's candle times are not now."""
        return self._rates.current(self.symbol)


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
    ) -> None:
        self._feed = feed
        self.symbols: list[str] = []
        """The symbols whose strategies asked for the rate (`source`): the ones polled."""
        self._poll_s = poll_s
        self._max_age_ms = max_age_s * 1000.0
        self._clock = clock
        self._emit = emit
        self._rates: dict[str, tuple[float, int]] = {}
        """symbol → (rate, wall ms of the answer)."""
        self.polls = 0
        self.failures = 0
        self.last_error: str | None = None
        self._failing = False

    def source(self, symbol: str) -> SymbolFunding:
        if symbol not in self.symbols:
            self.symbols.append(symbol)
        return SymbolFunding(self, symbol)

    def current(self, symbol: str) -> float | None:
        reading = self._rates.get(symbol)
        if reading is None or self._clock.now_ms() - reading[1] > self._max_age_ms:
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
            self._rates[symbol] = (rate, self._clock.now_ms())
        if answered:  # the run of failures is over: the next one is reported again
            self._failing = False

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
                    f"{self._max_age_ms / 1000:g} s, then the funding gate flags funding_missing"
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
        now = self._clock.now_ms()
        return {
            "rates": {s: self.current(s) for s in self.symbols},
            "age_s": {s: round((now - r[1]) / 1000.0, 1) for s, r in self._rates.items()},
            "polls": self.polls,
            "failures": self.failures,
            "last_error": self.last_error,
        }
