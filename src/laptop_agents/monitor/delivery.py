"""Alert delivery through Apprise (one URL per service: Telegram, Discord, Slack, e-mail, ntfy, a JSON
webhook...), on a thread of its own: the event loop only puts a message on a bounded queue, so a slow or
dead receiver never delays a candle, and a failure is counted and logged, never raised into the daemon.

`alerts.urls` may name environment variables as `${VAR}` (a bot token, a password): they are read when the
session starts, and the expanded URLs live only in this process (never logged, never written).
"""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

import apprise

from laptop_agents.config.models import AlertsConfig
from laptop_agents.core.errors import InputError
from laptop_agents.monitor.alerts import Alert

QUEUE_SIZE = 256
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
NOTIFY_TYPES = {
    "info": apprise.NotifyType.INFO,
    "success": apprise.NotifyType.SUCCESS,
    "warning": apprise.NotifyType.WARNING,
    "failure": apprise.NotifyType.FAILURE,
}


def expand_urls(urls: list[str], environ: dict[str, str] | None = None) -> list[str]:
    """The URLs with every `${VAR}` read from the environment; a missing variable is one line naming it."""
    env = dict(os.environ) if environ is None else environ
    out = []
    for index, url in enumerate(urls):
        missing = [name for name in VAR.findall(url) if name not in env]
        if missing:
            raise InputError(
                f"alerts.urls[{index}]: ${{{missing[0]}}} is not set in the environment; export it or remove the URL"
            )
        out.append(VAR.sub(lambda m: env[m.group(1)], url))
    return out


def _with_timeouts(url: str, timeout_s: float) -> str:
    """Apprise's connect and read timeouts (`cto`, `rto`) unless the URL sets its own."""
    if re.search(r"[?&](cto|rto)=", url):
        return url
    return f"{url}{'&' if '?' in url else '?'}cto={timeout_s:g}&rto={timeout_s:g}"


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    dropped: int = 0


class Delivery:
    """The thread that sends; `put` never blocks (a full queue drops the alert, counted)."""

    def __init__(self, config: AlertsConfig, urls: list[str], *, on_failure: Callable[[str], None]) -> None:
        self._apprise = apprise.Apprise()
        for index, url in enumerate(urls):
            if not self._apprise.add(_with_timeouts(url, config.timeout_s)):
                scheme = url.split("://", 1)[0]
                raise InputError(
                    f"alerts.urls[{index}]: Apprise does not understand this {scheme}:// URL; see "
                    "https://github.com/caronc/apprise/wiki for the forms"
                )
        self._timeout_s = config.timeout_s
        self._on_failure = on_failure
        self._queue: queue.Queue[Alert | None] = queue.Queue(QUEUE_SIZE)
        self.stats = DeliveryStats()
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
        self._thread.start()

    def put(self, alert: Alert) -> None:
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.stats.dropped += 1

    def close(self, wait_s: float | None = None) -> None:
        """Send what is queued (the session's last message among it), waiting at most `wait_s`."""
        try:
            self._queue.put(None, timeout=1.0)
        except queue.Full:
            return
        self._thread.join(wait_s if wait_s is not None else 2 * self._timeout_s + 1)

    def _run(self) -> None:
        while True:
            alert = self._queue.get()
            if alert is None:
                return
            body = alert.body if not alert.recovered else f"recovered: {alert.body}"
            try:
                ok = bool(self._apprise.notify(body=body, title=alert.title, notify_type=NOTIFY_TYPES[alert.level]))
            except Exception as exc:  # a plugin's bug must not end the thread: the next alert is tried
                ok = False
                detail = f"{type(exc).__name__}: {exc}"
            else:
                detail = "a receiver refused it or did not answer in time"
            if ok:
                self.stats.sent += 1
            else:
                self.stats.failed += 1
                self._on_failure(f"alert {alert.title!r} not delivered: {detail}")
