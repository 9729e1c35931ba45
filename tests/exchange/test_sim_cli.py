"""`la sim-exchange` started as a user would: a real subprocess, read by our client and by a plain script."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import websockets

from laptop_agents.base.rate_limiter import RateLimiter
from laptop_agents.exchange.bitunix.rest import BitunixRest, Credentials, default_session
from laptop_agents.exchange.bitunix.ws_public import BitunixPublicStream
from tests.conftest import REPO

LA = Path(sys.executable).with_name("la")


@pytest.fixture
def sim_process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    command = [str(LA)] if LA.exists() else [sys.executable, "-m", "laptop_agents.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LA_")}
    proc = subprocess.Popen(
        [*command, "sim-exchange", "--speed", "3000", "--port", "0"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"REST (http://127\.0\.0\.1:\d+)", line)
    assert match, f"no ready line: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
    yield proc, match.group(1)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    proc.stdout.close()
    if proc.stderr is not None:
        proc.stderr.close()


async def test_sim_exchange_serves_our_client_and_a_plain_script(
    sim_process: tuple[subprocess.Popen[str], str],
) -> None:
    proc, base = sim_process
    ws_url = base.replace("http://", "ws://") + "/public/"
    async with default_session() as session:
        rest = BitunixRest(
            base, session=session, limiter=RateLimiter(10, 10), credentials=Credentials("sim-key", "sim-secret")
        )
        (spec,) = await rest.trading_pairs(["BTCUSDT"])
        assert spec.symbol == "BTCUSDT"
        history = await rest.klines("BTCUSDT", "1m")
        assert len(history) == 199 and all(b.ts - a.ts == 60_000 for a, b in itertools.pairwise(history))
        assert (await rest.account()).available == 10_000
    stream = BitunixPublicStream(ws_url, symbols=["BTCUSDT"], interval="1m", limiter=RateLimiter(10, 10))
    try:
        candles = [(await asyncio.wait_for(stream.get(), 10))[1] for _ in range(3)]
    finally:
        await stream.stop()
    assert [b.ts - a.ts for a, b in itertools.pairwise(candles)] == [60_000, 60_000]
    async with websockets.connect(ws_url) as ws:
        assert orjson.loads(await ws.recv())["op"] == "connect"
        await ws.send('{"op":"subscribe","args":[{"symbol":"BTCUSDT","ch":"market_kline_1min"}]}')
        push = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert push["ch"] == "market_kline_1min" and push["symbol"] == "BTCUSDT"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
