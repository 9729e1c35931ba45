"""The `Candle` value and helpers that put a candle series in order.

A candle is validated once, at construction, so everything downstream may trust it: prices are finite and
positive, volume is finite and non-negative, and high/low enclose open and close. `ts` is the candle's open
time in integer epoch milliseconds (UTC); prices are in quote currency, volume as the source gives it.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from laptop_agents.core.errors import CandleError
from laptop_agents.core.intervals import INTERVAL_MS as INTERVAL_MS  # re-exported: most code takes it from here

_INF: Final = math.inf


def on_grid(ts: int, step: int) -> bool:
    """Whether an open time fits the interval: a multiple of it since the epoch, up to a day; longer candles
    open where the venue starts them (weeks on Mondays at Binance, not on the epoch's Thursday)."""
    return ts % step == 0 if step <= 86_400_000 else True


def usual_step(times: Sequence[int]) -> int | None:
    """The most common step between consecutive open times (a file's interval, whatever its gaps); None for
    fewer than two."""
    steps = Counter(b - a for a, b in itertools.pairwise(times))
    return steps.most_common(1)[0][0] if steps else None


def interval_name(step: int) -> str:
    """`1m` for 60,000; `N ms` for a step that is no interval of ours."""
    return next((name for name, ms in INTERVAL_MS.items() if ms == step), f"{step} ms")


def interval_ms(interval: str) -> int:
    """Return the length of `interval` ("1m", "1h", ...) in milliseconds."""
    try:
        return INTERVAL_MS[interval]
    except KeyError:
        allowed = ", ".join(INTERVAL_MS)
        raise CandleError(f"unknown interval {interval!r}; allowed: {allowed}") from None


class Candle:
    """One OHLCV bar. Immutable by convention (attributes are `Final`, so mypy rejects assignment)."""

    __slots__ = ("close", "high", "low", "open", "ts", "volume")

    def __init__(self, ts: int, open: float, high: float, low: float, close: float, volume: float) -> None:
        # One chained comparison is the fast path: it is False for NaN, for non-positive prices, for
        # high < max(open, close) and low > min(open, close); `high < inf` bounds every price.
        if not (0.0 < low <= open <= high and low <= close <= high and high < _INF and 0.0 <= volume < _INF):
            raise CandleError(_explain(ts, open, high, low, close, volume))
        if type(ts) is not int or ts < 0:
            raise CandleError(f"candle ts={ts!r}: must be a non-negative integer epoch-millisecond time")
        self.ts: Final[int] = ts
        self.open: Final[float] = open
        self.high: Final[float] = high
        self.low: Final[float] = low
        self.close: Final[float] = close
        self.volume: Final[float] = volume

    def as_tuple(self) -> tuple[int, float, float, float, float, float]:
        return (self.ts, self.open, self.high, self.low, self.close, self.volume)

    @classmethod
    def from_list(cls, values: Sequence[Any]) -> Candle:
        """The inverse of `as_tuple` for a list read back from JSON (a checkpoint)."""
        return cls(int(values[0]), *(float(x) for x in values[1:]))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Candle):
            return NotImplemented
        return self.as_tuple() == other.as_tuple()

    def __hash__(self) -> int:
        return hash(self.as_tuple())

    def __repr__(self) -> str:
        return (
            f"Candle(ts={self.ts}, open={self.open!r}, high={self.high!r}, low={self.low!r}, "
            f"close={self.close!r}, volume={self.volume!r})"
        )


def _explain(ts: object, open: float, high: float, low: float, close: float, volume: float) -> str:
    """Name the first rule a rejected candle breaks, in words a user can act on."""
    where = f"candle ts={ts}"
    for name, value in (("open", open), ("high", high), ("low", low), ("close", close)):
        if not isinstance(value, int | float) or math.isnan(value) or math.isinf(value):
            return f"{where}: {name}={value!r} is not a finite number"
        if value <= 0:
            return f"{where}: {name}={value!r} must be > 0"
    if not isinstance(volume, int | float) or math.isnan(volume) or math.isinf(volume):
        return f"{where}: volume={volume!r} is not a finite number"
    if volume < 0:
        return f"{where}: volume={volume!r} must be >= 0"
    if high < max(open, close):
        return f"{where}: high={high!r} is below max(open, close)={max(open, close)!r}"
    if low > min(open, close):
        return f"{where}: low={low!r} is above min(open, close)={min(open, close)!r}"
    return f"{where}: low={low!r} is above high={high!r}"


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing open times between two candles: `missing` bars from `start_ts` to `end_ts` inclusive."""

    start_ts: int
    end_ts: int
    missing: int


def normalise(candles: Iterable[Candle]) -> list[Candle]:
    """Sort ascending by open time and drop exact duplicates.

    Two candles with the same `ts` but different values are a conflict we cannot resolve silently
    (which one did the exchange mean?), so they raise `CandleError`.
    """
    by_ts: dict[int, Candle] = {}
    for candle in candles:
        seen = by_ts.get(candle.ts)
        if seen is None:
            by_ts[candle.ts] = candle
        elif seen != candle:
            raise CandleError(f"conflicting duplicate candles at ts={candle.ts}: {seen!r} vs {candle!r}")
    return [by_ts[ts] for ts in sorted(by_ts)]


def find_gaps(candles: Iterable[Candle], step_ms: int) -> list[Gap]:
    """Report the open times missing between consecutive candles of an ascending series."""
    gaps: list[Gap] = []
    previous: int | None = None
    for candle in candles:
        if previous is not None and candle.ts - previous > step_ms:
            missing = (candle.ts - previous) // step_ms - 1
            if missing > 0:
                gaps.append(Gap(previous + step_ms, candle.ts - step_ms, missing))
        previous = candle.ts
    return gaps


def utc_minute(ts_ms: int) -> str:
    """A candle time as a message shows it: `2022-01-01 04:40 UTC`."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
