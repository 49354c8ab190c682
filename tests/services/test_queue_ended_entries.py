"""User commands naming an entry that has ended: a claim or an estimate change is refused as ``ended`` (the entry
exists: it is not "not found"), and a cancel is harmless, answering with the entry as it is."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from printfleet.domain.jobs import JobStatus
from printfleet.domain.queue import QueueEntry, QueueRefusal, Refusal
from printfleet.services.errors import QueueEntryNotFound
from tests.services.queue_support import IDLE, Setup, end_print, start_print


async def cancelled_entry(setup: Setup) -> QueueEntry:
    entry = (await setup.service.join(user_id="u1", user_name="A", job_name="One", estimate="1h")).entry
    return await setup.service.cancel(user_id="u1", entry_id=entry.id)


async def done_entry(setup: Setup) -> QueueEntry:
    service, farm = setup.service, setup.farm
    entry = (await service.join(user_id="u1", user_name="A", job_name="One", estimate="1h")).entry
    await farm.set(service, "p1", IDLE)
    await service.claim(user_id="u1")
    job_id = await start_print(setup, "p1")
    farm.now += timedelta(minutes=50)
    await end_print(setup, "p1", job_id, JobStatus.COMPLETED, minutes=50)
    return await service.entry(entry.id)


@pytest.mark.parametrize("ended", [cancelled_entry, done_entry], ids=["cancelled", "done"])
async def test_commands_on_an_ended_entry_are_refused_as_ended_and_a_cancel_is_harmless(
    setup: Setup, ended: Callable[[Setup], Awaitable[QueueEntry]]
) -> None:
    service = setup.service
    entry = await ended(setup)
    assert entry.status.is_terminal
    records = await service.events(entry_id=entry.id)
    setup.events.drain()

    with pytest.raises(QueueRefusal) as claim:
        await service.claim(user_id="u1", entry_id=entry.id)
    assert claim.value.reason is Refusal.ENDED
    with pytest.raises(QueueRefusal) as estimate:
        await service.update_estimate(user_id="u1", estimate="2h", entry_id=entry.id)
    assert estimate.value.reason is Refusal.ENDED
    with pytest.raises(QueueRefusal) as theirs:
        await service.claim(user_id="u2", entry_id=entry.id)
    assert theirs.value.reason is Refusal.NOT_YOURS

    again = await service.cancel(user_id="u1", entry_id=entry.id)
    assert again == entry  # returned as it is, how it ended included
    assert await service.events(entry_id=entry.id) == records  # nothing written
    assert setup.events.drain() == []  # nothing announced
    with pytest.raises(QueueRefusal) as not_hers:
        await service.cancel(user_id="u2", entry_id=entry.id)
    assert not_hers.value.reason is Refusal.NOT_YOURS
    assert (await service.entry(entry.id)).status is entry.status

    for entry_id in (entry.id + 1000, 2**63):  # an entry that never was is still not found
        with pytest.raises(QueueEntryNotFound):
            await service.cancel(user_id="u1", entry_id=entry_id)
