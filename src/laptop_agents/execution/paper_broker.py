"""PaperBroker: simulated fills for backtest and live-paper, with the accounting identity kept exact.

Fill rules (prices in quote currency, costs in basis points of price):
- Market orders fill at the reference price (the decision candle's close) crossing half the spread plus
  slippage: a buy at ref × (1 + cost), a sell at ref × (1 − cost). Taker fee.
- Protective exits and limit fills follow `fill_rules`. Stop exits pay slippage and the taker fee;
  targets and limit entries the maker fee. A limit's fill candle is then checked against the stop only:
  the order of prices inside that candle is unknown, so the conservative reading is taken.
- Funding is charged at 00:00, 08:00 and 16:00 UTC, at the first candle at or after each time, on a position
  open then: amount = qty × open × rate, paid by longs when the rate is positive, received by shorts.
- Isolated margin (`margin`, see `margin.py`): each position holds notional / leverage as margin and is
  liquidated when a candle's adverse extreme (the mark's, with a mark series) reaches its liquidation
  price before its stop: the candle opened beyond it, or the stop lies beyond it (a stop between the open
  and the liquidation price is passed first and fills). It closes there (or at a worse open), with the
  liquidation fee; the loss never exceeds the margin, the rest is the venue's (`PositionLiquidated.covered`),
  so cash never goes below zero on a position's account of it.

The books (cash on an `Account` shared by the brokers of a multi-symbol run, PnL, fees, funding, the
position) and their accounting identity are `PaperBooks`'. Client order ids are idempotent: a repeated id
is ignored (within a bounded window of recent ids).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any

from laptop_agents.config.models import BrokerConfig
from laptop_agents.core.candle import Candle
from laptop_agents.core.errors import InvariantError
from laptop_agents.core.events import (
    ExitReason,
    OrderCancelled,
    OrderPlaced,
    OrderSide,
    PositionClosed,
    PositionLiquidated,
    Side,
)
from laptop_agents.core.orders import EntryIntent, Position
from laptop_agents.execution.account import Account
from laptop_agents.execution.fill_rules import (
    limit_fill_price,
    market_price,
    move_stop,
    protective_exit,
    trailed_stop,
    trigger_fill_price,
)
from laptop_agents.execution.funding import FundingSchedule
from laptop_agents.execution.margin import Liquidation, MarginModel, liquidation, stop_comes_first
from laptop_agents.execution.paper_books import EventSink, PaperBooks

_NO_TRADES: tuple[PositionClosed, ...] = ()


@dataclass(slots=True)
class PendingEntry:
    client_order_id: str
    qty: float
    intent: EntryIntent
    placed_ts: int


class PaperBroker(PaperBooks):
    """Simulated execution for one symbol (one-way position) on an account, its own unless one is given."""

    venue_prices_closes = False

    def __init__(
        self,
        config: BrokerConfig,
        *,
        symbol: str,
        emit: EventSink,
        funding: FundingSchedule | None = None,
        account: Account | None = None,
        margin: MarginModel | None = None,
        idempotency_window: int = 4096,
    ) -> None:
        super().__init__(symbol, Account(config.starting_balance) if account is None else account, emit, margin)
        self.pending: dict[str, PendingEntry] = {}
        self._market_cost = (config.half_spread_bps + config.slippage_bps) / 1e4
        self._slippage = config.slippage_bps / 1e4
        own = config.symbols.get(symbol)
        taker, maker, liquidation = config.taker_fee_bps, config.maker_fee_bps, config.liquidation_fee_bps
        if own is not None:
            taker = taker if own.taker_fee_bps is None else own.taker_fee_bps
            maker = maker if own.maker_fee_bps is None else own.maker_fee_bps
            liquidation = liquidation if own.liquidation_fee_bps is None else own.liquidation_fee_bps
        self._taker = taker / 1e4
        self._maker = maker / 1e4
        self._liquidation_fee = liquidation / 1e4
        self._funding = funding
        self.funding_due_ts: float = math.inf if funding is None else -1.0
        """The next funding time (epoch ms) to charge at; inf without a funding schedule."""
        self.mark: Candle | None = None
        """The mark-price candle of the candle being processed (`set_mark`), when the run has a mark series."""
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._window = idempotency_window

    # -- Queries -----------------------------------------------------------------------------------------

    @property
    def position_side(self) -> Side | None:
        position = self.position
        return None if position is None else position.side

    def market_fill_price(self, side: Side, ref_price: float) -> float:
        """Where a market order opening `side` fills: longs pay the ask side, shorts sell the bid side."""
        return market_price(side, ref_price, self._market_cost)

    def seen(self, client_order_id: str) -> bool:
        return client_order_id in self._seen

    def entry_refusal(self, qty: float, price: float) -> tuple[str, str] | None:
        """Why the venue would not margin this position (None without a margin model)."""
        margin = self.margin
        return None if margin is None else margin.entry_refusal(qty, price, self.account, self.symbol)

    # -- Orders ------------------------------------------------------------------------------------------

    def open_market(self, *, ts: int, client_order_id: str, qty: float, ref_price: float, intent: EntryIntent) -> bool:
        """Open a position at market. Returns False (and does nothing) for an already-seen client id."""
        if not self._remember(client_order_id):
            return False
        if self.position is not None:
            raise InvariantError(f"open_market while a position is open (trade {self.position.trade_id})")
        price = self.market_fill_price(intent.side, ref_price)
        self._emit(
            OrderPlaced(
                ts=ts,
                symbol=self.symbol,
                client_order_id=client_order_id,
                side=intent.order_side,
                order_type="market",
                qty=qty,
                price=None,
                reduce_only=False,
                purpose="entry",
            )
        )
        self._open(ts, client_order_id, qty, price, self._taker, "taker", intent)
        return True

    def place_resting(
        self, *, ts: int, client_order_id: str, qty: float, intent: EntryIntent, ref_price: float | None = None
    ) -> bool:
        """Rest a limit or trigger entry; it fills on a later candle that reaches its price, as a maker. A
        limit that is already marketable at `ref_price` (a long's at or above the ask, a short's at or below
        the bid) takes liquidity at once, as it would on the venue: a taker fill at the market price."""
        price = intent.resting_price
        if price is None:
            raise InvariantError("place_resting needs a limit or trigger entry")
        if not self._remember(client_order_id):
            return False
        market = math.nan if ref_price is None else self.market_fill_price(intent.side, ref_price)
        if intent.limit_price is not None and (price >= market if intent.side == "long" else price <= market):
            self._emit(
                OrderPlaced(ts=ts, symbol=self.symbol, client_order_id=client_order_id, side=intent.order_side,
                            order_type="limit", qty=qty, price=price, reduce_only=False, purpose="entry")
            )  # fmt: skip
            self._open(ts, client_order_id, qty, market, self._taker, "taker", intent)
            return True
        self.pending[client_order_id] = PendingEntry(client_order_id, qty, intent, ts)
        self._emit(
            OrderPlaced(
                ts=ts,
                symbol=self.symbol,
                client_order_id=client_order_id,
                side=intent.order_side,
                order_type="limit" if intent.entry_type == "limit" else "stop",
                qty=qty,
                price=price,
                reduce_only=False,
                purpose="entry",
            )
        )
        return True

    def cancel(self, *, ts: int, client_order_id: str, reason: str) -> bool:
        """Cancel a resting entry; False when it is not resting (already filled, cancelled or unknown)."""
        if self.pending.pop(client_order_id, None) is None:
            return False
        self._emit(OrderCancelled(ts=ts, symbol=self.symbol, client_order_id=client_order_id, reason=reason))
        return True

    def close_market(self, *, ts: int, ref_price: float, reason: ExitReason) -> PositionClosed | None:
        """Close the open position at market (crossing spread and slippage, taker fee)."""
        position = self.position
        if position is None:
            return None
        cid = f"{position.client_order_id}-x"
        exit_side: OrderSide = "sell" if position.side == "long" else "buy"
        self._emit(
            OrderPlaced(
                ts=ts,
                symbol=self.symbol,
                client_order_id=cid,
                side=exit_side,
                order_type="market",
                qty=position.qty,
                price=None,
                reduce_only=True,
                purpose="exit",
            )
        )
        price = ref_price * (1.0 - position.direction * self._market_cost)
        return self._close(ts, position, cid, price, self._taker, "taker", reason)

    # -- The candle: funding, exits, resting entries, trailing --------------------------------------------

    def set_mark(self, mark: Candle | None) -> None:
        """The next candle's mark-price candle (None: there is none; the last price stands in). With it,
        liquidations trigger and fill on the mark and funding is charged at its open, as on Bitunix; stops
        and targets stay on the last price, as the live daemon sets them (`slStopType` LAST_PRICE)."""
        self.mark = mark

    def _marked(self, candle: Candle) -> Candle:
        """The mark candle of `candle`'s open time when there is one, else `candle` (the last price)."""
        mark = self.mark
        return mark if mark is not None and mark.ts == candle.ts else candle

    def on_candle_open(self, candle: Candle) -> tuple[PositionClosed, ...]:
        """Step 1 of a candle: funding at its open, then stop/target exits, then resting limit entries."""
        position = self.position
        if position is None and not self.pending and candle.ts < self.funding_due_ts:
            return _NO_TRADES
        if candle.ts >= self.funding_due_ts:
            self._apply_funding(candle if self.mark is None else self._marked(candle))  # on the mark's open
        closed: tuple[PositionClosed, ...] = _NO_TRADES
        if position is not None:
            trade = self._check_exits(candle, position, stop_only=False)
            if trade is not None:
                closed = (trade,)
        if self.pending and self.position is None:
            trade = self._fill_resting(candle)
            if trade is not None:
                closed = (*closed, trade)
        return closed

    def update_trailing(self, candle: Candle) -> None:
        """Step 3: ratchet a trailing stop from this close; it only ever moves in the position's favour."""
        position = self.position
        if position is None:
            return
        new_stop = trailed_stop(position, candle.close)
        if new_stop is not None:
            self._emit(move_stop(position, new_stop, ts=candle.ts, symbol=self.symbol))

    # -- Checkpoint --------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            **self.books_state(),
            "funding_due_ts": None if math.isinf(self.funding_due_ts) else self.funding_due_ts,
            "pending": {cid: {"qty": p.qty, "placed_ts": p.placed_ts, "intent": asdict(p.intent)}
                        for cid, p in self.pending.items()},
            "recent_client_order_ids": list(self._seen)[-256:],
        }  # fmt: skip

    def restore(self, state: dict[str, Any]) -> None:
        self.restore_books(state)
        due = state.get("funding_due_ts")
        self.funding_due_ts = math.inf if self._funding is None else (-1.0 if due is None else float(due))
        self.pending = {
            cid: PendingEntry(cid, float(p["qty"]), EntryIntent(**p["intent"]), int(p["placed_ts"]))
            for cid, p in state.get("pending", {}).items()
        }
        for cid in state.get("recent_client_order_ids", []):
            self._remember(cid)
        if not self.account.shared:  # a shared account is checked once every symbol is restored
            self.check_invariants()

    # -- Internals ---------------------------------------------------------------------------------------

    def _remember(self, client_order_id: str) -> bool:
        if client_order_id in self._seen:
            return False
        self._seen[client_order_id] = None
        if len(self._seen) > self._window:
            self._seen.popitem(last=False)
        return True

    def _check_exits(self, candle: Candle, position: Position, *, stop_only: bool) -> PositionClosed | None:
        liq = position.liquidation_price  # None without a margin model (restore clears it when margin is off)
        if liq is not None:
            priced = candle if self.mark is None else self._marked(candle)  # the mark, with a mark series
            if priced.low <= liq if position.direction > 0 else priced.high >= liq:  # rare: one comparison
                forced = liquidation(position, priced, self._liquidation_fee)
                if forced is not None and not stop_comes_first(position, candle):
                    return self._liquidate(candle, position, forced)
        hit = protective_exit(candle, position, stop_only=stop_only)
        if hit is None:
            return None
        kind, raw, reason = hit
        cid = f"{position.client_order_id}-{kind}"
        if kind == "tp":
            return self._close(candle.ts, position, cid, raw, self._maker, "maker", reason)
        price = raw * (1.0 - position.direction * self._slippage)
        return self._close(candle.ts, position, cid, price, self._taker, "taker", reason)

    def _liquidate(self, candle: Candle, position: Position, forced: Liquidation) -> PositionClosed:
        assert self.margin is not None  # a liquidation price exists only with a margin model
        assert position.liquidation_price is not None
        qty = position.qty
        self._emit(
            PositionLiquidated(
                ts=candle.ts, symbol=self.symbol, trade_id=position.trade_id, side=position.side, qty=qty,
                entry_price=position.entry_price, liquidation_price=position.liquidation_price, price=forced.price,
                margin=position.margin, maintenance_margin=self.margin.maintenance_margin(qty, position.entry_price),
                fee=forced.fee, covered=forced.covered,
            )
        )  # fmt: skip
        cid = f"{position.client_order_id}-liq"
        fee_rate = self._liquidation_fee
        return self._close(candle.ts, position, cid, forced.price, fee_rate, "taker", "liquidation", forced.covered)

    def _fill_resting(self, candle: Candle) -> PositionClosed | None:
        for cid, pending in list(self.pending.items()):
            intent = pending.intent
            if intent.limit_price is not None:
                price = limit_fill_price(candle, intent.side, intent.limit_price)
                fee_rate, liquidity = self._maker, "maker"
            else:
                assert intent.trigger_price is not None  # place_resting guarantees one of them
                raw = trigger_fill_price(candle, intent.side, intent.trigger_price)
                price = None if raw is None else market_price(intent.side, raw, self._slippage)
                fee_rate, liquidity = self._taker, "taker"
            if price is None:
                continue
            del self.pending[cid]
            position = self._open(candle.ts, cid, pending.qty, price, fee_rate, liquidity, intent)
            return self._check_exits(candle, position, stop_only=True)
        return None

    def _apply_funding(self, candle: Candle) -> None:
        """Charge every funding time from the one due up to this candle's open time (more than one when the
        data has a gap longer than the funding period), at this candle's open."""
        funding = self._funding
        assert funding is not None  # funding_due_ts is inf without a schedule
        due = self.funding_due_ts
        if due < 0:  # first candle: the first funding time is the one at or after it
            due = funding.first_time(candle.ts)
        boundaries = funding.times(int(due), candle.ts) if due <= candle.ts else ()
        self.funding_due_ts = funding.next_time(candle.ts)
        for boundary in boundaries:
            self._charge_funding(candle, funding.rate_at(boundary))
