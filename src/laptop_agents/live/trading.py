"""`la run --mode live-exchange`: a session that places real orders, after a passing preflight.

The same session as live-paper (the AsyncRunner around the same cores, the same run folder, resumable
with `--resume`), with the BitunixBroker in place of the PaperBroker and the `LiveVenue` beside the cores.
Bitunix meters market data per address and private calls per key, so there are two rate limiters: the
signed REST client and the private stream share one, the public feed (its socket, backfills and the
closed-candle confirmations) has its own, so confirming candles never starves order lookups. The URLs
default to the real Bitunix ones; tests and rehearsals point `exchange.*_url` at `la sim-exchange`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from laptop_agents.base.crash_points import CrashPoints
from laptop_agents.base.lock import RunLock
from laptop_agents.base.rate_limiter import RateLimiter
from laptop_agents.config.loader import Change
from laptop_agents.config.models import BITUNIX_REST_URL, BITUNIX_WS_PRIVATE_URL, BITUNIX_WS_PUBLIC_URL, Settings
from laptop_agents.core.clock import Clock
from laptop_agents.core.errors import PreflightError
from laptop_agents.core.events import Event
from laptop_agents.daemon.live_paper import bitunix_feed, serve_session
from laptop_agents.daemon.runner import AsyncRunner
from laptop_agents.daemon.signals import SignalGate
from laptop_agents.daemon.watchers import WatchFactory
from laptop_agents.exchange.bitunix.rest import BitunixRest, Credentials, default_session
from laptop_agents.live.preflight import Preflight
from laptop_agents.live.session import record_refused_start
from laptop_agents.live.venue import LiveVenue
from laptop_agents.runs.artifacts import RunResult
from laptop_agents.runs.resume import prepare_resume
from laptop_agents.runs.run_folder import RunFolder

CRASH_ENV = "LA_CRASH_AT"


async def run_live_exchange(
    settings: Settings,
    credentials: Credentials,
    *,
    folder: RunFolder,
    wall_clock: Clock,
    resume: bool = False,
    install_signals: bool = True,
    say: Callable[[str], None] = print,
    on_start: Callable[[], None] | None = None,
    on_runner: Callable[[AsyncRunner], None] | None = None,
    changes: Sequence[Change] = (),
    watch: WatchFactory | None = None,
) -> RunResult:
    exchange = settings.exchange
    rest_url = exchange.rest_url or BITUNIX_REST_URL
    ws_public = exchange.ws_public_url or BITUNIX_WS_PUBLIC_URL
    ws_private = exchange.ws_private_url or BITUNIX_WS_PRIVATE_URL
    crash = CrashPoints(os.environ.get(CRASH_ENV))
    with RunLock(folder.path), SignalGate(install=install_signals) as signals:  # from before the preflight on
        checkpoint = prepare_resume(folder, "live-exchange") if resume else None
        limiter = RateLimiter(exchange.rate_limit_per_s, exchange.rate_limit_burst)
        async with default_session(exchange.request_timeout_s) as http:
            rest = BitunixRest(
                rest_url,
                session=http,
                limiter=limiter,
                credentials=credentials,
                wall_clock=wall_clock,
                timeout_s=exchange.request_timeout_s,
            )
            checks: list[Event] = []
            try:
                report = await Preflight(settings, rest, emit=checks.append, say=say, clock=wall_clock).run()
            except PreflightError:
                if checkpoint is None:
                    record_refused_start(settings, folder=folder, wall_clock=wall_clock, checks=checks)
                raise
            if on_start is not None:
                on_start()
            venue = LiveVenue(
                settings,
                rest=rest,
                report=report,
                checks=checks,
                folder=folder,
                clock=wall_clock,
                credentials=credentials,
                private_url=ws_private,
                limiter=limiter,
                crash=crash,
            )

            try:
                return await serve_session(
                    settings,
                    folder,
                    wall_clock,
                    bitunix_feed(
                        rest_url,
                        ws_public,
                        exchange.ws_ping_interval_s,
                        venue.venue_clock,
                        confirm_candles=exchange.confirm_candles != "off",
                        max_connection_age_s=exchange.ws_max_connection_age_s,
                    ),
                    f"bitunix {rest_url}",
                    signals,
                    on_runner,
                    checkpoint,
                    venue=venue,
                    crash=crash,
                    changes=changes,
                    watch=watch,
                )
            finally:
                venue.close()
