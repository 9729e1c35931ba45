"""The simulated exchange on a free loopback port, stepped by hand (speed 0) so tests are deterministic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from laptop_agents.base.rate_limiter import RateLimiter
from laptop_agents.base.retry import Backoff, RetryPolicy
from laptop_agents.core.candle import Candle
from laptop_agents.exchange.bitunix.rest import BitunixRest, Credentials, default_session
from laptop_agents.exchange.bitunix.sim import load_candles
from laptop_agents.exchange.bitunix.sim.server import SimAccountConfig, SimConfig, SimExchange
from tests.conftest import BUNDLED

KEY, SECRET = "test-key", "test-secret-0123456789"
_CACHE: dict[Path, list[Candle]] = {}


def bundled_candles() -> list[Candle]:
    if BUNDLED not in _CACHE:
        _CACHE[BUNDLED] = load_candles(BUNDLED)
    return _CACHE[BUNDLED]


async def eventually(condition: Callable[[], object], within_s: float = 5.0, what: str = "condition") -> None:
    """Wait until `condition()` is truthy (polling), instead of sleeping a guessed time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within_s} s waiting for {what}")
        await asyncio.sleep(0.005)


def sim_config(**overrides: object) -> SimConfig:
    config = SimConfig(
        speed=0, start_index=1500, accounts=[SimAccountConfig(KEY, SECRET, 10_000.0)], ws_idle_timeout_s=30.0
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as exchange:
        yield exchange


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with default_session() as s:
        yield s


@pytest.fixture
def limiter() -> RateLimiter:
    return RateLimiter(50, 10)


@pytest.fixture
def rest(sim: SimExchange, session: aiohttp.ClientSession, limiter: RateLimiter) -> BitunixRest:
    return BitunixRest(
        sim.rest_url,
        session=session,
        limiter=limiter,
        credentials=Credentials(KEY, SECRET),
        retry=RetryPolicy(attempts=4, backoff=Backoff(initial_s=0.01, max_s=0.05, jitter=0)),
        rate_limit_penalty_s=0.05,
    )
