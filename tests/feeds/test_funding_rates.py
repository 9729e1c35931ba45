"""The live funding rate for A2: polled from the simulated exchange over loopback, kept fresh or flagged
missing, a failed poll reported once and survived, and a live-paper session whose funding gate follows the
exchange's rate as it changes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from laptop_agents.base.rate_limiter import RateLimiter
from laptop_agents.base.retry import Backoff, RetryPolicy
from laptop_agents.core.clock import Clock, SimClock
from laptop_agents.core.events import Error, Event, OrderPlaced, SignalGenerated
from laptop_agents.exchange.bitunix.rest import BitunixRest, default_session
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.feeds.funding_rates import LiveFundingRates
from laptop_agents.runs.run_folder import RunFolder
from laptop_agents.strategy.supervisor import Supervisor
from tests.daemon.live_helpers import advance_until, start_live
from tests.exchange.conftest import bundled_candles, eventually, sim_config
from tests.helpers import settings

Told = list[tuple[str, float | None, str]]


@contextlib.asynccontextmanager
async def rates_poller(
    sim: SimExchange,
    clock: Clock,
    events: list[Event],
    told: Told | None = None,
    symbols: tuple[str, ...] = ("BTCUSDT",),
) -> AsyncIterator[LiveFundingRates]:
    """The poller on a REST client of its own with short retries (two attempts per poll); what it tells the
    cores (`on_rate`) goes to `told`."""
    sink = told if told is not None else []
    async with default_session() as session:
        rest = BitunixRest(
            sim.rest_url,
            session=session,
            limiter=RateLimiter(100, 10),
            retry=RetryPolicy(2, Backoff(0.01, 0.01, jitter=0)),
        )
        yield LiveFundingRates(rest, poll_s=1, max_age_s=60, clock=clock, emit=events.append, symbols=symbols,
                               on_rate=lambda *told: sink.append(told))  # fmt: skip


async def test_polled_rate_is_fresh_then_ages_out_and_a_failure_is_reported_once() -> None:
    """Issue 16: the poller tells the cores each answer (`on_rate`, recorded as `FundingObserved`) and,
    judged on its clock after a poll, None once the last answer is too old; strategies never read it."""
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:
        clock, events, told = SimClock(1_000_000), [], []  # type: ignore[var-annotated]
        async with rates_poller(sim, clock, events, told) as rates:
            assert told == []  # nothing asked yet: nothing told (the strategy's rate stays unknown, not 0)
            sim.ledger.funding_rate = 0.0007
            await rates.refresh()
            assert told[-1][:2] == ("BTCUSDT", pytest.approx(0.0007))  # the wire's percent, as a fraction

            sim.faults.http_error_next = 4  # two failed polls in a row (2 attempts each): one Error, both counted
            clock.ms += 30_000
            await rates.refresh()
            await rates.refresh()
            errors = [e for e in events if isinstance(e, Error)]
            assert len(errors) == 1
            assert errors[0].where == "funding" and not errors[0].fatal
            assert "funding_missing" in errors[0].message
            assert rates.failures == 2
            assert len(told) == 1  # the last answer stands while it is fresh: nothing new to tell

            clock.ms += 31_000  # 61 s since the last answer: older than max_age_s
            sim.faults.http_error_next = 2
            await rates.refresh()
            assert told[-1][:2] == ("BTCUSDT", None) and "older than 60 s" in told[-1][2]
            assert rates.status()["rates"] == {"BTCUSDT": None}

            sim.ledger.funding_rate = -0.0002
            await rates.refresh()  # recovered; a later failure is reported again
            assert told[-1][:2] == ("BTCUSDT", pytest.approx(-0.0002))
            sim.faults.http_error_next = 2
            await rates.refresh()
            assert len([e for e in events if isinstance(e, Error)]) == 2
            assert rates.status()["polls"] == 6


async def test_only_the_symbols_given_are_polled() -> None:
    async with (
        SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim,
        rates_poller(sim, SimClock(0), [], symbols=()) as rates,
    ):
        await rates.refresh()
        assert rates.status()["rates"] == {}
        assert not [r for r in sim.requests if "funding_rate" in r.path]


async def test_a_live_paper_supervisor_follows_the_exchanges_funding_rate(tmp_path: Path) -> None:
    """The funding gate of a live-paper supervisor reads the simulated exchange's rate: above
    funding_halt_above it blocks every entry; once the exchange's rate drops, the next poll and the gate's
    next refresh let entries through again. The heartbeat shows the polled rate."""
    s = settings(
        "strategy.name=supervisor",
        'strategy.params={"funding_refresh_bars": 1, "cooldown_bars": 0}',
        "circuit_breaker.enabled=false",
        "run.heartbeat_interval_s=0.2",
        "data.stale_after_intervals=1000",
        "exchange.funding_poll_s=1",
        "exchange.funding_max_age_s=120",
    )
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:
        sim.ledger.funding_rate = 0.005  # 0.5 % per 8 h: above funding_halt_above (0.3 %)
        folder = RunFolder.create(tmp_path / "runs", "live")
        task, runner = await start_live(sim, s, folder)
        events: list[Event] = []
        runner.log.subscribe(events.append)
        strategy = runner.core.strategy
        assert isinstance(strategy, Supervisor)

        async def candles(n: int) -> None:
            await advance_until(sim, runner, runner.core.candles + n)

        await candles(150)
        assert strategy.funding.rate == pytest.approx(0.005)
        blocked = [e for e in events if isinstance(e, SignalGenerated)]
        assert blocked and {e.blocked_reason for e in blocked} == {"funding_halt"}
        assert not [e for e in events if isinstance(e, OrderPlaced)]
        await eventually(lambda: folder.path.joinpath("heartbeat.json").exists(), what="a heartbeat")
        beat = orjson.loads(folder.path.joinpath("heartbeat.json").read_bytes())
        assert beat["funding"]["rates"]["BTCUSDT"] == pytest.approx(0.005)

        sim.ledger.funding_rate = 0.0001
        (funding,) = [svc for svc in runner.services if isinstance(svc, LiveFundingRates)]
        await eventually(lambda: funding.current("BTCUSDT") == pytest.approx(0.0001), within_s=10, what="the next poll")
        await candles(150)
        assert strategy.funding.rate == pytest.approx(0.0001)
        assert [e for e in events if isinstance(e, OrderPlaced)]  # entries go through again
        runner.stop("test done")
        await asyncio.wait_for(task, 30)
        assert runner.errors == 0
