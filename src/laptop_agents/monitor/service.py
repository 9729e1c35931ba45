"""The daemon's watchers as one runner `Service`: the dashboard (with `/metrics`), or `/metrics` alone on its
own port, and the alerts. Nothing here trades: each part only reads the runner and listens to the log.

The sockets are bound during the session's start-up (`start`), so a port in use is one line before the
first candle, and they stay up until the session's report is written (`close`): the dashboard shows the
stop as it happens, and the "session stopped" alert (written with the report) still goes out.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from aiohttp import web

from laptop_agents.config.models import Settings
from laptop_agents.core.errors import InputError
from laptop_agents.core.events import Error, Event
from laptop_agents.dashboard.app import Dashboard, build_app
from laptop_agents.dashboard.security import Guard, check_bind, dashboard_token
from laptop_agents.monitor.alerts import AlertRules, Pager
from laptop_agents.runs.run_folder import RunFolder

if TYPE_CHECKING:  # prometheus-client and Apprise are imported only by a session that uses them
    from laptop_agents.base.rate_limiter import RateLimiter
    from laptop_agents.daemon.runner import AsyncRunner
    from laptop_agents.monitor.delivery import Delivery
    from laptop_agents.monitor.metrics import SessionMetrics
    from laptop_agents.runs.event_log import EventLog

ALERT_TICK_S = 1.0


def check_monitor_settings(settings: Settings) -> None:
    """What can be refused before a run folder exists: the token, a non-loopback bind without it, and the
    alert URLs (their variables set, Apprise knows their form)."""
    if settings.dashboard.enabled:
        check_bind(settings.dashboard.host, dashboard_token(settings.dashboard))
    if settings.alerts.urls:
        from laptop_agents.monitor.delivery import Delivery, expand_urls

        Delivery(settings.alerts, expand_urls(settings.alerts.urls), on_failure=lambda _: None).close(0.5)


def build(settings: Settings, folder: RunFolder, limiter: RateLimiter, flush: Callable[[], None]) -> MonitorService:
    """The `WatchFactory` a session is given (`daemon/watchers.py`)."""
    return MonitorService(settings, folder, limiter=limiter, flush=flush)


class MonitorService:
    name = "monitor"

    def __init__(
        self,
        settings: Settings,
        folder: RunFolder,
        *,
        limiter: RateLimiter | None = None,
        flush: Callable[[], None] | None = None,
    ) -> None:
        """`flush` writes out the run's buffered rows before the dashboard reads its equity and trades."""
        self.flush = flush
        self.settings = settings
        self.folder = folder
        self.limiter = limiter
        self.metrics: SessionMetrics | None = None
        self.rules: AlertRules | None = None
        self.pager: Pager | None = None
        self.delivery: Delivery | None = None
        self.dashboard: Dashboard | None = None
        self.urls: dict[str, str] = {}
        self._sites: list[web.AppRunner] = []
        self._runner: AsyncRunner | None = None

    def attach(self, runner: AsyncRunner, log: EventLog) -> None:
        """Build the parts on the runner and listen to its log (before the session's first record)."""
        self._runner = runner
        settings = self.settings
        if settings.dashboard.enabled or settings.metrics.enabled:
            from laptop_agents.monitor.metrics import SessionMetrics

            self.metrics = SessionMetrics(runner, limiter=self.limiter)
            log.subscribe(self._guarded(self.metrics.on_event, "metrics"), self.metrics.event_types)
        if settings.alerts.urls:
            from laptop_agents.monitor.delivery import Delivery, expand_urls

            loop = asyncio.get_running_loop()

            def failed(message: str) -> None:  # on the delivery thread: the log is the loop's
                loop.call_soon_threadsafe(self._warn, message)

            self.delivery = Delivery(settings.alerts, expand_urls(settings.alerts.urls), on_failure=failed)
            self.pager = Pager(settings.alerts, self.delivery.put, monotonic=runner.clock.monotonic_s)
            self.rules = AlertRules(
                settings.alerts,
                self.pager,
                run_id=self.folder.run_id,
                equity=runner.portfolio.equity,
                monotonic=runner.clock.monotonic_s,
                wall_ms=runner.clock.now_ms,
            )
            log.subscribe(self._guarded(self.rules.on_event, "alerts"), self.rules.event_types)

    def _guarded(self, listener: Callable[[Event], None], what: str) -> Callable[[Event], None]:
        """A listener that cannot hurt the core: the log calls it inside the core's emit, so a bug here
        must be a logged, non-fatal error, never an exception in the middle of a candle."""
        failed = [False]

        def call(event: Event) -> None:
            try:
                listener(event)
            except Exception as exc:
                if not failed[0]:  # once: the log must not fill up with the same bug
                    failed[0] = True
                    message = f"{what} listener failed on {type(event).__name__}: {type(exc).__name__}: {exc}"
                    asyncio.get_running_loop().call_soon(self._warn, message, what)

        return call

    def _warn(self, message: str, where: str = "alerts") -> None:
        """A non-fatal `Error` in the run's log (`where`: alerts or metrics); the session goes on."""
        runner = self._runner
        if runner is not None and not runner.log.closed:
            runner.log.emit(
                Error(ts=runner.event_ts(), symbol=runner.portfolio.label, where=where, message=message, fatal=False)
            )

    async def start(self) -> None:
        """Bind the dashboard (or the metrics port): a refused bind is one line naming the setting."""
        runner = self._runner
        assert runner is not None
        dash, metrics = self.settings.dashboard, self.settings.metrics
        exposition = self.metrics.exposition if self.metrics is not None else None
        if dash.enabled:
            token = dashboard_token(dash)
            check_bind(dash.host, token)
            guard = Guard(dash.host, dash.port, token=token, allowed_hosts=tuple(dash.allowed_hosts))
            self.dashboard = Dashboard(
                self.folder.path.parent,
                guard,
                own_run=self.folder.run_id,
                live=runner.heartbeat,
                metrics=exposition,
                flush=self.flush,
            )
            port = await self._serve(build_app(self.dashboard), dash.host, dash.port, "dashboard")
            guard.port = port
            self.urls["dashboard"] = f"http://{_host(dash.host)}:{port}/runs/{self.folder.run_id}"
            self.urls["metrics"] = f"http://{_host(dash.host)}:{port}/metrics"
        elif metrics.enabled and exposition is not None:
            guard = Guard(metrics.host, metrics.port)  # no token (Prometheus scrapes it), but no DNS rebinding
            app = web.Application(middlewares=[guard.middleware])
            app.router.add_get("/metrics", _exposition(exposition))
            port = await self._serve(app, metrics.host, metrics.port, "metrics")
            guard.port = port
            self.urls["metrics"] = f"http://{_host(metrics.host)}:{port}/metrics"
        for what, url in self.urls.items():
            if what == "dashboard" or "dashboard" not in self.urls:
                print(f"{what} {url}", file=sys.stderr, flush=True)

    async def _serve(self, app: web.Application, host: str, port: int, what: str) -> int:
        site_runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await site_runner.setup()
        site = web.TCPSite(site_runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await site_runner.cleanup()
            why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror})"
            raise InputError(
                f"{what}.port: {host}:{port} {why}; pick another ({what}.port=0 takes a free one)"
            ) from None
        self._sites.append(site_runner)
        bound = site_runner.addresses  # what port 0 became
        return int(bound[0][1]) if bound else port

    def tasks(self) -> dict[str, Coroutine[Any, Any, None]]:
        out: dict[str, Coroutine[Any, Any, None]] = {}
        if self.metrics is not None:
            out["monitor:loop_lag"] = self.metrics.probe_loop_lag()
        if self.rules is not None:
            out["monitor:alerts"] = self._tick()
        return out

    async def _tick(self) -> None:
        rules = self.rules
        assert rules is not None
        reported = False
        while True:
            await asyncio.sleep(ALERT_TICK_S)
            try:
                rules.tick()
            except Exception as exc:  # the alerts' bug is not the session's: log it once, go on
                if not reported:
                    reported = True
                    self._warn(f"alert rules failed: {type(exc).__name__}: {exc}")

    async def shutdown(self) -> None:
        return None  # the sockets and the alerts stay up until `close`, after the report

    def service(self) -> MonitorService:
        return self

    def freeze(self) -> None:
        """The run's files are about to close (the report): the dashboard stops flushing them."""
        if self.dashboard is not None:
            self.dashboard.flush = None

    async def close(self) -> None:
        self.freeze()
        if self.dashboard is not None:
            self.dashboard.stopping.set()  # SSE streams end, so the server's shutdown does not wait for them
        for site_runner in self._sites:
            with contextlib.suppress(Exception):
                await site_runner.cleanup()
        self._sites.clear()
        if self.delivery is not None:
            await asyncio.to_thread(self.delivery.close)

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.urls)
        if self.delivery is not None and self.pager is not None:
            stats = self.delivery.stats
            out["alerts"] = {
                "sent": stats.sent,
                "failed": stats.failed,
                "dropped": stats.dropped,
                "deduplicated": self.pager.deduplicated,
                "rate_limited": self.pager.suppressed,
            }
        return out


def _host(host: str) -> str:
    if host in ("0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _exposition(
    exposition: Callable[[], tuple[bytes, str]],
) -> Callable[[web.Request], Coroutine[Any, Any, web.Response]]:
    async def handler(_request: web.Request) -> web.Response:
        body, kind = exposition()
        reply = web.Response(body=body)
        reply.headers["Content-Type"] = kind
        return reply

    return handler
