"""Scheduled prints in the store: copies stored as rows, and a claim that only one process can win."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from printfleet.domain.schedule.model import PrintPlan, ScheduleQuery, ScheduleStatus, Target, expand_copies
from printfleet.store.database import Database
from printfleet.store.schedule import SqlScheduleRepository

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


async def _store(database: Database, plan: PrintPlan) -> list[int]:
    rows = await SqlScheduleRepository(database).add_many(expand_copies(plan, created_by=3, created_at=NOW))
    return [row.id for row in rows]


async def test_copies_are_stored_queued_with_their_target_and_read_back(database: Database) -> None:
    repository = SqlScheduleRepository(database)
    ids = await _store(database, PrintPlan(job_name="Hook", file_id=1, copies=2, target=Target(tags=("petg",))))
    found, total = await repository.list_prints(ScheduleQuery(statuses=frozenset({ScheduleStatus.QUEUED})))
    assert total == 2
    assert [p.id for p in found] == ids
    assert found[0].target == Target(tags=("petg",))
    assert found[0].created_at == NOW


async def test_two_schedulers_claiming_one_print_at_once_let_only_one_send_it(database: Database) -> None:
    [print_id] = await _store(database, PrintPlan(job_name="Hook", file_id=1))
    first, second = SqlScheduleRepository(database), SqlScheduleRepository(database)
    claims = await asyncio.gather(
        first.claim(print_id, printer_id="a", now=NOW), second.claim(print_id, printer_id="b", now=NOW)
    )
    won = [claim for claim in claims if claim is not None]
    assert len(won) == 1
    assert won[0].status is ScheduleStatus.DISPATCHING
    assert won[0].attempts == 1


async def test_a_printer_with_a_print_being_sent_cannot_be_claimed_for_another(database: Database) -> None:
    repository = SqlScheduleRepository(database)
    one, two = await _store(database, PrintPlan(job_name="Hook", file_id=1, copies=2))
    assert await repository.claim(one, printer_id="a", now=NOW) is not None
    assert await repository.claim(two, printer_id="a", now=NOW) is None
    waiting = await repository.get(two)
    assert waiting is not None
    assert waiting.status is ScheduleStatus.QUEUED
    assert await repository.claim(two, printer_id="b", now=NOW) is not None


async def test_a_conditional_update_refuses_a_print_someone_else_moved(database: Database) -> None:
    repository = SqlScheduleRepository(database)
    [print_id] = await _store(database, PrintPlan(job_name="Hook", file_id=1))
    cancelled = await repository.update(print_id, expect={ScheduleStatus.QUEUED}, status=ScheduleStatus.CANCELLED)
    assert cancelled is not None
    assert await repository.update(print_id, expect={ScheduleStatus.QUEUED}, status=ScheduleStatus.STARTED) is None
