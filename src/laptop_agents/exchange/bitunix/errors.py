"""Typed Bitunix errors. The envelope's `code` (or the transport failure) decides the type.

::

    ExchangeError (LaptopAgentsError)
    ├── ExchangeUnavailable              network errors, HTTP 5xx, codes 1/10001: retryable
    │   ├── ExchangeTimeout (TimeoutError)
    │   └── MalformedReply               a success whose data is not the documented shape: no clear answer
    ├── RateLimitedError                 codes 10005/10006, HTTP 429: retryable after a wait
    │   └── IpBanned                     HTTP 418: banned until Retry-After; not retried
    ├── AuthError                        codes 10003, 10004, 403: fix the key, do not retry
    │   └── SignatureError               code 10007
    ├── UnknownSymbol                    codes 20001, 20015
    └── OrderRejected                    business refusals: never retried blindly
        ├── ParameterError               codes 10002, 10008
        ├── InsufficientBalance          code 20003
        ├── InvalidLeverage              code 20005
        ├── OrderNotFound                code 20007
        ├── QtyOutOfRange                codes 30016, 30017, 30039
        └── DuplicateClientId            code 30042 (with deterministic ids: "already accepted")
"""

from __future__ import annotations

from laptop_agents.core.errors import LaptopAgentsError
from laptop_agents.exchange.bitunix import codes


class ExchangeError(LaptopAgentsError):
    """An exchange call failed. `code` is the envelope code (None for transport failures)."""

    retryable = False

    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class ExchangeUnavailable(ExchangeError):
    retryable = True


class ExchangeTimeout(ExchangeUnavailable, TimeoutError):
    pass


class MalformedReply(ExchangeUnavailable):
    """Code 0, but `data` is not what Bitunix documents (null, a list for an object, a field missing or of
    the wrong type, an empty id): the call's outcome is not known."""


class RateLimitedError(ExchangeError):
    retryable = True


class IpBanned(RateLimitedError):
    """HTTP 418: the venue bans this address for `retry_after_s` (minutes to days, escalating). Nothing is
    sent until it expires; retrying would only lengthen it."""

    retryable = False

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message, http_status=418)
        self.retry_after_s = retry_after_s


class AuthError(ExchangeError):
    pass


class SignatureError(AuthError):
    pass


class UnknownSymbol(ExchangeError):
    pass


class OrderRejected(ExchangeError):
    pass


class ParameterError(OrderRejected):
    pass


class InsufficientBalance(OrderRejected):
    pass


class InvalidLeverage(OrderRejected):
    pass


class OrderNotFound(OrderRejected):
    pass


class QtyOutOfRange(OrderRejected):
    pass


class DuplicateClientId(OrderRejected):
    pass


_BY_CODE: dict[int, type[ExchangeError]] = {
    codes.NETWORK_ERROR_SHORT: ExchangeUnavailable,
    codes.NETWORK_ERROR: ExchangeUnavailable,
    codes.SYSTEM_ERROR: ExchangeUnavailable,
    codes.TOO_MANY_REQUESTS: RateLimitedError,
    codes.REQUEST_TOO_FREQUENT: RateLimitedError,
    codes.API_KEY_EMPTY: AuthError,
    codes.IP_NOT_WHITELISTED: AuthError,
    codes.NO_PERMISSION: AuthError,
    codes.SIGNATURE_ERROR: SignatureError,
    codes.MARKET_NOT_EXIST: UnknownSymbol,
    codes.FUTURES_NOT_SUPPORTED: UnknownSymbol,
    codes.PARAMETER_ERROR: ParameterError,
    codes.VALUE_NOT_ALLOWED: ParameterError,
    codes.INSUFFICIENT_BALANCE: InsufficientBalance,
    codes.INVALID_LEVERAGE: InvalidLeverage,
    codes.ORDER_NOT_FOUND: OrderNotFound,
    codes.QTY_TOO_SMALL: QtyOutOfRange,
    codes.QTY_BELOW_MIN: QtyOutOfRange,
    codes.QTY_ABOVE_MAX: QtyOutOfRange,
    codes.DUPLICATE_CLIENT_ID: DuplicateClientId,
}


def error_for_code(code: int, msg: str, *, path: str) -> ExchangeError:
    """The typed error for a non-zero envelope code; unknown codes are plain (non-retryable) refusals."""
    cls = _BY_CODE.get(code, OrderRejected)
    return cls(f"bitunix {path}: code {code} ({msg})", code=code, http_status=200)


def is_retryable(exc: BaseException) -> bool:
    """Network errors, timeouts, HTTP 5xx and rate limits are retried; everything else is final."""
    return isinstance(exc, ExchangeError) and exc.retryable
