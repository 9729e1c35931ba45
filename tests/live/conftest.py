"""A live-exchange venue against the simulated exchange on loopback, driven step by step.

`LiveHarness` is what a session builds (preflight, journal, broker, executor, reconciler), minus the
runner: a test places an order through the broker as the core would, then syncs by hand. `restart()`
builds everything again over the same journal, as a new process would after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from laptop_agents.base.crash_points import CrashPoints
from laptop_agents.base.rate_limiter import RateLimiter
from laptop_agents.base.retry import Backoff, RetryPolicy
from laptop_agents.config.models import Settings
from laptop_agents.core.clock import Clock, LiveClock
from laptop_agents.core.events import Event
from laptop_agents.core.orders import EntryIntent
from laptop_agents.engine.assembly import build_portfolio
from laptop_agents.engine.inputs import CoreInputs
from laptop_agents.engine.portfolio import Portfolio
from laptop_agents.exchange.bitunix.rest import BitunixRest, Credentials, default_session
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.live.broker import BitunixBroker
from laptop_agents.live.preflight import Preflight
from laptop_agents.live.venue import LiveVenue
from laptop_agents.runs.run_folder import RunFolder
from tests.exchange.conftest import KEY, SECRET, bundled_candles, eventually, sim_config

SYMBOL = "BTCUSDT"
ORDER_PATH = "/api/v1/futures/trade/place_order"


def live_settings(**live: Any) -> Settings:
    return Settings.model_validate(
        {
            "run": {"mode": "live-exchange"},
            "exchange": {"leverage": 10},
            "live": {"unknown_window_s": 1.0, "lookup_interval_s": 0.05, **live},
        }
    )


def long_intent(stop_distance: float = 300.0) -> EntryIntent:
    return EntryIntent(side="long", stop_distance=stop_distance, setup="test", reason="test", target_r=2.0)


class LiveHarness:
    def __init__(
        self,
        sim: SimExchange,
        folder: RunFolder,
        settings: Settings,
        *,
        private_url: str | None = None,
        clock: Clock | None = None,
        rate: tuple[float, int] = (8, 4),
    ) -> None:
        """`rate`: the REST limiter's requests a second and burst (under the simulator's 10 a second)."""
        self.sim = sim
        self.rate = rate
        self.private_url = private_url
        self.folder = folder
        self.settings = settings
        self.clock: Clock = clock or LiveClock()
        self.events: list[Event] = []
        self.halts: dict[str, str] = {}
        self._http: aiohttp.ClientSession | None = None
        self.venue: LiveVenue | None = None
        self.broker: BitunixBroker | None = None
        self.portfolio: Portfolio | None = None
        self.inputs: CoreInputs | None = None

    async def start(self, checkpoint: dict[str, Any] | None = None) -> LiveHarness:
        """`checkpoint`: the broker state a restart restores (what the last checkpoint saw)."""
        self._http = default_session()
        limiter = RateLimiter(*self.rate)
        rest = BitunixRest(
            self.sim.rest_url,
            session=self._http,
            limiter=limiter,
            credentials=Credentials(KEY, SECRET),
            # a restart's preflight may meet the venue's per-key window still full of the last process's calls:
            # rate-limit answers are waited out (the penalty doubles: 0.05 s ... 0.8 s)
            retry=RetryPolicy(attempts=6, backoff=Backoff(initial_s=0.01, max_s=0.05, jitter=0)),
            rate_limit_penalty_s=0.05,
        )
        settings = self.settings.model_copy(update={"exchange": self.settings.exchange.model_copy(
            update={"rest_url": self.sim.rest_url})})  # fmt: skip
        checks: list[Event] = []
        report = await Preflight(settings, rest, emit=checks.append, say=lambda _: None).run()
        self.venue = LiveVenue(
            settings,
            rest=rest,
            report=report,
            checks=checks,
            folder=self.folder,
            clock=self.clock,
            credentials=Credentials(KEY, SECRET),
            private_url=self.private_url,
            limiter=limiter,
            crash=CrashPoints(None),
        )
        self.tick()
        books = settings.model_copy(update={"broker": settings.broker.model_copy(
            update={"starting_balance": self.venue.starting_balance})})  # fmt: skip
        self.portfolio = build_portfolio(books, emit=self.events.append,
                                         broker_factory=self.venue.broker_factory(self.events.append))  # fmt: skip
        self.inputs = CoreInputs(self.portfolio, record=self.events.append, now=self.clock.now_ms,
                                 before=self.venue.before_input)  # fmt: skip
        self.venue.attach(self.inputs)
        broker = self.portfolio.cores[SYMBOL].broker
        assert isinstance(broker, BitunixBroker)
        self.broker = broker
        if checkpoint is not None:
            broker.restore(checkpoint)
        self.halts = {}
        await self.venue.begin({SYMBOL: self.halts}, self.sim.market.now_ms())
        return self

    async def restart(self) -> LiveHarness:
        """A new process over the same run folder (same journal), the books rebuilt from it."""
        checkpoint = None if self.broker is None else self.broker.state()
        await self.stop()
        return await LiveHarness(self.sim, self.folder, self.settings, clock=self.clock, rate=self.rate).start(
            checkpoint
        )

    @contextlib.asynccontextmanager
    async def running(self, *, login: bool = True) -> AsyncIterator[list[asyncio.Task[None]]]:
        """The venue's own tasks (order sync, private stream) running as in a session, the private socket
        logged in first when `login`; on the way out they are cancelled and the harness stopped."""
        assert self.venue is not None
        tasks = [asyncio.create_task(c) for c in self.venue.tasks().values()]
        try:
            if login and self.venue.private is not None:
                private = self.venue.private
                await eventually(private.connected.is_set, what="private login")
            yield tasks
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.venue.private is not None:
                await self.venue.private.stop()
            await self.stop()

    async def stop(self) -> None:
        if self.venue is not None:
            self.venue.close()
        if self._http is not None:
            await self._http.close()

    # -- Acting as the core ------------------------------------------------------------------------------

    def tick(self) -> None:
        """What a public push does in a session: the venue clock learns the exchange's (replay) time; and what
        the session does before a candle reaches the core: the clocks the broker reads are set."""
        assert self.venue is not None
        self.venue.venue_clock.observe(self.sim.market.now_ms())
        self.venue.before_input(SYMBOL)

    def enter(self, cid: str, qty: float, intent: EntryIntent | None = None) -> bool:
        assert self.broker is not None
        self.tick()
        last = self.sim.market.last_price(SYMBOL)
        return self.broker.open_market(ts=self.sim.market.now_ms(), client_order_id=cid, qty=qty, ref_price=last,
                                       intent=intent or long_intent())  # fmt: skip

    async def send_queued(self) -> None:
        assert self.venue is not None
        await self.venue.executor.drain()

    async def settle(self) -> None:
        assert self.venue is not None
        await self.venue.executor.settle(5.0)

    # -- Looking at the exchange -------------------------------------------------------------------------

    def exchange_orders(self, client_id: str | None = None) -> list[Any]:
        orders = self.sim.ledger.accounts[KEY].orders.values()
        return [o for o in orders if client_id is None or o.client_id == client_id]

    def placements(self) -> list[Any]:
        return [r for r in self.sim.requests if r.path == ORDER_PATH]

    def of(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    """The simulator as hard as the venue may be: a client id is refused again only while its order is
    open (Bitunix promises no more), so nothing here can rest on the venue's dedupe."""
    async with SimExchange(sim_config(), {SYMBOL: bundled_candles()}) as exchange:
        exchange.faults.client_id_dedupe = "open"
        yield exchange


@pytest.fixture
async def live(sim: SimExchange, tmp_path: Path) -> AsyncIterator[LiveHarness]:
    harness = await LiveHarness(sim, RunFolder.create(tmp_path / "runs", "live-test"), live_settings()).start()
    yield harness
    await harness.stop()
