"""A seeded random walk of OHLCV candles: deterministic for a seed, on any machine."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

from laptop_agents.core.candle import Candle


class MockCandles:
    """`count` candles from `start_ts`, one every `step_ms`.

    Each close is the previous close times exp(σ·z), σ = `volatility_bps` / 1e4, where z is the Irwin–Hall
    sum of three uniforms scaled to mean 0 and standard deviation 1 (close to normal, and far cheaper than
    `random.gauss`); the open is the previous close; wicks reach beyond the body by a uniform fraction of
    σ (one draw splits the wick between the top and the bottom, and sets the volume around 50).
    """

    def __init__(
        self, *, count: int, seed: int, start_price: float, volatility_bps: float, start_ts: int, step_ms: int
    ) -> None:
        self.count = count
        self.seed = seed
        self.start_price = start_price
        self.sigma = volatility_bps / 1e4
        self.start_ts = start_ts
        self.step_ms = step_ms

    def describe(self) -> str:
        return f"mock(seed={self.seed}, candles={self.count})"

    def line_of(self, candle: Candle) -> int:
        """The candle's number (1 = the first)."""
        return (candle.ts - self.start_ts) // self.step_ms + 1

    def __iter__(self) -> Iterator[Candle]:
        rng = random.Random(self.seed)
        uniform = rng.random
        sigma = self.sigma
        exp = math.exp
        price = self.start_price
        ts = self.start_ts
        step = self.step_ms
        for _ in range(self.count):
            close = price * exp((uniform() + uniform() + uniform() - 1.5) * 2.0 * sigma)
            body_high = close if close > price else price
            body_low = price if close > price else close
            u = uniform()
            high = body_high * (1.0 + u * sigma)
            low = body_low * (1.0 - (1.0 - u) * sigma)
            volume = 25.0 + 50.0 * u
            yield Candle(ts, price, high, low, close, volume)
            price = close
            ts += step
