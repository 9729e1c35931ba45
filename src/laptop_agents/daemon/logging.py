"""Logging, configured once at the edge (the CLI). structlog, to stderr.

Console lines on a terminal, JSON lines otherwise (or as `run.log_format` says). Timestamps come from an
injected clock, so a backtest's logs could show market time. Every line passes the same redaction as the
daemon's log (`daemon_log.redact`: secrets by whole key name, at any depth).
"""

from __future__ import annotations

import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

from laptop_agents.base.scrub import scrub
from laptop_agents.core.clock import Clock
from laptop_agents.daemon.daemon_log import LEVELS, redact


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
            *([structlog.processors.format_exc_info] if json_lines else []),  # a traceback as text (scrubbed)
            redact,
            _clock_stamper(clock),
            lambda logger, name, event_dict: scrub(renderer(logger, name, event_dict)),  # type: ignore[arg-type]
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
