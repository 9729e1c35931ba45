"""The live-exchange venue of a replay: the session's brokers over an order journal kept in memory, driven
by the recorded venue inputs instead of an exchange.

Each session builds its brokers with the contracts its preflight read (`VenueContract`, recorded before
the session's first record) and a fresh `HardLimits`, as a new process does; the journal and the clocks'
readings carry over from session to session, as the run's `orders.jsonl` does. The commands the brokers
queue (sends, cancels, stop moves) go nowhere: what the exchange made of them is in the recorded inputs.
"""

from __future__ import annotations

from collections.abc import Callable

from laptop_agents.config.models import Settings
from laptop_agents.core.clock import SessionTime
from laptop_agents.core.errors import InputError
from laptop_agents.core.events import Event, OrderState
from laptop_agents.core.inputs import Input, VenueContract
from laptop_agents.engine.assembly import BrokerFactory
from laptop_agents.exchange.bitunix.wire import ContractSpec
from laptop_agents.execution.account import Account
from laptop_agents.execution.broker import Broker
from laptop_agents.live.broker import BitunixBroker, Command
from laptop_agents.live.inputs import apply_venue_input
from laptop_agents.live.journal import OrderJournal
from laptop_agents.live.limits import HardLimits
from laptop_agents.live.venue import decision_window


class ReplayVenue:
    def __init__(self) -> None:
        self.journal = OrderJournal(None)
        self.time = SessionTime()
        self.brokers: dict[str, BitunixBroker] = {}
        self.limits: HardLimits | None = None

    def broker_factory(self, settings: Settings, contracts: dict[str, VenueContract]) -> BrokerFactory:
        """A new session's brokers (the journal and the clocks go on)."""
        self.brokers.clear()
        limits = self.limits = HardLimits(settings.live)
        interval, max_age = decision_window(settings)

        def build(symbol: str, account: Account, emit: Callable[[Event], None]) -> Broker:
            contract = contracts.get(symbol)
            if contract is None:
                raise InputError(f"events.jsonl has no VenueContract for {symbol}: the session's contract is unknown")
            spec = ContractSpec(**contract.spec)
            broker = BitunixBroker(
                settings.broker, symbol=symbol, spec=spec, leverage=contract.leverage, journal=self.journal,
                limits=limits, account=account, emit=emit, time=self.time, submit=_nowhere,
                interval_ms=interval, max_decision_age_ms=max_age,
            )  # fmt: skip
            self.brokers[symbol] = broker
            return broker

        return build

    def apply(self, item: Input | OrderState) -> None:
        if self.limits is None:
            raise InputError(f"events.jsonl: {type(item).__name__} before the session's start")
        apply_venue_input(self.brokers, self.journal, self.limits, self.time, item)


def _nowhere(_command: Command) -> None:
    """A command the replayed broker queues: what the exchange made of it is in the recorded inputs."""
