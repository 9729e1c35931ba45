"""SIGINT and SIGTERM for a live session, from its first moment to its last.

Installed as soon as the session holds its run folder (before the preflight, the reconciliation and the
warm-up), not only once the runner runs. The first signal asks for the graceful stop: entries halt, the
queued candles drain, the order in flight settles, the final checkpoint is written. A signal that
arrives before the runner exists is kept, and the runner stops as soon as it starts. A second signal
escalates: the journal and the event log are already durable, so the process exits at once
(128 + the signal's number) and the next start resumes from the last checkpoint, looking up any order
whose answer it did not hear.

On Windows the event loop has no `add_signal_handler`: the handlers are installed with `signal.signal`
and hand the signal to the loop thread-safely (Ctrl-C is SIGINT, Ctrl-Break SIGBREAK); there is no
SIGTERM from outside, so `la stop --terminate` asks through the run's STOP file instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, Protocol

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGBREAK") if hasattr(signal, name))


class Stoppable(Protocol):
    def stop(self, reason: str = ..., *, halt_entries: bool = ...) -> None: ...


class SignalGate:
    def __init__(self, *, install: bool = True, flush: Callable[[], None] = lambda: None) -> None:
        self._install = install
        self._flush = flush
        self._target: Stoppable | None = None
        self.pending: str | None = None
        """The stop asked for before the runner existed."""
        self.received = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> SignalGate:
        if self._install:
            loop = self._loop = asyncio.get_running_loop()
            for sig in STOP_SIGNALS:
                try:
                    loop.add_signal_handler(sig, self._on_signal, sig)
                except NotImplementedError:  # Windows' event loops: the plain handler, handed to the loop
                    self._previous[sig] = signal.signal(sig, self._from_handler)
                except (RuntimeError, ValueError):
                    continue
        return self

    def __exit__(self, *_: object) -> None:
        if self._loop is not None:
            for sig in STOP_SIGNALS:
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    self._loop.remove_signal_handler(sig)
            for sig, previous in self._previous.items():
                signal.signal(sig, previous)
            self._previous.clear()
            self._loop = None

    def _from_handler(self, signum: int, _frame: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._on_signal, signal.Signals(signum))

    def attach(self, target: Stoppable, flush: Callable[[], None] | None = None) -> None:
        """The runner exists now: a stop asked for before is carried out at once."""
        self._target = target
        if flush is not None:
            self._flush = flush
        if self.pending is not None:
            target.stop(self.pending)

    def _on_signal(self, sig: signal.Signals) -> None:
        self.received += 1
        reason = f"signal {sig.name}"
        if self.received > 1:
            self._flush()
            print(f"la: second {sig.name}: exiting now; the next start resumes from the last checkpoint",
                  file=sys.stderr, flush=True)  # fmt: skip
            sys.stdout.flush()
            os._exit(128 + int(sig))
        if self._target is not None:
            self._target.stop(reason)
        else:
            self.pending = reason
            print(f"la: {sig.name} received while starting: the session stops as soon as it has started "
                  "(a second one exits at once)", file=sys.stderr, flush=True)  # fmt: skip
