"""Candle validation and the series helpers."""

from __future__ import annotations

import math
import re

import pytest

from laptop_agents.core.candle import Candle, Gap, find_gaps, interval_ms, normalise
from laptop_agents.core.errors import CandleError


def test_valid_candle_keeps_its_values() -> None:
    """A valid candle exposes exactly what it was built with."""
    c = Candle(1_000, 10.0, 11.0, 9.0, 10.5, 3.0)
    assert c.as_tuple() == (1_000, 10.0, 11.0, 9.0, 10.5, 3.0)


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ((1, math.nan, 11.0, 9.0, 10.0, 1.0), "open=nan is not a finite number"),
        ((1, 10.0, math.inf, 9.0, 10.0, 1.0), "high=inf is not a finite number"),
        ((1, 10.0, 11.0, 9.0, 10.0, math.nan), "volume=nan is not a finite number"),
        ((1, 0.0, 11.0, 0.0, 10.0, 1.0), "open=0.0 must be > 0"),
        ((1, 10.0, 11.0, -1.0, 10.0, 1.0), "low=-1.0 must be > 0"),
        ((1, 10.0, 11.0, 9.0, 10.0, -0.5), "volume=-0.5 must be >= 0"),
        ((1, 10.0, 10.4, 9.0, 10.5, 1.0), "high=10.4 is below max(open, close)=10.5"),
        ((1, 10.0, 11.0, 10.2, 10.5, 1.0), "low=10.2 is above min(open, close)=10.0"),
        ((-5, 10.0, 11.0, 9.0, 10.5, 1.0), "non-negative integer"),
    ],
)
def test_invalid_candle_is_rejected_with_the_rule_it_breaks(values: tuple[object, ...], fragment: str) -> None:
    """Each OHLC rule has its own message, so a user can fix the data."""
    with pytest.raises(CandleError, match=re.escape(fragment)):
        Candle(*values)


def test_float_ts_is_rejected() -> None:
    """Open times are integer milliseconds, never floats."""
    with pytest.raises(CandleError, match="integer"):
        Candle(1.5, 10.0, 11.0, 9.0, 10.5, 1.0)  # type: ignore[arg-type]


def test_normalise_sorts_and_drops_exact_duplicates() -> None:
    """Unordered input with an exact duplicate comes out ascending and unique."""
    a, b, c = (Candle(t, 10.0, 11.0, 9.0, 10.0, 1.0) for t in (60_000, 120_000, 180_000))
    assert normalise([c, a, b, a]) == [a, b, c]


def test_normalise_rejects_conflicting_duplicates() -> None:
    """Two different candles for one open time cannot be resolved silently."""
    a = Candle(60_000, 10.0, 11.0, 9.0, 10.0, 1.0)
    a2 = Candle(60_000, 10.0, 11.0, 9.0, 10.5, 1.0)
    with pytest.raises(CandleError, match="conflicting duplicate candles at ts=60000"):
        normalise([a, a2])


def test_find_gaps_reports_missing_open_times() -> None:
    """A hole of three minutes between two candles is one gap of three candles."""
    ts = [0, 60_000, 300_000, 360_000, 480_000]
    candles = [Candle(t, 10.0, 11.0, 9.0, 10.0, 1.0) for t in ts]
    assert find_gaps(candles, 60_000) == [Gap(120_000, 240_000, 3), Gap(420_000, 420_000, 1)]


def test_unknown_interval_names_the_allowed_ones() -> None:
    with pytest.raises(CandleError, match="allowed: 1m, 3m"):
        interval_ms("7m")
    assert interval_ms("1h") == 3_600_000
