"""Accounts, orders and one-way positions of the simulated exchange, with Bitunix's validation codes.

Market orders fill at once at the replay's last price across `spread_bps`, and so does a limit order already
through the book when it arrives (a taker fill at the touch); other limit orders rest until a push trades
through their price (maker). Positions are one-way (net): an opposite order reduces, closes or flips.
An order may carry `slPrice`/`tpPrice`: when it opens a position, they become that position's
whole-position TP/SL order (`tpsl.py`), triggered on the last price (a market close with no client id, as
the venue's TP/SL orders). Margin = notional / leverage, plus what adjust_position_margin added; an order
whose opening part needs more margin than is available is refused (20003). Funding is exchanged every 8
hours of market time. A closed position is kept for get_history_positions. Every change is also offered to
`on_private` as a private-channel push (order, position, balance, tpsl); the shapes are in `shapes.py`.

An order may fill in parts (`parts_for`, the `partial_fill_parts` switch): the first part when it fills,
one more on each following push, each its own execution; it is PART_FILLED in between and may be
cancelled then (PART_FILLED_CANCELED). `liquidate` flattens a position the way the venue's liquidation
engine does: a market close that is none of the account's orders (no client id), with a taker fee.
An order may fill beyond its size (`overfill_for`, the `overfill_next` switch): once it is filled, one more
execution of its whole size follows at once, and the position holds both (a venue fault the client's
books must catch: filled > qty).

An ISOLATION position is also liquidated by the engine on its own, as on Bitunix (`liquidation.py`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from laptop_agents.core.funding_rows import FUNDING_PERIOD_MS, FundingRecord
from laptop_agents.exchange.bitunix import codes
from laptop_agents.exchange.bitunix.sim import shapes
from laptop_agents.exchange.bitunix.sim.accounts import DuplicatePolicy, SimAccount, SimOrder, SimPosition
from laptop_agents.exchange.bitunix.sim.liquidation import LiquidationEngine
from laptop_agents.exchange.bitunix.sim.market import MarketReplay, Push
from laptop_agents.exchange.bitunix.sim.rules import ContractRules, Refusal, check_step, decimal, one_of
from laptop_agents.exchange.bitunix.sim.tpsl import TpslDesk, parse_legs

__all__ = ["ContractRules", "Ledger", "Refusal", "SimAccount", "SimOrder", "SimPosition"]

PrivateSink = Callable[[str, str, dict[str, Any]], None]
"""(api_key, channel, data) for the private WebSocket."""


class Ledger:
    def __init__(
        self,
        market: MarketReplay,
        rules: Mapping[str, ContractRules],
        *,
        spread_bps: float = 2.0,
        taker_fee_bps: float = 6.0,
        maker_fee_bps: float = 2.0,
        funding_rate: float = 0.0001,
        funding: Sequence[tuple[int, float]] = (),
        on_private: PrivateSink | None = None,
        parts_for: Callable[[SimOrder], int] | None = None,
        overfill_for: Callable[[SimOrder], bool] | None = None,
        slippage_for: Callable[[SimOrder], float] | None = None,
    ) -> None:
        self.market = market
        self.rules = dict(rules)
        self.accounts: dict[str, SimAccount] = {}
        self.spread = spread_bps / 1e4
        self.taker = taker_fee_bps / 1e4
        self.maker = maker_fee_bps / 1e4
        self.funding_rate = funding_rate
        """The rate of every settlement when no `funding` record is given."""
        self.funding = FundingRecord(funding)
        """The venue's funding record to replay (settled at its times); empty: `funding_rate` every 8 h."""
        self.on_private = on_private
        self.parts_for: Callable[[SimOrder], int] = parts_for or (lambda _order: 1)
        """How many parts an order fills in (1: whole)."""
        self.overfill_for: Callable[[SimOrder], bool] = overfill_for or (lambda _order: False)
        """Whether an order that just filled gets one more execution of its size (asked once per order)."""
        self.slippage_for: Callable[[SimOrder], float] = slippage_for or (lambda _order: 0.0)
        """How much worse than the touch an order taking liquidity fills (a fraction; the `slippage_bps` fault)."""
        self._parts: list[tuple[SimAccount, SimOrder, float]] = []
        """Orders filling in parts: (account, order, the size of one part)."""
        self.tpsl = TpslDesk(self)
        self.engine = LiquidationEngine(self)
        self._ids = itertools.count(1947302001882128384)
        self._next_funding = self._settlement_after(market.now_ms())

    def add_account(self, api_key: str, secret: str, balance: float) -> SimAccount:
        account = SimAccount(api_key, secret, balance)
        self.accounts[api_key] = account
        return account

    def new_id(self) -> str:
        return str(next(self._ids))

    # -- Queries -----------------------------------------------------------------------------------------

    def contract(self, symbol: str) -> ContractRules:
        rules = self.rules.get(symbol.upper())
        if rules is None:
            raise Refusal(codes.MARKET_NOT_EXIST)
        return rules

    def leverage(self, account: SimAccount, symbol: str) -> int:
        return account.leverage.get(symbol, self.contract(symbol).default_leverage)

    def position(self, account: SimAccount, position_id: Any, symbol: Any = None) -> SimPosition:
        """The open position with this id (on `symbol` when given): 10002 without an id, 30004 if none."""
        if position_id in (None, ""):
            raise Refusal(codes.PARAMETER_ERROR, "positionId is required")
        wanted = self.contract(str(symbol)).symbol if symbol not in (None, "") else None
        for p in account.positions.values():
            if p.position_id == str(position_id) and wanted in (None, p.symbol):
                return p
        raise Refusal(codes.POSITION_NOT_EXIST)

    def position_margin(self, account: SimAccount, p: SimPosition) -> float:
        return abs(p.qty) * p.entry / self.leverage(account, p.symbol) + p.extra_margin

    def margin_used(self, account: SimAccount) -> float:
        return sum(self.position_margin(account, p) for p in account.positions.values())

    def frozen(self, account: SimAccount) -> float:
        return sum(
            (o.qty - o.trade_qty) * (o.price or 0.0) / o.leverage
            for o in account.orders.values()
            if o.open and not o.reduce_only
        )

    def unrealized(self, account: SimAccount) -> float:
        return sum(p.qty * (self.market.last_price(p.symbol) - p.entry) for p in account.positions.values())

    def available(self, account: SimAccount) -> float:
        return account.balance + min(self.unrealized(account), 0.0) - self.margin_used(account) - self.frozen(account)

    # -- Orders ------------------------------------------------------------------------------------------

    def place_order(
        self,
        account: SimAccount,
        body: Mapping[str, Any],
        *,
        insufficient: bool = False,
        refuses_duplicate: DuplicatePolicy | None = None,
    ) -> SimOrder:
        symbol = str(body.get("symbol", "")).upper()
        rules = self.contract(symbol)
        side = one_of(body.get("side", ""), ("BUY", "SELL"))
        order_type = one_of(body.get("orderType", ""), ("LIMIT", "MARKET"))
        qty = decimal(body.get("qty"), "qty")
        rules.check_qty(qty)
        price = None
        if order_type == "LIMIT":
            price = decimal(body.get("price"), "price")
            check_step(price, "price", rules.quote_precision)
        legs = parse_legs(body, rules, order_types=True, qty=False, not_positive=codes.PARAMETER_ERROR)
        if account.position_mode == "HEDGE":
            raise Refusal(codes.PARAMETER_ERROR, "tradeSide is required in HEDGE position mode")
        client_id = str(body.get("clientId") or "")
        if client_id and client_id in account.by_client_id:
            earlier = account.orders[account.by_client_id[client_id]]
            if refuses_duplicate is None or refuses_duplicate(earlier.open, earlier.placed_monotonic):
                raise Refusal(codes.DUPLICATE_CLIENT_ID)
        reduce_only = bool(body.get("reduceOnly", False))
        position = account.positions.get(symbol)
        held = position.qty if position else 0.0
        direction = 1.0 if side == "BUY" else -1.0
        if reduce_only:
            if held == 0:
                raise Refusal(codes.REDUCE_ONLY_NO_POSITION)
            if held * direction > 0:
                raise Refusal(codes.REDUCE_ONLY_SAME_SIDE)
        leverage = self.leverage(account, symbol)
        ref = price if price is not None else self.market.last_price(symbol)
        opening = qty if held * direction >= 0 else max(0.0, qty - abs(held))
        if insufficient or (opening and opening * ref / leverage > self.available(account)):
            raise Refusal(codes.INSUFFICIENT_BALANCE)
        now = self.market.now_ms()
        order = SimOrder(
            self.new_id(), client_id, symbol, side, order_type, qty, price, reduce_only, leverage, now,
            mtime=now, tp=legs.get("tp"), sl=legs.get("sl"),
        )  # fmt: skip
        account.orders[order.order_id] = order
        if client_id:
            account.by_client_id[client_id] = order.order_id
        self._push_order(account, order, "CREATE")
        last = self.market.last_price(symbol)
        touch = last * (1 + direction * self.spread)  # the ask for a buy, the bid for a sell
        if order_type == "MARKET" or (price is not None and direction * (price - touch) >= 0):
            # a market order, or a limit already through the book: it takes liquidity now, at the touch
            # (worse by the `slippage_bps` fault: a thin book)
            self._fill_first(account, order, touch * (1 + direction * self.slippage_for(order)), self.taker, "TAKER")
        return order

    def cancel(self, account: SimAccount, symbol: str, order_id: str | None, client_id: str | None) -> SimOrder:
        order = self.find(account, order_id, client_id)
        if order is None or order.symbol != symbol.upper() or not order.open:
            raise Refusal(codes.ORDER_NOT_FOUND)  # a filled (or cancelled) order cannot be cancelled
        order.status = "CANCELED" if order.trade_qty == 0 else "PART_FILLED_CANCELED"
        order.mtime = self.market.now_ms()
        self._push_order(account, order, "CLOSE")
        self.push_balance(account)
        return order

    def find(self, account: SimAccount, order_id: str | None, client_id: str | None) -> SimOrder | None:
        if order_id:
            return account.orders.get(order_id)
        if client_id and client_id in account.by_client_id:
            return account.orders[account.by_client_id[client_id]]
        return None

    def change_leverage(self, account: SimAccount, symbol: str, leverage: int) -> None:
        rules = self.contract(symbol)
        if not rules.min_leverage <= leverage <= rules.max_leverage:
            raise Refusal(codes.INVALID_LEVERAGE)
        if any(o.symbol == rules.symbol and o.open for o in account.orders.values()):
            raise Refusal(codes.OPEN_ORDERS_BLOCK_CHANGE)
        account.leverage[rules.symbol] = leverage

    def change_position_mode(self, account: SimAccount, mode: str) -> None:
        """Account-wide; refused (20009) while any position is open, as on the venue (§4.9)."""
        if mode not in ("ONE_WAY", "HEDGE"):
            raise Refusal(codes.VALUE_NOT_ALLOWED, 'Parameter does not match, alternative value ["ONE_WAY","HEDGE"].')
        if account.positions:
            raise Refusal(codes.POSITION_MODE_BLOCKED)
        account.position_mode = mode

    def change_margin_mode(self, account: SimAccount, symbol: str, mode: str) -> None:
        rules = self.contract(symbol)
        busy = rules.symbol in account.positions or any(
            o.symbol == rules.symbol and o.open for o in account.orders.values()
        )
        if busy:
            raise Refusal(codes.OPEN_ORDERS_BLOCK_CHANGE)
        account.margin_mode[rules.symbol] = mode

    # -- Market events -----------------------------------------------------------------------------------

    def on_push(self, push: Push) -> None:
        """Fill the next part of orders filling in parts, resting limits the price traded through, and
        charge funding when its time has passed."""
        self._next_parts(push)
        for account in self.accounts.values():
            for order in list(account.orders.values()):
                if order.status != "NEW" or order.symbol != push.symbol or order.price is None:
                    continue
                if (order.side == "BUY" and push.low <= order.price) or (
                    order.side == "SELL" and push.high >= order.price
                ):
                    self._fill_first(account, order, order.price, self.maker, "MAKER")
            for position in list(account.positions.values()):
                if position.symbol == push.symbol and not self.engine.check(account, position, push):
                    self._check_tpsl(account, position, push.close)
        if push.ts >= self._next_funding:
            rate = self.rate_at(int(self._next_funding))
            self._next_funding = self._settlement_after(push.ts)
            for account in self.accounts.values():
                for position in account.positions.values():
                    if position.symbol == push.symbol and position.qty:
                        amount = position.qty * push.close * rate  # longs pay a positive rate
                        account.balance -= amount
                        position.funding += amount
                        self._push_position(account, position, "UPDATE")
                if account.positions:
                    self.push_balance(account)

    def rate_at(self, ts: int) -> float:
        """The funding rate in force at `ts`: the record's (`funding`), else `funding_rate`."""
        return self.funding.rate_at(ts) if self.funding else self.funding_rate

    def funding_record(self, first_ts: int, upto: int) -> list[tuple[int, float]]:
        """The settlements from `first_ts` to `upto` (ms, both included), oldest first: what was charged."""
        if not self.funding:  # the constant rate at every 8-hour boundary
            boundary = -(-first_ts // FUNDING_PERIOD_MS) * FUNDING_PERIOD_MS
            return [(ts, self.funding_rate) for ts in range(boundary, upto + 1, FUNDING_PERIOD_MS)]
        due = self.funding.first_time(first_ts)
        return [(ts, self.funding.rate_at(ts)) for ts in self.funding.times(int(due), upto)] if due <= upto else []

    def _settlement_after(self, ts: int) -> float:
        if self.funding:
            return self.funding.next_time(ts)
        return (ts // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS

    def _check_tpsl(self, account: SimAccount, position: SimPosition, last: float) -> None:
        """A triggered stop loss (checked first) or take profit of the position's TP/SL orders closes the
        whole position (a partial one: its tpQty/slQty) at market, on the last price (`TpslDesk.check`)."""
        self.tpsl.check(account, position, last)

    def market_close(
        self, account: SimAccount, position: SimPosition, qty: float | None = None, last: float | None = None
    ) -> SimOrder:
        """Close `qty` (default: all) of a position with a reduce-only market order without a client id, as
        the venue's TP/SL triggers and flash closes do; it fills across the spread at the last price."""
        last = self.market.last_price(position.symbol) if last is None else last
        long = position.qty > 0
        now = self.market.now_ms()
        order = SimOrder(
            self.new_id(), "", position.symbol, "SELL" if long else "BUY", "MARKET",
            abs(position.qty) if qty is None else qty, None, True, self.leverage(account, position.symbol), now,
            mtime=now,
        )  # fmt: skip
        account.orders[order.order_id] = order
        self.fill(account, order, last * (1 - (1 if long else -1) * self.spread), self.taker, "TAKER")
        return order

    def liquidate(self, account: SimAccount, symbol: str) -> SimOrder | None:
        """The liquidation engine flattens the position now (the admin endpoint: while its owner is away)."""
        return self.engine.flatten(account, symbol)

    # -- Internals ---------------------------------------------------------------------------------------

    def _fill_first(self, account: SimAccount, order: SimOrder, price: float, fee_rate: float, role: str) -> None:
        """Fill an order, or its first part when it fills in parts (the rest follows push by push)."""
        parts = self.parts_for(order)
        if parts <= 1:
            self.fill(account, order, price, fee_rate, role)
            return
        precision = self.contract(order.symbol).base_precision
        part = max(round(order.qty / parts, precision), 10.0**-precision)
        self.fill(account, order, price, fee_rate, role, part)
        if order.open:
            self._parts.append((account, order, part))

    def _next_parts(self, push: Push) -> None:
        for account, order, part in list(self._parts):
            if order.symbol != push.symbol:
                continue
            if order.open:
                direction = 1.0 if order.side == "BUY" else -1.0
                if order.price is None:
                    self.fill(account, order, push.close * (1 + direction * self.spread), self.taker, "TAKER", part)
                else:
                    self.fill(account, order, order.price, self.maker, "MAKER", part)
            if not order.open:
                self._parts.remove((account, order, part))

    def fill(
        self,
        account: SimAccount,
        order: SimOrder,
        price: float,
        fee_rate: float,
        role: str,
        part: float | None = None,
        *,
        beyond: float = 0.0,
    ) -> None:
        """Fill what is left of `order` (at most `part` of it) at `price`; `beyond`: that much more than its
        size (an overfill)."""
        now = self.market.now_ms()
        direction = 1.0 if order.side == "BUY" else -1.0
        position = account.positions.get(order.symbol)
        if position is None:
            position = SimPosition(self.new_id(), order.symbol, ctime=now)
        held = position.qty
        if order.reduce_only and held * direction >= 0:  # nothing left to reduce (closed or flipped since)
            order.status, order.mtime = ("CANCELED" if order.trade_qty == 0 else "PART_FILLED_CANCELED"), now
            self._push_order(account, order, "CLOSE")
            return
        left = order.qty - order.trade_qty + beyond
        if part is not None and part < left - 1e-12:
            left = part
        qty = min(left, abs(held)) if order.reduce_only else left
        fee = qty * price * fee_rate
        realized = 0.0
        flipped = False
        if held * direction >= 0:  # opening or adding
            total = abs(held) + qty
            position.entry = (abs(held) * position.entry + qty * price) / total
            position.qty = held + direction * qty
        else:  # reducing, closing or flipping
            closing = min(qty, abs(held))
            realized = closing * (price - position.entry) * (1.0 if held > 0 else -1.0)
            position.closed_qty += closing
            position.closed_value += closing * price
            position.qty = held + direction * qty
            if abs(position.qty) < 1e-12:
                position.qty = 0.0
            elif position.qty * held < 0:  # flipped: the rest opens at this price
                position.entry = price
                flipped = True
        if position.qty:
            position.side = "LONG" if position.qty > 0 else "SHORT"
            position.max_qty = max(position.max_qty, abs(position.qty))
        position.fee += fee
        position.realized += realized
        position.mtime = now
        account.balance += realized - fee
        traded = order.trade_qty + qty
        order.avg_price = (order.avg_price * order.trade_qty + price * qty) / traded
        order.trade_qty = traded
        whole = traded >= order.qty - 1e-12 or (order.reduce_only and position.qty == 0)
        order.status = "FILLED" if whole else "PART_FILLED"
        order.fee += fee
        order.realized += realized
        order.mtime = now
        account.fills.append({
            "tradeId": self.new_id(), "orderId": order.order_id, "clientId": order.client_id, "symbol": order.symbol,
            "side": order.side, "qty": qty, "price": price, "fee": fee, "realizedPNL": realized, "roleType": role,
            "reduceOnly": order.reduce_only, "ctime": now,
        })  # fmt: skip
        event = "OPEN" if held == 0 else ("CLOSE" if position.qty == 0 else "UPDATE")
        if position.qty == 0:
            account.positions.pop(order.symbol, None)
            account.closed_positions.append(position)
        else:
            account.positions[order.symbol] = position
        self._push_order(account, order, "CLOSE" if whole else "UPDATE")
        self._push_position(account, position, event)
        self.push_balance(account)
        if held == 0:
            self.tpsl.attach(account, position, order)
        elif position.qty == 0 or flipped:
            self.tpsl.drop(account, position)
        if whole and not beyond and not order.reduce_only and self.overfill_for(order):
            self.fill(account, order, price, fee_rate, role, beyond=order.qty)

    def emit(self, account: SimAccount, channel: str, data: dict[str, Any]) -> None:
        if self.on_private is not None:
            self.on_private(account.api_key, channel, data)

    def _push_order(self, account: SimAccount, order: SimOrder, event: str) -> None:
        self.emit(account, "order", shapes.order_push(order, event))

    def _push_position(self, account: SimAccount, p: SimPosition, event: str) -> None:
        self.emit(account, "position", shapes.position_push(self, account, p, event))

    def push_balance(self, account: SimAccount) -> None:
        self.emit(account, "balance", shapes.balance_push(self, account))
