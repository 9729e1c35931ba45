"""The daemon's log: what a live session does, as structlog lines an operator (or a log shipper) reads.

`runs/<id>/daemon.log` gets one JSON line per thing that matters: the session's start, resume and end,
every task failure (with its traceback), error, reconnect, gap and backfill, stale feed, order-state
change, refusal, fill, position change, breaker change, kill switch and configuration change. On a
terminal (or with `run.log_format=console`) the moments a trader watches for (fills, positions opened
and closed, breaker trips, gaps, reconnects, the kill switch, errors) are also printed as one short line
each on stderr, as they happen; `run.log_level=debug` prints every logged line there.

Every line passes one redaction processor (`redact`): a value whose key is a secret's name is replaced
by `***`, in nested mappings and lists too. Names match whole (`api_key`, `secret`, `token`, ...), so
`signal` or `design` are left alone.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
import structlog

from laptop_agents.base.scrub import scrub
from laptop_agents.core.events import (
    CandleRejected,
    CircuitBreakerReset,
    CircuitBreakerTripped,
    ConfigChanged,
    ConnectionRotated,
    DataStale,
    Error,
    Event,
    Fill,
    GapBackfilled,
    GapDetected,
    GapUnfilled,
    KillSwitch,
    KillSwitchReleased,
    OrderRejected,
    OrderState,
    PositionClosed,
    PositionOpened,
    RateLimited,
    Reconnected,
    RunFinished,
    RunResumed,
    RunStarted,
)

LOG_FILE = "daemon.log"
REDACTED = "***"
SECRET_KEYS = frozenset({
    "secret", "api_secret", "secret_key", "secretkey", "api_key", "apikey", "key_secret", "token", "access_token",
    "auth_token", "dashboard_token", "password", "passphrase", "signature", "sign", "authorization", "credentials",
})  # fmt: skip
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

_WARN = (DataStale, RateLimited, CircuitBreakerTripped, KillSwitch, GapUnfilled, CandleRejected)
_LOGGED = (
    RunStarted, RunResumed, RunFinished, Error, Reconnected, GapDetected, GapBackfilled, DataStale, RateLimited,
    OrderState, OrderRejected, Fill, PositionOpened, PositionClosed, CircuitBreakerTripped, CircuitBreakerReset,
    KillSwitch, KillSwitchReleased, ConfigChanged, ConnectionRotated, GapUnfilled, CandleRejected,
)  # fmt: skip
_CONSOLE = (
    Fill, PositionOpened, PositionClosed, CircuitBreakerTripped, CircuitBreakerReset, GapDetected, Reconnected,
    KillSwitch, KillSwitchReleased, Error, RunResumed, GapUnfilled,
)  # fmt: skip


def _secret(key: object) -> bool:
    """A whole key name that holds a secret (`api-key` as in Bitunix's header is `api_key`)."""
    return str(key).lower().replace("-", "_") in SECRET_KEYS


def _redacted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: REDACTED if _secret(k) else _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The one choke point every log line passes: secrets by whole key name, at any depth."""
    for key in list(event_dict):
        event_dict[key] = REDACTED if _secret(key) else _redacted(event_dict[key])
    return event_dict


def _stamp(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event_dict["time"] = datetime.now(tz=UTC).isoformat(timespec="milliseconds")  # edge-ok: a log line's label
    return event_dict


def _json(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> str:
    return scrub(orjson.dumps(event_dict, default=str).decode())  # a secret's value inside a text or a traceback


def _market_time(ms: int) -> str:
    if ms <= 0:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def console_line(event: Event) -> str:
    """The one short line a trader reads for `event` on the terminal."""
    t, sym = _market_time(event.ts), event.symbol
    if isinstance(event, Fill):
        return f"{t} {sym} fill {event.side} {event.qty:g} @ {event.price:g} (fee {event.fee:.2f})"
    if isinstance(event, PositionOpened):
        target = "-" if event.target_price is None else f"{event.target_price:g}"
        return f"{t} {sym} opened {event.side} {event.qty:g} @ {event.entry_price:g}, stop {event.stop_price:g}, " \
               f"target {target}"  # fmt: skip
    if isinstance(event, PositionClosed):
        return f"{t} {sym} closed {event.side} {event.qty:g} @ {event.exit_price:g} ({event.exit_reason}): " \
               f"net {event.net_pnl:+.2f}"  # fmt: skip
    if isinstance(event, CircuitBreakerTripped):
        return f"{t} {sym} circuit breaker TRIPPED ({event.reason}): entries halted"
    if isinstance(event, CircuitBreakerReset):
        return f"{t} {sym} circuit breaker re-armed"
    if isinstance(event, GapDetected):
        return f"{t} {sym} gap: {event.missing} candles missing, backfilling"
    if isinstance(event, GapUnfilled):
        return f"{t} {sym} hole: the venue has no {event.missing} candles from {_market_time(event.from_ts)} to " \
               f"{_market_time(event.to_ts)}; entries halted for {event.halt_candles} candles"  # fmt: skip
    if isinstance(event, Reconnected):
        return f"{t} {event.channel} reconnected after {event.downtime_ms / 1000:.1f} s ({event.reason})"
    if isinstance(event, KillSwitch):
        return f"{t} {sym} KILL SWITCH ({event.source}): entries halted" + (", flattening" if event.flatten else "")
    if isinstance(event, KillSwitchReleased):
        return f"{t} {sym} kill switch lifted by {event.by}: entries resume"
    if isinstance(event, Error):
        return f"{t} {sym} {'ERROR' if event.fatal else 'warning'} in {event.where}: {event.message}"
    if isinstance(event, RunResumed):
        return f"{t} {sym} resumed from event {event.from_event_seq}: equity {event.equity:,.2f}"
    return f"{t} {sym} {type(event).__name__}"


class DaemonLog:
    """One live session's log: an `EventLog` listener, plus `exception` for tracebacks."""

    def __init__(self, folder: Path, *, level: str, fmt: str, run_id: str, console: IO[str] | None = None) -> None:
        self._file = (folder / LOG_FILE).open("a", encoding="utf-8", buffering=1)  # line-buffered: tail -f
        self._level = LEVELS.get(level, logging.INFO)
        stream = sys.stderr if console is None else console
        self._console = stream if fmt == "console" or (fmt == "auto" and stream.isatty()) else None
        self._verbose = self._level <= logging.DEBUG
        self.log = structlog.wrap_logger(
            structlog.WriteLogger(self._file),
            processors=[structlog.processors.add_log_level, redact, _stamp, _json],
            wrapper_class=structlog.make_filtering_bound_logger(self._level),
            run_id=run_id,
        )

    def __call__(self, event: Event) -> None:
        if isinstance(event, _LOGGED):
            fields = {k: getattr(event, k) for k in event.__dataclass_fields__}
            name = type(event).__name__
            if isinstance(event, Error):
                (self.log.error if event.fatal else self.log.warning)(name, **fields)
            elif isinstance(event, _WARN):
                self.log.warning(name, **fields)
            else:
                self.log.info(name, **fields)
        if self._console is not None and (self._verbose or isinstance(event, _CONSOLE)):
            print(scrub(console_line(event)), file=self._console, flush=True)

    def exception(self, where: str, exc: BaseException) -> None:
        """An unexpected exception, with its whole traceback (the `Error` event keeps one line)."""
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.log.error("exception", where=where, error=f"{type(exc).__name__}: {exc}", traceback=text)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
