"""`la run --mode live-paper`: real-time data, simulated fills, resumable after any crash.

With no exchange URL configured, the simulated Bitunix exchange runs in-process on a free loopback port,
replaying the bundled candles. `resume=True` continues a run from its checkpoint: the lock is taken before
anything is touched, the checkpoint is verified (a torn or unknown one is refused, never replaced), the
run's files are cut back to the lengths the checkpoint accounts for, and the core is restored exactly, so
the candles after it are processed once, in order (the gap since the checkpoint is backfilled).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import orjson

from laptop_agents.base.atomic import atomic_write_bytes
from laptop_agents.base.crash_points import CrashPoints
from laptop_agents.base.lock import RunLock
from laptop_agents.base.rate_limiter import RateLimiter
from laptop_agents.config.loader import Change, redacted_dump
from laptop_agents.config.models import Settings
from laptop_agents.core.candle import interval_ms
from laptop_agents.core.clock import Clock, VenueClock
from laptop_agents.core.errors import LaptopAgentsError
from laptop_agents.core.events import ConfigChanged, Error, Event, Fill, RunFinished, RunResumed, RunStarted
from laptop_agents.daemon.daemon_log import DaemonLog
from laptop_agents.daemon.kill_switch import take_stop_request
from laptop_agents.daemon.runner import AsyncRunner, RunnerSettings, Service
from laptop_agents.daemon.sd_notify import SystemdNotifier
from laptop_agents.daemon.signals import SignalGate
from laptop_agents.daemon.venue_tiers import with_venue_tiers
from laptop_agents.daemon.watchers import WatchFactory, check_watchers, wants_watchers
from laptop_agents.engine.assembly import BrokerFactory, build_portfolio
from laptop_agents.engine.inputs import CoreInputs
from laptop_agents.engine.portfolio import Portfolio
from laptop_agents.engine.snapshot import restore_portfolio
from laptop_agents.exchange.bitunix.sim import load_candles
from laptop_agents.exchange.bitunix.sim.server import SimConfig, SimExchange
from laptop_agents.exchange.bitunix.ws_handover import MAX_CONNECTION_AGE_S
from laptop_agents.feeds.bitunix_feed import BitunixFeed
from laptop_agents.feeds.funding_rates import FundingRateFeed, LiveFundingRates
from laptop_agents.feeds.input_files import input_file_events
from laptop_agents.feeds.market_data import MarketDataFeed
from laptop_agents.feeds.sources import resolve_data_path
from laptop_agents.reporting.account_bars import AccountBars
from laptop_agents.runs.artifacts import RunArtifacts, RunResult
from laptop_agents.runs.checkpoint import read_checkpoint
from laptop_agents.runs.resume import prepare_resume
from laptop_agents.runs.run_folder import RunFolder
from laptop_agents.strategy.registry import reads_funding

FeedFactory = Callable[[RateLimiter, Callable[[Event], None]], MarketDataFeed]
"""Builds the feed from the shared rate limiter and the event sink (for `Reconnected`, `RateLimited`)."""


class Venue(Service, Protocol):
    """Where the orders of a session go when they are real (live-exchange): it supplies each symbol's
    broker and the account's starting balance, starts once the portfolio is built (and restored), and
    runs beside the cores as the runner's `Service`."""

    mode: str
    starting_balance: float

    def broker_factory(self, emit: Callable[[Event], None]) -> BrokerFactory: ...

    def opening_events(self) -> list[Event]:
        """What happened before the run's log existed (the preflight checks), recorded after RunStarted."""

    def contract_events(self) -> Sequence[Event]:
        """What the brokers are built with (the contracts), recorded before the session's first record."""

    def before_input(self, symbol: str) -> None:
        """Called before a candle or a flatten reaches `symbol`'s core (the venue records its clocks)."""

    async def start(self, portfolio: Portfolio, runner: AsyncRunner) -> None:
        """Once the portfolio is built (and restored from a checkpoint): bring the venue in line with it."""


LiveResult = RunResult  # the name callers of run_live_paper know


def bitunix_feed(
    rest_url: str,
    ws_url: str,
    ping_interval_s: float,
    venue_clock: VenueClock | None = None,
    *,
    confirm_candles: bool = False,
    max_connection_age_s: float = MAX_CONNECTION_AGE_S,
) -> FeedFactory:
    """The Bitunix candle feed (public WebSocket, REST backfill) as a session builds it; `venue_clock`
    learns the exchange's time from its pushes (live-exchange dates its decisions by it);
    `confirm_candles`: closed candles are confirmed with their REST klines (`exchange.confirm_candles`)."""

    def build(limiter: RateLimiter, emit: Callable[[Event], None]) -> MarketDataFeed:
        return BitunixFeed(
            rest_url=rest_url,
            ws_url=ws_url,
            limiter=limiter,
            on_event=emit,
            ping_interval_s=ping_interval_s,
            venue_clock=venue_clock,
            confirm_candles=confirm_candles,
            max_connection_age_s=max_connection_age_s,
        )

    return build


def ccxt_feed(settings: Settings, wall_clock: Clock) -> FeedFactory:
    """Another venue's candles through CCXT (`exchange.ccxt_id`), polled; CCXT limits its own rate, so the
    session's limiter is not used."""
    exchange = settings.exchange
    assert exchange.ccxt_id is not None

    def build(_limiter: RateLimiter, emit: Callable[[Event], None]) -> MarketDataFeed:
        from laptop_agents.feeds.ccxt_feed import CcxtFeed

        return CcxtFeed(
            exchange.ccxt_id or "",
            rest_url=exchange.rest_url,
            poll_s=exchange.ccxt_poll_s,
            on_event=emit,
            now_ms=wall_clock.now_ms,
        )

    return build


def order_id_prefix(run_id: str) -> str:
    """`la` + 10 hex of the run id's hash: the same for every restart of a run, short enough that
    prefix + sequence stays well inside Bitunix's client-id limit (36 characters)."""
    return "la" + hashlib.sha256(run_id.encode()).hexdigest()[:10]


def embedded_sim(settings: Settings, *, after_ts: int | None = None) -> SimExchange:
    """The in-process simulator, one replayed file per symbol (`exchange.sim_data`, or the symbol's entry in
    `exchange.sim_data_by_symbol`) on one timeline; after a restart it continues right after `after_ts`."""
    exchange = settings.exchange
    series = {
        symbol: load_candles(
            resolve_data_path(exchange.sim_data_by_symbol.get(symbol, exchange.sim_data).removeprefix("csv:"))
        )
        for symbol in settings.data.trading_symbols
    }
    start = exchange.sim_start_index
    if after_ts is not None:
        timeline = next(iter(series.values()))  # the simulator re-bases every symbol onto the first one's times
        start = next((i for i, c in enumerate(timeline) if c.ts > after_ts), len(timeline) - 1)
    config = SimConfig(interval=settings.data.interval, speed=exchange.sim_speed, start_index=start)
    return SimExchange(config, series)


def resumed_after(checkpoint: dict[str, Any]) -> int | None:
    """The earliest last-processed candle over the checkpoint's symbols: a replay restarts after it."""
    stamps = [s.get("last_candle_ts") for s in checkpoint.get("symbols", {}).values()]
    known = [ts for ts in stamps if ts is not None]
    return min(known) if known else None


async def run_live_paper(
    settings: Settings,
    *,
    folder: RunFolder,
    wall_clock: Clock,
    sim: SimExchange | None = None,
    install_signals: bool = True,
    resume: bool = False,
    on_runner: Callable[[AsyncRunner], None] | None = None,
    on_start: Callable[[], None] | None = None,
    changes: Sequence[Change] = (),
    watch: WatchFactory | None = None,
) -> LiveResult:
    """Run one session until stopped (signal, `run.duration_s`, or `runner.stop()` via `on_runner`).
    `changes`: what `--resume --reconfigure` changed of the run's configuration (recorded); `watch`
    builds its dashboard, metrics and alerts (`daemon/watchers.py`)."""
    exchange = settings.exchange
    own_sim = exchange.ccxt_id is None and sim is None and exchange.rest_url is None
    if own_sim:
        after = resumed_after(read_checkpoint(folder.state)) if resume else None
        sim = embedded_sim(settings, after_ts=after)
        await sim.start()
    if exchange.ccxt_id is not None:  # another venue's candles through CCXT, polled
        feed_factory, source = ccxt_feed(settings, wall_clock), f"ccxt {exchange.ccxt_id}"
    else:
        rest_url = exchange.rest_url or (sim.rest_url if sim else "")
        ws_url = exchange.ws_public_url or (sim.ws_public_url if sim else "")
        confirm = exchange.confirm_candles == "on"
        feed_factory = bitunix_feed(rest_url, ws_url, exchange.ws_ping_interval_s, confirm_candles=confirm,
                                    max_connection_age_s=exchange.ws_max_connection_age_s)  # fmt: skip
        source = f"bitunix {rest_url}"
    try:
        return await run_session(
            settings,
            folder=folder,
            wall_clock=wall_clock,
            feed_factory=feed_factory,
            source=source,
            install_signals=install_signals,
            resume=resume,
            on_runner=on_runner,
            on_start=on_start,
            changes=changes,
            watch=watch,
        )
    finally:
        if own_sim and sim is not None:
            await sim.stop()


async def run_session(
    settings: Settings,
    *,
    folder: RunFolder,
    wall_clock: Clock,
    feed_factory: FeedFactory,
    source: str,
    install_signals: bool = True,
    resume: bool = False,
    on_runner: Callable[[AsyncRunner], None] | None = None,
    on_start: Callable[[], None] | None = None,
    changes: Sequence[Change] = (),
    watch: WatchFactory | None = None,
) -> LiveResult:
    """One live-paper session over any feed: start or resume, run until stopped, write the report.

    Holds the run folder's lock for the whole session: a second daemon on the same folder is refused
    before it touches anything. `on_start` is called once the lock is held (the CLI announces then).
    """
    with RunLock(folder.path), SignalGate(install=install_signals) as signals:
        checkpoint = prepare_resume(folder, "live-paper") if resume else None
        if on_start is not None:
            on_start()
        return await serve_session(
            settings,
            folder,
            wall_clock,
            feed_factory,
            source,
            signals,
            on_runner,
            checkpoint,
            crash=CrashPoints(os.environ.get("LA_CRASH_AT")),  # the checkpoint's and the backfill's points
            changes=changes,
            watch=watch,
        )


async def serve_session(
    settings: Settings,
    folder: RunFolder,
    wall: Clock,
    feed_factory: FeedFactory,
    source: str,
    signals: SignalGate,
    on_runner: Callable[[AsyncRunner], None] | None,
    checkpoint: dict[str, Any] | None,
    *,
    venue: Venue | None = None,
    limiter: RateLimiter | None = None,
    crash: CrashPoints | None = None,
    changes: Sequence[Change] = (),
    watch: WatchFactory | None = None,
) -> LiveResult:
    """The session itself, the lock held and the checkpoint (if any) verified: paper fills, or real
    orders through `venue`. `limiter` is shared with the venue's REST client when given."""
    check_watchers(settings, watch)
    interval = settings.data.interval
    mode = "live-paper" if venue is None else venue.mode
    if venue is not None:  # the books start from the exchange account's balance
        broker = settings.broker.model_copy(update={"starting_balance": venue.starting_balance})
        settings = settings.model_copy(update={"broker": broker})
    if settings.run.run_id != folder.run_id:  # config.json names the run it belongs to, never `null`
        settings = settings.model_copy(update={"run": settings.run.model_copy(update={"run_id": folder.run_id})})
    if checkpoint is None:
        folder.config.write_bytes(orjson.dumps(redacted_dump(settings), option=orjson.OPT_INDENT_2) + b"\n")
    take_stop_request(folder.path)  # a STOP left from before this process started is not for it
    run = RunArtifacts(settings, folder, wall, durable=True, resume=checkpoint)
    log = run.log
    daemon_log = DaemonLog(folder.path, level=settings.run.log_level, fmt=settings.run.log_format,
                           run_id=folder.run_id)  # fmt: skip
    log.subscribe(daemon_log)
    symbols = settings.data.trading_symbols
    bars = None  # several symbols: their marks merge into one account row per bar
    if len(symbols) > 1:
        bars = AccountBars(symbols, run.curves.record, checkpoint.get("account_bars") if checkpoint else None)
    if limiter is None:
        limiter = RateLimiter(settings.exchange.rate_limit_per_s, settings.exchange.rate_limit_burst)
    feed = feed_factory(limiter, log.emit)
    try:  # until the runner owns the feed, a refused strategy or checkpoint closes it and the files here
        funding_feed = live_funding_feed(settings, feed)
        books = settings if venue is not None else await with_venue_tiers(settings, feed, log.emit, at=wall.now_ms())
        portfolio = build_portfolio(
            books,
            emit=log.emit,
            equity_sink=bars.sink if bars is not None else lambda _symbol: run.curves.record,
            order_id_prefix=order_id_prefix(folder.run_id),
            broker_factory=None if venue is None else venue.broker_factory(log.emit),
            observed_funding=funding_feed is not None,
        )
        if checkpoint is not None:
            restore_portfolio(portfolio, checkpoint, restore_cash=venue is None)
        inputs = CoreInputs(
            portfolio, record=log.emit, now=wall.now_ms, before=None if venue is None else venue.before_input
        )
        funding = None if funding_feed is None else live_funding(settings, funding_feed, wall, log.emit, inputs)
    except BaseException:
        await feed.close()
        run.close()
        daemon_log.close()
        raise

    def artifacts() -> dict[str, Any]:
        state = run.checkpoint_state()
        return state if bars is None else {**state, "account_bars": bars.state()}

    systemd = SystemdNotifier(status=lambda: runner.status_line())
    monitor = watch(settings, folder, limiter, run.flush) if watch is not None and wants_watchers(settings) else None
    runner = AsyncRunner(
        RunnerSettings(
            interval=interval,
            mode=mode,
            heartbeat_interval_s=settings.run.heartbeat_interval_s,
            checkpoint_interval_s=settings.run.checkpoint_interval_s,
            stale_after_s=_stale_after_s(settings),
            duration_s=settings.run.duration_s,
            halt_entries_while_backfilling=venue is not None,
        ),
        feed=feed,
        portfolio=portfolio,
        log_=log,
        folder=folder,
        wall_clock=wall,
        artifacts=artifacts,
        services=[s for s in (funding, venue, systemd, monitor.service() if monitor else None) if s is not None],
        crash=crash,
        on_exception=daemon_log.exception,
        inputs=inputs,
    )
    log.subscribe(lambda e: runner.count_fill() if type(e) is Fill else None)
    if on_runner is not None:
        on_runner(runner)
    strategy = portfolio.primary.strategy.name
    try:  # the start-up (funding, warm-up, the venue's reconciliation): a failure closes what it opened
        # The session's first record: the run's start, or (after what --reconfigure changed) its resume; a
        # replay builds the core there, so every input the session gives it comes after (and what it is built
        # with, before: the venue's contracts).
        if monitor is not None:  # before the session's first record (the alerts see its start); a port in
            monitor.attach(runner, log)  # use is refused before anything is traded
            await monitor.start()
        if venue is not None:
            for contract in venue.contract_events():
                log.emit(contract)
        if checkpoint is not None:
            at = max((int(saved.get("last_candle_ts") or 0) for saved in checkpoint["symbols"].values()), default=0)
            _record_changes(settings, folder, log.emit, changes, at=at)
            _announce_resume(portfolio, runner, checkpoint, observed=funding is not None)
        else:
            log.emit(
                RunStarted(
                    ts=wall.now_ms(),
                    symbol=portfolio.label,
                    mode=mode,
                    strategy=strategy,
                    source=source,
                    interval=interval,
                    starting_balance=settings.broker.starting_balance,
                    funding="configured" if funding is None else "observed",
                )
            )
            for recorded in input_file_events(settings, ts=wall.now_ms(), roles=("funding",)):
                log.emit(recorded)  # the funding table the paper broker charges: a replay checks its bytes
        if funding is not None:
            await funding.refresh()  # before the warm-up, so the gate knows the rate from the first candle
        if checkpoint is None:
            await runner.warm_up(portfolio.primary.strategy.warmup_candles())
        runner.check_kill_switch()  # a run resumed with its KILL set is halted before anything can be sent
        if venue is not None:
            for event in venue.opening_events():
                log.emit(event)
            await venue.start(portfolio, runner)
        runner.write_checkpoint()  # from the first moment on, a crash can be resumed
    except BaseException as exc:
        if isinstance(exc, Exception):  # not a cancellation: say what failed, and end the run's record
            message = str(exc) if isinstance(exc, LaptopAgentsError) else f"{type(exc).__name__}: {exc}"
            daemon_log.exception("start", exc)
            log.emit(Error(ts=wall.now_ms(), symbol=portfolio.label, where="start", message=message, fatal=True))
            log.emit(RunFinished(ts=wall.now_ms(), symbol=portfolio.label, status="failed", candles=portfolio.candles,
                                 trades=0, final_equity=portfolio.equity(), error=message))  # fmt: skip
        await feed.close()  # the runner never ran: nothing else closes the feed and the files
        if monitor is not None:
            await monitor.close()
        run.close()
        daemon_log.close()
        raise
    signals.attach(runner, flush=log.flush)  # a signal that came during the start-up stops it now
    systemd.ready()  # warmed up and reconciled: systemd counts the service as started from here
    try:
        reason = await runner.run()
    except BaseException:
        run.close()  # not expected: the runner reports its tasks' failures; still, leave no file open
        daemon_log.close()
        if monitor is not None:
            await monitor.close()
        raise
    finally:
        systemd.close()
    if bars is not None:
        bars.flush()
    final_equity = portfolio.equity()
    run.curves.finish()
    run.notes.prevented = portfolio.prevented()
    failed = runner.failure
    summary = run.summarise(
        ts=portfolio.last_ts or 0,
        status="stopped" if failed is None else "failed",
        candles=portfolio.candles,
        final_equity=final_equity,
        error=failed,
    )
    if monitor is not None:
        monitor.freeze()
    run.close_and_report(summary, mode=mode, source=source, strategy=strategy, error=failed)
    if monitor is not None:
        await monitor.close()  # after the report: the dashboard showed the stop, the alert of it goes out
    daemon_log.close()
    return RunResult(
        folder=folder,
        summary=summary,
        notes=run.notes,
        stop_reason=reason,
        source=source,
        first_ts=run.curves.first_ts,
        last_ts=run.curves.last_ts,
        gaps=run.notes.gaps,  # the whole run's, the sessions before a resume included
        missing_candles=run.notes.missing,
        duplicates_dropped=runner.md.duplicates,
        events=log.seq,
        error=failed,
        failed_task=runner.failed_task,
    )


def live_funding_feed(settings: Settings, feed: MarketDataFeed) -> FundingRateFeed | None:
    """The feed to poll the exchange's funding rate from, for the strategies' funding gate: when the feed has
    an exchange behind it and the strategy reads funding. Otherwise strategies read the configured funding,
    as in a backtest."""
    if not isinstance(feed, FundingRateFeed) or not reads_funding(settings.strategy):
        return None
    return feed


def live_funding(
    settings: Settings, feed: FundingRateFeed, wall: Clock, emit: Callable[[Event], None], inputs: CoreInputs
) -> LiveFundingRates:
    """The funding poller beside the cores: each answer reaches the cores as a recorded input."""
    exchange = settings.exchange
    return LiveFundingRates(
        feed,
        poll_s=exchange.funding_poll_s,
        max_age_s=exchange.funding_max_age_s,
        clock=wall,
        emit=emit,
        symbols=settings.data.trading_symbols,
        on_rate=inputs.funding,
    )


def _record_changes(
    settings: Settings, folder: RunFolder, emit: Callable[[Event], None], changes: Sequence[Change], *, at: int
) -> None:
    """`--resume --reconfigure`: one `ConfigChanged` per setting, and `config.json` rewritten (atomically)
    so the next resume starts from the configuration this session runs with."""
    if not changes:
        return
    for change in changes:
        before, after = orjson.dumps(change.before).decode(), orjson.dumps(change.after).decode()
        emit(ConfigChanged(ts=at, symbol=",".join(settings.data.trading_symbols), key=change.key, before=before,
                           after=after))  # fmt: skip
    atomic_write_bytes(folder.config, orjson.dumps(redacted_dump(settings), option=orjson.OPT_INDENT_2) + b"\n")


def _announce_resume(portfolio: Portfolio, runner: AsyncRunner, checkpoint: dict[str, Any], *, observed: bool) -> None:
    """One `RunResumed` per symbol: where its candles continue and the position it holds."""
    last_ts = {symbol: saved.get("last_candle_ts") for symbol, saved in checkpoint["symbols"].items()}
    runner.resume_from(last_ts, {symbol: saved.get("hole_until") for symbol, saved in checkpoint["symbols"].items()})
    runner.kill.resumed(checkpoint)
    for symbol, core in portfolio.cores.items():
        position = core.broker.position
        runner.log.emit(
            RunResumed(
                ts=last_ts[symbol] or 0,
                symbol=symbol,
                from_event_seq=checkpoint["event_seq"],
                last_candle_ts=last_ts[symbol],
                cash=portfolio.account.cash,
                equity=checkpoint["equity"],
                position_side=None if position is None else position.side,
                position_qty=None if position is None else position.qty,
                funding="observed" if observed else "configured",
            )
        )


def _stale_after_s(settings: Settings) -> float:
    """`data.stale_after_s`, else the intervals-based threshold (market time on the embedded simulator runs
    `sim_speed` times faster than the wall clock, so the threshold shrinks with it)."""
    if settings.data.stale_after_s is not None:
        return settings.data.stale_after_s
    speed = settings.exchange.sim_speed if settings.exchange.rest_url is None else 1.0
    return settings.data.stale_after_intervals * interval_ms(settings.data.interval) / 1000 / speed
