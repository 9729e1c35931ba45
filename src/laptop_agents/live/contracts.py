"""The contracts' rules as the exchange has them now: read again periodically and after a filter refusal.

The preflight reads each symbol's contract (tick, lot, min and max quantity, leverage bounds) at the start;
a venue may change them while the daemon runs (a new tick size, a raised minimum). So they are read again
every `live.contract_refresh_s` on the monotonic clock (a wall clock stepped by NTP neither hastens nor
delays it), in the sync pass, and at once when the exchange refused an order for one of them (`request`,
see `refusals.py`). A rule that changed is applied to the broker through `VenueInputs.contract` (the
`ContractRefreshed` input: a replay applies it at the same point) and said once (`Error where=contract`),
so the next decision is rounded, sized and checked locally against it. A read that fails is said once and
tried again on the next pass.
"""

from __future__ import annotations

from collections.abc import Mapping

from laptop_agents.config.models import LiveConfig
from laptop_agents.core.clock import Clock
from laptop_agents.core.events import Error
from laptop_agents.exchange.bitunix.errors import ExchangeError
from laptop_agents.exchange.bitunix.rest import BitunixRest
from laptop_agents.exchange.bitunix.wire import ContractSpec
from laptop_agents.live.broker import BitunixBroker, round_to_step
from laptop_agents.live.inputs import VenueInputs
from laptop_agents.live.order_log import OrderLog

_NAMES = {
    "tick": "tick", "qty_step": "lot", "min_qty": "min qty", "max_market_qty": "max market qty",
    "max_limit_qty": "max limit qty", "min_leverage": "min leverage", "max_leverage": "max leverage",
    "default_leverage": "default leverage", "status": "status", "api_trading": "API trading",
}  # fmt: skip


def spec_breaks(spec: ContractSpec, qty: float, price: float | None, order_type: str) -> str | None:
    """The rule of `spec` an order of `qty` (at a limit `price`) breaks, or None: whether the contract as
    it stands explains a filter refusal, whichever read applied its change (a periodic one may have, between
    the order's sizing and the refusal's arrival). The rules are the ones the broker checks before it sends
    (the market maximum for every order): "explained" means the next such order is refused locally, so a
    refusal this calls explained cannot repeat at the venue."""
    if qty < spec.min_qty:
        return f"quantity {qty:g} below the minimum {spec.min_qty:g}"
    if qty > spec.max_market_qty:
        return f"quantity {qty:g} above the maximum {spec.max_market_qty:g}"
    if not _on_grid(qty, spec.qty_step):
        return f"quantity {qty:g} off the lot {spec.qty_step:g}"
    if price is not None and order_type == "LIMIT" and not _on_grid(price, spec.tick):
        return f"price {price:g} off the tick {spec.tick:g}"
    return None


def _on_grid(value: float, step: float) -> bool:
    """`value` is what the broker's own rounding to `step` makes of it (a step of 0: no grid)."""
    return step <= 0 or round_to_step(value, step, "nearest") == value


def spec_changes(old: ContractSpec, new: ContractSpec) -> str:
    """What changed between two readings of a contract, e.g. "min qty 0.001 → 0.01, lot 0.001 → 0.01"."""
    parts = []
    for attr, name in _NAMES.items():
        before, after = getattr(old, attr), getattr(new, attr)
        if before != after:
            parts.append(f"{name} {before:g} → {after:g}" if isinstance(after, float) else f"{name} {before} → {after}")
    return ", ".join(parts)


class ContractWatch:
    def __init__(
        self,
        *,
        rest: BitunixRest,
        brokers: Mapping[str, BitunixBroker],
        inputs: VenueInputs,
        log: OrderLog,
        clock: Clock,
        config: LiveConfig,
    ) -> None:
        self.rest = rest
        self.brokers = brokers
        self.inputs = inputs
        self.log = log
        self.clock = clock
        self.interval_s = config.contract_refresh_s
        self.reads = 0
        """Reads made since the start (the preflight's not counted)."""
        self._next_s = clock.monotonic_s() + self.interval_s
        """When the next periodic read is due (monotonic s): the preflight's read counts as the first."""

    def due(self) -> bool:
        return self.clock.monotonic_s() >= self._next_s

    def request(self) -> None:
        """The exchange refused an order for a filter: read the contracts at the next chance."""
        self._next_s = -float("inf")

    async def refresh_if_due(self) -> None:
        if self.due():
            await self.refresh()

    async def refresh(self) -> dict[str, bool] | None:
        """Read every symbol's contract and apply what changed: symbol → changed, or None when the read
        failed (said once; still due, so the next pass tries again)."""
        symbols = list(self.brokers)
        self._next_s = min(self._next_s, self.clock.monotonic_s())  # due until a read succeeds
        try:
            specs = {spec.symbol: spec for spec in await self.rest.trading_pairs(symbols)}
        except ExchangeError as exc:
            self.log.trouble("contracts", ",".join(symbols), f"reading the contracts again: {exc}; retrying")
            return None
        self.log.solved("contracts")
        self.reads += 1
        self._next_s = self.clock.monotonic_s() + self.interval_s
        changed: dict[str, bool] = {}
        for symbol, broker in self.brokers.items():
            spec = specs.get(symbol)
            if spec is None:
                self.log.trouble(f"contract:{symbol}", symbol, f"the exchange no longer lists {symbol}; its orders "
                                 "are checked against the contract read before")  # fmt: skip
                changed[symbol] = False
                continue
            self.log.solved(f"contract:{symbol}")
            changed[symbol] = spec != broker.spec
            if changed[symbol]:
                changes = spec_changes(broker.spec, spec)
                self.inputs.contract(symbol, spec, changes)
                note = ""
                if spec.max_leverage < broker.configured_leverage:
                    note = (f"; it allows at most {spec.max_leverage}x now, below the {broker.configured_leverage}x "
                            "set: margin is checked at that, restart to set a leverage inside it")  # fmt: skip
                self.log.emit(Error(ts=self.clock.now_ms(), symbol=symbol, where="contract", fatal=False,
                                    message=f"{symbol}'s contract changed on the exchange: {changes}; orders are "
                                    f"rounded, sized and checked against it from now on{note}"))  # fmt: skip
        return changed
