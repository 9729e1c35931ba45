"""What the private REST endpoints answer, as typed records read tolerantly from the wire (§4.6, §4.7).

Each `from_wire` accepts the documented names and the variants seen live (`orderType`/`type`,
`reduceOnly`/`reductionOnly`, a trailing underscore on a status, LONG/SHORT or BUY/SELL sides).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from laptop_agents.exchange.bitunix.errors import ExchangeError
from laptop_agents.exchange.bitunix.wire import int_ms, num


@dataclass(frozen=True, slots=True)
class OrderInfo:
    order_id: str
    client_id: str
    symbol: str
    side: Literal["buy", "sell"]
    order_type: str
    qty: float
    filled_qty: float
    price: float | None
    avg_price: float
    status: str
    fee: float
    reduce_only: bool

    @classmethod
    def from_wire(cls, row: Mapping[str, Any]) -> OrderInfo:
        price = row.get("price")
        return cls(
            order_id=str(row.get("orderId", "")),
            client_id=str(row.get("clientId") or ""),
            symbol=str(row.get("symbol", "")).upper(),
            side="buy" if str(row.get("side", "")).upper() == "BUY" else "sell",
            order_type=str(row.get("orderType") or row.get("type") or "").upper(),
            qty=num(row.get("qty", 0), "qty"),
            filled_qty=num(row.get("tradeQty", 0) or 0, "tradeQty"),
            price=None if price in (None, "", "market") else num(price, "price"),
            avg_price=num(row.get("avgPrice", row.get("averagePrice", 0)) or 0, "avgPrice"),
            status=str(row.get("status", row.get("orderStatus", ""))).upper().rstrip("_"),
            fee=num(row.get("fee", 0) or 0, "fee"),
            reduce_only=bool(row.get("reduceOnly", row.get("reductionOnly", False))),
        )


@dataclass(frozen=True, slots=True)
class PositionInfo:
    position_id: str
    symbol: str
    side: Literal["long", "short"]
    qty: float
    entry_price: float
    unrealized_pnl: float
    leverage: int
    opened_ms: int
    """When the exchange opened it (its `ctime`, the exchange's clock)."""

    @classmethod
    def from_wire(cls, row: Mapping[str, Any]) -> PositionInfo:
        side = str(row.get("side", "")).upper()
        qty = num(row.get("qty", 0), "qty")
        entry = row.get("avgOpenPrice")
        entry_price = (
            num(entry, "avgOpenPrice")
            if entry not in (None, "")
            else (num(row.get("entryValue", 0), "entryValue") / qty if qty else 0.0)
        )
        return cls(
            position_id=str(row.get("positionId", "")),
            symbol=str(row.get("symbol", "")).upper(),
            side="long" if side in ("LONG", "BUY") else "short",  # C10: LONG/SHORT documented, BUY/SELL seen
            qty=qty,
            entry_price=entry_price,
            unrealized_pnl=num(row.get("unrealizedPNL", 0) or 0, "unrealizedPNL"),
            leverage=int(row.get("leverage", 0) or 0),
            opened_ms=int_ms(row.get("ctime", 0) or 0, "ctime"),
        )


@dataclass(frozen=True, slots=True)
class AccountInfo:
    available: float
    frozen: float
    margin: float
    unrealized_pnl: float

    @classmethod
    def from_wire(cls, data: Any) -> AccountInfo:
        row = data[0] if isinstance(data, list) and data else data  # C5: array (doc) or object (live)
        if not isinstance(row, Mapping):
            raise ExchangeError(f"bitunix account: unexpected data {data!r}")
        return cls(
            available=num(row.get("available", 0), "available"),
            frozen=num(row.get("frozen", 0), "frozen"),
            margin=num(row.get("margin", 0), "margin"),
            unrealized_pnl=num(row.get("crossUnrealizedPNL", 0) or 0, "crossUnrealizedPNL")
            + num(row.get("isolationUnrealizedPNL", 0) or 0, "isolationUnrealizedPNL"),
        )


@dataclass(frozen=True, slots=True)
class TradeInfo:
    """One execution (`get_history_trades`): the trade id is what fills are deduplicated by."""

    trade_id: str
    order_id: str
    client_id: str
    symbol: str
    side: Literal["buy", "sell"]
    qty: float
    price: float
    fee: float
    realized_pnl: float
    reduce_only: bool
    ts: int

    @classmethod
    def from_wire(cls, row: Mapping[str, Any]) -> TradeInfo:
        return cls(
            trade_id=str(row.get("tradeId", "")),
            order_id=str(row.get("orderId", "")),
            client_id=str(row.get("clientId") or ""),
            symbol=str(row.get("symbol", "")).upper(),
            side="buy" if str(row.get("side", "")).upper() == "BUY" else "sell",
            qty=num(row.get("qty", 0), "qty"),
            price=num(row.get("price", 0), "price"),
            fee=num(row.get("fee", 0) or 0, "fee"),
            realized_pnl=num(row.get("realizedPNL", 0) or 0, "realizedPNL"),
            reduce_only=bool(row.get("reduceOnly", False)),
            ts=int_ms(row.get("ctime", 0), "ctime"),
        )
