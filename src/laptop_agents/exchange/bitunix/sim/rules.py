"""Contract rules and request validation shared by the simulator's ledger, TP/SL book and handlers.

Every refusal is a `Refusal` carrying a real Bitunix code (`codes.py`), which the server answers in the
envelope; validating in one place keeps the codes of place_order, batch_order, modify_order and the TP/SL
endpoints alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from laptop_agents.exchange.bitunix import codes
from laptop_agents.exchange.bitunix.wire import fmt

# Position tiers (§3.6): (notional from, notional to, maintenance margin rate, share of the max leverage).
# A fixed table: Bitunix publishes one per contract; the simulator only needs a plausible, stable shape.
TIERS = (
    (0.0, 200_000.0, 0.004, 1.0),
    (200_000.0, 1_000_000.0, 0.005, 0.8),
    (1_000_000.0, 5_000_000.0, 0.01, 0.4),
    (5_000_000.0, 20_000_000.0, 0.025, 0.2),
    (20_000_000.0, 50_000_000.0, 0.05, 0.08),
)


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
            "symbol": self.symbol, "base": self.base, "quote": "USDT",
            "minTradeVolume": fmt(self.min_qty), "minBuyPriceOffset": "-0.05", "maxSellPriceOffset": "0.05",
            "maxLimitOrderVolume": fmt(self.max_qty), "maxMarketOrderVolume": fmt(self.max_qty),
            "basePrecision": self.base_precision, "quotePrecision": self.quote_precision,
            "maxLeverage": self.max_leverage, "minLeverage": self.min_leverage,
            "defaultLeverage": self.default_leverage, "defaultMarginMode": "Cross", "priceProtectScope": "0.02",
            "symbolStatus": "OPEN", "isApiSupported": True, "maxFundingRate": "0.375", "minFundingRate": "-0.375",
        }  # fmt: skip

    @property
    def base(self) -> str:
        return self.symbol.removesuffix("USDT")

    def update(self, values: Mapping[str, Any]) -> None:
        """Change the contract's rules at runtime (the venue changing its filters under a running client):
        a partial mapping of the fields but `symbol`; unknown keys and bad values are refused whole."""
        known = {f.name: f.type for f in fields(self) if f.name != "symbol"}
        changed: dict[str, Any] = {}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown contract rule {key!r}; known: {', '.join(sorted(known))}")
            kind = int if known[key] in (int, "int") else float
            if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and value != int(value)):
                raise ValueError(f"contract rule {key} must be {'a whole number' if kind is int else 'a number'}")
            if value < 0 or (key != "base_precision" and key != "quote_precision" and value <= 0):
                raise ValueError(f"contract rule {key} must be {'>= 0' if key.endswith('precision') else '> 0'}")
            changed[key] = kind(value)
        merged = {**{k: getattr(self, k) for k in known}, **changed}
        if merged["min_qty"] > merged["max_qty"] or merged["min_leverage"] > merged["max_leverage"]:
            raise ValueError("contract rules: min_qty must be <= max_qty and min_leverage <= max_leverage")
        for key, value in changed.items():
            setattr(self, key, value)

    def tiers(self) -> list[dict[str, Any]]:
        """The risk-limit tiers, shaped as the SDK's PositionTiersResp (leverage bounded by this contract's)."""
        return [
            {
                "symbol": self.symbol,
                "level": level,
                "startValue": fmt(start),
                "endValue": fmt(end),
                "leverage": max(self.min_leverage, int(self.max_leverage * share)),
                "maintenanceMarginRate": fmt(rate),
            }
            for level, (start, end, rate, share) in enumerate(TIERS, start=1)
        ]

    def maintenance_rate(self, notional: float) -> float:
        """The maintenance margin rate of the tier a position of this notional falls in (the last above it)."""
        for _start, end, rate, _share in TIERS:
            if notional <= end:
                return rate
        return TIERS[-1][2]

    def check_qty(self, qty: float, name: str = "qty") -> None:
        if qty < self.min_qty:
            raise Refusal(codes.QTY_BELOW_MIN)
        if qty > self.max_qty:
            raise Refusal(codes.QTY_ABOVE_MAX)
        check_step(qty, name, self.base_precision)


def decimal(value: Any, name: str, *, not_positive: int = codes.PARAMETER_ERROR) -> float:
    """A decimal sent as a string or a JSON number (the Java SDK sends BigDecimal as numbers); must be > 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Refusal(codes.PARAMETER_ERROR, f"{name} must be a decimal string") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise Refusal(codes.PARAMETER_ERROR, f"{name} must be a decimal string")
    if number <= 0:
        raise Refusal(not_positive, f"{name} must be > 0" if not_positive == codes.PARAMETER_ERROR else None)
    return number


def check_step(number: float, name: str, decimals: int) -> None:
    """Quantities and prices must sit on the lot / tick grid (10^-precision)."""
    if abs(number * 10**decimals - round(number * 10**decimals)) > 1e-6:
        raise Refusal(codes.PARAMETER_ERROR, f"{name} has more than {decimals} decimals")


def one_of(value: Any, allowed: Iterable[str], *, default: str | None = None) -> str:
    """An enum field (upper-cased); anything else is 10008 with the venue's "alternative value" message."""
    options = list(allowed)
    if value in (None, "") and default is not None:
        return default
    text = str(value).upper()
    if text not in options:
        listed = ",".join(f'"{o}"' for o in options)
        raise Refusal(codes.VALUE_NOT_ALLOWED, f"Parameter {value} does not match, alternative value [{listed}].")
    return text


def present(body: Mapping[str, Any], name: str) -> bool:
    return body.get(name) not in (None, "")
