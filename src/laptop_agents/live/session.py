"""A live-exchange session's set-up: the run folder, the signed REST client and the preflight.

The URLs default to the real Bitunix ones; tests and rehearsals point `exchange.rest_url` at the simulated
exchange. The API secret lives only in the REST client's `Credentials` (masked `repr`); it is never
written to the run folder, an event or a log line.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from laptop_agents.base.rate_limiter import RateLimiter
from laptop_agents.config.loader import redacted_dump
from laptop_agents.config.models import BITUNIX_REST_URL, Settings
from laptop_agents.core.clock import Clock
from laptop_agents.core.events import Event, RunStarted
from laptop_agents.exchange.bitunix.rest import BitunixRest, Credentials, default_session
from laptop_agents.live.preflight import Preflight, PreflightReport
from laptop_agents.runs.event_log import EventLog
from laptop_agents.runs.run_folder import RunFolder


def rest_url(settings: Settings) -> str:
    return settings.exchange.rest_url or BITUNIX_REST_URL


def record_refused_start(settings: Settings, *, folder: RunFolder, wall_clock: Clock, checks: list[Event]) -> None:
    """A session refused by its preflight still leaves its record: config.json, RunStarted and the checks."""
    folder.config.write_bytes(orjson.dumps(redacted_dump(settings), option=orjson.OPT_INDENT_2) + b"\n")
    log = EventLog(folder.events, run_id=folder.run_id, wall_clock=wall_clock, durable=True)
    try:
        log.emit(_run_started(settings, at=wall_clock.now_ms()))
        for event in checks:
            log.emit(event)
    finally:
        log.close()


def _run_started(settings: Settings, *, at: int) -> RunStarted:
    return RunStarted(
        ts=at,
        symbol=",".join(settings.data.trading_symbols),
        mode="live-exchange",
        strategy=settings.strategy.name,
        source=f"bitunix {rest_url(settings)}",
        interval=settings.data.interval,
        starting_balance=0.0,
    )


async def run_preflight(
    settings: Settings,
    credentials: Credentials,
    *,
    folder: RunFolder,
    wall_clock: Clock,
    say: Callable[[str], None],
) -> PreflightReport:
    """Run the preflight in `folder` (config.json and events.jsonl); raises `PreflightError` on a failure."""
    folder.config.write_bytes(orjson.dumps(redacted_dump(settings), option=orjson.OPT_INDENT_2) + b"\n")
    log = EventLog(folder.events, run_id=folder.run_id, wall_clock=wall_clock, durable=True)
    url = rest_url(settings)
    exchange = settings.exchange
    try:
        log.emit(_run_started(settings, at=wall_clock.now_ms()))
        async with default_session(exchange.request_timeout_s) as session:
            rest = BitunixRest(
                url,
                session=session,
                limiter=RateLimiter(exchange.rate_limit_per_s, exchange.rate_limit_burst),
                credentials=credentials,
                wall_clock=wall_clock,
                timeout_s=exchange.request_timeout_s,
            )
            return await Preflight(settings, rest, emit=log.emit, say=say, clock=wall_clock).run()
    finally:
        log.close()
