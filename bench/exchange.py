"""The WebSocket kline path: parse throughput and closing-push → closed-candle latency, on loopback.

    .venv/bin/python bench/exchange.py [--pushes 200000] [--candles 1000]

Throughput: pushes/s through the client's own frame handling (JSON parse, validation, candle assembly),
next to a floor that only `orjson.loads` the same frames, in the same run.
Latency: the simulated exchange (same process, real loopback socket) sends the push that closes a
candle; we time until `BitunixPublicStream.get()` returns that candle. Baseline in the same run: a plain
`websockets` client receiving the very same push frames. Reported as p50 / p99 over N candles.
Targets (issue 3): >= 50,000 pushes/s parsed; p99 < 2 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import orjson
import websockets

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from laptop_agents.base.rate_limiter import RateLimiter  # noqa: E402
from laptop_agents.exchange.bitunix.sim import load_candles  # noqa: E402
from laptop_agents.exchange.bitunix.sim.server import SimConfig, SimExchange  # noqa: E402
from laptop_agents.exchange.bitunix.ws_public import BitunixPublicStream  # noqa: E402

DATA = REPO / "data" / "ftx_btc-perp_1m_2022-01.csv"


def frames(n: int) -> list[str]:
    candles = load_candles(DATA)
    out = []
    for i in range(n):
        c = candles[(i // 4) % len(candles)]
        ts = 1_640_995_200_000 + (i // 4) * 60_000 + (i % 4 + 1) * 15_000 - 1
        data = {
            "o": str(c.open),
            "h": str(c.high),
            "l": str(c.low),
            "c": str(c.close),
            "b": str(c.volume),
            "q": str(c.volume * c.close),
        }
        out.append(orjson.dumps({"ch": "market_kline_1min", "symbol": "BTCUSDT", "ts": ts, "data": data}).decode())
    return out


def throughput(n: int) -> dict[str, float]:
    raw = frames(n)
    t = time.perf_counter()
    for text in raw:
        orjson.loads(text)
    floor = n / (time.perf_counter() - t)
    stream = BitunixPublicStream("ws://unused", symbols=["BTCUSDT"], interval="1m", limiter=RateLimiter(10, 10))
    handle = stream.handle
    loads = orjson.loads
    candles = 0
    t = time.perf_counter()
    for text in raw:
        _, item = handle(loads(text))
        if item is not None:
            candles += 1
    ours = n / (time.perf_counter() - t)
    return {"pushes_per_s": ours, "floor_pushes_per_s": floor, "ratio": ours / floor, "candles": candles}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def latency(n: int) -> dict[str, float]:
    candles = load_candles(DATA)
    config = SimConfig(speed=0, start_index=300, pushes_per_candle=4, ws_idle_timeout_s=600)
    async with SimExchange(config, {"BTCUSDT": candles}) as sim:
        stream = BitunixPublicStream(
            sim.ws_public_url, symbols=["BTCUSDT"], interval="1m", limiter=RateLimiter(100, 10), ping_interval_s=30
        )
        stream.start()
        async with websockets.connect(sim.ws_public_url) as plain:
            await plain.recv()
            await plain.send('{"op":"subscribe","args":[{"symbol":"BTCUSDT","ch":"market_kline_1min"}]}')
            while sum(("BTCUSDT", "market_kline_1min") in c.subs for c in sim.hub.conns) < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.01)  # polling server state: there is no event to wait on
            await sim.hub.advance(4)  # the first candle in hand
            for _ in range(4):
                await plain.recv()
            ours, base = [], []
            for _ in range(n):
                await sim.hub.advance(3)  # three pushes inside the bucket
                for _ in range(3):
                    await plain.recv()
                await asyncio.sleep(0)
                start = time.perf_counter()
                await sim.hub.advance(1)  # the push that closes the previous candle
                await asyncio.wait_for(plain.recv(), 5)
                base.append(time.perf_counter() - start)
                await asyncio.wait_for(stream.get(), 5)
                ours.append(time.perf_counter() - start)
        await stream.stop()
    ms = 1000.0
    return {
        "p50_ms": percentile(ours, 50) * ms,
        "p99_ms": percentile(ours, 99) * ms,
        "baseline_p50_ms": percentile(base, 50) * ms,
        "baseline_p99_ms": percentile(base, 99) * ms,
        "mean_ms": statistics.mean(ours) * ms,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pushes", type=int, default=200_000)
    parser.add_argument("--candles", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [throughput(args.pushes) for _ in range(args.repeat)]
    tp = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    lat = asyncio.run(latency(args.candles))
    report = {"throughput": tp, "latency": lat}
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "exchange.json").write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"WS kline parse: {tp['pushes_per_s']:,.0f} pushes/s (median of {args.repeat}); floor orjson.loads only: "
        f"{tp['floor_pushes_per_s']:,.0f}/s; ratio {tp['ratio']:.1%}"
    )
    print(
        f"closing push → closed candle over loopback, {args.candles} candles: p50 {lat['p50_ms']:.3f} ms, "
        f"p99 {lat['p99_ms']:.3f} ms (plain websockets receiving the same push: p50 {lat['baseline_p50_ms']:.3f} ms, "
        f"p99 {lat['baseline_p99_ms']:.3f} ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
