"""`la download` as a real subprocess against the simulated exchange running in the test's own loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from laptop_agents.core.candle import Candle
from laptop_agents.exchange.bitunix.sim.server import SimAccountConfig, SimConfig, SimExchange
from tests.conftest import BUNDLED
from tests.daemon.test_daemon_process import clean_env, la_command
from tests.exchange.conftest import bundled_candles

HISTORY = 1500
"""Closed candles the simulator serves: 8 pages of 200."""
FIRST_TS = 1640991660000
"""The bundled file's first open time (2021-12-31 23:01 UTC)."""
MINUTE = 60_000


@dataclass
class Result:
    code: int
    out: str
    err: str


@asynccontextmanager
async def venue(*, history: int = HISTORY, rate_per_s: int = 1_000, **config: object) -> AsyncIterator[SimExchange]:
    settings = SimConfig(
        speed=0, start_index=history, accounts=[SimAccountConfig("k", "s")], rest_rate_per_s=rate_per_s
    )
    for key, value in config.items():
        setattr(settings, key, value)
    async with SimExchange(settings, {"BTCUSDT": bundled_candles()}) as exchange:
        yield exchange


async def la_download(sim: SimExchange | None, cwd: Path, *args: str, rate: float = 200.0) -> Result:
    url = ["--rest-url", sim.rest_url] if sim is not None else []
    proc = await asyncio.create_subprocess_exec(
        *la_command(), "download", *url, "--rate", str(rate), *args,
        cwd=cwd, env=clean_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def bundled_rows(count: int, *, start: int = 0) -> bytes:
    """The header and `count` rows of the bundled file from row `start`: what the simulator serves."""
    lines = BUNDLED.read_bytes().splitlines(keepends=True)
    return lines[0] + b"".join(lines[1 + start : 1 + start + count])


def without(candles: Sequence[Candle], lost: Sequence[tuple[int, int]]) -> list[Candle]:
    return [c for c in candles if not any(a <= c.ts < b for a, b in lost)]
