"""Two symbols in one live-paper session: one socket, one account, a pipeline each that never waits for
the other, and per-symbol decisions equal to each symbol's own backtest."""

from __future__ import annotations

import asyncio
import csv
from collections import defaultdict
from pathlib import Path

import orjson
import pytest

from laptop_agents.backtest.driver import run_backtest
from laptop_agents.config.models import Settings
from laptop_agents.core.candle import Candle
from laptop_agents.core.clock import LiveClock
from laptop_agents.daemon.live_paper import LiveResult, run_live_paper
from laptop_agents.daemon.runner import AsyncRunner
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.feeds.sources import open_source
from laptop_agents.runs.checkpoint import read_checkpoint
from laptop_agents.runs.run_folder import RunFolder
from tests.daemon.live_helpers import sim_settings
from tests.daemon.test_live_paper import LIVE_SETTINGS, START
from tests.exchange.conftest import bundled_candles, eventually, sim_config
from tests.helpers import settings

BTC, ETH = "BTCUSDT", "ETHUSDT"
MULTI = (
    *LIVE_SETTINGS,
    "run.mode=live-paper",
    f"data.symbols={BTC},{ETH}",
    "risk.max_leverage=50",
    "risk.risk_pct=0.2",
)
DECISION = ("side", "entry_ts", "entry_price", "exit_ts", "exit_price", "exit_reason")


def eth_candles() -> list[Candle]:
    """A second market from the real data: another stretch of it at ETH-like prices, on BTC's timeline
    (the simulator re-bases every symbol onto the first symbol's times, so the backtests must too)."""
    real = bundled_candles()
    t0 = real[0].ts
    return [
        Candle(t0 + i * 60_000, c.open * 0.07, c.high * 0.07, c.low * 0.07, c.close * 0.07, c.volume * 9)
        for i, c in enumerate(real[20_000:])
    ]


def series() -> dict[str, list[Candle]]:
    real = bundled_candles()
    t0 = real[0].ts
    assert all(c.ts == t0 + i * 60_000 for i, c in enumerate(real[: START + 1000]))  # the file is contiguous here
    return {BTC: real, ETH: eth_candles()}


class Session:
    """A live-paper session on a hand-stepped simulator, recording the candles each symbol's core sees."""

    def __init__(self, sim: SimExchange, s: Settings, folder: RunFolder) -> None:
        self.sim, self.s, self.folder = sim, s, folder
        self.seen: dict[str, list[int]] = defaultdict(list)
        self.runner: AsyncRunner | None = None
        self.task: asyncio.Task[LiveResult] | None = None

    def _attach(self, runner: AsyncRunner) -> None:
        self.runner = runner
        for symbol, core in runner.portfolio.cores.items():
            original = core.on_candle

            def on_candle(candle: Candle, original=original, symbol=symbol) -> None:  # type: ignore[no-untyped-def]
                self.seen[symbol].append(candle.ts)
                original(candle)

            core.on_candle = on_candle  # type: ignore[method-assign]

    async def start(self, *, resume: bool = False) -> AsyncRunner:
        self.task = asyncio.create_task(
            run_live_paper(
                sim_settings(self.s, self.sim),
                folder=self.folder,
                wall_clock=LiveClock(),
                sim=self.sim,
                resume=resume,
                install_signals=False,
                on_runner=self._attach,
            )
        )
        hub = self.sim.hub
        await eventually(lambda: self.task.done() or any(len(c.subs) == 2 for c in hub.conns), what="subscriptions")  # type: ignore[union-attr]
        assert self.runner is not None
        return self.runner

    def candles(self, symbol: str) -> int:
        assert self.runner is not None
        return self.runner.portfolio.cores[symbol].candles

    async def advance(self, candles: int) -> None:
        for _ in range(candles):
            await self.sim.hub.advance(self.sim.market.k)
            await asyncio.sleep(0.002)

    async def stop(self) -> LiveResult:
        assert self.runner is not None and self.task is not None
        self.runner.stop("test")
        return await asyncio.wait_for(self.task, 30)


def decisions(path: Path, symbol: str) -> list[tuple[str, ...]]:
    with path.open(newline="") as f:
        return [
            tuple(row[k] for k in DECISION)
            for row in csv.DictReader(f)
            if row["symbol"] == symbol and row["exit_reason"] != "end"
        ]


def solo_backtest(tmp_path: Path, s: Settings, symbol: str, candles: list[Candle]) -> list[tuple[str, ...]]:
    path = tmp_path / f"{symbol}.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts", "open", "high", "low", "close", "volume"])
        w.writerows(c.as_tuple() for c in candles)
    b = s.model_copy(
        update={
            "run": s.run.model_copy(update={"mode": "backtest"}),
            "data": s.data.model_copy(update={"source": f"csv:{path}", "symbol": symbol, "symbols": []}),
        }
    )
    folder = RunFolder.create(tmp_path / "runs", f"solo-{symbol}")
    run_backtest(b, source=open_source(b.data, seed=0), folder=folder, wall_clock=LiveClock())
    return decisions(folder.trades, symbol)


def expected_ts(count: int) -> list[int]:
    return [c.ts for c in bundled_candles()[START : START + count]]


@pytest.mark.slow
async def test_two_symbols_one_socket_one_account_and_a_gap_holds_back_only_its_symbol(tmp_path: Path) -> None:
    s = settings(*MULTI)
    data = series()
    async with SimExchange(sim_config(), data) as sim:
        run = Session(sim, s, RunFolder.create(tmp_path / "runs", "multi"))
        await run.start()
        await run.advance(201)
        await eventually(lambda: min(run.candles(BTC), run.candles(ETH)) >= 200, within_s=30, what="200 candles")
        sim.faults.update({"skip_candles": 37, "skip_symbol": ETH})
        await run.advance(37)
        await eventually(lambda: run.candles(BTC) >= 237, within_s=30, what="BTC through ETH's silence")
        assert run.candles(ETH) < 205  # ETH's pushes stopped
        # the REST client retries 5 times per call: 10 errors fail the backfill twice (retried after 1 s, 2 s)
        sim.faults.update({"http_error_next": 10})
        await run.advance(21)
        await eventually(lambda: run.candles(BTC) >= 258, within_s=30, what="BTC while ETH backfills")
        # ETH's candles after its gap wait for the backfill (nothing past the hole reached its strategy),
        # while BTC's went on
        assert run.candles(ETH) < 205 and run.seen[ETH] == expected_ts(len(run.seen[ETH]))
        await eventually(lambda: run.candles(ETH) >= 258, within_s=30, what="ETH caught up")
        await run.advance(342)
        await eventually(lambda: min(run.candles(BTC), run.candles(ETH)) >= 600, within_s=30, what="600 candles")
        assert sim.hub.connection_counts()["public"] == 1
        result = await run.stop()
    assert run.seen[BTC] == run.seen[ETH] == expected_ts(600)  # each symbol: every candle once, in order
    events = [orjson.loads(line) for line in result.folder.events.read_bytes().splitlines()]
    gaps = [(e["symbol"], e["count"]) for e in events if e["event"] == "GapBackfilled"]
    assert gaps == [(ETH, 37)]
    assert sum(e["event"] == "Error" and e["where"] == "backfill" for e in events) == 2
    for symbol in (BTC, ETH):
        expected = solo_backtest(tmp_path, s, symbol, data[symbol][START - 30 : START + 600])
        assert len(expected) >= 3
        assert decisions(result.folder.trades, symbol) == expected
    state = read_checkpoint(result.folder.state)
    with result.folder.trades.open(newline="") as f:
        net = sum(float(row["net_pnl"]) for row in csv.DictReader(f))
    assert state["cash"] == pytest.approx(s.broker.starting_balance + net, abs=1e-6)  # one account
    assert set(state["symbols"]) == {BTC, ETH}
    equity_ts = [int(line.split(",")[0]) for line in result.folder.equity.read_text().splitlines()[1:]]
    assert equity_ts == expected_ts(600)  # one account row per bar
    beat = orjson.loads((result.folder.path / "heartbeat.json").read_bytes())
    assert set(beat["last_candle_ts"]) == {BTC, ETH} and beat["state"] == "stopped"
    runtime = beat["runtime"]  # the process's load: each symbol's queue drained at the stop, nothing held back
    assert runtime["queues"] == runtime["held"] == {BTC: 0, ETH: 0} and runtime["tasks"] >= 1, runtime


@pytest.mark.slow
async def test_a_two_symbol_session_resumes_each_symbol_where_it_stopped(tmp_path: Path) -> None:
    s = settings(*MULTI)
    data = series()
    folder = RunFolder.create(tmp_path / "runs", "multi")
    async with SimExchange(sim_config(), data) as sim:
        first = Session(sim, s, folder)
        await first.start()
        await first.advance(181)
        await eventually(lambda: min(first.candles(BTC), first.candles(ETH)) >= 180, within_s=30, what="180")
        await first.stop()
        await first.advance(3)  # the market moves on while the daemon is down
        second = Session(sim, s, folder)
        await second.start(resume=True)
        await second.advance(200)
        await eventually(lambda: min(second.candles(BTC), second.candles(ETH)) >= 380, within_s=30, what="380")
        result = await second.stop()
    for symbol in (BTC, ETH):
        assert first.seen[symbol] + second.seen[symbol] == expected_ts(len(first.seen[symbol] + second.seen[symbol]))
        assert decisions(result.folder.trades, symbol) == solo_backtest(
            tmp_path, s, symbol, data[symbol][START - 30 : START + len(first.seen[symbol] + second.seen[symbol])]
        )
    events = [orjson.loads(line) for line in folder.events.read_bytes().splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert sorted(e["symbol"] for e in events if e["event"] == "RunResumed") == [BTC, ETH]
    equity_ts = [int(line.split(",")[0]) for line in folder.equity.read_text().splitlines()[1:]]
    assert equity_ts == expected_ts(len(equity_ts)) and len(equity_ts) >= 380
