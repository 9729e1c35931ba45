"""A2 DerivativesFlows: the funding-rate gate.

Rates are per 8-hour funding period, as fractions (0.0001 = 0.01 %); a positive rate is paid by longs.
The rate is read from the funding source every `funding_refresh_bars` candles (every candle while it is
unknown): in the live modes the exchange's current rate (`feeds.funding_rates`, polled every
`exchange.funding_poll_s`), in a backtest `broker.funding_csv` or `broker.funding_rate`.

- the side we would take pays more than `funding_half_size_above`: half size;
- it pays more than `funding_no_trade_above`: no entry that way (`funding_no_trade`);
- |rate| above `funding_halt_above`: no entry either way (`funding_halt`): the market is stretched;
- no rate known: the flag `funding_missing`, and no entry only with `require_funding`.
"""

from __future__ import annotations

from typing import Any, Protocol

from laptop_agents.core.events import Side
from laptop_agents.strategy.supervisor.params import SupervisorParams


class FundingSource(Protocol):
    def current_rate(self, ts: int) -> float | None:
        """The funding rate in force at `ts` (per period, fraction), or None when it is not known."""
        ...


class FundingGate:
    __slots__ = ("_every", "_half", "_halt", "_no_trade", "_require", "_source", "_until_refresh", "rate")

    def __init__(self, params: SupervisorParams, source: FundingSource | None) -> None:
        self._source = source
        self._every = params.funding_refresh_bars
        self._half = params.funding_half_size_above
        self._no_trade = params.funding_no_trade_above
        self._halt = params.funding_halt_above
        self._require = params.require_funding
        self._until_refresh = 0
        self.rate: float | None = None

    def update(self, ts: int) -> None:
        """Count the candle; read the rate when a refresh is due (the first candle reads it at once). An
        unknown rate is asked again on every candle until it is known."""
        left = self._until_refresh
        if left > 0 and self.rate is not None:
            self._until_refresh = left - 1
            return
        self._until_refresh = self._every - 1
        source = self._source
        self.rate = None if source is None else source.current_rate(ts)

    def check(self, side: Side) -> tuple[str | None, float, str | None]:
        """(the reason entries that way are blocked or None, the size multiplier, a flag or None)."""
        rate = self.rate
        if rate is None:
            return ("funding_missing" if self._require else None), 1.0, "funding_missing"
        if abs(rate) > self._halt:
            return "funding_halt", 1.0, None
        paid = rate if side == "long" else -rate  # what the side we would take pays per period
        if paid > self._no_trade:
            return "funding_no_trade", 1.0, None
        if paid > self._half:
            return None, 0.5, "funding_half_size"
        return None, 1.0, None

    def state(self) -> dict[str, Any]:
        return {"rate": self.rate, "until_refresh": self._until_refresh}

    def restore(self, state: dict[str, Any]) -> None:
        self.rate = None if state["rate"] is None else float(state["rate"])
        self._until_refresh = int(state["until_refresh"])
