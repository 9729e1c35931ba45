"""Logging, configured once at the edge (the CLI). structlog, to stderr.

Console lines on a terminal, JSON lines otherwise (or as `run.log_format` says). Timestamps come from an
injected clock, so a backtest's logs could show market time. A redaction processor drops any value whose key
looks secret (`secret`, `api_key`, `token`, `signature`, `password`), wherever a caller put it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

from laptop_agents.core.clock import Clock

_SECRET_WORDS = ("secret", "api_key", "apikey", "token", "signature", "password", "sign")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def redact_secrets(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        lowered = key.lower()
        if any(word in lowered for word in _SECRET_WORDS):
            event_dict[key] = "***"
    return event_dict


def _clock_stamper(clock: Clock) -> structlog.typing.Processor:
    def stamp(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        ms = clock.now_ms()
        event_dict["ts"] = datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
        return event_dict

    return stamp


def configure_logging(*, level: str, fmt: str, clock: Clock) -> None:
    json_lines = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(serializer=lambda obj, **_: orjson.dumps(obj).decode())
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            redact_secrets,
            _clock_stamper(clock),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
