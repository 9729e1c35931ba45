"""Validate on a Dask cluster (`--scheduler tcp://HOST:8786`, `validation.scheduler`; the optional
`distributed` extra) instead of this machine's processes.

The candles, candidates and folds go to the workers once (scattered to every worker, so a candidate's task
carries only its indices), and each worker builds its candles from them once. A task is the same function
on the same data as in a local process, so the results are the same as `--jobs 1`, in the same order. A
worker lost mid-run has its tasks re-run by the scheduler on another (a task is pure: it may run twice).
Every worker needs laptop-agents installed (the same version): a task names our functions, it does not
carry them.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from laptop_agents.core.errors import InputError, LaptopAgentsError

INSTALL = "pip install 'laptop-agents[distributed]'"
_loaded: list[str] = [""]
_lock = threading.Lock()


def _on_worker(item: Any, *, name: str, data: Any, token: str) -> Any:
    """On a worker: load the scattered data into the runner once per validation, then run one task."""
    from laptop_agents.validate import runner

    with _lock:
        if _loaded[0] != token:
            runner._init(*data)
            _loaded[0] = token
    return getattr(runner, name)(item)


def load_distributed() -> Any:
    """Dask's `distributed` (untyped: used through Any), or an `InputError` saying how to install it."""
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise InputError(f"validation.scheduler: Dask's distributed is not installed: {INSTALL}") from None


@contextlib.contextmanager
def dask_pool(address: str, payload: tuple[Any, ...]) -> Iterator[tuple[Callable[..., Iterator[Any]], int]]:
    """A mapper over the cluster at `address` (results in input order) and the number of worker threads."""
    distributed = load_distributed()
    try:
        client = distributed.Client(address, timeout="5s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise LaptopAgentsError(f"validation.scheduler {address}: no Dask scheduler answers there ({exc})") from None
    with client:
        threads = sum(client.nthreads().values())
        if not threads:
            raise LaptopAgentsError(f"validation.scheduler {address}: the cluster has no workers; start `dask worker`")
        (data,) = client.scatter([payload], broadcast=True)

        def mapper(fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
            tasks = list(items)
            futures = client.map(_on_worker, tasks, name=fn.__name__, data=data, token=data.key, pure=False, retries=1)
            try:
                for future in futures:
                    yield future.result()
            finally:
                client.cancel(futures)

        yield mapper, threads
