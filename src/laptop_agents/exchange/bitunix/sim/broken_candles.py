"""Candles broken the ways a venue's data can be (§6 #6), for the simulator's `invalid_ohlc_*` faults.

Each kind breaks exactly one OHLC rule of a valid candle, so a client must refuse it (`Candle` does).
"""

from __future__ import annotations

OHLC = tuple[float, float, float, float, float]
BROKEN_KINDS = ("high_below_low", "high_below_body", "low_above_body", "negative_price", "nan_price",
                "negative_volume")  # fmt: skip


def broken(kind: str, values: OHLC) -> OHLC:
    """(open, high, low, close, volume) broken the `kind` way."""
    o, h, low, c, v = values
    if kind == "high_below_low":
        return o, low * 0.99, low, c, v
    if kind == "high_below_body":
        return o, max(o, c) * 0.999, min(low, max(o, c) * 0.999), c, v
    if kind == "low_above_body":
        return o, max(h, min(o, c) * 1.001), min(o, c) * 1.001, c, v
    if kind == "negative_price":
        return o, h, low, -c, v
    if kind == "nan_price":
        return float("nan"), h, low, c, v
    if kind == "negative_volume":
        return o, h, low, c, -max(v, 1.0)
    raise ValueError(f"invalid_ohlc_kind must be one of {', '.join(BROKEN_KINDS)}, not {kind!r}")
