"""The AsyncRunner: named tasks over bounded queues around the same pure TradingCore the backtest uses.

    market_data ──candles q──► core ──► events.jsonl, trades.csv, equity.csv
    heartbeat (heartbeat.json)   staleness (DataStale, entry halt)   checkpoint (state.json)

The market-data task keeps the series fresh and ordered before the strategy sees it: duplicates and
out-of-order candles are dropped (counted), and a gap of more than 1.5 intervals is backfilled over
REST, in order, *before* the candle that revealed it. The core task is the only one that touches the
core. Heartbeat and checkpoint files are written from the event loop, so a wedged loop shows as a stale
heartbeat. A stop (signal, duration, `stop()`) ends the market data, drains the queue into the core,
then writes the final checkpoint and heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from laptop_agents.core.candle import Candle, interval_ms
from laptop_agents.core.clock import Clock
from laptop_agents.core.errors import LaptopAgentsError
from laptop_agents.core.events import CheckpointSaved, DataStale, Error, GapBackfilled, GapDetected, KillSwitch
from laptop_agents.engine.snapshot import core_snapshot
from laptop_agents.engine.trading_core import TradingCore
from laptop_agents.feeds.market_data import MarketDataFeed
from laptop_agents.runtime.atomic import atomic_write_bytes
from laptop_agents.runtime.checkpoint import write_checkpoint
from laptop_agents.runtime.event_log import EventLog
from laptop_agents.runtime.run_folder import RunFolder

KILL_FILE = "KILL"
KILL_POLL_S = 0.25
RunnerState = Literal["starting", "running", "degraded", "halted", "stopping", "stopped"]


@dataclass
class RunnerSettings:
    symbol: str
    interval: str
    mode: str = "live-paper"
    heartbeat_interval_s: float = 5.0
    checkpoint_interval_s: float = 30.0
    stale_after_s: float = 180.0
    queue_size: int = 1_000
    duration_s: float | None = None
    backfill_retry_s: float = 1.0


@dataclass
class MarketDataStats:
    candles: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    gaps: int = 0
    backfilled: int = 0


class AsyncRunner:
    def __init__(
        self,
        settings: RunnerSettings,
        *,
        feed: MarketDataFeed,
        core: TradingCore,
        log_: EventLog,
        folder: RunFolder,
        wall_clock: Clock,
        artifacts: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        """`artifacts` adds the other files' offsets and states to every checkpoint (see `snapshot`)."""
        self.settings = settings
        self.feed = feed
        self.core = core
        self.log = log_
        self.folder = folder
        self.clock = wall_clock
        self.state: RunnerState = "starting"
        self.md = MarketDataStats()
        self.errors = 0
        self.last_close_ts: int | None = None
        self._step = interval_ms(settings.interval)
        self._queue: asyncio.Queue[Candle | None] = asyncio.Queue(settings.queue_size)
        self._stop = asyncio.Event()
        self._last_fresh = time.monotonic()
        self._stale = False
        self._last_checkpoint_fills = 0
        self._fills = 0
        self._heartbeat_seq = 0
        self._artifacts = artifacts
        self._last_checkpoint = time.monotonic()
        self.stop_reason = ""

    # -- Control -----------------------------------------------------------------------------------------

    def stop(self, reason: str = "stop requested", *, halt_entries: bool = True) -> None:
        """Stop the session. A requested stop (signal, duration, operator) halts entries at once, so the
        candles still queued are drained through the core without opening anything new; exits still work.
        The natural end of a replayed feed drains without that halt."""
        if not self._stop.is_set():
            self.stop_reason = reason
            if halt_entries:
                self.core.halts.setdefault("stopping", reason)
            self._stop.set()

    async def warm_up(self, limit: int) -> int:
        """Feed the last `limit` closed candles to the strategy's indicators only (no orders, no marks)."""
        history = await self.feed.get_historical(self.settings.symbol, self.settings.interval, limit)
        for candle in history:
            self.core.strategy.on_candle(candle, None)
        if history:
            self.last_close_ts = history[-1].ts
        return len(history)

    async def run(self) -> str:
        """Run until stopped; returns the stop reason. The caller writes the run's closing events."""
        tasks = [
            asyncio.create_task(self._market_data(), name="market_data"),
            asyncio.create_task(self._core_task(), name="core"),
            asyncio.create_task(self._heartbeat(), name="heartbeat"),
            asyncio.create_task(self._checkpoint(), name="checkpoint"),
            asyncio.create_task(self._staleness(), name="staleness"),
            asyncio.create_task(self._kill_switch(), name="kill_switch"),
        ]
        if self.settings.duration_s is not None:
            tasks.append(asyncio.create_task(self._timer(self.settings.duration_s), name="duration"))
        self.state = "running"
        stopper = asyncio.create_task(self._stop.wait(), name="stop_wait")
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                self.errors += 1
                self.log.emit(
                    Error(
                        ts=self._ts(),
                        symbol=self.settings.symbol,
                        where=task.get_name(),
                        message=f"{type(exc).__name__}: {exc}",
                        fatal=True,
                    )
                )
                self.stop(f"task {task.get_name()} failed: {exc}")
            elif task.get_name() == "market_data" and task is not stopper:
                self.stop("market data ended", halt_entries=False)
        self.state = "stopping"
        await self._shutdown(tasks, stopper)
        return self.stop_reason

    # -- Tasks -------------------------------------------------------------------------------------------

    async def _market_data(self) -> None:
        symbol, interval, step = self.settings.symbol, self.settings.interval, self._step
        async for got_symbol, candle in self.feed.stream([symbol], interval):
            if got_symbol != symbol:
                continue
            last = self.last_close_ts
            if last is not None:
                if candle.ts <= last:
                    if candle.ts == last:
                        self.md.duplicates += 1
                    else:
                        self.md.out_of_order += 1
                    continue
                if candle.ts - last > 1.5 * step:
                    await self._backfill(last, candle)
            await self._queue.put(candle)
            self.last_close_ts = candle.ts
            self.md.candles += 1
            self._fresh()

    async def _backfill(self, last: int, candle: Candle) -> None:
        symbol, step = self.settings.symbol, self._step
        start, end = last + step, candle.ts
        missing = (end - start) // step
        self.md.gaps += 1
        self.log.emit(GapDetected(ts=candle.ts, symbol=symbol, from_ts=start, to_ts=end - step, missing=missing))
        began = time.monotonic()
        fetched = await self._fetch_gap(start, end)
        previous = last
        count = 0
        for filler in fetched:
            if previous < filler.ts < end:
                await self._queue.put(filler)
                previous = filler.ts
                count += 1
        self.md.backfilled += count
        self.log.emit(
            GapBackfilled(
                ts=candle.ts,
                symbol=symbol,
                from_ts=start,
                to_ts=end - step,
                count=count,
                duration_ms=int((time.monotonic() - began) * 1000),
            )
        )

    async def _fetch_gap(self, start: int, end: int) -> list[Candle]:
        """The missing candles, however long the exchange takes to give them: a failed backfill is reported
        (non-fatal `Error`) and retried with capped backoff, while the candle that revealed the gap waits.
        The strategy never skips over a hole; meanwhile the staleness guard halts entries."""
        delay = self.settings.backfill_retry_s
        while True:
            try:
                return await self.feed.backfill(self.settings.symbol, self.settings.interval, start, end)
            except LaptopAgentsError as exc:
                self.errors += 1
                self.log.emit(
                    Error(
                        ts=end,
                        symbol=self.settings.symbol,
                        where="backfill",
                        fatal=False,
                        message=f"{exc}; retrying in {delay:g} s",
                    )
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

    async def _core_task(self) -> None:
        on_candle = self.core.on_candle
        while True:
            candle = await self._queue.get()
            if candle is None:
                return
            on_candle(candle)

    async def _heartbeat(self) -> None:
        while True:
            self.write_heartbeat()
            await asyncio.sleep(self.settings.heartbeat_interval_s)

    async def _checkpoint(self) -> None:
        while True:
            await asyncio.sleep(min(self.settings.checkpoint_interval_s, 1.0))
            due = time.monotonic() - self._last_checkpoint >= self.settings.checkpoint_interval_s
            if due or self._fills != self._last_checkpoint_fills:
                self.write_checkpoint()

    async def _staleness(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.settings.stale_after_s / 4))
            age = time.monotonic() - self._last_fresh
            if not self._stale and age > self.settings.stale_after_s:
                self._stale = True
                self.state = "degraded"
                self.core.halts["data_stale"] = f"no closed candle for {age:.0f} s"
                self.log.emit(
                    DataStale(
                        ts=self._ts(),
                        symbol=self.settings.symbol,
                        age_ms=int(age * 1000),
                        threshold_ms=int(self.settings.stale_after_s * 1000),
                        cleared=False,
                    )
                )
                await self.feed.reconnect()

    async def _kill_switch(self) -> None:
        while not self.check_kill_switch():  # noqa: ASYNC110 - polling a file: there is no event to await
            await asyncio.sleep(KILL_POLL_S)

    def check_kill_switch(self) -> bool:
        """`<run>/KILL` halts entries for the rest of the session; {"flatten": true} also closes at market.

        Returns True once the switch has been applied (it is one-way for the session)."""
        path = self.folder.path / KILL_FILE
        if "kill_switch" in self.core.halts:
            return True
        if not path.exists():
            return False
        try:
            order = orjson.loads(path.read_bytes() or b"{}")
        except orjson.JSONDecodeError:
            order = {}
        order = order if isinstance(order, dict) else {}
        flatten = bool(order.get("flatten", False))
        source: Literal["file", "cli"] = "cli" if order.get("source") == "cli" else "file"
        self.core.halts["kill_switch"] = f"kill switch ({source}); remove {KILL_FILE} and restart to trade again"
        self.state = "halted"
        self.log.emit(KillSwitch(ts=self._ts(), symbol=self.settings.symbol, source=source, flatten=flatten))
        if flatten:
            self.core.flatten("kill")
        self.write_checkpoint()
        self.write_heartbeat()
        return True

    async def _timer(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.stop(f"duration of {seconds:g} s reached")

    # -- Helpers -----------------------------------------------------------------------------------------

    def count_fill(self) -> None:
        """Listener hook: a fill happened; the checkpoint task writes state.json soon after."""
        self._fills += 1

    def _fresh(self) -> None:
        self._last_fresh = time.monotonic()
        if self._stale:
            self._stale = False
            self.state = "running"
            self.core.halts.pop("data_stale", None)
            self.log.emit(
                DataStale(
                    ts=self._ts(),
                    symbol=self.settings.symbol,
                    age_ms=0,
                    threshold_ms=int(self.settings.stale_after_s * 1000),
                    cleared=True,
                )
            )

    def _ts(self) -> int:
        last = self.core.last_candle
        return last.ts if last is not None else (self.last_close_ts or 0)

    def snapshot(self) -> dict[str, Any]:
        """One consistent moment (no await inside): the core, and every file's length at that moment, so a
        resume can cut the files back to exactly what this checkpoint accounts for."""
        extra = self._artifacts() if self._artifacts is not None else {}
        files = {"events": self.log.offset(), **extra.pop("files", {})}
        return {
            "run_id": self.folder.run_id,
            "mode": self.settings.mode,
            "status": self.state,
            "event_seq": self.log.seq,
            "files": files,
            **extra,
            **core_snapshot(self.core),
        }

    def write_checkpoint(self) -> None:
        size = write_checkpoint(self.folder.state, self.snapshot())
        self._last_checkpoint = time.monotonic()
        self._last_checkpoint_fills = self._fills
        self.log.emit(
            CheckpointSaved(
                ts=self._ts(),
                symbol=self.settings.symbol,
                path=str(self.folder.state.name),
                event_seq=self.log.seq,
                size_bytes=size,
            )
        )

    def _reported_state(self) -> RunnerState:
        """Stopping and stopped win; otherwise an entry halt (kill switch, breaker-free halts) shows as halted,
        and stale data as degraded."""
        if self.state in ("stopping", "stopped") or self._stale:
            return self.state
        return "halted" if self.core.halts else self.state

    def write_heartbeat(self) -> None:
        self._heartbeat_seq += 1
        core = self.core
        last = core.last_candle
        position = core.broker.position
        beat = {
            "pid": os.getpid(),
            "seq": self._heartbeat_seq,
            "wall_ts": self.clock.now_ms(),
            "run_id": self.folder.run_id,
            "mode": self.settings.mode,
            "state": self._reported_state(),
            "last_candle_ts": {self.settings.symbol: last.ts if last else self.last_close_ts},
            "data_age_s": round(time.monotonic() - self._last_fresh, 3),
            "equity": core.broker.equity(last.close) if last else core.broker.cash,
            "positions": {}
            if position is None
            else {core.symbol: {"side": position.side, "qty": position.qty, "entry_price": position.entry_price}},
            "breaker": "tripped" if core.breaker.tripped else "armed",
            "halts": sorted(core.halts),
            "errors": self.errors,
            "candles": core.candles,
            "gaps": self.md.gaps,
        }
        atomic_write_bytes(self.folder.path / "heartbeat.json", orjson.dumps(beat, option=orjson.OPT_INDENT_2))

    async def _shutdown(self, tasks: list[asyncio.Task[None]], stopper: asyncio.Task[bool]) -> None:
        for task in tasks:
            if task.get_name() != "core":
                task.cancel()
        stopper.cancel()
        core_task = next(t for t in tasks if t.get_name() == "core")
        if not core_task.done():
            await self._queue.put(None)  # drain what the market data already queued, then stop
            with contextlib.suppress(asyncio.CancelledError):
                await core_task
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.feed.close()
        self.state = "stopped"
        self.write_checkpoint()
        self.write_heartbeat()
