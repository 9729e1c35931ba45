"""The live-exchange venue of a session: journal, brokers, executor, reconciler and private stream.

Built after a passing preflight. At the start it replays the order journal into the books, deals with
what a crash left behind (a young order that was never sent is sent with its client id; anything that may
have been sent is looked up, never sent again), rebuilds today's loss, and syncs and reconciles before
the first candle may trade. At the stop (the runner has halted entries and drained the cores) it sends
what was still queued, cancels the resting orders it owns, closes positions with reduce-only market
orders when `live.flatten_on_stop`, and waits (bounded) until those outcomes are known.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Callable, Coroutine
from typing import Any

from laptop_agents.base.crash_points import CrashPoints
from laptop_agents.base.rate_limiter import RateLimiter
from laptop_agents.base.retry import patiently
from laptop_agents.config.models import Settings
from laptop_agents.core.candle import interval_ms
from laptop_agents.core.clock import Clock, SessionTime, VenueClock
from laptop_agents.core.events import Error, Event, Reconnected
from laptop_agents.core.inputs import VenueContract
from laptop_agents.daemon.runner import AsyncRunner
from laptop_agents.engine.assembly import BrokerFactory
from laptop_agents.engine.inputs import CoreInputs
from laptop_agents.engine.portfolio import Portfolio
from laptop_agents.exchange.bitunix.errors import ExchangeUnavailable, IpBanned, RateLimitedError
from laptop_agents.exchange.bitunix.rest import BitunixRest, Credentials
from laptop_agents.exchange.bitunix.ws_private import BitunixPrivateStream
from laptop_agents.execution.account import Account
from laptop_agents.execution.broker import Broker
from laptop_agents.live.broker import BitunixBroker, Cancel, Place
from laptop_agents.live.executor import OrderExecutor
from laptop_agents.live.inputs import VenueInputs
from laptop_agents.live.journal import OrderJournal
from laptop_agents.live.limits import DAY_MS, HardLimits
from laptop_agents.live.preflight import PreflightReport
from laptop_agents.live.reconcile import Reconciler
from laptop_agents.runs.run_folder import RunFolder

JOURNAL = "orders.jsonl"
START_PATIENCE_S = 120.0
"""How long the start-up's own reads wait out rate limits and outages (entries are halted meanwhile) before
the start fails."""
HALT_AUTH = "exchange_auth"
HALT_BAN = "exchange_ban"
HALT_JOURNAL = "journal"


def decision_window(settings: Settings) -> tuple[int, int]:
    """(the candle interval, the oldest a decision may be when sent), in ms: `live.max_decision_age_s`, by
    default one interval."""
    step = interval_ms(settings.data.interval)
    age_s = settings.live.max_decision_age_s
    return step, step if age_s is None else int(age_s * 1000)


class LiveVenue:
    mode = "live-exchange"
    name = "exchange"
    """The heartbeat key of its status."""

    def __init__(
        self,
        settings: Settings,
        *,
        rest: BitunixRest,
        report: PreflightReport,
        checks: list[Event],
        folder: RunFolder,
        clock: Clock,
        credentials: Credentials,
        private_url: str | None,
        limiter: RateLimiter,
        crash: CrashPoints,
    ) -> None:
        self.settings = settings
        self.rest = rest
        self.report = report
        self.checks = checks
        self.clock = clock
        self.journal = OrderJournal(folder.path / JOURNAL)
        self.journal.on_broken = self._journal_broken
        self.journal.start(balance=report.cash, at_ms=clock.now_ms())
        assert self.journal.starting_balance is not None
        self.starting_balance = self.journal.starting_balance
        self.limits = HardLimits(settings.live)
        self.venue_clock = VenueClock(clock)
        """The exchange's time, from its public pushes (the session's feed tells it): decisions are dated by it."""
        self.time = SessionTime()
        """What the brokers read as the clocks: set (and recorded) before each input reaches a core."""
        self._interval_ms, self._max_decision_age_ms = decision_window(settings)
        self.brokers: dict[str, BitunixBroker] = {}
        self.halts: dict[str, dict[str, str]] = {}
        self._emit: Callable[[Event], None] = lambda _event: None
        self._core_inputs: CoreInputs | None = None
        self.inputs = VenueInputs(
            self.brokers, record=self._forward, clock=clock, venue_clock=self.venue_clock, time=self.time
        )
        rest.on_signing = self._signing
        rest.on_banned = self._banned
        self.private = (
            None
            if private_url is None
            else BitunixPrivateStream(
                private_url,
                credentials=credentials,
                limiter=limiter,
                ping_interval_s=settings.exchange.ws_ping_interval_s,
                max_connection_age_s=settings.exchange.ws_max_connection_age_s,
                on_event=self._forward,
            )
        )
        self.reconciler = Reconciler(
            rest=rest,
            journal=self.journal,
            brokers=self.brokers,
            halts=self.halts,
            acknowledged=frozenset(settings.live.acknowledged_external),
            emit=self._forward,
            clock=clock,
            inputs=self.inputs,
            crash=crash,
        )
        self.executor = OrderExecutor(
            rest=rest,
            journal=self.journal,
            brokers=self.brokers,
            reconciler=self.reconciler,
            config=settings.live,
            emit=self._forward,
            clock=clock,
            crash=crash,
            inputs=self.inputs,
            venue_clock=self.venue_clock,
            private=self.private,
            halts=self.halts,
        )

    # -- Venue -------------------------------------------------------------------------------------------

    def broker_factory(self, emit: Callable[[Event], None]) -> BrokerFactory:
        self._emit = emit

        def build(symbol: str, account: Account, symbol_emit: Callable[[Event], None]) -> Broker:
            broker = BitunixBroker(
                self.settings.broker,
                symbol=symbol,
                spec=self.report.specs[symbol],
                leverage=self.report.leverage,
                journal=self.journal,
                limits=self.limits,
                account=account,
                emit=symbol_emit,
                time=self.time,
                submit=self.executor.submit,
                interval_ms=self._interval_ms,
                max_decision_age_ms=self._max_decision_age_ms,
            )
            self.brokers[symbol] = broker
            return broker

        return build

    def opening_events(self) -> list[Event]:
        return list(self.checks)

    def contract_events(self) -> list[VenueContract]:
        """What the brokers are built with (before the session's first record: a replay builds with it)."""
        leverage = self.report.leverage
        return [
            VenueContract(ts=self.clock.now_ms(), symbol=symbol, spec=dataclasses.asdict(spec), leverage=leverage)
            for symbol, spec in self.report.specs.items()
            if symbol in self.settings.data.trading_symbols
        ]

    def before_input(self, symbol: str) -> None:
        """An input is about to reach `symbol`'s core: the clocks its broker reads, recorded; an entry wait
        after a refusal whose time is up is lifted first (`refusals.py`)."""
        self.inputs.tick(symbol)
        self.executor.refusals.expire(symbol)

    def attach(self, inputs: CoreInputs) -> None:
        """The cores' door: the stop's flatten goes through it (recorded, as the kill switch's)."""
        self._core_inputs = inputs

    async def start(self, portfolio: Portfolio, runner: AsyncRunner) -> None:
        self.attach(runner.inputs)
        runner.log.subscribe(self._on_log_event)
        last = [p.last_close_ts for p in runner.pipes.values() if p.last_close_ts is not None]
        await self.begin({s: core.halts for s, core in portfolio.cores.items()}, max(last) if last else None)

    async def begin(self, halts: dict[str, dict[str, str]], market_now_ms: int | None) -> None:
        """Replay, resolve what a crash left, sync and reconcile: every symbol's entries stay halted (in
        `halts`, the cores' halt maps) until its reconciliation succeeded."""
        self.halts.update(halts)
        self.reconciler.begin()
        seen = min((b.seen_lines for b in self.brokers.values()), default=0)
        self.inputs.restored(self.journal, self.limits, seen_lines=seen)  # the books, from the journal
        for broker in self.brokers.values():
            if market_now_ms is not None:
                broker.market_ts = max(broker.market_ts, market_now_ms)
        resend, unknown = self.journal.after_restart(
            at_ms=self.clock.now_ms(), resend_window_ms=int(self.settings.live.resend_window_s * 1000)
        )
        for order in unknown:
            self.executor.report_state(order, "outcome unknown after a restart: looking it up by client id")
        for order in resend:  # first in the sender's queue: an old decision is resolved before any new one
            self.executor.submit(Place(order))
        await self.executor.sync()
        # after the sync: what it booked is in the journal, not counted twice
        await self._seed_daily_loss(market_now_ms or self.clock.now_ms())

    def tasks(self) -> dict[str, Coroutine[Any, Any, None]]:
        return self.executor.tasks()

    async def shutdown(self) -> None:
        """Within `live.shutdown_timeout_s`: the send in flight is answered, what the cores decided while
        draining is sent, owned resting entries are cancelled, positions closed when asked, and the outcomes
        awaited. Whatever is still unknown at the deadline stays in the journal and is looked up after a
        restart."""
        executor = self.executor
        budget = self.settings.live.shutdown_timeout_s
        deadline = self.clock.monotonic_s() + budget
        try:
            async with asyncio.timeout(budget):
                await executor.finish_in_flight()
                await executor.drain()
                for order in list(self.journal.orders.values()):
                    if order.purpose == "entry" and order.resting:
                        await executor.cancel(Cancel(order.symbol, order.client_id))
                if self.settings.live.flatten_on_stop and self._core_inputs is not None:
                    self._core_inputs.flatten("kill")  # recorded, as the kill switch's flatten
                await executor.drain()
                await executor.settle(max(0.0, deadline - self.clock.monotonic_s()))
        except TimeoutError:
            unresolved = [o.client_id for o in self.journal.orders.values() if o.state in ("SENT", "UNKNOWN")]
            left = ", ".join(unresolved) or "none"
            self._warn("shutdown", f"the stop's {budget:g} s were up with orders unresolved ({left}); they are "
                       "looked up by client id after a restart")  # fmt: skip
        finally:
            if self.private is not None:
                await self.private.stop()

    def status(self) -> dict[str, Any]:
        return {**self.executor.status(), "clock_offset_ms": self.rest.clock_offset_ms}

    def close(self) -> None:
        self.journal.close()

    # -- Internals ---------------------------------------------------------------------------------------

    def _forward(self, event: Event) -> None:
        """The run's event log, once `broker_factory` has handed it over (the parts are built before)."""
        self._emit(event)

    def _on_log_event(self, event: Event) -> None:
        """Any socket that came back (public or private): compare with the exchange before trading on."""
        if type(event) is Reconnected:
            self.reconciler.request()
            self.executor.wake.set()

    def _signing(self, ok: bool, detail: str) -> None:
        """Signed calls fail even after re-measuring the server's clock: no entry can be trusted to go
        out (or be looked up) until one succeeds again; exits are still tried."""
        self._halt_all(HALT_AUTH, None if ok else f"signed requests are refused: {detail}")
        if not ok:
            self._warn("signing", f"{detail}; entries halted until a signed request succeeds (check the key, "
                       "its permissions and this machine's clock)")  # fmt: skip

    def _journal_broken(self, detail: str) -> None:
        """The order journal failed a write: no order can be sent (its intent would not be on disk), so every
        symbol halts, exits too, for the rest of the process; the exchange's own stop and target still
        protect an open position."""
        self._halt_all(HALT_JOURNAL, detail)
        self._warn(
            "journal",
            f"{detail}: no order is sent any more, entries and exits halted (the exchange's stop and target stay "
            "in place); free or fix the disk, then stop the daemon and --resume",
        )

    def _banned(self, seconds: float) -> None:
        """HTTP 418: the venue bans this address; nothing is sent until it expires (the shared limiter
        holds every request), and entries stay halted until a reply after it arrived."""
        self._halt_all(HALT_BAN, f"the exchange banned this address (HTTP 418) for {seconds:g} s" if seconds else None)
        if seconds:
            self._warn("rate_limit", f"HTTP 418: banned for {seconds:g} s; no request is sent and entries are "
                       "halted until it expires (the exchange-side stops stay in place)")  # fmt: skip

    def _halt_all(self, key: str, detail: str | None) -> None:
        """Set (`detail`) or lift (None) one halt on every symbol."""
        for symbol_halts in self.halts.values():
            if detail is None:
                symbol_halts.pop(key, None)
            else:
                symbol_halts[key] = detail

    def _warn(self, where: str, message: str) -> None:
        self._emit(Error(ts=self.clock.now_ms(), symbol=",".join(self.brokers), where=where, message=message,
                         fatal=False))  # fmt: skip

    async def _patiently(self, what: str, call: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        """`call()`, again after a rate limit or an outage (said once, capped backoff) for up to
        `START_PATIENCE_S`: a start-up read that meets a busy venue waits, it does not end the run. A ban
        (418) or any other error still fails the start at once."""

        def waits_out(exc: BaseException) -> bool:
            return isinstance(exc, (ExchangeUnavailable, RateLimitedError)) and not isinstance(exc, IpBanned)

        def say(exc: BaseException) -> None:
            self._warn("start", f"{what}: {exc}; retrying (entries stay halted until the start is done)")

        return await patiently(call, waits_out=waits_out, patience_s=START_PATIENCE_S,
                               monotonic=self.clock.monotonic_s, on_first_wait=say)  # fmt: skip

    async def _seed_daily_loss(self, market_now_ms: int) -> None:
        """Today's executions on the exchange that the journal does not hold (an earlier run's, a manual
        trade) count toward today's loss too: a new run does not reset it either. "Today" is on the
        exchange's clock (the newest candle's)."""
        day_start = market_now_ms // DAY_MS * DAY_MS
        for symbol in self.brokers:
            trades = await self._patiently(
                f"reading today's {symbol} executions",
                functools.partial(self.rest.trades_since, symbol, start_ms=day_start),
            )
            for trade in trades:
                if trade.ts >= day_start and not self.journal.knows_trade(trade.trade_id):
                    self.inputs.outside_pnl(symbol, self.limits, at_ms=trade.ts, trade_id=trade.trade_id,
                                            pnl=trade.realized_pnl - trade.fee)  # fmt: skip
