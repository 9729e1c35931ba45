"""The kill switch: `<run>/KILL` halts every symbol's entries while the daemon keeps running.

Halted means running: exits, protective stops, trailing stops and (live-exchange) the order sync are all
still managed, the heartbeat says `halted`, and only new entries are refused (`kill_switch`). It lasts
until the operator resumes entries or stops the daemon:
- `la stop RUN [--flatten]` writes `KILL` (`{"flatten", "source", "by"}`); with `flatten` the open
  positions are also closed at market, once (a later `la stop --flatten` on a halted run flattens then).
- `la resume RUN` writes `RESUME` (who) and removes `KILL`: the halt is lifted and `KillSwitchReleased`
  records who did it. Removing `KILL` by hand does the same, `by` "file".
A resumed run whose `KILL` is still there starts halted. The file is polled: a daemon on any platform, a
service manager or a script can set or clear it the same way.
"""

from __future__ import annotations

import contextlib
import getpass
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson

from laptop_agents.base.atomic import atomic_write_bytes
from laptop_agents.core.events import Event, ExitReason, KillSwitch, KillSwitchReleased
from laptop_agents.engine.portfolio import Portfolio

KILL_FILE = "KILL"
RESUME_FILE = "RESUME"
STOP_FILE = "STOP"
"""`la stop --terminate`'s request for the graceful stop where there is no SIGTERM to send (Windows);
the daemon removes it and stops as it would on SIGTERM."""
KILL_POLL_S = 0.25
HALT_KEY = "kill_switch"

Source = Literal["file", "cli", "dashboard"]
SOURCES: tuple[Source, ...] = ("file", "cli", "dashboard")


def operator_name() -> str:
    """Who is at the keyboard, as `user@host` (for the record of who halted or resumed a run)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers) and no LOGNAME/USER
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True, slots=True)
class KillOrder:
    flatten: bool
    source: Source
    by: str


CONTROL_MODE = 0o644
"""Control files are readable by the daemon whoever wrote them (`sudo la stop` included); they hold no secret."""


def _read_json(path: Path) -> dict[str, object] | None:
    """The file's JSON object; {} when it is empty, not an object or unreadable (the file is there: that is
    what counts); None when it does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError:  # e.g. written 0600 by another user, or caught mid-replace on Windows
        return {}
    with contextlib.suppress(orjson.JSONDecodeError):
        value = orjson.loads(data or b"{}")
        return value if isinstance(value, dict) else {}
    return {}


def read_kill(folder: Path) -> KillOrder | None:
    order = _read_json(folder / KILL_FILE)
    if order is None:
        return None
    source = _source(order.get("source"))
    return KillOrder(bool(order.get("flatten", False)), source, str(order.get("by") or source))


def _source(value: object) -> Source:
    return next((s for s in SOURCES if s == value), "file")


def set_kill(folder: Path, *, flatten: bool, by: str, source: Source = "cli") -> None:
    """What `la stop` (or the dashboard's button) does; the daemon may be running or not."""
    atomic_write_bytes(
        folder / KILL_FILE, orjson.dumps({"flatten": flatten, "source": source, "by": by}), mode=CONTROL_MODE
    )


def clear_kill(folder: Path, *, by: str, source: Source = "cli") -> bool:
    """What `la resume` does: say who, then remove the switch. False when no switch was set."""
    if not (folder / KILL_FILE).exists():
        return False
    atomic_write_bytes(folder / RESUME_FILE, orjson.dumps({"by": by, "source": source}), mode=CONTROL_MODE)
    with contextlib.suppress(FileNotFoundError):
        (folder / KILL_FILE).unlink()
    return True


def request_stop(folder: Path, *, by: str) -> None:
    atomic_write_bytes(folder / STOP_FILE, orjson.dumps({"by": by}), mode=CONTROL_MODE)


def take_stop_request(folder: Path) -> str | None:
    """Who asked for the stop through the STOP file (which is removed), or None."""
    note = _read_json(folder / STOP_FILE)
    if note is None:
        return None
    with contextlib.suppress(OSError):
        (folder / STOP_FILE).unlink()
    return str(note.get("by") or "file")


class KillSwitchWatch:
    """The daemon's side: `poll` applies a new switch, a new flatten, or the release, and says whether
    anything changed (the runner then writes its checkpoint and heartbeat)."""

    def __init__(
        self,
        folder: Path,
        portfolio: Portfolio,
        *,
        emit: Callable[[Event], None],
        ts: Callable[[], int],
        flatten: Callable[[ExitReason], object] | None = None,
    ) -> None:
        """`flatten` closes every position (default the portfolio's; a session's records it as an input)."""
        self.folder = folder
        self.portfolio = portfolio
        self._flatten_all = flatten if flatten is not None else portfolio.flatten
        self._emit = emit
        self._ts = ts
        self.applied: KillOrder | None = None
        self.flattened = False
        self._was_halted = False

    def resumed(self, checkpoint: dict[str, object]) -> None:
        """The run resumes from `checkpoint`: if it was taken under the switch and `KILL` is gone now, the
        first poll records the release (it happened while the daemon was down)."""
        symbols = checkpoint.get("symbols")
        saved = symbols.values() if isinstance(symbols, dict) else ()
        self._was_halted = any(isinstance(s, dict) and HALT_KEY in (s.get("halts") or {}) for s in saved)

    def status(self) -> dict[str, object] | None:
        """For the heartbeat: the switch in force, or None."""
        a = self.applied
        return None if a is None else {"source": a.source, "by": a.by, "flatten": a.flatten}

    def poll(self) -> bool:
        order = read_kill(self.folder)
        if order is None:
            if self.applied is None and not self._was_halted:
                return False
            self._release()
            return True
        if self.applied is None:
            self._apply(order)
            return True
        if order.flatten and not self.flattened:  # `la stop --flatten` on a run already halted
            self.applied = order
            self._emit(KillSwitch(ts=self._ts(), symbol=self.portfolio.label, source=order.source, flatten=True))
            self._flatten()
            return True
        return False

    def _apply(self, order: KillOrder) -> None:
        self.applied = order
        self._was_halted = False
        detail = f"kill switch ({order.source}, by {order.by}); la resume {self.folder.name} to trade again"
        self.portfolio.halt(HALT_KEY, detail)
        self._emit(KillSwitch(ts=self._ts(), symbol=self.portfolio.label, source=order.source, flatten=order.flatten))
        if order.flatten:
            self._flatten()

    def _flatten(self) -> None:
        """Close every open position at market (live-exchange: reduce-only orders, booked when filled)."""
        self.flattened = True
        self._flatten_all("kill")

    def _release(self) -> None:
        note = _read_json(self.folder / RESUME_FILE) or {}
        with contextlib.suppress(OSError):
            (self.folder / RESUME_FILE).unlink()
        source = _source(note.get("source"))
        by = str(note.get("by") or "file")
        for core in self.portfolio:
            core.halts.pop(HALT_KEY, None)
        self.applied = None
        self.flattened = False
        self._was_halted = False
        self._emit(KillSwitchReleased(ts=self._ts(), symbol=self.portfolio.label, by=by, source=source))
