"""The AsyncRunner: named tasks over bounded queues around the same pure TradingCore the backtest uses.

    market_data ──► core:BTCUSDT ──► events.jsonl, trades.csv, equity.csv
    (one socket) ──► core:ETHUSDT ──►   (one pipeline per symbol, one account)
    heartbeat (heartbeat.json)   staleness (DataStale, entry halt)   checkpoint (state.json)

The market-data task (`market_data_task`) keeps each symbol's series fresh, ordered and whole before its
strategy sees it (gaps are backfilled before the candle that revealed them). Each core task is the only
one that touches its core. Heartbeat and checkpoint files are written from the event loop, so a wedged loop shows as a
stale heartbeat. A stop (signal, duration, `stop()`) ends the market data, drains the queues into the
cores, then writes the final checkpoint and heartbeat.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson

from laptop_agents.base.crash_points import CrashPoints
from laptop_agents.base.tasks import cancel_and_wait, wait_settled
from laptop_agents.core.candle import Candle, utc_minute
from laptop_agents.core.clock import Clock
from laptop_agents.core.events import CheckpointSaved, Error
from laptop_agents.daemon.heartbeat_file import HeartbeatFile
from laptop_agents.daemon.kill_switch import KILL_POLL_S, KillSwitchWatch, take_stop_request
from laptop_agents.daemon.market_data_task import MarketDataTask
from laptop_agents.daemon.staleness import StalenessGuard
from laptop_agents.daemon.symbol_pipe import MarketDataStats, SymbolPipe
from laptop_agents.engine.inputs import CoreInputs
from laptop_agents.engine.portfolio import Portfolio
from laptop_agents.engine.snapshot import portfolio_snapshot
from laptop_agents.engine.trading_core import TradingCore
from laptop_agents.feeds.market_data import MarketDataFeed
from laptop_agents.runs.checkpoint import CHECKPOINT_RETRY_S, CheckpointWriter
from laptop_agents.runs.event_log import EventLog
from laptop_agents.runs.heartbeat_age import boot_id
from laptop_agents.runs.run_folder import RunFolder

HALT_CHECKPOINT = "checkpoint"
RunnerState = Literal["starting", "running", "degraded", "halted", "stopping", "stopped", "failed"]


class Service(Protocol):
    """Something that runs beside the cores for the whole session (the live-exchange order executor, the
    funding-rate poller): its tasks run with the runner's, `shutdown` runs once the cores are drained and
    before the final checkpoint, and `status` goes into every heartbeat under `name`."""

    name: str

    def tasks(self) -> dict[str, Coroutine[Any, Any, None]]: ...

    async def shutdown(self) -> None: ...

    def status(self) -> dict[str, Any]: ...


@dataclass
class RunnerSettings:
    interval: str
    mode: str = "live-paper"
    heartbeat_interval_s: float = 5.0
    checkpoint_interval_s: float = 30.0
    stale_after_s: float = 180.0
    queue_size: int = 1_000
    duration_s: float | None = None
    backfill_retry_s: float = 1.0
    halt_entries_while_backfilling: bool = False
    """live-exchange: a symbol's entries wait while it catches up a gap (its candles are old)."""


class AsyncRunner:
    def __init__(
        self,
        settings: RunnerSettings,
        *,
        feed: MarketDataFeed,
        portfolio: Portfolio,
        log_: EventLog,
        folder: RunFolder,
        wall_clock: Clock,
        artifacts: Callable[[], dict[str, Any]] | None = None,
        services: Sequence[Service] = (),
        crash: CrashPoints | None = None,
        on_exception: Callable[[str, BaseException], None] | None = None,
        inputs: CoreInputs | None = None,
    ) -> None:
        """`artifacts` adds the other files' offsets and states to every checkpoint (see `snapshot`);
        `on_exception` gets every task failure with its traceback (the daemon's log); `inputs` is the
        door into the cores that records what they are given (one is made on the log if not given)."""
        self.inputs = inputs if inputs is not None else CoreInputs(portfolio, record=log_.emit, now=wall_clock.now_ms)
        self._on_exception = on_exception
        self.failure: str | None = None
        """The first task failure, in one line (the session then ends `failed`), and its task."""
        self.failed_task = ""
        self.services = tuple(services)
        self.settings = settings
        self.feed = feed
        self.portfolio = portfolio
        self.log = log_
        self.folder = folder
        self.clock = wall_clock
        self.state: RunnerState = "starting"
        self._errors = 0
        self.pipes = {
            symbol: SymbolPipe(symbol, core, asyncio.Queue(settings.queue_size))
            for symbol, core in portfolio.cores.items()
        }
        self.market_data = MarketDataTask(
            feed,
            self.pipes,
            interval=settings.interval,
            log=log_,
            backfill_retry_s=settings.backfill_retry_s,
            halt_while_backfilling=settings.halt_entries_while_backfilling,
            crash=crash,
            on_fresh=lambda pipe: self.staleness.fresh(pipe),
            on_failed=self._task_failed,
        )
        self._stop = asyncio.Event()
        self._last_checkpoint_fills = 0
        self._fills = 0
        self._boot_id = boot_id()
        self._artifacts = artifacts
        self._last_checkpoint = time.monotonic()
        self._on_decided: Callable[[str, float], None] | None = None
        self.beats = HeartbeatFile(folder.path / "heartbeat.json", on_failed=self._heartbeat_failed)
        self.checkpoints = CheckpointWriter(folder.state, step=None if crash is None else crash.at)
        self.staleness = StalenessGuard(self.pipes, threshold_s=settings.stale_after_s, feed=feed, emit=log_.emit,
                                        ts=self._ts)  # fmt: skip
        self.kill = KillSwitchWatch(folder.path, portfolio, emit=log_.emit, ts=self._ts, flatten=self.inputs.flatten)
        """The operator's kill switch (`<run>/KILL`): entries halted while the session goes on."""
        self._flatten_pending = False
        self.stop_reason = ""
        self.core_failed: str | None = None
        """The core task that raised: its candle is half done, so no checkpoint is written after it."""

    @property
    def core(self) -> TradingCore:
        """The first symbol's core (the only one in a single-symbol session)."""
        return self.portfolio.primary

    @property
    def errors(self) -> int:
        """Errors so far: failed tasks, failed backfills (each retried) and malformed frames skipped."""
        return self._errors + self.market_data.backfill_errors + self.feed.stream_stats().get("malformed", 0)

    @property
    def md(self) -> MarketDataStats:
        """Market-data counts over every symbol."""
        total = MarketDataStats()
        for pipe in self.pipes.values():
            total.add(pipe.md)
        return total

    # -- Control -----------------------------------------------------------------------------------------

    def stop(self, reason: str = "stop requested", *, halt_entries: bool = True) -> None:
        """Stop the session. A requested stop (signal, duration, operator) halts entries at once, so the
        candles still queued are drained through the cores without opening anything new; exits still work.
        The natural end of a replayed feed drains without that halt."""
        if not self._stop.is_set():
            self.stop_reason = reason
            if halt_entries:
                self.portfolio.halt("stopping", reason)
            self._stop.set()

    async def warm_up(self, limit: int) -> int:
        """Feed each symbol's last `limit` closed candles to its strategy's `warm_up(candle)`: indicators
        only, no orders (see `strategy.base`)."""
        total = 0
        for symbol, pipe in self.pipes.items():
            history = await self.feed.get_historical(symbol, self.settings.interval, limit)
            warm = self.inputs.warm_up
            for candle in history:
                warm(symbol, candle)
            if history:
                pipe.last_close_ts = history[-1].ts
            total += len(history)
        return total

    def resume_from(self, last_candle_ts: dict[str, int | None], hole_until: dict[str, int | None]) -> None:
        """After a restart: each symbol continues after the last candle its core processed, its entries
        still halted for a hole in the venue's history when its strategy's window was not past it yet."""
        for symbol, ts in last_candle_ts.items():
            pipe = self.pipes[symbol]
            pipe.last_close_ts = ts
            until = hole_until.get(symbol)
            if until is not None and (ts is None or ts < until):
                self.market_data.resume_hole(pipe, until)

    async def run(self) -> str:
        """Run until stopped; returns the stop reason. The caller writes the run's closing events."""
        tasks = [asyncio.create_task(self.market_data.run(), name="market_data")]
        tasks += [asyncio.create_task(self._core_task(p), name=f"core:{s}") for s, p in self.pipes.items()]
        tasks += [
            asyncio.create_task(self._heartbeat(), name="heartbeat"),
            asyncio.create_task(self._checkpoint(), name="checkpoint"),
            asyncio.create_task(self.staleness.run(), name="staleness"),
            asyncio.create_task(self._kill_switch(), name="kill_switch"),
        ]
        if self.settings.duration_s is not None:
            tasks.append(asyncio.create_task(self._timer(self.settings.duration_s), name="duration"))
        for service in self.services:
            tasks += [asyncio.create_task(coro, name=name) for name, coro in service.tasks().items()]
        self.state = "running"
        stopper = asyncio.create_task(self._stop.wait(), name="stop_wait")
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is stopper:
                continue
            if not task.cancelled() and task.exception() is not None:
                if task.get_name().startswith("core:"):
                    self.core_failed = task.get_name()
                self._task_failed(task.get_name(), task.exception())
            elif task.get_name() == "market_data":
                self.stop("market data ended", halt_entries=False)
        self.state = "stopping"
        await self._shutdown(tasks, stopper)
        return self.stop_reason

    def _task_failed(self, name: str, exc: BaseException | None) -> None:
        self._errors += 1
        message = f"{type(exc).__name__}: {exc}"
        pipe = self.pipes.get(name.removeprefix("core:")) if name.startswith("core:") else None
        if pipe is not None and pipe.current_ts is not None:
            message = f"{message} (on the {pipe.symbol} candle at {utc_minute(pipe.current_ts)})"
        if self.failure is None:
            self.failure, self.failed_task = message, name
        if self._on_exception is not None and exc is not None:
            self._on_exception(name, exc)
        self.log.emit(Error(ts=self._ts(), symbol=self.portfolio.label, where=name, message=message, fatal=True))
        self.stop(f"task {name} failed: {exc}")

    # -- Cores, files, guards ----------------------------------------------------------------------------

    async def _core_task(self, pipe: SymbolPipe) -> None:
        candle_in, queue, symbol = self.inputs.candle, pipe.queue, pipe.symbol
        while True:
            item = await queue.get()
            if item is None:
                return
            if isinstance(item, Candle):
                pipe.current_ts = item.ts
                candle_in(symbol, item)
                if pipe.arrived_ts == item.ts and self._on_decided is not None:
                    self._on_decided(symbol, time.monotonic() - pipe.arrived_at)
            else:
                item()

    def observe_decisions(self, observer: Callable[[str, float], None]) -> None:
        """Measure each pushed candle from its arrival to its core having decided: `observer(symbol, s)`
        (the newest one when several are queued: see `SymbolPipe.timed`)."""
        self._on_decided = observer
        for pipe in self.pipes.values():
            pipe.timed = True

    async def _heartbeat(self) -> None:
        while True:
            self.write_heartbeat()
            await asyncio.sleep(self.settings.heartbeat_interval_s)

    async def _checkpoint(self) -> None:
        while True:
            await asyncio.sleep(min(self.settings.checkpoint_interval_s, 1.0))
            due = time.monotonic() - self._last_checkpoint >= self.settings.checkpoint_interval_s
            if (due or self._fills != self._last_checkpoint_fills) and self.checkpoints.retry_due():
                self.write_checkpoint()

    async def _kill_switch(self) -> None:
        while True:  # polling a file: there is no event to await, and the task never ends the session
            self.check_kill_switch()
            asked = take_stop_request(self.folder.path)
            if asked is not None:
                self.stop(f"stop requested by {asked} (STOP file)")
            await asyncio.sleep(KILL_POLL_S)

    def check_kill_switch(self) -> bool:
        """Apply a new kill switch, a new flatten or the release (`kill_switch.py`); True while one is in
        force. A change is checkpointed and shown in the heartbeat at once, and so is the moment a flatten
        has closed every position (what `la stop --flatten --terminate` waits for)."""
        if self.kill.poll():
            self.write_checkpoint()
            self.write_heartbeat()
            self._flatten_pending = self.kill.flattened and bool(self.portfolio.positions())
        elif self._flatten_pending and not self.portfolio.positions():
            self._flatten_pending = False
            self.write_heartbeat()
        return self.kill.applied is not None

    async def _timer(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.stop(f"duration of {seconds:g} s reached")

    # -- Helpers -----------------------------------------------------------------------------------------

    def count_fill(self) -> None:
        """Listener hook: a fill happened; the checkpoint task writes state.json soon after."""
        self._fills += 1

    def event_ts(self) -> int:
        """The time the session's events are dated by now: the last candle's (market time)."""
        return self._ts()

    def _ts(self) -> int:
        last = self.portfolio.last_ts
        if last is not None:
            return last
        return max((p.last_close_ts or 0 for p in self.pipes.values()), default=0)

    def snapshot(self) -> dict[str, Any]:
        """One consistent moment (no await inside): the cores, and every file's length at that moment, so
        a resume can cut the files back to exactly what this checkpoint accounts for."""
        extra = self._artifacts() if self._artifacts is not None else {}
        files = {"events": self.log.offset(sync=True), **extra.pop("files", {})}
        cores = portfolio_snapshot(self.portfolio)
        for symbol, saved in cores["symbols"].items():
            if saved.get("last_candle_ts") is None:  # warmed up, no candle traded yet: go on after the warm-up's
                saved["last_candle_ts"] = self.pipes[symbol].last_close_ts
            saved["hole_until"] = self.pipes[symbol].held_until  # a hole's halt outlives a restart
        return {
            "run_id": self.folder.run_id,
            "mode": self.settings.mode,
            "status": self.state,
            "event_seq": self.log.seq,
            "files": files,
            **extra,
            **cores,
        }

    def write_checkpoint(self) -> None:
        """A failed write (a full disk) keeps the last good checkpoint, halts entries (`checkpoint`) and
        says so once (an `Error`, the heartbeat's `checkpoint` block); the next success lifts the halt. A failed
        fsync of the run's files (`checkpoints.lost`) is never retried: the halt stays for the process."""
        if self.core_failed is not None:
            return  # the last checkpoint before the failure is the one a resume must start from
        failing = self.checkpoints.error is not None
        size = self.checkpoints.write(self.snapshot)
        if size is None:
            if not failing:
                if self.checkpoints.lost is not None:
                    detail = (f"checkpoint failed: {self.checkpoints.lost}; entries halted for the rest of this "
                              "process, since a failed fsync cannot be retried safely: free the disk, then stop "
                              "and --resume (from the last good checkpoint)")  # fmt: skip
                    message = detail
                else:
                    detail = f"checkpoint failed: {self.checkpoints.error}; entries halted until one succeeds"
                    message = f"{detail} (retried every {CHECKPOINT_RETRY_S:g} s)"
                self.portfolio.halt(HALT_CHECKPOINT, detail)
                self.log.emit(Error(ts=self._ts(), symbol=self.portfolio.label, where="checkpoint", fatal=False,
                                    message=message))  # fmt: skip
            return
        if failing:
            for core in self.portfolio:
                core.halts.pop(HALT_CHECKPOINT, None)
        self._last_checkpoint = time.monotonic()
        self._last_checkpoint_fills = self._fills
        self.log.emit(
            CheckpointSaved(
                ts=self._ts(),
                symbol=self.portfolio.label,
                path=str(self.folder.state.name),
                event_seq=self.log.seq,
                size_bytes=size,
            )
        )

    def status_line(self) -> str:
        """The state in one line (systemd's STATUS=)."""
        halts = self.portfolio.halted()
        line = f"{self._reported_state()}: {self.portfolio.candles} candles, equity {self.portfolio.equity():,.2f}"
        return line + (f", entries halted ({', '.join(halts)})" if halts else "")

    def _reported_state(self) -> RunnerState:
        """Stopping, stopped and failed win; then stale data or a service that says it is degraded (the
        exchange's REST API failing the order sync): degraded; then any entry halt (halted)."""
        if self.state in ("stopping", "stopped", "failed"):
            return self.state
        if any(pipe.stale for pipe in self.pipes.values()) or any(s.status().get("degraded") for s in self.services):
            return "degraded"
        return "halted" if self.portfolio.halted() else self.state

    def heartbeat(self) -> dict[str, Any]:
        """The session's state now, as `heartbeat.json` holds it (the dashboard serves it fresh)."""
        portfolio = self.portfolio
        now = time.monotonic()
        ages = {symbol: round(now - pipe.last_fresh, 3) for symbol, pipe in self.pipes.items()}
        breaker = portfolio.breaker
        beat = {
            "pid": os.getpid(),
            "seq": self.beats.seq,
            "wall_ts": self.clock.now_ms(),
            "monotonic_s": round(now, 3),  # the beat's age for a reader: immune to the wall clock moving
            "boot_id": self._boot_id,
            "run_id": self.folder.run_id,
            "mode": self.settings.mode,
            "state": self._reported_state(),
            "last_candle_ts": {
                symbol: pipe.core.last_candle.ts if pipe.core.last_candle else pipe.last_close_ts
                for symbol, pipe in self.pipes.items()
            },
            "data_age_s": max(ages.values()),
            "data_age_s_by_symbol": ages,
            "equity": portfolio.equity(),
            "positions": portfolio.positions(),
            "resting_orders": portfolio.resting_orders(),
            "breaker": "tripped" if breaker.tripped else "armed",
            "breaker_state": {**breaker.state(), "drawdown_pct": breaker.drawdown_pct(portfolio.equity())},
            "halts": portfolio.halted(),
            "kill_switch": self.kill.status(),
            "errors": self.errors,
            "candles": portfolio.candles,
            "gaps": self.md.gaps,
            "invalid_candles": self.md.invalid,  # refused by the stream (broken OHLC), never given to a core
            "holes": self.md.holes,  # runs of candles the venue's own history lacks (`GapUnfilled`)
            "stream": self.feed.stream_stats(),
            "checkpoint": self.checkpoints.status(),
            "heartbeat_file": self.beats.status(),
            "runtime": self.runtime(),
        }
        if self.market_data.feed.confirms_candles:
            beat["confirmations"] = dict(self.market_data.confirmations)
        for service in self.services:
            beat[service.name] = service.status()
        return beat

    def runtime(self) -> dict[str, Any]:
        """The process's own load, cheap enough for every beat (a soak watches it stay flat): the event loop's
        asyncio tasks, each symbol's candle queue (of `queue_size`) and the candles held behind a backfill."""
        try:
            tasks = len(asyncio.all_tasks())
        except RuntimeError:  # no running loop (a final beat written after it closed)
            tasks = 0
        return {
            "tasks": tasks,
            "queues": {symbol: pipe.queue.qsize() for symbol, pipe in self.pipes.items()},
            "queue_size": self.settings.queue_size,
            "held": {symbol: len(pipe.held or ()) for symbol, pipe in self.pipes.items()},
        }

    def checkpoint_age_s(self) -> float:
        """Seconds since the last checkpoint was written (or since the session started)."""
        return time.monotonic() - self._last_checkpoint

    @property
    def last_heartbeat_s(self) -> float | None:
        """When the last heartbeat reached the disk (monotonic): its age is a metric."""
        return self.beats.written_s

    def write_heartbeat(self) -> None:
        self.beats.next_seq()
        self.beats.write(orjson.dumps(self.heartbeat(), option=orjson.OPT_INDENT_2))

    def _heartbeat_failed(self, error: str) -> None:
        """Said once per incident: the file cannot say it, and the watchdog will only see the last beat age."""
        self.log.emit(Error(ts=self._ts(), symbol=self.portfolio.label, where="heartbeat", fatal=False,
                            message=f"heartbeat.json cannot be written ({error}): the watchdog will call this daemon "
                                    "stale by the last beat's age (and restart it under --restart); the session runs "
                                    "on; free the disk"))  # fmt: skip

    async def _shutdown(self, tasks: list[asyncio.Task[None]], stopper: asyncio.Task[bool]) -> None:
        cores = [t for t in tasks if t.get_name().startswith("core:")]
        for task in tasks:
            if task not in cores:
                task.cancel()
        for pipe in self.pipes.values():
            if pipe.catch_up is not None:
                pipe.catch_up.cancel()
        stopper.cancel()
        for pipe, core_task in zip(self.pipes.values(), cores, strict=True):
            if not core_task.done():
                await pipe.queue.put(None)  # drain what the market data already queued, then stop
        for task in cores:
            await wait_settled(task)  # a core's failure is read below
        for task in tasks:
            if task not in cores:
                await cancel_and_wait(task)  # never swallows a cancellation aimed at the shutdown itself
        for task in cores:  # a core that raised while draining the queue counts as much as one before
            if self.core_failed is None and not task.cancelled() and task.exception() is not None:
                self.core_failed = task.get_name()
                self._task_failed(task.get_name(), task.exception())
        for pipe in self.pipes.values():
            if pipe.catch_up is not None:
                await cancel_and_wait(pipe.catch_up)
        await self.feed.close()
        self.check_kill_switch()  # a flatten asked for just before the stop is still carried out
        for service in self.services:
            try:
                await service.shutdown()
            except Exception as exc:  # the final checkpoint and heartbeat must still be written
                self._task_failed(f"shutdown:{service.name}", exc)
        self.state = "stopped" if self.failure is None else "failed"
        if self.core_failed is not None:
            self.log.emit(
                Error(
                    ts=self._ts(),
                    symbol=self.portfolio.label,
                    where="checkpoint",
                    message=f"{self.core_failed} raised in the middle of a candle: no final checkpoint is written; "
                    "--resume continues from the last one",
                    fatal=False,
                )
            )
        self.write_checkpoint()
        self.write_heartbeat()
