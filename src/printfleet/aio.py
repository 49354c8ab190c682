"""Awaiting with a time limit, without Python 3.11's lost cancellations.

On Python 3.11, ``asyncio.wait_for`` loses a cancellation that arrives while the awaited thing completes: it returns
the result and the caller's task goes on as if it had never been cancelled (CPython issue gh-86296, fixed in 3.12 by
rewriting ``wait_for`` on ``asyncio.timeout``). A loop stopped by cancelling its task (``task.cancel(); await task``)
then runs on, and whatever awaits it waits for ever: a server that never finishes stopping. :func:`within` is that
3.12 behaviour: the awaitable is awaited in the caller's own task under ``asyncio.timeout``, so a cancel is always
delivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float | None) -> T:
    """``await awaitable``, raising TimeoutError when it takes longer than ``seconds`` (None: no limit); on the
    timeout a coroutine is cancelled where it waits, and an awaited task or future is cancelled, as with
    ``asyncio.wait_for``. A cancellation of the caller is never lost (see the module docstring)."""
    async with asyncio.timeout(seconds):
        return await awaitable


async def cancelled(task: asyncio.Task[object] | None) -> None:
    """Cancel ``task`` (nothing for None) and wait until it has ended; its CancelledError is swallowed, any other
    exception it ends with is raised. The caller's own cancellation still goes through: only the task's is
    swallowed, and only once the task is done."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():  # the caller itself is being cancelled: let it through
            raise


async def all_cancelled(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel every task of ``tasks`` and wait until all have ended, whatever each ends with (a background part's
    loops, at its exit)."""
    running = list(tasks)
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
