"""systemd's notify protocol (`Type=notify`), with the standard library's socket: no dependency.

Under systemd, `$NOTIFY_SOCKET` names a datagram socket (a path, or `@name` in the abstract namespace).
The daemon sends `READY=1` once warm-up and reconciliation are done (the service counts as started
only then), `WATCHDOG=1` from its event loop every half `$WATCHDOG_USEC` (a wedged loop stops them,
and systemd restarts it: `WatchdogSec=`), a `STATUS=` line with its state, and `STOPPING=1` when it
stops. Without `$NOTIFY_SOCKET` every call is a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

WATCHDOG_DEFAULT_S = 10.0
"""How often `WATCHDOG=1`/`STATUS=` go out when systemd set no watchdog (status lines only)."""


class SystemdNotifier:
    """A runner service: its task pings systemd's watchdog from the event loop."""

    name = "systemd"

    def __init__(self, environ: Mapping[str, str] | None = None, *, status: Callable[[], str] = lambda: "") -> None:
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET", "")
        usec = env.get("WATCHDOG_USEC", "")
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 else None
        self._status = status
        self._sock: socket.socket | None = None
        self.sent = 0

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *lines: str) -> bool:
        """Send `KEY=VALUE` lines in one datagram; False when not under systemd (or the send failed)."""
        if not self.address:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(False)  # a listener that does not read must never block the event loop
            self._sock.sendto("\n".join(lines).encode(), target)
        except OSError:
            return False
        self.sent += 1
        return True

    def ready(self) -> None:
        self.notify("READY=1", f"STATUS={self._status() or 'running'}")

    def tasks(self) -> dict[str, Coroutine[Any, Any, None]]:
        return {"systemd": self._pinger()} if self.enabled else {}

    async def _pinger(self) -> None:
        period = (self.watchdog_s / 2) if self.watchdog_s else WATCHDOG_DEFAULT_S
        while True:
            lines = [f"STATUS={self._status()}"]
            if self.watchdog_s:
                lines.insert(0, "WATCHDOG=1")
            self.notify(*lines)
            await asyncio.sleep(period)

    async def shutdown(self) -> None:
        self.notify("STOPPING=1", "STATUS=stopping")

    def status(self) -> dict[str, Any]:
        return {"notify_socket": self.enabled, "watchdog_s": self.watchdog_s, "sent": self.sent}

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None
