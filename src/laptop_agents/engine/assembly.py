"""Build a TradingCore from settings: the one place that wires strategy, broker, risk and ids."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from laptop_agents.config.models import Settings
from laptop_agents.core.events import Event
from laptop_agents.core.ids import ClientOrderIds
from laptop_agents.engine.trading_core import EquitySink, TradingCore
from laptop_agents.execution.funding import ConstantFunding, FundingSchedule, TableFunding
from laptop_agents.execution.paper_broker import PaperBroker
from laptop_agents.risk.circuit_breaker import CircuitBreaker
from laptop_agents.risk.sizing import PositionSizer
from laptop_agents.strategy import registry
from laptop_agents.strategy.base import Strategy


def funding_schedule(settings: Settings) -> FundingSchedule | None:
    """The configured funding: a CSV table, a constant rate, or None when funding is off (rate 0)."""
    broker = settings.broker
    if broker.funding_csv:
        return TableFunding.from_csv(Path(broker.funding_csv))
    if broker.funding_rate != 0.0:
        return ConstantFunding(broker.funding_rate)
    return None


def build_strategy(settings: Settings, emit: Callable[[Event], None]) -> Strategy:
    return registry.build_strategy(settings.strategy, emit=emit, symbol=settings.data.symbol)


def build_core(
    settings: Settings,
    *,
    emit: Callable[[Event], None],
    on_equity: EquitySink | None = None,
    order_id_prefix: str = "la",
) -> TradingCore:
    symbol = settings.data.symbol
    broker = PaperBroker(settings.broker, symbol=symbol, emit=emit, funding=funding_schedule(settings))
    breaker = CircuitBreaker(
        settings.circuit_breaker, starting_equity=settings.broker.starting_balance, emit=emit, symbol=symbol
    )
    return TradingCore(
        symbol=symbol,
        strategy=build_strategy(settings, emit),
        broker=broker,
        sizer=PositionSizer(settings.risk),
        breaker=breaker,
        ids=ClientOrderIds(order_id_prefix),
        emit=emit,
        on_equity=on_equity,
    )
