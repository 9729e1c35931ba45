"""The simulator's wire shapes: REST records and private-channel pushes, built from the ledger's state.

Kept apart from the ledger so the bookkeeping reads on its own; every shape follows the SDK's reply
classes (§4.6–4.10, §5.8): decimals as strings (`fmt`), REST times int ms, push times ISO-8601 strings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from laptop_agents.exchange.bitunix.wire import fmt

if TYPE_CHECKING:
    from laptop_agents.exchange.bitunix.sim.ledger import Ledger, SimAccount, SimOrder, SimPosition
    from laptop_agents.exchange.bitunix.sim.tpsl import Leg, TpslOrder


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def _num(value: float | None) -> str | None:
    return fmt(value) if value is not None else None


def _legs(tp: Leg | None, sl: Leg | None) -> dict[str, Any]:
    """The tp*/sl* fields of orders and TP/SL orders (null for a leg that is not set)."""
    out: dict[str, Any] = {}
    for name, leg in (("tp", tp), ("sl", sl)):
        out |= {
            f"{name}Price": _num(leg.price) if leg else None,
            f"{name}StopType": leg.stop_type if leg else None,
            f"{name}OrderType": leg.order_type if leg else None,
            f"{name}OrderPrice": _num(leg.order_price) if leg else None,
        }
    return out


def order_wire(order: SimOrder) -> dict[str, Any]:
    """REST order record (OrderResp)."""
    return {
        "orderId": order.order_id, "symbol": order.symbol, "qty": fmt(order.qty), "tradeQty": fmt(order.trade_qty),
        "positionMode": "ONE_WAY", "marginMode": "CROSS", "leverage": order.leverage,
        "price": fmt(order.price) if order.price is not None else "market", "side": order.side,
        "orderType": order.order_type, "effect": "GTC", "clientId": order.client_id,
        "reduceOnly": order.reduce_only, "status": order.status, "fee": fmt(order.fee),
        "realizedPNL": fmt(order.realized), "avgPrice": fmt(order.avg_price), "ctime": order.ctime,
        "mtime": order.mtime, **_legs(order.tp, order.sl),
    }  # fmt: skip


def order_push(order: SimOrder, event: str) -> dict[str, Any]:
    """`order` channel data (§5.8: `type`, `orderStatus`, `reductionOnly`, `positionType`)."""
    return {
        "event": event, "orderId": order.order_id, "clientId": order.client_id, "symbol": order.symbol,
        "positionType": "CROSS", "positionMode": "ONE_WAY", "side": order.side, "effect": "GTC",
        "type": order.order_type, "qty": fmt(order.qty), "reductionOnly": order.reduce_only,
        "price": fmt(order.price) if order.price is not None else "0", "ctime": iso(order.ctime),
        "mtime": iso(order.mtime), "leverage": str(order.leverage), "orderStatus": order.status,
        "fee": fmt(order.fee), "averagePrice": fmt(order.avg_price),
        "dealAmount": fmt(order.trade_qty * order.avg_price), **_legs(order.tp, order.sl),
    }  # fmt: skip


def _sides(side_style: str) -> tuple[str, str]:
    return ("LONG", "SHORT") if side_style == "LONG" else ("BUY", "SELL")


def position_wire(ledger: Ledger, account: SimAccount, p: SimPosition, side_style: str = "LONG") -> dict[str, Any]:
    """REST open position (PositionPendingResp)."""
    leverage = ledger.leverage(account, p.symbol)
    last = ledger.market.last_price(p.symbol)
    long_word, short_word = _sides(side_style)
    return {
        "positionId": p.position_id, "symbol": p.symbol, "qty": fmt(abs(p.qty)),
        "entryValue": fmt(abs(p.qty) * p.entry), "side": long_word if p.qty > 0 else short_word,
        "marginMode": "CROSS", "positionMode": "ONE_WAY", "leverage": leverage, "fee": fmt(p.fee),
        "funding": fmt(p.funding), "realizedPNL": fmt(p.realized), "margin": fmt(ledger.position_margin(account, p)),
        "unrealizedPNL": fmt(p.qty * (last - p.entry)), "liqPrice": "0", "marginRate": "0",
        "avgOpenPrice": fmt(p.entry), "ctime": p.ctime, "mtime": p.mtime,
    }  # fmt: skip


def history_position_wire(
    ledger: Ledger, account: SimAccount, p: SimPosition, side_style: str = "LONG"
) -> dict[str, Any]:
    """REST closed position (PositionHistoryResp): `closePrice` is the average price of the closing fills."""
    leverage = ledger.leverage(account, p.symbol)
    long_word, short_word = _sides(side_style)
    return {
        "positionId": p.position_id, "symbol": p.symbol, "marginCoin": "USDT", "maxQty": fmt(p.max_qty),
        "qty": fmt(p.closed_qty), "entryPrice": fmt(p.entry),
        "closePrice": fmt(p.closed_value / p.closed_qty if p.closed_qty else 0.0), "liqQty": "0",
        "side": long_word if p.side == "LONG" else short_word, "marginMode": "CROSS", "positionMode": "ONE_WAY",
        "leverage": leverage, "fee": fmt(p.fee), "funding": fmt(p.funding), "realizedPNL": fmt(p.realized),
        "margin": fmt(p.max_qty * p.entry / leverage), "liqPrice": "0", "ctime": p.ctime, "mtime": p.mtime,
    }  # fmt: skip


def position_push(ledger: Ledger, account: SimAccount, p: SimPosition, event: str) -> dict[str, Any]:
    leverage = ledger.leverage(account, p.symbol)
    return {
        "event": event, "positionId": p.position_id, "marginMode": "CROSS", "positionMode": "ONE_WAY",
        "side": "LONG" if p.qty >= 0 else "SHORT", "leverage": str(leverage),
        "margin": fmt(ledger.position_margin(account, p)), "ctime": iso(p.ctime), "qty": fmt(abs(p.qty)),
        "entryValue": fmt(abs(p.qty) * p.entry), "symbol": p.symbol, "realizedPNL": fmt(p.realized),
        "unrealizedPNL": fmt(p.qty * (ledger.market.last_price(p.symbol) - p.entry)), "funding": fmt(p.funding),
        "fee": fmt(p.fee),
    }  # fmt: skip


def account_wire(ledger: Ledger, account: SimAccount) -> dict[str, Any]:
    available = max(ledger.available(account), 0.0)
    return {
        "marginCoin": "USDT", "available": fmt(available), "frozen": fmt(ledger.frozen(account)),
        "margin": fmt(ledger.margin_used(account)), "transfer": fmt(available),
        "positionMode": account.position_mode, "crossUnrealizedPNL": fmt(ledger.unrealized(account)),
        "isolationUnrealizedPNL": "0", "bonus": "0",
    }  # fmt: skip


def balance_push(ledger: Ledger, account: SimAccount) -> dict[str, Any]:
    margin, frozen = ledger.margin_used(account), ledger.frozen(account)
    return {
        "coin": "USDT", "available": fmt(max(ledger.available(account), 0.0)), "frozen": fmt(frozen),
        "isolationFrozen": "0", "crossFrozen": fmt(frozen), "margin": fmt(margin),
        "isolationMargin": "0", "crossMargin": fmt(margin), "expMoney": "0",
    }  # fmt: skip


def _qtys(order: TpslOrder, held: float) -> dict[str, Any]:
    """A partial leg closes its own quantity; a whole-position leg closes what the position holds."""
    return {
        f"{name}Qty": fmt(leg.qty if leg.qty is not None else held) if leg else None
        for name, leg in (("tp", order.tp), ("sl", order.sl))
    }


def tpsl_wire(order: TpslOrder, held: float, *, history: bool = False) -> dict[str, Any]:
    """REST TP/SL order: TpslPendingOrderResp, or TpslHistoryOrderResp with status/ctime/triggerTime."""
    row = {
        "id": order.order_id, "positionId": order.position_id, "symbol": order.symbol,
        "base": order.symbol.removesuffix("USDT"), "quote": "USDT", **_legs(order.tp, order.sl),
        **_qtys(order, held),
    }  # fmt: skip
    if history:
        row |= {"status": order.status, "ctime": order.ctime, "triggerTime": order.trigger_time}
    return row


def tpsl_push(order: TpslOrder, event: str, leverage: int, held: float) -> dict[str, Any]:
    """`tpsl` channel data (the Java SDK's TpslItem). `side` names the position's direction (BUY = long),
    as Bitunix's close orders do in hedge mode; `type` is POSITION_TPSL or TPSL, as seen live."""
    return {
        "event": event, "orderId": order.order_id, "positionId": order.position_id, "symbol": order.symbol,
        "positionType": "CROSS", "positionMode": "ONE_WAY", "side": "BUY" if order.long else "SELL",
        "effect": "GTC", "type": order.kind, "qty": fmt(held), "reductionOnly": True, "price": "0",
        "ctime": iso(order.ctime), "mtime": iso(order.mtime), "leverage": str(leverage), "status": order.status,
        **_legs(order.tp, order.sl), **_qtys(order, held),
    }  # fmt: skip
