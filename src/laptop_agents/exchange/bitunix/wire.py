"""The Bitunix wire format, both ways: interval names, tolerant number parsing, klines, contract specs.

Numbers arrive as strings or as JSON numbers (§2.3, conflict C2): `num` accepts both. REST klines come
newest first with ambiguous volume names (C1): `parse_kline_rows` returns ascending candles and finds the
base volume by its ratio to the quote volume (quote ≈ base × close).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from laptop_agents.core.candle import INTERVAL_MS, Candle
from laptop_agents.core.errors import CandleError
from laptop_agents.core.rejected import RejectedCandle
from laptop_agents.exchange.bitunix.errors import ParameterError

# Our interval names → REST `interval` (§3.1) and WebSocket channel suffix (§5.5).
REST_INTERVALS: dict[str, str] = {
    "1m": "1m", "5m": "5m", "15m": "15m", "30m": "30m", "1h": "1h", "2h": "2h", "4h": "4h", "6h": "6h",
    "8h": "8h", "12h": "12h", "1d": "1d", "3d": "3d", "1w": "1w",
}  # fmt: skip
WS_INTERVALS: dict[str, str] = {
    "1m": "1min", "3m": "3min", "5m": "5min", "15m": "15min", "30m": "30min", "1h": "60min", "2h": "2h",
    "4h": "4h", "6h": "6h", "8h": "8h", "12h": "12h", "1d": "1day", "3d": "3day", "1w": "1week",
}  # fmt: skip
WS_INTERVAL_MS: dict[str, int] = {suffix: INTERVAL_MS[ours] for ours, suffix in WS_INTERVALS.items()}
REST_INTERVAL_MS: dict[str, int] = {wire: INTERVAL_MS[ours] for ours, wire in REST_INTERVALS.items()}


def kline_channel(interval: str, price_type: str = "market") -> str:
    """`market_kline_1min` for "1m"."""
    return f"{price_type}_kline_{WS_INTERVALS[interval]}"


def num(value: Any, field: str = "value", *, finite: bool = True) -> float:
    """A decimal that may be a JSON string or number; anything else is a `ParameterError` naming the field.
    `finite=False` lets NaN and infinities through, for a candle's values: `Candle` refuses them, naming the
    rule, so the candle is rejected (and refetched) rather than its frame skipped as malformed."""
    if isinstance(value, bool):
        raise ParameterError(f"bitunix field {field}: expected a number, got {value!r}")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"bitunix field {field}: expected a number, got {value!r}") from None
    if finite and not math.isfinite(result):
        raise ParameterError(f"bitunix field {field}: not finite ({value!r})")
    return result


def int_ms(value: Any, field: str = "time") -> int:
    """A millisecond timestamp sent as a string or a number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value))
    except ValueError:
        raise ParameterError(f"bitunix field {field}: expected integer milliseconds, got {value!r}") from None


def fmt(value: float) -> str:
    """A float as Bitunix writes decimals: the shortest exact digits, no exponent, no trailing ".0"."""
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = f"{value:.12f}".rstrip("0").rstrip(".")
    elif text.endswith(".0"):
        text = text[:-2]
    return text if text not in ("", "-0") else "0"


def base_volume(vol_a: float, vol_b: float, close: float) -> float:
    """Pick the base-coin volume of two unnamed volumes: the one that, times the close, gives the other.
    Compared as logarithms, so no ratio overflows or underflows to 0; a close <= 0 (a candle refused
    anyway) tells nothing."""
    if vol_a <= 0 or vol_b <= 0 or close <= 0:
        return min(vol_a, vol_b) if vol_a > 0 or vol_b > 0 else 0.0
    ratio, log_close = math.log(vol_b) - math.log(vol_a), math.log(close)
    return vol_a if abs(ratio - log_close) <= abs(ratio + log_close) else vol_b


def parse_kline_rows(
    rows: Sequence[Mapping[str, Any]], on_invalid: Callable[[RejectedCandle], None] | None = None
) -> list[Candle]:
    """REST kline rows (any order, string or number fields) as candles in ascending open time.

    A row whose candle breaks the OHLC rules (or whose price is no number) raises, unless `on_invalid` is
    given: then it is left out and handed there, so one broken row in the venue's history does not make
    the page around it unreadable for good. A row without a usable open time names no candle: it raises."""
    candles = []
    for row in rows:
        if not isinstance(row, Mapping):
            raise ParameterError(f"bitunix kline row: expected an object, got {row!r:.80}")
        try:
            candles.append(_kline(row))
        except (CandleError, ParameterError) as exc:
            if on_invalid is None:
                raise
            on_invalid(RejectedCandle(int_ms(row.get("time")), str(exc)))
    candles.sort(key=lambda c: c.ts)
    return candles


def _kline(row: Mapping[str, Any]) -> Candle:
    close = num(row.get("close"), "close")
    volume = base_volume(num(row.get("quoteVol", 0), "quoteVol"), num(row.get("baseVol", 0), "baseVol"), close)
    return Candle(
        int_ms(row.get("time")),
        num(row.get("open"), "open"),
        num(row.get("high"), "high"),
        num(row.get("low"), "low"),
        close,
        volume,
    )


@dataclass(frozen=True, slots=True)
class ContractSpec:
    """What an order must respect on one contract (§3.4). `qty_step` = 10^-basePrecision, `tick` likewise."""

    symbol: str
    base: str
    quote: str
    min_qty: float
    max_market_qty: float
    max_limit_qty: float
    qty_step: float
    tick: float
    min_leverage: int
    max_leverage: int
    default_leverage: int
    status: str
    api_trading: bool

    @classmethod
    def from_wire(cls, row: Any) -> ContractSpec:
        if not isinstance(row, Mapping) or row.get("symbol") in (None, ""):
            raise ParameterError(f"bitunix trading pair: expected an object with a symbol, got {row!r:.80}")
        base_precision = _decimals(row.get("basePrecision", 0), "basePrecision")
        quote_precision = _decimals(row.get("quotePrecision", 0), "quotePrecision")
        return cls(
            symbol=str(row["symbol"]).upper(),
            base=str(row.get("base", "")),
            quote=str(row.get("quote", "")),
            min_qty=num(row.get("minTradeVolume", 0), "minTradeVolume"),
            max_market_qty=num(row.get("maxMarketOrderVolume", 0), "maxMarketOrderVolume"),
            max_limit_qty=num(row.get("maxLimitOrderVolume", 0), "maxLimitOrderVolume"),
            qty_step=10.0**-base_precision,
            tick=10.0**-quote_precision,
            min_leverage=int(num(row.get("minLeverage", 1), "minLeverage")),
            max_leverage=int(num(row.get("maxLeverage", 1), "maxLeverage")),
            default_leverage=int(num(row.get("defaultLeverage", 1), "defaultLeverage")),
            status=str(row.get("symbolStatus", "OPEN")),
            api_trading=bool(row.get("isApiSupported", True)),
        )


def _decimals(value: Any, field: str) -> int:
    """A precision (decimals of a quantity or a price): a whole number from 0 to 18."""
    digits = num(value, field)
    if digits != int(digits) or not 0 <= digits <= 18:
        raise ParameterError(f"bitunix field {field}: expected 0 to 18 decimals, got {value!r}")
    return int(digits)
