"""Indicators against values computed independently here, from first principles, on real candles."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laptop_agents.indicators import ATR, EMA, SMA


def _real_rows(path: Path, n: int) -> list[tuple[float, float, float]]:
    with path.open() as handle:
        reader = csv.DictReader(handle)
        return [(float(r["high"]), float(r["low"]), float(r["close"])) for _, r in zip(range(n), reader, strict=False)]


def test_sma_hand_computed() -> None:
    """SMA(3) of 1, 2, 3, 4, 5 is undefined twice, then 2, 3, 4."""
    sma = SMA(3)
    assert [sma.update(x) for x in (1.0, 2.0, 3.0, 4.0, 5.0)] == [None, None, 2.0, 3.0, 4.0]


def test_sma_matches_naive_mean_on_real_closes(bundled_csv: Path) -> None:
    """Over 5,000 real closes the running SMA equals the mean of each window (to 1e-9 relative)."""
    closes = [c for _, _, c in _real_rows(bundled_csv, 5_000)]
    sma = SMA(30)
    for i, close in enumerate(closes):
        value = sma.update(close)
        if i < 29:
            assert value is None
        else:
            assert value == pytest.approx(sum(closes[i - 29 : i + 1]) / 30, rel=1e-12)


@given(st.lists(st.floats(min_value=1.0, max_value=1e6), min_size=1, max_size=300), st.integers(1, 40))
def test_sma_equals_window_mean(values: list[float], period: int) -> None:
    sma = SMA(period)
    for i, x in enumerate(values):
        got = sma.update(x)
        if i + 1 < period:
            assert got is None
        else:
            assert got == pytest.approx(sum(values[i + 1 - period : i + 1]) / period, rel=1e-9)
    assert sma.window() == values[-period:]


def test_ema_seeded_with_sma_then_smoothed() -> None:
    """EMA(3): seed = mean(2, 4, 6) = 4; then 4 + 0.5 × (8 − 4) = 6; then 6 + 0.5 × (2 − 6) = 4."""
    ema = EMA(3)
    assert [ema.update(x) for x in (2.0, 4.0, 6.0, 8.0, 2.0)] == [None, None, 4.0, 6.0, 4.0]


def test_atr_hand_computed() -> None:
    """ATR(2): TRs from the 2nd candle; first ATR = mean of 2 TRs; then Wilder smoothing."""
    atr = ATR(2)
    candles = [(11.0, 9.0, 10.0), (12.0, 10.0, 11.0), (15.0, 12.0, 14.0), (14.5, 13.5, 14.0)]
    # TR2 = max(2, |12-10|, |10-10|) = 2; TR3 = max(3, |15-11|, |12-11|) = 4; TR4 = max(1, .5, .5) = 1
    got = [atr.update(h, low, c) for h, low, c in candles]
    assert got == [None, None, 3.0, (3.0 * 1 + 1.0) / 2]


def test_atr_matches_wilder_definition_on_real_candles(bundled_csv: Path) -> None:
    """ATR(14) over 3,000 real candles equals a direct, list-based Wilder computation."""
    rows = _real_rows(bundled_csv, 3_000)
    trs = [max(h - low, abs(h - rows[i - 1][2]), abs(low - rows[i - 1][2])) for i, (h, low, _) in enumerate(rows) if i]
    expected: list[float | None] = [None] * 14
    value = sum(trs[:14]) / 14
    expected.append(value)
    for tr in trs[14:]:
        value = (value * 13 + tr) / 14
        expected.append(value)
    atr = ATR(14)
    got = [atr.update(h, low, c) for h, low, c in rows]
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert (g is None and e is None) or g == pytest.approx(e, rel=1e-12)


@pytest.mark.parametrize("cls", [SMA, EMA, ATR])
def test_period_must_be_positive(cls: type[object]) -> None:
    with pytest.raises(ValueError, match="period must be >= 1"):
        cls(0)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 20])
def test_rolling_windows_match_brute_force(size: int) -> None:
    """Ties, monotone runs (the extreme leaves the window on every push) and noise, against max/min/sum
    of the last `size` values; a restored copy continues identically."""
    import random

    from laptop_agents.indicators.rolling import RollingMax, RollingMin, RollingSum

    r = random.Random(size)
    mx, mn, sm = RollingMax(size), RollingMin(size), RollingSum(size)
    xs: list[float] = []
    for i in range(2000):
        if i == 1000:
            for w, cls in ((mx, RollingMax), (mn, RollingMin), (sm, RollingSum)):
                fresh = cls(size)
                fresh.restore(w.state())
                if w is mx:
                    mx = fresh  # type: ignore[assignment]
                elif w is mn:
                    mn = fresh  # type: ignore[assignment]
                else:
                    sm = fresh  # type: ignore[assignment]
        x = float(r.choice([r.randint(0, 5), i % 7, -i % 11, i]))
        mx.push(x)
        mn.push(x)
        sm.push(x)
        xs.append(x)
        window = xs[-size:]
        assert (mx.value, mn.value) == (max(window), min(window))
        assert sm.total == pytest.approx(sum(window))
