"""The paper broker's books: cash, realized PnL, fees and funding, the open position, and the events that
record each change (`Fill`, `PositionOpened`, `PositionClosed`, `FundingApplied`).

The rules of when and at what price something fills are the broker's (`paper_broker.py`); this is only
the ledger they write to, kept exact. Accounting identity, checked by `check_invariants()`: cash = start +
realized PnL − fees − funding (summed over the account's brokers), and the position's quantity equals the
sum of its signed fills. A liquidation's `covered` (the loss beyond the margin the venue takes on) is
booked as part of its realized PnL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from laptop_agents.core.candle import Candle
from laptop_agents.core.errors import InvariantError
from laptop_agents.core.events import Event, ExitReason, Fill, FundingApplied, PositionClosed
from laptop_agents.core.orders import EntryIntent, Position
from laptop_agents.execution.account import Account
from laptop_agents.execution.margin import MarginModel
from laptop_agents.execution.position_events import position_closed, position_opened

EventSink = Callable[[Event], None]
_NEWER_SLOTS: dict[str, Any] = {"liquidation_price": None, "margin": 0.0}
"""Position fields a checkpoint from before isolated margin lacks (the margin model fills them in)."""


class PaperBooks:
    """One symbol's books on an account (shared with the other symbols' in a multi-symbol run)."""

    def __init__(self, symbol: str, account: Account, emit: EventSink, margin: MarginModel | None) -> None:
        self.symbol = symbol
        self.account = account
        self.realized_pnl = 0.0
        self.fees_paid = 0.0
        self.funding_paid = 0.0
        self.position: Position | None = None
        self.next_trade_id = 1
        self.margin = margin
        """Isolated margin and liquidation (None: no margin model, nothing is ever liquidated)."""
        self._emit = emit
        self._net_fill_qty = 0.0
        account.register(self)

    @property
    def cash(self) -> float:
        """The account's cash (shared with the other symbols' brokers in a multi-symbol run)."""
        return self.account.cash

    def equity(self, price: float) -> float:
        """Cash plus this symbol's unrealized PnL marked at `price` (the account's equity when it is the
        only symbol; see `Account.equity` otherwise)."""
        position = self.position
        if position is None:
            return self.cash
        return self.cash + position.direction * position.qty * (price - position.entry_price)

    def check_invariants(self) -> None:
        """Raise `InvariantError` when the books do not add up (design §4.4)."""
        self.account.check_invariants()
        position = self.position
        held = 0.0 if position is None else position.direction * position.qty
        if abs(held - self._net_fill_qty) > 1e-9:
            raise InvariantError(f"position {held!r} != sum of fills {self._net_fill_qty!r}")
        if position is not None and not position.qty > 0:
            raise InvariantError(f"position quantity {position.qty!r} must be > 0")

    # -- Checkpoint --------------------------------------------------------------------------------------

    def books_state(self) -> dict[str, Any]:
        position = self.position
        return {
            "cash": self.cash, "realized_pnl": self.realized_pnl, "fees_paid": self.fees_paid,
            "funding_paid": self.funding_paid, "next_trade_id": self.next_trade_id,
            "position": None if position is None else {slot: getattr(position, slot) for slot in Position.__slots__},
        }  # fmt: skip

    def restore_books(self, state: dict[str, Any]) -> None:
        self.account.cash, self.realized_pnl = float(state["cash"]), float(state["realized_pnl"])
        self.fees_paid, self.funding_paid = float(state["fees_paid"]), float(state["funding_paid"])
        self.next_trade_id = int(state["next_trade_id"])
        saved = state.get("position")
        self.position = None
        if saved is not None:
            position = Position.__new__(Position)
            for slot in Position.__slots__:
                setattr(
                    position, slot, saved[slot] if slot in saved or slot not in _NEWER_SLOTS else _NEWER_SLOTS[slot]
                )
            self.position = position
            if self.margin is None:  # margin switched off (--reconfigure): nothing liquidates it now
                position.liquidation_price, position.margin = None, 0.0
            elif position.liquidation_price is None:  # from before isolated margin, or margin switched on
                self.margin.open(position)
        self._net_fill_qty = 0.0 if self.position is None else self.position.direction * self.position.qty

    # -- Booking -----------------------------------------------------------------------------------------

    def _open(
        self,
        ts: int,
        cid: str,
        qty: float,
        price: float,
        fee_rate: float,
        liquidity: str,
        intent: EntryIntent,
    ) -> Position:
        d = 1.0 if intent.side == "long" else -1.0
        fee = qty * price * fee_rate
        self.account.cash -= fee
        self.fees_paid += fee
        self._net_fill_qty += d * qty
        stop, target = intent.stop_and_target(price)
        trade_id = self.next_trade_id
        self.next_trade_id = trade_id + 1
        position = Position(
            trade_id=trade_id,
            client_order_id=cid,
            side=intent.side,
            qty=qty,
            entry_ts=ts,
            entry_price=price,
            entry_fee=fee,
            stop=stop,
            target=target,
            setup=intent.setup,
            trail_activation_r=intent.trail_activation_r,
            trail_distance_r=intent.trail_distance_r,
        )
        if self.margin is not None:
            self.margin.open(position)
        self.position = position
        self._fill(ts, cid, d, qty, price, fee, liquidity)
        self._emit(position_opened(self.symbol, position))
        return position

    def _fill(self, ts: int, cid: str, direction: float, qty: float, price: float, fee: float, liquidity: str) -> None:
        """The `Fill` of an order `cid` buying (`direction` > 0) or selling `qty` at `price`."""
        self._emit(
            Fill(ts=ts, symbol=self.symbol, fill_id=f"{cid}-1", client_order_id=cid,
                 side="buy" if direction > 0 else "sell", qty=qty, price=price, fee=fee,
                 liquidity="taker" if liquidity == "taker" else "maker")
        )  # fmt: skip

    def _close(
        self,
        ts: int,
        position: Position,
        cid: str,
        price: float,
        fee_rate: float,
        liquidity: str,
        reason: ExitReason,
        covered: float = 0.0,
    ) -> PositionClosed:
        qty = position.qty
        fee = qty * price * fee_rate
        pnl = position.direction * qty * (price - position.entry_price) + covered
        self.account.cash += pnl - fee
        self.realized_pnl += pnl
        self.fees_paid += fee
        self._net_fill_qty -= position.direction * qty
        self.position = None
        self._fill(ts, cid, -position.direction, qty, price, fee, liquidity)
        closed = position_closed(
            self.symbol, position, ts=ts, qty=qty, exit_price=price, pnl=pnl, exit_fee=fee, reason=reason
        )
        self._emit(closed)
        return closed

    def _charge_funding(self, candle: Candle, rate: float) -> None:
        position = self.position
        if position is None or rate == 0.0:
            return
        amount = position.direction * position.qty * candle.open * rate
        self.account.cash -= amount
        self.funding_paid += amount
        position.funding += amount
        self._emit(
            FundingApplied(
                ts=candle.ts,
                symbol=self.symbol,
                trade_id=position.trade_id,
                rate=rate,
                mark_price=candle.open,
                qty=position.qty,
                amount=amount,
            )
        )
