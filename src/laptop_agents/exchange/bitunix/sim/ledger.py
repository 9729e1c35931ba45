"""Accounts, orders and one-way positions of the simulated exchange, with Bitunix's validation codes.

Market orders fill at once at the replay's last price across `spread_bps`; limit orders rest until a push
trades through their price. Positions are one-way (net): an opposite order reduces, closes or flips.
An order may carry `slPrice`/`tpPrice`: when it opens a position, the position gets that stop loss and
take profit, triggered on the last price (a market close with no client id, as the venue's TP/SL orders).
Margin = notional / leverage; an order whose opening part needs more margin than is available is refused
(20003). Funding is exchanged every 8 hours of market time. Every change is also offered to `on_private`
as a private-channel push (order, position, balance).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from laptop_agents.exchange.bitunix import codes
from laptop_agents.exchange.bitunix.sim.market import MarketReplay, Push
from laptop_agents.exchange.bitunix.wire import fmt

PrivateSink = Callable[[str, str, dict[str, Any]], None]
"""(api_key, channel, data) for the private WebSocket."""

FUNDING_PERIOD_MS = 8 * 3_600_000


class Refusal(Exception):
    """A business refusal with its Bitunix code; the server answers it in the envelope."""

    def __init__(self, code: int, msg: str | None = None) -> None:
        super().__init__(msg or codes.MESSAGES.get(code, "error"))
        self.code = code
        self.msg = msg or codes.MESSAGES.get(code, "error")


@dataclass
class ContractRules:
    symbol: str
    base_precision: int = 3
    quote_precision: int = 1
    min_qty: float = 0.001
    max_qty: float = 500.0
    min_leverage: int = 1
    max_leverage: int = 125
    default_leverage: int = 10

    def wire(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol, "base": self.symbol.removesuffix("USDT"), "quote": "USDT",
            "minTradeVolume": fmt(self.min_qty), "minBuyPriceOffset": "-0.05", "maxSellPriceOffset": "0.05",
            "maxLimitOrderVolume": fmt(self.max_qty), "maxMarketOrderVolume": fmt(self.max_qty),
            "basePrecision": self.base_precision, "quotePrecision": self.quote_precision,
            "maxLeverage": self.max_leverage, "minLeverage": self.min_leverage,
            "defaultLeverage": self.default_leverage, "defaultMarginMode": "Cross", "priceProtectScope": "0.02",
            "symbolStatus": "OPEN", "isApiSupported": True, "maxFundingRate": "0.375", "minFundingRate": "-0.375",
        }  # fmt: skip


@dataclass
class SimOrder:
    order_id: str
    client_id: str
    symbol: str
    side: str  # BUY / SELL
    order_type: str  # MARKET / LIMIT
    qty: float
    price: float | None
    reduce_only: bool
    leverage: int
    ctime: int
    status: str = "NEW"
    trade_qty: float = 0.0
    avg_price: float = 0.0
    fee: float = 0.0
    realized: float = 0.0
    mtime: int = 0
    tp_price: float | None = None
    sl_price: float | None = None
    placed_monotonic: float = field(default_factory=time.monotonic)
    """When it was placed, on the host's monotonic clock (the fault switches' windows run on it)."""

    @property
    def open(self) -> bool:
        return self.status in ("NEW", "PART_FILLED")


DuplicatePolicy = Callable[[bool, float], bool]
"""(the earlier order is open, its placement time) → refuse the repeated client id."""


@dataclass
class SimPosition:
    position_id: str
    symbol: str
    qty: float = 0.0  # signed: > 0 long, < 0 short
    entry: float = 0.0
    fee: float = 0.0
    funding: float = 0.0
    realized: float = 0.0
    ctime: int = 0
    mtime: int = 0
    tp: float | None = None
    sl: float | None = None


@dataclass
class SimAccount:
    api_key: str
    secret: str
    balance: float  # cash: deposits + realized PnL − fees − funding
    leverage: dict[str, int] = field(default_factory=dict)
    margin_mode: dict[str, str] = field(default_factory=dict)  # symbol → ISOLATION | CROSS (default CROSS)
    position_mode: str = "ONE_WAY"
    """ONE_WAY (net positions) or HEDGE. In HEDGE an order must say `tradeSide` (OPEN/CLOSE), which this
    simulator does not model: it refuses such orders, so a client that did not leave HEDGE cannot trade."""
    positions: dict[str, SimPosition] = field(default_factory=dict)
    orders: dict[str, SimOrder] = field(default_factory=dict)
    by_client_id: dict[str, str] = field(default_factory=dict)
    fills: list[dict[str, Any]] = field(default_factory=list)


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
        on_private: PrivateSink | None = None,
    ) -> None:
        self.market = market
        self.rules = dict(rules)
        self.accounts: dict[str, SimAccount] = {}
        self.spread = spread_bps / 1e4
        self.taker = taker_fee_bps / 1e4
        self.maker = maker_fee_bps / 1e4
        self.funding_rate = funding_rate
        self.on_private = on_private
        self._ids = itertools.count(1947302001882128384)
        self._next_funding = (market.now_ms() // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS

    def add_account(self, api_key: str, secret: str, balance: float) -> SimAccount:
        account = SimAccount(api_key, secret, balance)
        self.accounts[api_key] = account
        return account

    # -- Queries -----------------------------------------------------------------------------------------

    def margin_used(self, account: SimAccount) -> float:
        used = 0.0
        for p in account.positions.values():
            used += abs(p.qty) * p.entry / account.leverage.get(p.symbol, self._rules(p.symbol).default_leverage)
        return used

    def frozen(self, account: SimAccount) -> float:
        return sum(
            o.qty * (o.price or 0.0) / o.leverage
            for o in account.orders.values()
            if o.status == "NEW" and not o.reduce_only
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
        rules = self._rules(symbol)
        side = str(body.get("side", "")).upper()
        order_type = str(body.get("orderType", "")).upper()
        if side not in ("BUY", "SELL"):
            raise Refusal(
                codes.VALUE_NOT_ALLOWED, f'Parameter {side} does not match, alternative value ["BUY","SELL"].'
            )
        if order_type not in ("MARKET", "LIMIT"):
            raise Refusal(
                codes.VALUE_NOT_ALLOWED, f'Parameter {order_type} does not match, alternative value ["LIMIT","MARKET"].'
            )
        qty = self._decimal(body.get("qty"), "qty")
        if qty < rules.min_qty:
            raise Refusal(codes.QTY_BELOW_MIN)
        if qty > rules.max_qty:
            raise Refusal(codes.QTY_ABOVE_MAX)
        self._check_step(qty, "qty", rules.base_precision)
        price = None
        if order_type == "LIMIT":
            price = self._decimal(body.get("price"), "price")
            self._check_step(price, "price", rules.quote_precision)
        triggers: dict[str, float] = {}
        for name in ("tpPrice", "slPrice"):
            if body.get(name) not in (None, ""):
                triggers[name] = self._decimal(body.get(name), name)
                self._check_step(triggers[name], name, rules.quote_precision)
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
        leverage = account.leverage.get(symbol, rules.default_leverage)
        ref = price if price is not None else self.market.last_price(symbol)
        opening = qty if held * direction >= 0 else max(0.0, qty - abs(held))
        if insufficient or (opening and opening * ref / leverage > self.available(account)):
            raise Refusal(codes.INSUFFICIENT_BALANCE)
        now = self.market.now_ms()
        order = SimOrder(
            str(next(self._ids)), client_id, symbol, side, order_type, qty, price, reduce_only, leverage, now,
            mtime=now, tp_price=triggers.get("tpPrice"), sl_price=triggers.get("slPrice"),
        )  # fmt: skip
        account.orders[order.order_id] = order
        if client_id:
            account.by_client_id[client_id] = order.order_id
        self._push_order(account, order, "CREATE")
        if order_type == "MARKET":
            last = self.market.last_price(symbol)
            self._fill(account, order, last * (1 + direction * self.spread), self.taker, "TAKER")
        return order

    def cancel(self, account: SimAccount, symbol: str, order_id: str | None, client_id: str | None) -> SimOrder:
        order = self.find(account, order_id, client_id)
        if order is None or order.symbol != symbol.upper() or order.status != "NEW":
            raise Refusal(codes.ORDER_NOT_FOUND)
        order.status = "CANCELED"
        order.mtime = self.market.now_ms()
        self._push_order(account, order, "CLOSE")
        self._push_balance(account)
        return order

    def find(self, account: SimAccount, order_id: str | None, client_id: str | None) -> SimOrder | None:
        if order_id:
            return account.orders.get(order_id)
        if client_id and client_id in account.by_client_id:
            return account.orders[account.by_client_id[client_id]]
        return None

    def change_leverage(self, account: SimAccount, symbol: str, leverage: int) -> None:
        rules = self._rules(symbol)
        if not rules.min_leverage <= leverage <= rules.max_leverage:
            raise Refusal(codes.INVALID_LEVERAGE)
        if any(o.symbol == rules.symbol and o.status == "NEW" for o in account.orders.values()):
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
        rules = self._rules(symbol)
        busy = rules.symbol in account.positions or any(
            o.symbol == rules.symbol and o.status == "NEW" for o in account.orders.values()
        )
        if busy:
            raise Refusal(codes.OPEN_ORDERS_BLOCK_CHANGE)
        account.margin_mode[rules.symbol] = mode

    # -- Market events -----------------------------------------------------------------------------------

    def on_push(self, push: Push) -> None:
        """Fill resting limits the price traded through, and charge funding when its time has passed."""
        for account in self.accounts.values():
            for order in list(account.orders.values()):
                if order.status != "NEW" or order.symbol != push.symbol or order.price is None:
                    continue
                if (order.side == "BUY" and push.low <= order.price) or (
                    order.side == "SELL" and push.high >= order.price
                ):
                    self._fill(account, order, order.price, self.maker, "MAKER")
            for position in list(account.positions.values()):
                if position.symbol == push.symbol:
                    self._check_tpsl(account, position, push.close)
        if push.ts >= self._next_funding:
            self._next_funding = (push.ts // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS
            for account in self.accounts.values():
                for position in account.positions.values():
                    if position.symbol == push.symbol and position.qty:
                        amount = position.qty * push.close * self.funding_rate  # longs pay a positive rate
                        account.balance -= amount
                        position.funding += amount
                        self._push_position(account, position, "UPDATE")
                if account.positions:
                    self._push_balance(account)

    def _check_tpsl(self, account: SimAccount, position: SimPosition, last: float) -> None:
        """A triggered stop loss (checked first) or take profit closes the whole position at market."""
        long = position.qty > 0
        sl, tp = position.sl, position.tp
        hit_sl = sl is not None and (last <= sl if long else last >= sl)
        hit_tp = tp is not None and (last >= tp if long else last <= tp)
        if not (hit_sl or hit_tp):
            return
        now = self.market.now_ms()
        order = SimOrder(
            str(next(self._ids)), "", position.symbol, "SELL" if long else "BUY", "MARKET", abs(position.qty), None,
            True, account.leverage.get(position.symbol, self._rules(position.symbol).default_leverage), now, mtime=now,
        )  # fmt: skip
        account.orders[order.order_id] = order
        self._fill(account, order, last * (1 - (1 if long else -1) * self.spread), self.taker, "TAKER")

    # -- Wire shapes -------------------------------------------------------------------------------------

    def order_wire(self, order: SimOrder) -> dict[str, Any]:
        return {
            "orderId": order.order_id, "symbol": order.symbol, "qty": fmt(order.qty), "tradeQty": fmt(order.trade_qty),
            "positionMode": "ONE_WAY", "marginMode": "CROSS", "leverage": order.leverage,
            "price": fmt(order.price) if order.price is not None else "market", "side": order.side,
            "orderType": order.order_type, "effect": "GTC", "clientId": order.client_id,
            "reduceOnly": order.reduce_only, "status": order.status, "fee": fmt(order.fee),
            "realizedPNL": fmt(order.realized), "avgPrice": fmt(order.avg_price), "ctime": order.ctime,
            "mtime": order.mtime, "tpPrice": fmt(order.tp_price) if order.tp_price else None,
            "slPrice": fmt(order.sl_price) if order.sl_price else None,
        }  # fmt: skip

    def position_wire(self, account: SimAccount, p: SimPosition, side_style: str = "LONG") -> dict[str, Any]:
        leverage = account.leverage.get(p.symbol, self._rules(p.symbol).default_leverage)
        last = self.market.last_price(p.symbol)
        long_word, short_word = ("LONG", "SHORT") if side_style == "LONG" else ("BUY", "SELL")
        return {
            "positionId": p.position_id, "symbol": p.symbol, "qty": fmt(abs(p.qty)),
            "entryValue": fmt(abs(p.qty) * p.entry), "side": long_word if p.qty > 0 else short_word,
            "marginMode": "CROSS", "positionMode": "ONE_WAY", "leverage": leverage, "fee": fmt(p.fee),
            "funding": fmt(p.funding), "realizedPNL": fmt(p.realized), "margin": fmt(abs(p.qty) * p.entry / leverage),
            "unrealizedPNL": fmt(p.qty * (last - p.entry)), "liqPrice": "0", "marginRate": "0",
            "avgOpenPrice": fmt(p.entry), "ctime": p.ctime, "mtime": p.mtime,
        }  # fmt: skip

    def account_wire(self, account: SimAccount) -> dict[str, Any]:
        return {
            "marginCoin": "USDT", "available": fmt(max(self.available(account), 0.0)),
            "frozen": fmt(self.frozen(account)), "margin": fmt(self.margin_used(account)),
            "transfer": fmt(max(self.available(account), 0.0)), "positionMode": account.position_mode,
            "crossUnrealizedPNL": fmt(self.unrealized(account)), "isolationUnrealizedPNL": "0", "bonus": "0",
        }  # fmt: skip

    # -- Internals ---------------------------------------------------------------------------------------

    def _rules(self, symbol: str) -> ContractRules:
        rules = self.rules.get(symbol.upper())
        if rules is None:
            raise Refusal(codes.MARKET_NOT_EXIST)
        return rules

    @staticmethod
    def _decimal(value: Any, name: str) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise Refusal(codes.PARAMETER_ERROR, f"{name} must be a decimal string") from None
        if not math.isfinite(number) or number <= 0:
            raise Refusal(codes.PARAMETER_ERROR, f"{name} must be > 0")
        return number

    @staticmethod
    def _check_step(number: float, name: str, decimals: int) -> None:
        """Quantities and prices must sit on the lot / tick grid (10^-precision)."""
        if abs(number * 10**decimals - round(number * 10**decimals)) > 1e-6:
            raise Refusal(codes.PARAMETER_ERROR, f"{name} has more than {decimals} decimals")

    def _fill(self, account: SimAccount, order: SimOrder, price: float, fee_rate: float, role: str) -> None:
        now = self.market.now_ms()
        direction = 1.0 if order.side == "BUY" else -1.0
        position = account.positions.get(order.symbol)
        if position is None:
            position = SimPosition(str(next(self._ids)), order.symbol, ctime=now)
        qty = order.qty
        if order.reduce_only:
            qty = min(qty, abs(position.qty))
        fee = qty * price * fee_rate
        realized = 0.0
        held = position.qty
        if held * direction >= 0:  # opening or adding
            if held == 0 and not order.reduce_only:
                position.tp, position.sl = order.tp_price, order.sl_price
            total = abs(held) + qty
            position.entry = (abs(held) * position.entry + qty * price) / total
            position.qty = held + direction * qty
        else:  # reducing, closing or flipping
            closing = min(qty, abs(held))
            realized = closing * (price - position.entry) * (1.0 if held > 0 else -1.0)
            position.qty = held + direction * qty
            if abs(position.qty) < 1e-12:
                position.qty = 0.0
            elif position.qty * held < 0:  # flipped: the rest opens at this price
                position.entry = price
                position.tp = position.sl = None
        position.fee += fee
        position.realized += realized
        position.mtime = now
        account.balance += realized - fee
        order.status = "FILLED"
        order.trade_qty = qty
        order.avg_price = price
        order.fee = fee
        order.realized = realized
        order.mtime = now
        account.fills.append(
            {
                "tradeId": str(next(self._ids)),
                "orderId": order.order_id,
                "clientId": order.client_id,
                "symbol": order.symbol,
                "side": order.side,
                "qty": qty,
                "price": price,
                "fee": fee,
                "realizedPNL": realized,
                "roleType": role,
                "reduceOnly": order.reduce_only,
                "ctime": now,
            }
        )
        event = "OPEN" if held == 0 else ("CLOSE" if position.qty == 0 else "UPDATE")
        if position.qty == 0:
            account.positions.pop(order.symbol, None)
        else:
            account.positions[order.symbol] = position
        self._push_order(account, order, "CLOSE")
        self._push_position(account, position, event)
        self._push_balance(account)

    def _push_order(self, account: SimAccount, order: SimOrder, event: str) -> None:
        if self.on_private is None:
            return
        self.on_private(account.api_key, "order", {
            "event": event, "orderId": order.order_id, "clientId": order.client_id, "symbol": order.symbol,
            "positionType": "CROSS", "positionMode": "ONE_WAY", "side": order.side, "effect": "GTC",
            "type": order.order_type, "qty": fmt(order.qty), "reductionOnly": order.reduce_only,
            "price": fmt(order.price) if order.price is not None else "0", "ctime": _iso(order.ctime),
            "mtime": _iso(order.mtime), "leverage": str(order.leverage), "orderStatus": order.status,
            "fee": fmt(order.fee), "averagePrice": fmt(order.avg_price),
            "dealAmount": fmt(order.trade_qty * order.avg_price),
        })  # fmt: skip

    def _push_position(self, account: SimAccount, p: SimPosition, event: str) -> None:
        if self.on_private is None:
            return
        leverage = account.leverage.get(p.symbol, self._rules(p.symbol).default_leverage)
        self.on_private(account.api_key, "position", {
            "event": event, "positionId": p.position_id, "marginMode": "CROSS", "positionMode": "ONE_WAY",
            "side": "LONG" if p.qty >= 0 else "SHORT", "leverage": str(leverage),
            "margin": fmt(abs(p.qty) * p.entry / leverage), "ctime": _iso(p.ctime), "qty": fmt(abs(p.qty)),
            "entryValue": fmt(abs(p.qty) * p.entry), "symbol": p.symbol, "realizedPNL": fmt(p.realized),
            "unrealizedPNL": fmt(p.qty * (self.market.last_price(p.symbol) - p.entry)), "funding": fmt(p.funding),
            "fee": fmt(p.fee),
        })  # fmt: skip

    def _push_balance(self, account: SimAccount) -> None:
        if self.on_private is None:
            return
        margin = self.margin_used(account)
        self.on_private(account.api_key, "balance", {
            "coin": "USDT", "available": fmt(max(self.available(account), 0.0)), "frozen": fmt(self.frozen(account)),
            "isolationFrozen": "0", "crossFrozen": fmt(self.frozen(account)), "margin": fmt(margin),
            "isolationMargin": "0", "crossMargin": fmt(margin), "expMoney": "0",
        })  # fmt: skip


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
