"""The one door into the trading cores of a live session: every input is recorded, then handled.

`CoreInputs` (`candle`, `warm_up`, `funding`, `flatten`) writes each input to the run's event log
(`events.jsonl`) and then hands it to `apply_input`, the function a replay calls with the recorded inputs;
so a session and its replay take the same path through the core. Halts are recorded by the cores' `Halts`
themselves (whoever sets one), once `CoreInputs` has given them their recorder.
"""

from __future__ import annotations

from collections.abc import Callable

from laptop_agents.core.candle import Candle
from laptop_agents.core.events import Event, ExitReason, PositionClosed
from laptop_agents.core.inputs import CandleClosed, FlattenRequested, FundingObserved, HaltChanged, Input
from laptop_agents.engine.portfolio import Portfolio


def apply_input(portfolio: Portfolio, item: Input) -> list[PositionClosed]:
    """Hand one input to the core of its symbol; what it closed (a flatten), if anything."""
    kind = type(item)
    core = portfolio.cores[item.symbol]
    if kind is CandleClosed:
        assert isinstance(item, CandleClosed)
        if item.warmup:
            core.strategy.warm_up(item.candle())
        else:
            core.on_candle(item.candle())
    elif kind is HaltChanged:
        assert isinstance(item, HaltChanged)
        if item.detail is None:
            dict.pop(core.halts, item.key, None)
        else:
            dict.__setitem__(core.halts, item.key, item.detail)
    elif kind is FundingObserved:
        assert isinstance(item, FundingObserved)
        if core.funding is not None:
            core.funding.rate = item.rate
    elif kind is FlattenRequested:
        assert isinstance(item, FlattenRequested)
        trade = core.flatten(item.reason)
        return [] if trade is None else [trade]
    return []


class CoreInputs:
    """Records each input (`record`, the event log's emit) before the core handles it. `now` is the session's
    clock, the time of the daemon's own inputs (halts, funding answers, flattens). `before` (live-exchange)
    is called with the symbol before a candle or a flatten reaches its core: the venue records the clocks
    its broker is about to read."""

    def __init__(
        self,
        portfolio: Portfolio,
        *,
        record: Callable[[Event], None],
        now: Callable[[], int],
        before: Callable[[str], None] | None = None,
    ) -> None:
        self.portfolio = portfolio
        self._record = record
        self._now = now
        self._before = before
        for symbol, core in portfolio.cores.items():
            core.halts.recorder = self._halt_recorder(symbol)

    def _halt_recorder(self, symbol: str) -> Callable[[str, str | None], None]:
        def record(key: str, detail: str | None) -> None:
            self._record(HaltChanged(ts=self._now(), symbol=symbol, key=key, detail=detail))

        return record

    def candle(self, symbol: str, candle: Candle) -> None:
        if self._before is not None:
            self._before(symbol)
        self._record(CandleClosed.of(symbol, candle))
        self.portfolio.cores[symbol].on_candle(candle)

    def warm_up(self, symbol: str, candle: Candle) -> None:
        self._record(CandleClosed.of(symbol, candle, warmup=True))
        self.portfolio.cores[symbol].strategy.warm_up(candle)

    def funding(self, symbol: str, rate: float | None, detail: str = "") -> None:
        """The poller's answer (or None once its last one is too old), only when it changes what the
        strategy reads."""
        core = self.portfolio.cores[symbol]
        if core.funding is None or core.funding.rate == rate:
            return
        item = FundingObserved(ts=self._now(), symbol=symbol, rate=rate, detail=detail)
        self._record(item)
        apply_input(self.portfolio, item)

    def flatten(self, reason: ExitReason) -> list[PositionClosed]:
        """Close every open position at market (the kill switch with flatten); recorded per symbol."""
        closed: list[PositionClosed] = []
        for symbol, core in self.portfolio.cores.items():
            if core.broker.position is None:
                continue
            if self._before is not None:
                self._before(symbol)
            item = FlattenRequested(ts=self._now(), symbol=symbol, reason=reason)
            self._record(item)
            closed += apply_input(self.portfolio, item)
        return closed
