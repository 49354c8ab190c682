"""An offer withdrawn from a printer (a walk-up print on it, the printer going offline) sends its entry, which keeps
its place, straight to the next free printer: nobody first in line waits while a printer stands ready and free."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from printfleet.domain.events import ClaimOffered, QueueUpdated, UnqueuedPrint
from printfleet.domain.printer import OfflineReason, PrinterState, PrinterStatus
from printfleet.domain.queue import EntryStatus
from printfleet.domain.queue_history import HistoryKind
from tests.services.queue_support import IDLE, Setup, start_print

OFFLINE = PrinterStatus(state=PrinterState.OFFLINE, offline_reason=OfflineReason.UNREACHABLE)


async def walk_up_print(setup: Setup) -> None:
    await start_print(setup, "p1", "walk-up.3mf")


async def goes_offline(setup: Setup) -> None:
    await setup.farm.set(setup.service, "p1", OFFLINE)


@pytest.mark.parametrize("withdraw", [walk_up_print, goes_offline], ids=["walk-up print", "printer offline"])
async def test_a_withdrawn_offer_goes_to_the_next_free_printer_at_once(
    setup: Setup, withdraw: Callable[[Setup], Awaitable[None]]
) -> None:
    service, farm = setup.service, setup.farm
    first = (await service.join(user_id="u1", user_name="A", job_name="One", estimate="1h")).entry
    second = (await service.join(user_id="u2", user_name="B", job_name="Two", estimate="1h", printer_ids=["p1"])).entry
    await farm.set(service, "p1", IDLE)  # offered to u1
    await farm.set(service, "p2", IDLE)  # u1 holds p1 and u2 may use p1 only: p2 stands free
    assert {e.user_id: e.printer_id for e in service.view().holding} == {"u1": "p1"}
    setup.events.drain()

    await withdraw(setup)

    entries = {e.id: e for e in service.view().entries}
    assert (entries[first.id].status, entries[first.id].printer_id) == (EntryStatus.OFFERED, "p2")
    assert entries[first.id].deadline == farm.now + service.policy.claim_window
    assert entries[second.id].status is EntryStatus.WAITING
    events = setup.events.drain()
    offers = [(e.entry.id, e.entry.printer_id) for e in events if isinstance(e, ClaimOffered)]
    assert offers == [(first.id, "p2")]
    # The withdrawal is announced before the new offer.
    kinds = [type(e) for e in events if isinstance(e, ClaimOffered | QueueUpdated | UnqueuedPrint)]
    assert kinds.index(QueueUpdated) < kinds.index(ClaimOffered)
    history = [(r.kind, r.printer_id) for r in reversed(await service.events(entry_id=first.id))]
    assert history[-3:] == [(HistoryKind.OFFERED, "p1"), (HistoryKind.WITHDRAWN, "p1"), (HistoryKind.OFFERED, "p2")]


async def test_an_offer_of_a_printer_gone_offline_waits_first_in_line_for_it_or_another(setup: Setup) -> None:
    service, farm = setup.service, setup.farm
    first = (await service.join(user_id="u1", user_name="A", job_name="One", estimate="1h")).entry
    second = (await service.join(user_id="u2", user_name="B", job_name="Two", estimate="1h")).entry
    await farm.set(service, "p1", IDLE)
    await farm.set(service, "p1", OFFLINE)  # no other printer is free: back to waiting, keeping its place
    assert [(e.id, e.status) for e in service.view().entries] == [
        (first.id, EntryStatus.WAITING),
        (second.id, EntryStatus.WAITING),
    ]
    await farm.set(service, "p1", IDLE)  # back: offered to the first in line again
    assert {e.user_id: e.printer_id for e in service.view().holding} == {"u1": "p1"}
    # A reservation is kept while its printer is offline (it may be back before the start window ends).
    await service.claim(user_id="u1")
    await farm.set(service, "p1", OFFLINE)
    assert (await service.entry(first.id)).status is EntryStatus.CLAIMED
