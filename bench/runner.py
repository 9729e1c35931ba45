"""The AsyncRunner: throughput, live decision latency, and memory over a 24-hour simulated session.

    .venv/bin/python bench/runner.py [--candles 1000000] [--latency-candles 1000] [--skip-day]

1. Throughput: N mock candles written to a CSV, then streamed through the AsyncRunner (queues and tasks,
   CSV feed at full speed, no fsync per candle) and, in the same run, through the backtest driver.
   Targets: >= 100,000 candles/s, and >= 40 % of the backtest driver.
2. Decision latency: the simulated exchange (same process, real loopback sockets) sends the push that
   closes a candle; we time until the TradingCore has processed that candle (signals decided, any order
   intent handed to the broker). p50 / p99 over N candles. Target p99 < 5 ms.
3. Memory: a live-paper session against the embedded simulator replaying one market day (1,440 one-minute
   candles) at 1,440× (one minute of wall time); RSS after warm-up versus at the end. Target growth < 10 MB.
4. The watchers' cost: the throughput run again with the dashboard and /metrics on (polled twice a second,
   scraped every second, as a page and Prometheus would), as a ratio to the plain run. Target >= 95 %.
   And /api/status served during a 600× live-paper replay: p50 / p99 over 1,000 requests. Target p99 < 10 ms.
Each part runs in a fresh child process so RSS figures are its own.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from children import run_child

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))


def _percentiles_ms(samples: list[float]) -> dict[str, float]:
    """p50 and p99 of timings in seconds, in ms, and how many there were."""
    ordered = sorted(samples)
    return {
        "p50_ms": ordered[len(ordered) // 2] * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "samples": len(samples),
    }


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return _rss_mb()


def write_mock_csv(path: Path, count: int) -> None:
    from laptop_agents.feeds.mock_source import MockCandles

    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ts", "open", "high", "low", "close", "volume"])
        writer.writerows(
            c.as_tuple()
            for c in MockCandles(
                count=count,
                seed=42,
                start_price=30_000.0,
                volatility_bps=20.0,
                start_ts=1_640_995_200_000,
                step_ms=60_000,
            )
        )


async def _poll(url: str, stop: asyncio.Event) -> int:
    """What a dashboard page and a Prometheus scrape ask of the daemon meanwhile."""
    from aiohttp import ClientSession

    polls = 0
    async with ClientSession() as http:
        while not stop.is_set():
            async with http.get(url + "/api/status") as reply:
                await reply.read()
            if polls % 2 == 0:
                async with http.get(url + "/metrics") as reply:
                    await reply.read()
            polls += 1
            await asyncio.sleep(0.5)
    return polls


async def _watched_session(settings: object, folder: object, path: Path) -> object:
    from laptop_agents.core.clock import LiveClock
    from laptop_agents.daemon.live_paper import run_session
    from laptop_agents.daemon.runner import AsyncRunner
    from laptop_agents.feeds.replay_feed import csv_feed
    from laptop_agents.monitor.service import build

    runners: list[AsyncRunner] = []
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_session(
            settings,  # type: ignore[arg-type]
            folder=folder,  # type: ignore[arg-type]
            wall_clock=LiveClock(),
            install_signals=False,
            source="csv",
            feed_factory=lambda limiter, emit: csv_feed(path, symbol="BTCUSDT", history=30),
            on_runner=runners.append,
            watch=build,
        )
    )
    while not task.done() and not (runners and runners[0].heartbeat().get("monitor", {}).get("metrics")):  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    poller = None
    if not task.done():
        url = runners[0].heartbeat()["monitor"]["metrics"].removesuffix("/metrics")
        poller = asyncio.create_task(_poll(url, stop))
    result = await task
    stop.set()
    if poller is not None:
        poller.cancel()
    return result


def child_throughput(path: Path, kind: str) -> dict[str, float]:
    from laptop_agents.backtest.driver import run_backtest
    from laptop_agents.config.loader import load_settings
    from laptop_agents.core.clock import LiveClock
    from laptop_agents.daemon.live_paper import run_session
    from laptop_agents.feeds.replay_feed import csv_feed
    from laptop_agents.feeds.sources import open_source
    from laptop_agents.runs.run_folder import RunFolder

    watched = ["dashboard.enabled=true", "dashboard.port=0"] if kind == "watched" else []
    settings = load_settings(
        environ={},
        sets=[f'data.source="csv:{path}"', "data.stale_after_s=3600", "run.checkpoint_interval_s=3600", *watched],
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = RunFolder.create(Path(tmp), "bench")
        start = time.perf_counter()
        if kind == "backtest":
            result = run_backtest(
                settings, source=open_source(settings.data, seed=0), folder=folder, wall_clock=LiveClock()
            )
            candles = result.summary.candles
        elif kind == "watched":
            live = asyncio.run(_watched_session(settings, folder, path))
            candles = live.summary.candles  # type: ignore[attr-defined]
        else:
            live = asyncio.run(
                run_session(
                    settings,
                    folder=folder,
                    wall_clock=LiveClock(),
                    install_signals=False,
                    source="csv",
                    feed_factory=lambda limiter, emit: csv_feed(path, symbol="BTCUSDT", history=30),
                )
            )
            candles = live.summary.candles
        elapsed = time.perf_counter() - start
    return {"candles": candles, "seconds": elapsed, "candles_per_s": candles / elapsed, "peak_rss_mb": _rss_mb()}


async def _latency(n: int) -> dict[str, float]:
    from laptop_agents.config.loader import load_settings
    from laptop_agents.core.candle import Candle
    from laptop_agents.core.clock import LiveClock
    from laptop_agents.daemon.live_paper import run_live_paper
    from laptop_agents.daemon.runner import AsyncRunner
    from laptop_agents.exchange.bitunix.sim import load_candles
    from laptop_agents.exchange.bitunix.sim.server import SimConfig, SimExchange
    from laptop_agents.runs.run_folder import RunFolder

    candles = load_candles(REPO / "data" / "ftx_btc-perp_1m_2022-01.csv")
    samples: list[float] = []
    done = asyncio.Event()
    runners: list[AsyncRunner] = []

    def attach(runner: AsyncRunner) -> None:
        # Wrap before the runner starts: its core task binds on_candle once, at start.
        core_on_candle = runner.core.on_candle

        def timed(candle: Candle) -> None:
            core_on_candle(candle)
            done.set()

        runner.core.on_candle = timed  # type: ignore[method-assign]
        runners.append(runner)

    config = SimConfig(speed=0, start_index=300, ws_idle_timeout_s=600)
    async with SimExchange(config, {"BTCUSDT": candles}) as sim:
        sets = [
            f'exchange.rest_url="{sim.rest_url}"',
            f'exchange.ws_public_url="{sim.ws_public_url}"',
            "data.stale_after_s=3600",
            "circuit_breaker.enabled=false",
        ]
        settings = load_settings(environ={}, sets=sets)
        with tempfile.TemporaryDirectory() as tmp:
            folder = RunFolder.create(Path(tmp), "latency")
            task = asyncio.create_task(
                run_live_paper(
                    settings, folder=folder, wall_clock=LiveClock(), sim=sim, install_signals=False, on_runner=attach
                )
            )
            while not (runners and any(c.subs for c in sim.hub.conns)):  # noqa: ASYNC110 - polling server state
                await asyncio.sleep(0.01)
            await sim.hub.advance(sim.market.k)  # the first candle, all its pushes
            for _ in range(n):
                await asyncio.sleep(0.002)
                done.clear()
                start = time.perf_counter()
                await sim.hub.advance(1)  # the first push of the next candle closes the previous one
                await asyncio.wait_for(done.wait(), 5)
                samples.append(time.perf_counter() - start)
                await sim.hub.advance(sim.market.k - 1)  # the rest of this candle's pushes
            runners[0].stop("bench done")
            await task
    return {**_percentiles_ms(samples), "mean_ms": statistics.mean(samples) * 1000}


async def _day() -> dict[str, float]:
    from laptop_agents.config.loader import load_settings
    from laptop_agents.core.clock import LiveClock
    from laptop_agents.daemon.live_paper import run_live_paper
    from laptop_agents.daemon.runner import AsyncRunner
    from laptop_agents.runs.run_folder import RunFolder

    settings = load_settings(
        environ={},
        sets=[
            "exchange.sim_speed=1440",
            "run.duration_s=62",
            f'exchange.sim_data="csv:{REPO / "data" / "ftx_btc-perp_1m_2022-01.csv"}"',
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = RunFolder.create(Path(tmp), "day")
        runners: list[AsyncRunner] = []
        task = asyncio.create_task(
            run_live_paper(
                settings, folder=folder, wall_clock=LiveClock(), install_signals=False, on_runner=runners.append
            )
        )
        while not runners or runners[0].core.candles < 120:  # noqa: ASYNC110 - two market hours: warmed up
            await asyncio.sleep(0.1)
        after_warmup = _current_rss_mb()
        result = await task
        at_end = _current_rss_mb()
    return {
        "candles": result.summary.candles,
        "rss_after_warmup_mb": after_warmup,
        "rss_at_end_mb": at_end,
        "growth_mb": at_end - after_warmup,
    }


async def _status_latency(n: int) -> dict[str, float]:
    """/api/status of a live-paper session replaying the bundled candles at 600×, timed from a client."""
    from aiohttp import ClientSession

    from laptop_agents.config.loader import load_settings
    from laptop_agents.core.clock import LiveClock
    from laptop_agents.daemon.live_paper import run_live_paper
    from laptop_agents.daemon.runner import AsyncRunner
    from laptop_agents.monitor.service import build
    from laptop_agents.runs.run_folder import RunFolder

    sets = ["exchange.sim_speed=600", "dashboard.enabled=true", "dashboard.port=0", "data.stale_after_intervals=1000",
            "run.heartbeat_interval_s=1"]  # fmt: skip
    settings = load_settings(environ={}, sets=sets)
    samples: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = RunFolder.create(Path(tmp), "status")
        runners: list[AsyncRunner] = []
        task = asyncio.create_task(
            run_live_paper(
                settings,
                folder=folder,
                wall_clock=LiveClock(),
                install_signals=False,
                on_runner=runners.append,
                watch=build,
            )
        )
        while not (runners and runners[0].heartbeat().get("monitor", {}).get("dashboard")):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        url = runners[0].heartbeat()["monitor"]["metrics"].removesuffix("/metrics") + "/api/status"
        async with ClientSession() as http:
            for _ in range(n):
                start = time.perf_counter()
                async with http.get(url) as reply:
                    await reply.read()
                samples.append(time.perf_counter() - start)
                await asyncio.sleep(0.01)
        candles = runners[0].core.candles
        runners[0].stop("bench done")
        await task
    return {**_percentiles_ms(samples), "candles_meanwhile": candles}


def _spawn(*args: str) -> dict[str, float]:
    return run_child(__file__, *args)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency-candles", type=int, default=1_000)
    parser.add_argument("--skip-day", action="store_true", help="skip the one-minute 24-hour memory session")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind = args.child[0]
        if kind in ("runner", "backtest", "watched"):
            result = child_throughput(Path(args.child[1]), kind)
        elif kind == "latency":
            result = asyncio.run(_latency(int(args.child[1])))
        elif kind == "status":
            result = asyncio.run(_status_latency(int(args.child[1])))
        else:
            result = asyncio.run(_day())
        print(json.dumps(result))
        return 0
    report: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mock.csv"
        write_mock_csv(path, args.candles)
        runs: dict[str, list[dict[str, float]]] = {"runner": [], "backtest": [], "watched": []}
        for _ in range(args.repeat):
            for kind in runs:
                runs[kind].append(_spawn(kind, str(path)))
    med = {k: statistics.median(r["candles_per_s"] for r in v) for k, v in runs.items()}
    report["throughput"] = {
        "runner_candles_per_s": med["runner"],
        "backtest_candles_per_s": med["backtest"],
        "ratio": med["runner"] / med["backtest"],
        "runner_peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs["runner"]),
        "watched_candles_per_s": med["watched"],
        "watched_ratio": med["watched"] / med["runner"],
    }
    report["status"] = _spawn("status", "1000")
    report["latency"] = _spawn("latency", str(args.latency_candles))
    if not args.skip_day:
        report["day"] = _spawn("day")
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "runner.json").write_text(json.dumps(report, indent=2) + "\n")
    tp, lat = report["throughput"], report["latency"]
    print(
        f"AsyncRunner, {args.candles:,} candles from CSV (median of {args.repeat}): "
        f"{tp['runner_candles_per_s']:,.0f} candles/s; backtest driver on the same file: "
        f"{tp['backtest_candles_per_s']:,.0f} candles/s; ratio {tp['ratio']:.1%}"
    )
    print(
        f"decision latency, closing push → candle decided, {lat['samples']:.0f} candles: "
        f"p50 {lat['p50_ms']:.3f} ms, p99 {lat['p99_ms']:.3f} ms"
    )
    print(
        f"with the dashboard and /metrics on (polled, scraped): {tp['watched_candles_per_s']:,.0f} candles/s, "
        f"{tp['watched_ratio']:.1%} of the plain run"
    )
    st = report["status"]
    print(
        f"/api/status during a 600× live-paper replay, {st['samples']:.0f} requests: "
        f"p50 {st['p50_ms']:.2f} ms, p99 {st['p99_ms']:.2f} ms"
    )
    if "day" in report:
        day = report["day"]
        print(
            f"24-hour simulated session ({day['candles']:.0f} candles at 1,440×): "
            f"RSS {day['rss_after_warmup_mb']:.1f} MB after warm-up → {day['rss_at_end_mb']:.1f} MB at the end "
            f"(growth {day['growth_mb']:+.1f} MB)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
