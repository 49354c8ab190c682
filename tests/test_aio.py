"""A loop stopped by cancelling its task stops, even when the cancel arrives as the wait it is in ends."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from printfleet.aio import cancelled, within


async def test_a_cancel_arriving_as_the_wait_ends_stops_the_loop() -> None:
    woken = asyncio.Event()
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while True:
            with contextlib.suppress(TimeoutError):
                await within(woken.wait(), 10)
            woken.clear()
            rounds += 1

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)  # the loop waits for the event
    woken.set()  # the wait ends ...
    task.cancel()  # ... and the stop arrives in the same turn of the event loop
    # (asyncio.wait_for on Python 3.11 returned the event's result here and the loop ran on for ever)
    done, _ = await asyncio.wait({task}, timeout=2)
    assert task in done
    assert task.cancelled()
    assert rounds == 0


async def test_a_wait_past_its_limit_raises_timeout_error_and_cancels_what_it_awaited() -> None:
    slow = asyncio.create_task(asyncio.sleep(10))
    with pytest.raises(TimeoutError):
        await within(slow, 0.05)
    await asyncio.sleep(0)
    assert slow.cancelled()
    assert await within(asyncio.sleep(0, result="ok"), 1) == "ok"


async def test_cancelled_stops_a_task_and_waits_for_its_end_but_lets_other_failures_through() -> None:
    ended: list[str] = []

    async def loop_for_ever() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0.05)  # cleans up on its way out
            ended.append("cleaned up")

    task = asyncio.create_task(loop_for_ever())
    await asyncio.sleep(0)
    await cancelled(task)
    assert task.cancelled()
    assert ended == ["cleaned up"]  # it had ended, not only been asked to
    await cancelled(None)

    async def fails_on_cancel() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("could not stop cleanly") from None

    broken = asyncio.create_task(fails_on_cancel())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="could not stop cleanly"):
        await cancelled(broken)


async def test_cancelled_passes_the_callers_own_cancellation_on() -> None:
    slow_to_stop = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await slow_to_stop.wait()  # takes its time to end
            raise

    inner = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    stopper = asyncio.create_task(cancelled(inner))
    await asyncio.sleep(0.01)
    stopper.cancel()  # the caller itself is cancelled while it waits
    with pytest.raises(asyncio.CancelledError):
        await stopper
    assert stopper.cancelled()
    slow_to_stop.set()
    await cancelled(inner)
    assert inner.done()
