"""QueueService against a real migrated database (SQLite and PostgreSQL): offers, claims, start windows, linking a
print and its job, completion, missed windows, unqueued prints, restarts, concurrency, holds, pause, rate limit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from printfleet.domain.durations import QueueInputError
from printfleet.domain.events import (
    ClaimExpired,
    ClaimOffered,
    JobUpdated,
    QueueEntryFinished,
    QueuePrintStarted,
    ReservationReleased,
    UnqueuedPrint,
)
from printfleet.domain.jobs import JobStatus, NewJob
from printfleet.domain.printer import PrinterState, PrinterStatus
from printfleet.domain.queue import EntryStatus, QueuePolicy, QueueRefusal, Refusal
from printfleet.domain.queue_commands import RateLimit
from printfleet.domain.queue_history import HistoryKind
from printfleet.services.errors import PrinterNotFound, QueueConflict, RateLimited
from printfleet.services.events import EventBus
from printfleet.store.database import Database
from printfleet.store.queue import SqlQueueRepository
from tests.services.queue_support import (
    IDLE,
    POLICY,
    PRINTING,
    T0,
    Farm,
    Recorder,
    Setup,
    end_print,
    make_service,
    start_print,
)


async def test_a_print_on_the_claimed_printer_is_linked_and_its_end_closes_the_entry(setup: Setup) -> None:
    service, farm = setup.service, setup.farm
    joined = await service.join(user_id="u1", user_name="Ada", job_name="Benchy", estimate="1h30m")
    assert joined.created
    assert joined.entry.status is EntryStatus.WAITING
    assert joined.position == 1

    await farm.set(service, "p2", IDLE)
    offer = service.view().entries[0]
    assert (offer.status, offer.printer_id, offer.deadline) == (EntryStatus.OFFERED, "p2", T0 + POLICY.claim_window)
    assert [e.entry.id for e in setup.events.of(ClaimOffered)] == [offer.id]  # type: ignore[attr-defined]

    farm.now += timedelta(minutes=3)
    claimed = await service.claim(user_id="u1")
    assert claimed.status is EntryStatus.CLAIMED
    assert claimed.deadline == farm.now + POLICY.start_window
    assert await service.claim(user_id="u1") == claimed  # a double /claim is harmless

    farm.now += timedelta(minutes=5)
    job_id = await start_print(setup, "p2", "benchy.3mf")
    linked = service.view().entries[0]
    assert (linked.status, linked.job_id, linked.started_at) == (EntryStatus.PRINTING, job_id, farm.now)
    events = setup.events.drain()
    started = [e for e in events if isinstance(e, QueuePrintStarted)]
    assert len(started) == 1
    assert started[0].remaining_seconds == 1800
    job = await setup.jobs.get_job(job_id)
    assert job is not None
    assert (job.queue_entry_id, job.queue_user_id, job.queue_user_name) == (linked.id, "u1", "Ada")
    assert any(isinstance(e, JobUpdated) and e.job.queue_entry_id == linked.id for e in events)

    await service.join(user_id="u2", user_name="Bo", job_name="Vase", estimate="45m")
    farm.now += timedelta(minutes=95)
    await end_print(setup, "p2", job_id, JobStatus.COMPLETED, minutes=95)
    done = await service.entry(linked.id)
    assert (done.status, done.outcome, done.actual_duration) == (
        EntryStatus.DONE,
        JobStatus.COMPLETED,
        timedelta(minutes=95),
    )
    events = setup.events.drain()
    assert [e.entry.id for e in events if isinstance(e, QueueEntryFinished)] == [linked.id]
    # The printer shows FINISHED: it goes to the next in line at once.
    offered = [e.entry for e in events if isinstance(e, ClaimOffered)]
    assert [(e.user_id, e.printer_id) for e in offered] == [("u2", "p2")]
    kinds = [r.kind for r in reversed(await service.events(entry_id=linked.id))]
    assert kinds == [HistoryKind.JOINED, HistoryKind.OFFERED, HistoryKind.CLAIMED, HistoryKind.LINKED, HistoryKind.DONE]
    assert [e.id for e in await service.history()] == [linked.id]


async def test_missed_claim_windows_send_the_entry_back_then_remove_it(setup: Setup) -> None:
    service, farm = setup.service, setup.farm
    first = (await service.join(user_id="u1", user_name="A", job_name="One", estimate="1h")).entry
    second = (await service.join(user_id="u2", user_name="B", job_name="Two", estimate="1h")).entry
    await farm.set(service, "p1", IDLE)
    assert service.view().entries[0].status is EntryStatus.OFFERED
    setup.events.drain()

    farm.now += POLICY.claim_window - timedelta(seconds=1)
    assert await service.run_due() == 0
    farm.now += timedelta(seconds=1)
    assert await service.run_due() == 1
    events = setup.events.drain()
    expired = [e for e in events if isinstance(e, ClaimExpired)]
    assert [(e.entry.id, e.entry.status, e.printer_id) for e in expired] == [(first.id, EntryStatus.WAITING, "p1")]
    assert [e.entry.user_id for e in events if isinstance(e, ClaimOffered)] == ["u2"]
    with pytest.raises(QueueRefusal) as refused:
        await service.claim(user_id="u1")
    assert refused.value.reason is Refusal.NOT_OFFERED
    order = [(e.id, e.status) for e in service.view().entries]
    assert order == [(second.id, EntryStatus.OFFERED), (first.id, EntryStatus.WAITING)]

    farm.now += POLICY.claim_window  # u2 misses too; u1 gets the printer again and misses a second time
    await service.run_due()
    assert (await service.entry(first.id)).status is EntryStatus.OFFERED
    farm.now += POLICY.claim_window
    await service.run_due()
    gone = await service.entry(first.id)
    assert gone.status is EntryStatus.EXPIRED
    assert gone.missed_offers == 2
    assert "missed 2 windows" in (gone.end_reason or "")


async def test_no_print_in_the_start_window_releases_the_reservation(setup: Setup) -> None:
    service, farm = setup.service, setup.farm
    entry = (await service.join(user_id="u1", user_name="A", job_name="One", estimate="1h")).entry
    await farm.set(service, "p3", IDLE)
    await service.claim(user_id="u1")
    setup.events.drain()
    farm.now += POLICY.start_window
    await service.run_due()
    released = setup.events.of(ReservationReleased)
    assert [(e.entry.id, e.printer_id, e.reason) for e in released] == [(entry.id, "p3", "start_missed")]  # type: ignore[attr-defined]
    # Back in line and, the printer being free, offered it again.
    assert (await service.entry(entry.id)).status is EntryStatus.OFFERED


async def test_a_print_nobody_claimed_withdraws_the_offer_and_is_reported(setup: Setup) -> None:
    service, farm = setup.service, setup.farm
    first = (await service.join(user_id="u1", user_name="A", job_name="One", estimate="1h")).entry
    second = (await service.join(user_id="u2", user_name="B", job_name="Two", estimate="1h")).entry
    await farm.set(service, "p1", IDLE)
    setup.events.drain()
    job_id = await start_print(setup, "p1", "someone-elses.3mf")
    events = setup.events.drain()
    unqueued = [e for e in events if isinstance(e, UnqueuedPrint)]
    assert len(unqueued) == 1
    assert (unqueued[0].printer_id, unqueued[0].file_name) == ("p1", "someone-elses.3mf")
    assert unqueued[0].job is not None
    assert unqueued[0].job.id == job_id
    assert unqueued[0].withdrawn is not None
    assert unqueued[0].withdrawn.id == first.id
    # The offered entry keeps its place, ahead of the one who joined after it.
    assert [(e.id, e.status) for e in service.view().entries] == [
        (first.id, EntryStatus.WAITING),
        (second.id, EntryStatus.WAITING),
    ]
    job = await setup.jobs.get_job(job_id)
    assert job is not None
    assert job.queue_entry_id is None
    # A pause and resume of the same print is not a second report.
    await farm.set(service, "p1", PrinterStatus(state=PrinterState.PAUSED, file_name="someone-elses.3mf"))
    await farm.set(service, "p1", PrinterStatus(state=PrinterState.PRINTING, file_name="someone-elses.3mf"))
    assert setup.events.of(UnqueuedPrint) == []


async def test_a_restart_handles_overdue_deadlines_at_once_and_rearms_the_others(setup: Setup) -> None:
    service, farm = setup.service, setup.farm
    await service.join(user_id="u1", user_name="A", job_name="One", estimate="1h")
    await service.join(user_id="u2", user_name="B", job_name="Two", estimate="1h")
    await farm.set(service, "p1", IDLE)
    farm.now += timedelta(minutes=5)
    await farm.set(service, "p2", IDLE)
    await service.stop()  # the server goes down with two offers open (deadlines 09:10 and 09:15)

    farm.now = T0 + timedelta(minutes=12)  # back up: the first offer is overdue, the second is not
    restarted = setup.build()
    setup.events.drain()
    async with restarted:
        statuses = {e.user_id: e.status for e in restarted.view().entries}
        assert statuses["u1"] is EntryStatus.OFFERED  # missed, back of the queue, and offered p1 again at once
        events = setup.events.drain()
        assert [type(e).__name__ for e in events] == ["ClaimExpired", "ClaimOffered"]
        history = [r.kind for r in await restarted.events(limit=2)]
        assert history == [HistoryKind.OFFERED, HistoryKind.CLAIM_MISSED]
        assert statuses["u2"] is EntryStatus.OFFERED
        u2 = next(e for e in restarted.view().entries if e.user_id == "u2")
        assert u2.deadline == T0 + timedelta(minutes=15)  # re-armed, untouched


async def test_the_scheduler_acts_on_a_deadline_in_real_time(database: Database) -> None:
    farm = Farm({"p1": IDLE})
    bus = EventBus()
    events = Recorder(bus)
    service = make_service(
        database, farm, bus, policy=QueuePolicy(claim_window=timedelta(seconds=1)), clock=lambda: datetime.now(UTC)
    )
    async with service:
        entry = (await service.join(user_id="u1", user_name="A", job_name="One", estimate="1h")).entry
        deadline = entry.deadline
        assert deadline is not None
        while not any(isinstance(e, ClaimExpired) for e in events.drain()):
            await asyncio.sleep(0.02)
            assert datetime.now(UTC) < deadline + timedelta(seconds=1), "the deadline was not acted on within 1 s"


async def test_a_reservation_that_ran_out_while_down_is_linked_when_the_printer_says_it_began_in_time(
    setup: Setup,
) -> None:
    service, farm = setup.service, setup.farm
    entry = (await service.join(user_id="u1", user_name="A", job_name="One", estimate="1h")).entry
    await farm.set(service, "p1", IDLE)
    await service.claim(user_id="u1")
    await service.stop()
    began = farm.now + timedelta(minutes=10)  # inside the start window, while the server was down
    farm.now += timedelta(minutes=40)
    restarted = setup.build(startup_grace=timedelta(seconds=30))
    async with restarted:
        assert (await restarted.entry(entry.id)).status is EntryStatus.CLAIMED  # waits for the printer's report
        job = await setup.jobs.create_job(
            NewJob(
                printer_id="p1",
                printer_type="bambu",
                job_name="one",
                filename="one.3mf",
                status=JobStatus.RUNNING,
                created_at=farm.now,
                start_time=began,
                auto_created=True,
            )
        )
        status = PrinterStatus(state=PrinterState.PRINTING, file_name="one.3mf", print_start_time=began)
        farm.statuses["p1"] = status
        await restarted.on_printer_change(farm.configs["p1"], None, status)
        linked = await restarted.entry(entry.id)
        assert (linked.status, linked.job_id, linked.started_at) == (EntryStatus.PRINTING, job.id, began)


@pytest.mark.parametrize("backend", ["same service", "two services"])
async def test_fifty_concurrent_claims_never_share_a_printer_or_give_a_user_two(setup: Setup, backend: str) -> None:
    service, farm = setup.service, setup.farm
    users = [f"u{i:02d}" for i in range(50)]
    for user in users:
        await service.join(user_id=user, user_name=user, job_name=f"job {user}", estimate="1h")
    for printer_id in ("p1", "p2", "p3"):
        await farm.set(service, printer_id, IDLE)
    offered = {e.user_id: e.printer_id for e in service.view().holding}
    assert len(offered) == 3
    services = [service]
    if backend == "two services":  # a second process on the same database: its own memory, the same rows
        other = setup.build()
        await other.reload()
        services.append(other)

    async def attempt(index: int) -> str:
        user = users[index % 10]  # the offered users claim several times, through both services
        try:
            entry = await services[index % len(services)].claim(user_id=user)
        except (QueueRefusal, QueueConflict) as refused:
            return f"refused {refused}"
        return f"{entry.user_id}:{entry.printer_id}:{entry.status}"

    results = await asyncio.gather(*(attempt(i) for i in range(50)))
    claimed = {r for r in results if not r.startswith("refused")}
    assert claimed == {f"{user}:{printer_id}:claimed" for user, printer_id in offered.items()}
    stored = await SqlQueueRepository(setup.database).active_entries()
    holding = [e for e in stored if e.status.holds_printer]
    assert len({e.printer_id for e in holding}) == len(holding) == 3
    assert len({e.user_id for e in holding}) == 3


async def test_a_second_process_deciding_from_a_stale_queue_is_refused_by_the_store(setup: Setup) -> None:
    service, farm = setup.service, setup.farm
    first = (await service.join(user_id="u1", user_name="A", job_name="One", estimate="1h")).entry
    await service.join(user_id="u2", user_name="B", job_name="Two", estimate="1h")
    other = setup.build()  # another process on the same database, with its own memory
    await other.reload()
    await farm.set(service, "p1", IDLE)  # process A offers p1 to u1

    # Process B has not seen that offer: from its memory p1 is free and u1 waiting, so it would offer p1 again. The
    # store refuses; the listener does not raise into the printer's connection.
    await other.on_printer_change(farm.configs["p1"], PRINTING, IDLE)
    # It re-read the store and now sees what A did; nothing was written twice.
    assert {e.user_id: e.printer_id for e in other.view().holding} == {"u1": "p1"}
    # An admin command from stale memory is refused too, instead of overwriting A's offer.
    stale = setup.build()
    await stale.reload()
    await service.claim(user_id="u1")
    with pytest.raises(QueueConflict):
        await stale.remove(first.id, by="admin")
    assert (await service.entry(first.id)).status is EntryStatus.CLAIMED
    offers = [r for r in await service.events(entry_id=first.id) if r.kind is HistoryKind.OFFERED]
    assert len(offers) == 1


async def test_bad_input_is_refused_with_a_sentence(setup: Setup) -> None:
    service = setup.service
    for estimate in ("abc", "-5", "73h", "0"):
        with pytest.raises(QueueInputError) as error:
            await service.join(user_id="u1", user_name="A", job_name="One", estimate=estimate)
        assert error.value.field == "estimate"
        assert error.value.message.endswith(".")
    with pytest.raises(QueueInputError) as error:
        await service.join(user_id="u1", user_name="A", job_name="One", estimate="1h", printer_ids=["nope"])
    assert error.value.field == "printer_ids"
    assert "p1, p2, p3" in error.value.message
    first = await service.join(user_id="u1", user_name="A", job_name="One", estimate="1h")
    again = await service.join(user_id="u1", user_name="A", job_name="One", estimate="60m")
    assert (again.created, again.entry.id) == (False, first.entry.id)  # a repeated /join is harmless
    with pytest.raises(QueueRefusal) as refused:
        await service.join(user_id="u1", user_name="A", job_name="Another", estimate="1h")
    assert refused.value.reason is Refusal.LIMIT_REACHED
    with pytest.raises(QueueRefusal) as refused:
        await service.cancel(user_id="u2", entry_id=first.entry.id)
    assert refused.value.reason is Refusal.NOT_YOURS


async def test_estimates_drive_the_waits_and_can_be_updated(setup: Setup) -> None:
    service = setup.service
    a = await service.join(user_id="u1", user_name="A", job_name="One", estimate="2h", printer_ids=["p1"])
    b = await service.join(user_id="u2", user_name="B", job_name="Two", estimate="1h", printer_ids=["p1"])
    # p1 prints for another hour (printer-reported 3600 s); then A's 2 h; B waits 3 h.
    assert a.wait == timedelta(hours=1)
    assert b.wait == timedelta(hours=3)
    assert b.position == 2
    await service.update_estimate(user_id="u1", estimate="30m")
    assert service.view().etas[b.entry.id].wait == timedelta(hours=1, minutes=30)


async def test_holds_and_pause_keep_printers_out_of_rotation(setup: Setup) -> None:
    service, farm = setup.service, setup.farm
    await service.join(user_id="u1", user_name="A", job_name="One", estimate="1h")
    await service.set_paused(True, by="admin")
    await farm.set(service, "p1", IDLE)
    assert service.view().holding == []
    await service.hold("p1", held=True, by="admin")
    await service.set_paused(False, by="admin")
    assert service.view().holding == []  # p1 is held
    await service.hold("p1", held=False, by="admin")
    assert [(e.user_id, e.printer_id) for e in service.view().holding] == [("u1", "p1")]
    await service.hold("p1", held=True)  # a hold withdraws the open offer; the entry keeps its place
    assert service.view().entries[0].status is EntryStatus.WAITING
    with pytest.raises(PrinterNotFound):
        await service.hold("nope", held=True)
    restarted = setup.build()
    await restarted.reload()
    assert [p.id for p in restarted.view().printers if p.held] == ["p1"]


async def test_the_rate_limit_refuses_a_burst(setup: Setup) -> None:
    service = setup.build(rate_limit=RateLimit(capacity=3, interval=timedelta(seconds=10)))
    for _ in range(3):
        service.check_rate("u1")
    with pytest.raises(RateLimited) as limited:
        service.check_rate("u1")
    assert 0 < limited.value.retry_after <= 10
    service.check_rate("u2")  # per user
    setup.farm.now += timedelta(seconds=10)
    service.check_rate("u1")


async def test_predict_uses_completed_prints(setup: Setup) -> None:
    service, farm = setup.service, setup.farm
    for minutes in (50, 60, 70):
        job = await start_print(setup, "p1", "Benchy v2.3mf")
        farm.now += timedelta(minutes=minutes)
        await end_print(setup, "p1", job, JobStatus.COMPLETED, minutes)
    prediction = await service.predict("benchy", printer_id="p1")
    assert prediction.overall is not None
    assert prediction.overall.count == 3
    assert prediction.suggested == timedelta(minutes=60)
    with pytest.raises(PrinterNotFound):
        await service.predict("benchy", printer_id="nope")


async def test_a_user_last_in_line_is_counted_once_against_the_limit(setup: Setup) -> None:
    service = setup.build(policy=QueuePolicy(max_active_per_user=2))
    await service.reload()
    await service.join(user_id="u1", user_name="A", job_name="One", estimate="1h")
    second = await service.join(user_id="u1", user_name="A", job_name="Two", estimate="1h")
    assert second.created
    assert second.position == 2
    with pytest.raises(QueueRefusal) as refused:
        await service.join(user_id="u1", user_name="A", job_name="Three", estimate="1h")
    assert refused.value.message.startswith("You have 2 job(s)")
