"""Cancelling a task and waiting for it without swallowing the caller's own cancellation.

`with suppress(CancelledError): await task` also swallows a cancellation aimed at the *caller* if it
arrives during that await: the caller then runs on as if nothing happened (a stop that never finishes).
`cancel_and_wait` re-raises when the current task itself is being cancelled (Python 3.11's
`Task.cancelling()`).
"""

from __future__ import annotations

import asyncio


async def cancel_and_wait(task: asyncio.Future[None]) -> None:
    task.cancel()
    await wait_settled(task)


async def wait_settled(task: asyncio.Future[None]) -> None:
    """Wait for `task` to end however it ends (a failure is read and reported where it happened), but let
    a cancellation of the waiter itself through."""
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    except Exception:
        return
