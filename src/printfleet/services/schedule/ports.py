"""What the scheduler needs from the store (implemented in ``printfleet.store.schedule``)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Protocol

from printfleet.domain.schedule.model import NewScheduledPrint, ScheduledPrint, ScheduleQuery, ScheduleStatus


class ScheduleRepository(Protocol):
    """Stored scheduled prints. Raises StoreUnavailable (services.errors) when the store fails."""

    async def add_many(self, rows: Sequence[NewScheduledPrint]) -> list[ScheduledPrint]:
        """Store ``rows`` (status ``queued``) in one transaction; the stored prints in the same order."""
        ...

    async def get(self, print_id: int) -> ScheduledPrint | None:
        """One print, or None."""
        ...

    async def get_many(self, print_ids: Collection[int]) -> dict[int, ScheduledPrint]:
        """The prints with these ids, by id (missing ones left out)."""
        ...

    async def list_prints(self, query: ScheduleQuery) -> tuple[list[ScheduledPrint], int]:
        """A page of prints matching ``query`` (oldest first) and how many match in all."""
        ...

    async def unfinished(self) -> list[ScheduledPrint]:
        """Every print not yet final (queued, dispatching, started), oldest first."""
        ...

    async def dependants(self, print_id: int) -> list[ScheduledPrint]:
        """The prints whose ``depends_on`` is ``print_id``."""
        ...

    async def update(
        self, print_id: int, *, expect: Collection[ScheduleStatus] | None = None, **changes: Any
    ) -> ScheduledPrint | None:
        """Set columns and ``updated_at``, only while the print's stored status is in ``expect`` (when given): the
        updated print, or None when it was in another status (someone else changed it first). Raises KeyError when
        there is no such print."""
        ...

    async def claim(self, print_id: int, *, printer_id: str, now: datetime) -> ScheduledPrint | None:
        """Move a ``queued`` print to ``dispatching`` on ``printer_id`` (one more attempt) in one conditional
        update: the claimed print, or None when it was no longer queued or the printer already has a print being
        sent (the store's unique index). Whoever gets the row sends it; nobody else can."""
        ...
