"""What the private REST endpoints answer, parsed into typed, validated models (pydantic) (§4.4–§4.8).

A reply that is not what Bitunix documents is a `MalformedReply` (no clear answer: a placement is then
UNKNOWN and looked up), never a crash and never a record with an empty id. The names and variants seen
live are accepted (`orderType`/`type`, `reduceOnly`/`reductionOnly`, a trailing underscore on a status,
LONG/SHORT or BUY/SELL position sides, numbers as strings or JSON numbers); everything else is strict:
a side must be one of the documented words, a boolean `true`/`false` (JSON or string: `"false"` is
false), a decimal finite, an id non-empty.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from laptop_agents.exchange.bitunix.errors import MalformedReply


def _decimal(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected a decimal, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not finite: {value!r}")
    return number


def _decimal_or_zero(value: Any) -> float:
    """Optional amounts (fees, PnL, filled quantity): missing or empty reads as 0."""
    return 0.0 if value in (None, "") else _decimal(value)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"expected true or false, got {value!r}")


def _order_side(value: Any) -> str:
    if isinstance(value, str) and value.upper() in ("BUY", "SELL"):
        return value.lower()
    raise ValueError(f"expected BUY or SELL, got {value!r}")


def _position_side(value: Any) -> str:
    word = value.upper() if isinstance(value, str) else value
    if word in ("LONG", "BUY"):  # C10: LONG/SHORT documented, BUY/SELL seen
        return "long"
    if word in ("SHORT", "SELL"):
        return "short"
    raise ValueError(f"expected LONG or SHORT, got {value!r}")


def _text_id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
        raise ValueError(f"expected a non-empty id, got {value!r}")
    return str(value)


def _optional_text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"expected text, got {value!r}")
    return str(value)


def _millis(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected integer milliseconds, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"expected integer milliseconds, got {value!r}")


def _millis_or_zero(value: Any) -> int:
    return 0 if value in (None, "") else _millis(value)


Decimal = Annotated[float, BeforeValidator(_decimal)]
Amount = Annotated[float, BeforeValidator(_decimal_or_zero)]
Boolean = Annotated[bool, BeforeValidator(_boolean)]
OrderSide = Annotated[Literal["buy", "sell"], BeforeValidator(_order_side)]
PositionSide = Annotated[Literal["long", "short"], BeforeValidator(_position_side)]
Id = Annotated[str, BeforeValidator(_text_id)]
Text = Annotated[str, BeforeValidator(_optional_text)]
Millis = Annotated[int, BeforeValidator(_millis)]
Leverage = Annotated[int, BeforeValidator(lambda v: 0 if v in (None, "") else int(_decimal(v)))]
OptionalMillis = Annotated[int, BeforeValidator(_millis_or_zero)]


class Reply(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


R = TypeVar("R", bound=Reply)


def parse(model: type[R], data: Any, what: str) -> R:
    """`data` as `model`, or a `MalformedReply` naming what and why (one line)."""
    if not isinstance(data, Mapping):
        raise MalformedReply(f"bitunix {what}: expected an object, got {_short(data)}")
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])
        raise MalformedReply(f"bitunix {what}: {problems}") from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class PlaceReply(Reply):
    """`place_order`: the venue's id for the order just accepted."""

    order_id: Id

    @classmethod
    def from_wire(cls, data: Any) -> PlaceReply:
        row = dict(data) if isinstance(data, Mapping) else data
        if isinstance(row, dict):
            row = {"order_id": row.get("orderId")}
        return parse(cls, row, "place_order")


class OrderInfo(Reply):
    order_id: Id
    client_id: Text
    symbol: str
    side: OrderSide
    order_type: str
    qty: Decimal
    filled_qty: Amount
    price: Decimal | None
    avg_price: Amount
    status: str
    fee: Amount
    reduce_only: Boolean

    @classmethod
    def from_wire(cls, row: Any) -> OrderInfo:
        if not isinstance(row, Mapping):
            return parse(cls, row, "order")
        price = row.get("price")
        reduce_only = row.get("reduceOnly", row.get("reductionOnly", False))
        status = row.get("status", row.get("orderStatus"))
        fields = {
            "order_id": row.get("orderId"),
            "client_id": row.get("clientId"),
            "symbol": str(row.get("symbol", "")).upper(),
            "side": row.get("side"),
            "order_type": str(row.get("orderType") or row.get("type") or "").upper(),
            "qty": row.get("qty"),
            "filled_qty": row.get("tradeQty"),
            "price": None if price in (None, "", "market") else _try_decimal(price),
            "avg_price": row.get("avgPrice", row.get("averagePrice")),
            "status": str(status).upper().rstrip("_") if isinstance(status, str) else status,
            "fee": row.get("fee"),
            "reduce_only": reduce_only,
        }
        return parse(cls, fields, "order")


class PositionInfo(Reply):
    position_id: Text
    symbol: str
    side: PositionSide
    qty: Decimal
    entry_price: Decimal
    unrealized_pnl: Amount
    funding: Amount
    """Funding paid on this position so far (> 0 paid), as the exchange settled it."""
    leverage: Leverage
    opened_ms: OptionalMillis
    """When the exchange opened it (its `ctime`, the exchange's clock)."""

    @classmethod
    def from_wire(cls, row: Any) -> PositionInfo:
        if not isinstance(row, Mapping):
            return parse(cls, row, "position")
        qty = row.get("qty")
        entry = row.get("avgOpenPrice")
        if entry in (None, ""):
            value, size = _try_decimal(row.get("entryValue")), _try_decimal(qty)
            entry = value / size if isinstance(value, float) and isinstance(size, float) and size else 0.0
        fields = {
            "position_id": row.get("positionId"),
            "symbol": str(row.get("symbol", "")).upper(),
            "side": row.get("side"),
            "qty": qty,
            "entry_price": entry,
            "unrealized_pnl": row.get("unrealizedPNL"),
            "funding": row.get("funding"),
            "leverage": row.get("leverage"),
            "opened_ms": row.get("ctime"),
        }
        return parse(cls, fields, "position")


class AccountInfo(Reply):
    available: Decimal
    frozen: Amount
    margin: Amount
    unrealized_pnl: Decimal
    position_mode: str
    """ONE_WAY or HEDGE ("" when the reply does not say)."""

    @classmethod
    def from_wire(cls, data: Any) -> AccountInfo:
        row = data[0] if isinstance(data, list) and data else data  # C5: array (doc) or object (live)
        if not isinstance(row, Mapping):
            return parse(cls, row, "account")
        fields = {
            "available": row.get("available"),
            "frozen": row.get("frozen"),
            "margin": row.get("margin"),
            "unrealized_pnl": _decimal_or_zero_soft(row.get("crossUnrealizedPNL"))
            + _decimal_or_zero_soft(row.get("isolationUnrealizedPNL")),
            "position_mode": str(row.get("positionMode") or "").upper(),
        }
        return parse(cls, fields, "account")


class TradeInfo(Reply):
    """One execution (`get_history_trades`): the trade id is what fills are deduplicated by."""

    trade_id: Id
    order_id: Text
    client_id: Text
    symbol: str
    side: OrderSide
    qty: Decimal
    price: Decimal
    fee: Amount
    realized_pnl: Amount
    reduce_only: Boolean
    ts: Millis

    @classmethod
    def from_wire(cls, row: Any) -> TradeInfo:
        if not isinstance(row, Mapping):
            return parse(cls, row, "trade")
        fields = {
            "trade_id": row.get("tradeId"),
            "order_id": row.get("orderId"),
            "client_id": row.get("clientId"),
            "symbol": str(row.get("symbol", "")).upper(),
            "side": row.get("side"),
            "qty": row.get("qty"),
            "price": row.get("price"),
            "fee": row.get("fee"),
            "realized_pnl": row.get("realizedPNL"),
            "reduce_only": row.get("reduceOnly", False),
            "ts": row.get("ctime"),
        }
        return parse(cls, fields, "trade")


class TierInfo(Reply):
    """One risk-limit tier (`/position/get_position_tiers`): positions up to `end_value` keep
    `maintenance_rate` × notional as maintenance margin, at most `leverage`."""

    level: int
    start_value: Decimal
    end_value: Decimal
    leverage: Leverage
    maintenance_rate: Decimal

    @classmethod
    def from_wire(cls, row: Any) -> TierInfo:
        if not isinstance(row, Mapping):
            return parse(cls, row, "position tier")
        fields = {
            "level": row.get("level"),
            "start_value": row.get("startValue"),
            "end_value": row.get("endValue"),
            "leverage": row.get("leverage"),
            "maintenance_rate": row.get("maintenanceMarginRate"),
        }
        return parse(cls, fields, "position tier")


def _try_decimal(value: Any) -> Any:
    """The decimal when `value` is one, else `value` itself (the model's validation then names it)."""
    try:
        return _decimal(value)
    except (TypeError, ValueError):
        return value


def _decimal_or_zero_soft(value: Any) -> float:
    try:
        return _decimal_or_zero(value)
    except (TypeError, ValueError):
        raise MalformedReply(f"bitunix account: expected a decimal, got {value!r}") from None
