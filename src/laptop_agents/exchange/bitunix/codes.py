"""Bitunix envelope codes (§6), shared by the clients and the simulated exchange so both speak alike."""

from __future__ import annotations

from typing import Final

SUCCESS: Final = 0
NO_PERMISSION: Final = 403
NOT_FOUND: Final = 404
NETWORK_ERROR_SHORT: Final = 1
SYSTEM_ERROR: Final = 2
NETWORK_ERROR: Final = 10001
PARAMETER_ERROR: Final = 10002
API_KEY_EMPTY: Final = 10003
IP_NOT_WHITELISTED: Final = 10004
TOO_MANY_REQUESTS: Final = 10005
REQUEST_TOO_FREQUENT: Final = 10006
SIGNATURE_ERROR: Final = 10007
VALUE_NOT_ALLOWED: Final = 10008
MARKET_NOT_EXIST: Final = 20001
POSITION_LIMIT: Final = 20002
INSUFFICIENT_BALANCE: Final = 20003
INVALID_LEVERAGE: Final = 20005
OPEN_ORDERS_BLOCK_CHANGE: Final = 20006
ORDER_NOT_FOUND: Final = 20007
INSUFFICIENT_AMOUNT: Final = 20008
POSITION_MODE_BLOCKED: Final = 20009
FUTURES_NOT_SUPPORTED: Final = 20015
BATCH_TOO_LARGE: Final = 20016
POSITION_NOT_EXIST: Final = 30004
SELECT_TP_OR_SL: Final = 30006
QTY_TOO_SMALL: Final = 30016
QTY_BELOW_MIN: Final = 30017
REDUCE_ONLY_NO_POSITION: Final = 30018
REDUCE_ONLY_SAME_SIDE: Final = 30019
# TP/SL trigger against the current price (§6: 30020–30037), for a long (TP above, SL below) or a short
TP_ABOVE_LAST: Final = 30026
TP_ABOVE_MARK: Final = 30027
SL_BELOW_LAST: Final = 30028
SL_BELOW_MARK: Final = 30029
SL_ABOVE_LAST: Final = 30030
SL_ABOVE_MARK: Final = 30031
TP_BELOW_LAST: Final = 30032
TP_BELOW_MARK: Final = 30033
TPSL_QTY_TOO_LARGE: Final = 30038
QTY_ABOVE_MAX: Final = 30039
TRIGGER_PRICE_NOT_POSITIVE: Final = 30041
DUPLICATE_CLIENT_ID: Final = 30042

MESSAGES: Final[dict[int, str]] = {
    SUCCESS: "Success",
    NO_PERMISSION: "This API key does not support this operation",
    NOT_FOUND: "Not Found",
    NETWORK_ERROR_SHORT: "Network Error",
    SYSTEM_ERROR: "System error",
    NETWORK_ERROR: "Network Error",
    PARAMETER_ERROR: "Parameter error",
    API_KEY_EMPTY: "api-key can't be empty",
    IP_NOT_WHITELISTED: "IP not in the whitelist",
    TOO_MANY_REQUESTS: "Too many requests",
    REQUEST_TOO_FREQUENT: "Request too frequently",
    SIGNATURE_ERROR: "Sign signature error",
    VALUE_NOT_ALLOWED: "Parameter does not match the allowed values",
    MARKET_NOT_EXIST: "Market not exists",
    POSITION_LIMIT: "Position exceeds the open limit",
    INSUFFICIENT_BALANCE: "Insufficient balance",
    INVALID_LEVERAGE: "Leverage is invalid",
    OPEN_ORDERS_BLOCK_CHANGE: "Please cancel open orders first",
    ORDER_NOT_FOUND: "Order not found, please try it later",
    INSUFFICIENT_AMOUNT: "Insufficient amount",
    POSITION_MODE_BLOCKED: "Position exists, cannot change position mode",
    FUTURES_NOT_SUPPORTED: "this Futures is not allowed to trade.",
    BATCH_TOO_LARGE: "Batch order exceeds the maximum size",
    POSITION_NOT_EXIST: "Position does not exist",
    SELECT_TP_OR_SL: "Please select TP or SL",
    QTY_TOO_SMALL: "Quantity too small",
    QTY_BELOW_MIN: "Quantity below the minimum",
    REDUCE_ONLY_NO_POSITION: "Reduce-only order with no position",
    REDUCE_ONLY_SAME_SIDE: "Reduce-only order in the same direction as the position",
    TP_ABOVE_LAST: "TP price must be greater than last price",
    TP_ABOVE_MARK: "TP price must be greater than mark price",
    SL_BELOW_LAST: "SL price must be less than last price",
    SL_BELOW_MARK: "SL price must be less than mark price",
    SL_ABOVE_LAST: "SL price must be greater than last price",
    SL_ABOVE_MARK: "SL price must be greater than mark price",
    TP_BELOW_LAST: "TP price must be less than last price",
    TP_BELOW_MARK: "TP price must be less than mark price",
    TPSL_QTY_TOO_LARGE: "TP/SL amount must be less than the size of the position",
    QTY_ABOVE_MAX: "Quantity above the maximum order quantity",
    TRIGGER_PRICE_NOT_POSITIVE: "Trigger price must be greater than 0",
    DUPLICATE_CLIENT_ID: "Client ID duplicate",
}

RATE_LIMIT_CODES: Final = frozenset({TOO_MANY_REQUESTS, REQUEST_TOO_FREQUENT})
