"""What the materials services need from the store: the inventory (``printfleet.store.materials.repository``) and
each print's usage and cost (``printfleet.store.materials.usage``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from printfleet.domain.jobs import Job
from printfleet.domain.materials import (
    Filament,
    FilamentFields,
    FilamentQuery,
    Spool,
    SpoolFields,
    SpoolQuery,
    Vendor,
    VendorFields,
    VendorQuery,
)
from printfleet.domain.materials.costs import CostGrouping, CostRow, JobCost
from printfleet.domain.materials.tracking import UsageTracking
from printfleet.domain.materials.usage import UsageLine


class MaterialRepository(Protocol):
    """Vendors, filaments and spools. Writes that break a store rule (a duplicate ``tray_uuid``, a delete of a row
    still named) raise :class:`~printfleet.services.errors.Conflict`; ``at`` is aware UTC."""

    async def add_vendor(self, vendor: VendorFields, *, at: datetime) -> Vendor:
        """Record a vendor."""
        ...

    async def get_vendor(self, vendor_id: int) -> Vendor | None:
        """The vendor, or None."""
        ...

    async def list_vendors(self, query: VendorQuery) -> tuple[list[Vendor], int]:
        """A page of vendors and how many match."""
        ...

    async def update_vendor(self, vendor_id: int, vendor: VendorFields, *, at: datetime) -> Vendor | None:
        """Replace a vendor's fields; None for an unknown id."""
        ...

    async def delete_vendor(self, vendor_id: int) -> bool:
        """Remove a vendor; False for an unknown id."""
        ...

    async def vendor_use(self, vendor_id: int) -> int:
        """How many filaments name the vendor."""
        ...

    async def add_filament(self, filament: FilamentFields, *, at: datetime) -> Filament:
        """Record a filament."""
        ...

    async def get_filament(self, filament_id: int) -> Filament | None:
        """The filament with its vendor, or None."""
        ...

    async def list_filaments(self, query: FilamentQuery) -> tuple[list[Filament], int]:
        """A page of filaments and how many match."""
        ...

    async def update_filament(self, filament_id: int, filament: FilamentFields, *, at: datetime) -> Filament | None:
        """Replace a filament's fields; None for an unknown id."""
        ...

    async def delete_filament(self, filament_id: int) -> bool:
        """Remove a filament; False for an unknown id."""
        ...

    async def filament_use(self, filament_id: int) -> int:
        """How many spools name the filament."""
        ...

    async def add_spool(self, spool: SpoolFields, *, at: datetime) -> Spool:
        """Record a spool."""
        ...

    async def get_spool(self, spool_id: int) -> Spool | None:
        """The spool with its filament and vendor, or None."""
        ...

    async def find_spool(self, tray_uuid: str) -> Spool | None:
        """The spool with this RFID id, or None."""
        ...

    async def find_spoolman_spool(self, spoolman_id: int) -> Spool | None:
        """The spool linked to Spoolman spool ``spoolman_id``, or None."""
        ...

    async def list_spools(self, query: SpoolQuery) -> tuple[list[Spool], int]:
        """A page of spools and how many match."""
        ...

    async def modify_spool(self, spool_id: int, change: Callable[[Spool], Spool], *, at: datetime) -> Spool | None:
        """Apply ``change`` to the stored spool atomically; the spool after, or None for an unknown id."""
        ...

    async def delete_spool(self, spool_id: int) -> bool:
        """Remove a spool; False for an unknown id."""
        ...


class UsageRepository(Protocol):
    """What the usage service needs from the store (``printfleet.store.materials.usage`` implements it)."""

    async def start_tracking(self, job_id: int, printer_id: str, tracking: UsageTracking, *, at: datetime) -> bool:
        """Record a print's tracking; False when it has one already."""
        ...

    async def ended_job(self, job_id: int) -> Job | None:
        """The job, deleted or not (a deleted job's print still used filament), or None."""
        ...

    async def tracking(self, job_id: int) -> UsageTracking | None:
        """The job's tracking, or None."""
        ...

    async def save_tracking(self, job_id: int, tracking: UsageTracking, *, at: datetime) -> None:
        """Store the job's grown tracking (nothing once settled)."""
        ...

    async def open_trackings(self) -> list[tuple[int, str, UsageTracking]]:
        """(job id, printer id, tracking) of the prints still running."""
        ...

    async def unsettled_ended(self, *, limit: int = 100) -> list[int]:
        """Ended jobs whose usage is not settled yet."""
        ...

    async def settle(
        self,
        job_id: int,
        lines: Sequence[UsageLine],
        cost: JobCost,
        *,
        printer_id: str,
        outcome: str,
        ended_at: datetime,
        is_business: bool = False,
        customer: str | None = None,
        deleted: bool = False,
        report_to_spoolman: bool = False,
        at: datetime,
    ) -> bool:
        """Store usage and cost and deduct from the spools, once (with Spoolman reports for linked spools when
        ``report_to_spoolman``); False when settled before."""
        ...

    async def usage(self, job_id: int) -> tuple[list[UsageLine], JobCost | None]:
        """The job's usage lines and cost snapshot, read together."""
        ...

    async def costs_of(self, job_ids: Sequence[int]) -> dict[int, JobCost]:
        """Cost snapshots by job id."""
        ...

    async def report(
        self, *, since: datetime | None, until: datetime | None, grouping: CostGrouping, currency: str | None = None
    ) -> list[CostRow]:
        """Costs of the jobs that ended in a range, grouped."""
        ...

    async def order_costs(self, order_ids: Sequence[int], *, currency: str) -> dict[int, CostRow]:
        """What each order's prints cost, by order id."""
        ...
