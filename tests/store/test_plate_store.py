"""A printer's plate state saved by two processes at once (both saw the print end): neither fails on the other's
row, and a later save replaces the state."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from printfleet.domain.dispatch.plates import PlateOutcome, PlateState
from printfleet.store.database import Database
from printfleet.store.dispatch import SqlPlateRepository


async def test_two_processes_saving_the_same_plate_at_once_both_succeed(database_url: str) -> None:
    ended = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    async with Database(database_url) as first, Database(database_url) as second:
        plates = [SqlPlateRepository(first), SqlPlateRepository(second)]
        for round_ in range(5):  # several rounds: the race needs both inserts in flight at once
            printer = f"x1c-{round_}"
            raised = PlateState(printer_id=printer, needs_clearing=True, since=ended, job_id=7)
            await asyncio.gather(*(repository.save(raised) for repository in plates))
            assert await plates[0].get(printer) == raised

        cleared = PlateState(printer_id="x1c-0", cleared_at=ended, cleared_by=1, outcome=PlateOutcome.GOOD)
        await plates[1].save(cleared)
        assert await plates[0].get("x1c-0") == cleared
