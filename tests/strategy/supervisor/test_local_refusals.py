"""A refused entry always clears the supervisor's plan (issue 13, item 3).

The live broker refuses some entries itself, with the order's client id (`client_id_used` after a kill -9
and resume, `order_in_flight`, hard limits, `stale_decision`), before any `OrderPlaced`. The plan learnt
its client id only from `OrderPlaced`, so such a refusal did not match it: the plan stayed "sent", every
later setup was blocked `order_pending`, and the stuck plan went into the checkpoint."""

from __future__ import annotations

from collections.abc import Callable

from laptop_agents.core.events import Event, JournalRecord, OrderRejected, SignalGenerated
from laptop_agents.core.orders import EntryIntent
from laptop_agents.engine.assembly import build_portfolio
from laptop_agents.execution.account import Account
from laptop_agents.execution.broker import Broker
from laptop_agents.execution.paper_broker import PaperBroker
from tests.exchange.conftest import bundled_candles
from tests.helpers import settings


class LocallyRefusingBroker(PaperBroker):
    """Refuses every entry the way the live broker's local checks do: an `OrderRejected` naming the
    client id, and nothing placed."""

    def _refuse(self, ts: int, client_order_id: str, intent: EntryIntent) -> bool:
        self._emit(
            OrderRejected(
                ts=ts,
                symbol=self.symbol,
                client_order_id=client_order_id,
                side=intent.order_side,
                reason="client_id_used",
                detail="already in the journal",
            )
        )
        return False

    def open_market(self, *, ts: int, client_order_id: str, qty: float, ref_price: float, intent: EntryIntent) -> bool:
        return self._refuse(ts, client_order_id, intent)

    def place_resting(
        self, *, ts: int, client_order_id: str, qty: float, intent: EntryIntent, ref_price: float | None = None
    ) -> bool:
        return self._refuse(ts, client_order_id, intent)


def test_a_local_refusal_with_a_client_id_clears_the_plan_and_trading_goes_on() -> None:
    s = settings("strategy.name=scalp_1m_sweep", "circuit_breaker.enabled=false")
    events: list[Event] = []

    def factory(symbol: str, account: Account, emit: Callable[[Event], None]) -> Broker:
        return LocallyRefusingBroker(s.broker, symbol=symbol, emit=emit, account=account)

    core = build_portfolio(s, emit=events.append, broker_factory=factory).primary
    for candle in bundled_candles():
        core.on_candle(candle)
    records = [e for e in events if isinstance(e, JournalRecord)]
    plans = [r for r in records if r.kind == "plan"]
    rejects = [r for r in records if r.kind == "reject"]
    assert len(plans) >= 3  # one stuck plan would have blocked every later setup
    assert len(rejects) == len(plans) and {r.detail["reason"] for r in rejects} == {"client_id_used"}
    blocked = [e for e in events if isinstance(e, SignalGenerated) and e.blocked_reason == "order_pending"]
    assert blocked == []
    assert core.strategy.state()["journal"]["plan"] is None  # nothing stuck goes into a checkpoint
