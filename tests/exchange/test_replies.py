"""The typed reply models: strict where a wrong reading loses money, tolerant of the variants seen live."""

from __future__ import annotations

from typing import Any

import pytest

from laptop_agents.exchange.bitunix.errors import MalformedReply
from laptop_agents.exchange.bitunix.replies import OrderInfo, PlaceReply, PositionInfo, TradeInfo

TRADE: dict[str, Any] = {"tradeId": "t1", "orderId": "o1", "clientId": "c1", "symbol": "BTCUSDT", "side": "SELL",
                         "qty": "0.01", "price": "40000", "fee": "0.2", "realizedPNL": "-1", "reduceOnly": "false",
                         "ctime": "1640995200000"}  # fmt: skip
ORDER: dict[str, Any] = {"orderId": "o1", "clientId": "c1", "symbol": "btcusdt", "side": "BUY", "type": "LIMIT",
                         "qty": "0.01", "tradeQty": "0", "price": "market", "status": "NEW_",
                         "reductionOnly": False}  # fmt: skip


def test_a_string_false_is_false_and_numbers_come_as_strings_or_numbers() -> None:
    trade = TradeInfo.from_wire(TRADE)
    assert trade.reduce_only is False and trade.side == "sell" and trade.ts == 1640995200000
    assert TradeInfo.from_wire({**TRADE, "reduceOnly": "TRUE", "qty": 0.01}).reduce_only is True
    order = OrderInfo.from_wire(ORDER)
    assert (order.symbol, order.order_type, order.price, order.status) == ("BTCUSDT", "LIMIT", None, "NEW")
    position = PositionInfo.from_wire({"positionId": "p", "symbol": "BTCUSDT", "side": "SELL", "qty": "0.5",
                                       "entryValue": "20000", "leverage": "10", "ctime": "5"})  # fmt: skip
    assert (position.side, position.entry_price, position.leverage, position.opened_ms) == ("short", 40000.0, 10, 5)


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ({**TRADE, "side": "HOLD"}, "expected BUY or SELL"),
        ({**TRADE, "reduceOnly": "no"}, "expected true or false"),
        ({**TRADE, "reduceOnly": 1}, "expected true or false"),
        ({**TRADE, "tradeId": ""}, "non-empty id"),
        ({**TRADE, "qty": "NaN"}, "not finite"),
        ({**TRADE, "price": True}, "expected a decimal"),
        ({**TRADE, "ctime": "yesterday"}, "integer milliseconds"),
        ([TRADE], "expected an object"),
    ],
)
def test_an_unknown_side_or_a_broken_field_is_a_malformed_reply(row: Any, fragment: str) -> None:
    with pytest.raises(MalformedReply, match=fragment):
        TradeInfo.from_wire(row)


@pytest.mark.parametrize("data", [None, [], [{"orderId": "1"}], {}, {"orderId": ""}, {"orderId": ["1"]}])
def test_a_placement_reply_without_a_readable_id_is_malformed(data: Any) -> None:
    with pytest.raises(MalformedReply):
        PlaceReply.from_wire(data)
    assert PlaceReply.from_wire({"orderId": 1947302001882128384, "clientId": "c"}).order_id == "1947302001882128384"


def test_a_position_side_must_be_a_documented_word() -> None:
    with pytest.raises(MalformedReply, match="expected LONG or SHORT"):
        PositionInfo.from_wire({"positionId": "p", "symbol": "BTCUSDT", "side": "FLAT", "qty": "1",
                                "avgOpenPrice": "1"})  # fmt: skip
