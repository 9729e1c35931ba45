"""What watches a session from outside (the dashboard, /metrics, alerts), as the daemon sees it.

The daemon sits below them (they read the runner, the run folder, the live order journal and the kill
switch's files), so it does not build them: the command line hands `serve_session` a `WatchFactory`
(`laptop_agents.monitor.service.build`). A session whose settings ask for watchers without one is refused,
so `dashboard.enabled` never silently does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from laptop_agents.config.models import Settings
from laptop_agents.core.errors import InputError
from laptop_agents.runs.event_log import EventLog
from laptop_agents.runs.run_folder import RunFolder

if TYPE_CHECKING:
    from laptop_agents.base.rate_limiter import RateLimiter
    from laptop_agents.daemon.runner import AsyncRunner, Service


class Watchers(Protocol):
    """A runner `Service` that also binds its sockets at start-up and stays up until after the report."""

    def attach(self, runner: AsyncRunner, log: EventLog) -> None:
        """Build on the runner and listen to its log, before the session's first record."""

    async def start(self) -> None:
        """Bind (a port in use is refused in one line before anything is traded)."""

    def freeze(self) -> None:
        """The run's files are about to close: stop touching them."""

    async def close(self) -> None:
        """After the report: the sockets close, the last alerts go out."""

    def service(self) -> Service:
        """Itself, as the runner's service."""


WatchFactory = Callable[[Settings, RunFolder, "RateLimiter", Callable[[], None]], Watchers]
"""(settings, run folder, shared limiter, flush of the run's buffered rows) -> the session's watchers."""


def wants_watchers(settings: Settings) -> bool:
    return settings.dashboard.enabled or settings.metrics.enabled or bool(settings.alerts.urls)


def check_watchers(settings: Settings, watch: WatchFactory | None) -> None:
    if watch is None and wants_watchers(settings):
        raise InputError(
            "dashboard.enabled, metrics.enabled or alerts.urls is set, but this session was started without "
            "its watchers (la run builds them; a program calling run_live_paper passes watch=monitor.service.build)"
        )
