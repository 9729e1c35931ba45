"""Build a TradingCore from settings: the one place that wires strategy, broker, risk and ids."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from laptop_agents.config.models import Settings, effective_leverage
from laptop_agents.core.events import (
    Event,
    Fill,
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
    PositionClosed,
    PositionOpened,
)
from laptop_agents.core.ids import ClientOrderIds
from laptop_agents.engine.breaker_shadow import BreakerShadow
from laptop_agents.engine.portfolio import Portfolio
from laptop_agents.engine.trading_core import EquitySink, TradingCore
from laptop_agents.execution.account import Account
from laptop_agents.execution.broker import Broker
from laptop_agents.execution.funding import ConstantFunding, FundingSchedule, ObservedFunding, TableFunding
from laptop_agents.execution.margin import MarginModel
from laptop_agents.execution.paper_broker import PaperBroker
from laptop_agents.risk.circuit_breaker import CircuitBreaker
from laptop_agents.risk.sizing import PositionSizer
from laptop_agents.strategy import registry
from laptop_agents.strategy.base import BaseStrategy, Strategy

if TYPE_CHECKING:
    from laptop_agents.strategy.supervisor.flows import FundingSource

BrokerFactory = Callable[[str, Account, Callable[[Event], None]], Broker]
"""(symbol, the shared account, that symbol's event sink) → that symbol's broker."""


def funding_schedule(settings: Settings) -> FundingSchedule | None:
    """The configured funding: a CSV table, a constant rate, or None when funding is off (rate 0)."""
    broker = settings.broker
    if broker.funding_csv:
        return TableFunding.from_csv(Path(broker.funding_csv))
    if broker.funding_rate != 0.0:
        return ConstantFunding(broker.funding_rate)
    return None


def margin_model(settings: Settings, symbol: str) -> MarginModel | None:
    """The symbol's isolated margin (`broker.margin_mode`), at the leverage the venue is set to."""
    broker = settings.broker
    if broker.margin_mode == "off":
        return None
    own = broker.symbols.get(symbol)
    tiers = own.position_tiers if own is not None and own.position_tiers is not None else broker.position_tiers
    return MarginModel(effective_leverage(settings), tiers)


def build_core(
    settings: Settings,
    *,
    emit: Callable[[Event], None],
    on_equity: EquitySink | None = None,
    order_id_prefix: str = "la",
) -> TradingCore:
    """The one-symbol core of a backtest (`data.symbol`)."""
    portfolio = build_portfolio(
        settings,
        emit=emit,
        equity_sink=lambda _symbol: on_equity,
        order_id_prefix=order_id_prefix,
        symbols=(settings.data.symbol,),
    )
    return portfolio.primary


def build_portfolio(
    settings: Settings,
    *,
    emit: Callable[[Event], None],
    equity_sink: Callable[[str], EquitySink | None] | None = None,
    order_id_prefix: str = "la",
    symbols: tuple[str, ...] | None = None,
    broker_factory: BrokerFactory | None = None,
    observed_funding: bool = False,
) -> Portfolio:
    """One core per symbol (`data.symbols`, else `data.symbol`) on one account and one breaker.
    `equity_sink(symbol)` gives each core its equity sink (see `reporting.account_bars`).

    With several symbols each gets its own client-id prefix (`<prefix>-<symbol>`), so ids never collide
    and say which market they belong to. `broker_factory` replaces the PaperBroker (live-exchange).
    `observed_funding`: each strategy reads the funding rate its core is given (`FundingObserved`, the
    live modes' exchange rate); otherwise the configured funding, or 0, as the broker charges it."""
    symbols = symbols or settings.data.trading_symbols
    balance = settings.broker.starting_balance
    account = Account(balance)
    breaker = CircuitBreaker(
        settings.circuit_breaker,
        starting_equity=balance,
        emit=emit,
        symbol=",".join(symbols),
    )
    funding = funding_schedule(settings)
    configured: FundingSource = funding if funding is not None else ConstantFunding(0.0)
    cores: dict[str, TradingCore] = {}
    for symbol in symbols:
        prefix = order_id_prefix if len(symbols) == 1 else f"{order_id_prefix}-{symbol_tag(symbol)}"
        # a backtest's strategies read the funding the broker charges; a live one what it is told
        observed = ObservedFunding() if observed_funding else None
        source = configured if observed is None else observed
        strategy = registry.build_strategy(settings.strategy, emit=emit, symbol=symbol, funding=source)
        symbol_emit = order_aware_sink(emit, strategy)
        broker = (
            PaperBroker(settings.broker, symbol=symbol, emit=symbol_emit, funding=funding, account=account,
                        margin=margin_model(settings, symbol))
            if broker_factory is None
            else broker_factory(symbol, account, symbol_emit)
        )  # fmt: skip
        cores[symbol] = TradingCore(
            symbol=symbol,
            strategy=strategy,
            broker=broker,
            sizer=PositionSizer(settings.risk),
            breaker=breaker,
            ids=ClientOrderIds(prefix),
            emit=symbol_emit,
            on_equity=None if equity_sink is None else equity_sink(symbol),
            rr_min=settings.risk.rr_min,
            cancel_resting_on_halt=settings.risk.cancel_resting_on_halt,
        )
        cores[symbol].funding = observed
        if settings.circuit_breaker.enabled:  # what its refusals would have done, for the report
            cores[symbol].shadow = BreakerShadow(settings.broker, symbol=symbol)
        strategy.attach_risk_gate(cores[symbol].gate)
    return Portfolio(cores)


ORDER_EVENTS: frozenset[type[Event]] = frozenset(
    (OrderPlaced, OrderRejected, OrderCancelled, Fill, PositionOpened, PositionClosed)
)


def order_aware_sink(emit: Callable[[Event], None], strategy: Strategy) -> Callable[[Event], None]:
    """The sink for a symbol's broker and core: the strategy hears of its orders and positions
    (`on_order_event`) right after each is logged; a strategy that keeps BaseStrategy's no-op is not called."""
    hook = strategy.on_order_event
    if getattr(hook, "__func__", None) is BaseStrategy.on_order_event:
        return emit

    def sink(event: Event) -> None:
        emit(event)
        if type(event) in ORDER_EVENTS:
            hook(event)

    return sink


def symbol_tag(symbol: str) -> str:
    """The symbol as a client-id part: lower-case letters and digits, at most 11 (BTCUSDT → btcusdt)."""
    return "".join(ch for ch in symbol.lower() if ch.isalnum())[:11]
