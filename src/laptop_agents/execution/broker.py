"""What the trading core asks of a broker: the PaperBroker (simulated fills) and the live BitunixBroker
(real orders) both answer it, so the same core trades a backtest, a paper session and the exchange."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from laptop_agents.core.candle import Candle
from laptop_agents.core.events import ExitReason, PositionClosed, Side
from laptop_agents.core.orders import EntryIntent, Position
from laptop_agents.execution.account import Account


class Broker(Protocol):
    symbol: str
    account: Account
    position: Position | None
    realized_pnl: float
    fees_paid: float
    funding_paid: float
    venue_prices_closes: bool
    """True when the venue prices a market close itself (live-exchange): the core may close a position
    before it has seen a candle (a stop's flatten right after a restart). A paper broker needs a price."""

    @property
    def pending(self) -> Mapping[str, Any]:
        """Resting entries by client id (truthy when any)."""

    @property
    def funding_due_ts(self) -> float:
        """The core calls `on_candle_open` when a position or resting entry exists, or from this time."""

    @property
    def cash(self) -> float: ...

    def equity(self, price: float) -> float: ...

    def market_fill_price(self, side: Side, ref_price: float) -> float: ...

    def entry_refusal(self, qty: float, price: float) -> tuple[str, str] | None:
        """(reason, detail) when the venue would not open this position (its margin rules), else None."""

    def open_market(
        self, *, ts: int, client_order_id: str, qty: float, ref_price: float, intent: EntryIntent
    ) -> bool: ...

    def place_resting(
        self, *, ts: int, client_order_id: str, qty: float, intent: EntryIntent, ref_price: float | None = None
    ) -> bool:
        """Rest a limit or trigger entry (`ref_price`: the decision's close, for a limit already marketable)."""

    def cancel(self, *, ts: int, client_order_id: str, reason: str) -> bool: ...

    def close_market(self, *, ts: int, ref_price: float, reason: ExitReason) -> PositionClosed | None: ...

    def on_candle_open(self, candle: Candle) -> tuple[PositionClosed, ...]: ...

    def update_trailing(self, candle: Candle) -> None: ...

    def state(self) -> dict[str, Any]: ...

    def restore(self, state: dict[str, Any]) -> None: ...

    def check_invariants(self) -> None: ...
