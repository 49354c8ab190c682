"""Printer leases on PostgreSQL: :class:`SqlPrinterLeaseRepository`, the store of
:class:`printfleet.services.farm.ownership.PrinterOwnership`, and the printers' statuses their owners share with the
other processes (``printer_live``, written fenced by the lease).

Every statement is judged on the database's clock (``now()``), never a process's (moonraker-auth-scale research C1:
a lease table with a heartbeat, ``FOR UPDATE SKIP LOCKED`` claims and a fencing epoch; the statements follow the
prototype measured there). A renewal is one statement for all of a process's printers, whatever their number.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from printfleet.domain.ownership import LeaseState
from printfleet.services.errors import StaleOwner
from printfleet.store.database import Database

_HEARTBEAT = text(
    """
    INSERT INTO farm_processes (owner, started_at, seen_at) VALUES (:owner, now(), now())
    ON CONFLICT (owner) DO UPDATE SET seen_at = now()
    """
)
_FORGET_GONE = text("DELETE FROM farm_processes WHERE seen_at < now() - make_interval(secs => :forget)")
_ALIVE = text("SELECT owner FROM farm_processes WHERE seen_at > now() - make_interval(secs => :ttl) ORDER BY owner")
_LEAVE = text("DELETE FROM farm_processes WHERE owner = :owner")
_RENEW = text(
    """
    UPDATE printer_leases SET expires_at = now() + make_interval(secs => :ttl)
     WHERE owner = :owner AND expires_at > now()
    RETURNING printer_id, epoch
    """
)
_LEASES = text("SELECT printer_id, owner, expires_at > now() AS live FROM printer_leases")
_ADD = text(
    """
    INSERT INTO printer_leases (printer_id, owner, epoch, expires_at)
    SELECT p.id, NULL, 0, now() FROM printers p WHERE p.id IN :ids
    ON CONFLICT (printer_id) DO NOTHING
    """
).bindparams(bindparam("ids", expanding=True))
_CLAIM = text(
    """
    WITH free AS (
        SELECT printer_id FROM printer_leases
         WHERE printer_id IN :ids AND (owner IS NULL OR expires_at <= now())
         FOR UPDATE SKIP LOCKED
    )
    UPDATE printer_leases AS lease
       SET owner = :owner, epoch = lease.epoch + 1, expires_at = now() + make_interval(secs => :ttl)
      FROM free
     WHERE lease.printer_id = free.printer_id
    RETURNING lease.printer_id, lease.epoch
    """
).bindparams(bindparam("ids", expanding=True))
_RELEASE = text(
    "UPDATE printer_leases SET owner = NULL, expires_at = now() WHERE owner = :owner AND printer_id IN :ids"
).bindparams(bindparam("ids", expanding=True))
_SHARE = text(
    """
    INSERT INTO printer_live (printer_id, owner, epoch, status, updated_at)
    SELECT shared.printer_id, lease.owner, lease.epoch, shared.status, now()
      FROM unnest(CAST(:ids AS text[]), CAST(:epochs AS bigint[]), CAST(:statuses AS text[]))
           AS shared(printer_id, epoch, status)
      JOIN printer_leases AS lease
        ON lease.printer_id = shared.printer_id AND lease.owner = :owner AND lease.epoch = shared.epoch
       AND lease.expires_at > now()
    ON CONFLICT (printer_id) DO UPDATE
       SET owner = EXCLUDED.owner, epoch = EXCLUDED.epoch, status = EXCLUDED.status, updated_at = EXCLUDED.updated_at
    RETURNING printer_id
    """
)
_SHARED = text(
    "SELECT printer_id, owner, epoch, status, updated_at FROM printer_live WHERE printer_id IN :ids"
).bindparams(bindparam("ids", expanding=True))
_FENCE = text(
    """
    SELECT 1 FROM printer_leases
     WHERE printer_id = :printer_id AND owner = :owner AND epoch = :epoch AND expires_at > now()
     FOR SHARE
    """
)


@dataclass(frozen=True, slots=True)
class SharedStatus:
    """A printer's status as its owner last wrote it: ``status`` is JSON text (``domain.status_wire``),
    ``updated_at`` the database's time of the write (aware UTC)."""

    owner: str
    epoch: int
    status: str
    updated_at: datetime


class SqlPrinterLeaseRepository:
    """Printers' leases and processes' heartbeats in ``printer_leases`` and ``farm_processes`` (PostgreSQL).
    Raises StoreUnavailable when the store fails."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def heartbeat(self, owner: str, ttl_s: float) -> list[str]:
        """Record that ``owner`` is alive now; the processes alive (a heartbeat within ``ttl_s`` seconds, ``owner``
        among them). Processes silent for ten lifetimes are forgotten."""
        async with self._database.transaction() as session:
            await session.execute(_HEARTBEAT, {"owner": owner})
            await session.execute(_FORGET_GONE, {"forget": ttl_s * 10})
            rows = (await session.execute(_ALIVE, {"ttl": ttl_s})).all()
        return [row.owner for row in rows]

    async def leave(self, owner: str) -> None:
        """``owner`` stops: it is no longer counted alive (the others rebalance at once)."""
        async with self._database.transaction() as session:
            await session.execute(_LEAVE, {"owner": owner})

    async def renew(self, owner: str, ttl_s: float) -> dict[str, int]:
        """Extend every live lease of ``owner`` by ``ttl_s`` seconds from now, in one statement: the printers still
        held, with their epochs. A printer missing from the answer was lost (expired, or taken by another)."""
        async with self._database.transaction() as session:
            rows = (await session.execute(_RENEW, {"owner": owner, "ttl": ttl_s})).all()
        return {row.printer_id: int(row.epoch) for row in rows}

    async def leases(self) -> dict[str, LeaseState]:
        """Every printer's lease: its owner and whether it is live now."""
        async with self._database.transaction() as session:
            rows = (await session.execute(_LEASES)).all()
        return {row.printer_id: LeaseState(owner=row.owner, live=bool(row.live)) for row in rows}

    async def claim(self, owner: str, printer_ids: Collection[str], ttl_s: float) -> dict[str, int]:
        """Take those of ``printer_ids`` that are free (never claimed, let go or expired) for ``owner``, each under
        a new epoch, for ``ttl_s`` seconds: the printers taken with their epochs. A printer another process is
        claiming at the same moment is skipped (``FOR UPDATE SKIP LOCKED``), never waited for; a printer the store
        does not know (removed meanwhile) is ignored."""
        if not printer_ids:
            return {}
        ids = sorted(printer_ids)
        async with self._database.transaction() as session:
            await session.execute(_ADD, {"ids": ids})
            rows = (await session.execute(_CLAIM, {"ids": ids, "owner": owner, "ttl": ttl_s})).all()
        return {row.printer_id: int(row.epoch) for row in rows}

    async def release(self, owner: str, printer_ids: Collection[str]) -> None:
        """Let ``owner``'s leases of ``printer_ids`` go at once (another process may claim them at its next round)."""
        if not printer_ids:
            return
        async with self._database.transaction() as session:
            await session.execute(_RELEASE, {"owner": owner, "ids": sorted(printer_ids)})

    async def share(self, owner: str, statuses: Mapping[str, tuple[int, str]]) -> set[str]:
        """Write the latest status of printers ``owner`` owns, ``{printer_id: (epoch, status JSON text)}``, in one
        statement; a row is written only while ``owner`` holds the printer's live lease under that epoch (a fenced
        write: a paused owner waking up cannot overwrite its successor's statuses). The printers written; the others
        are no longer ``owner``'s."""
        if not statuses:
            return set()
        ids = sorted(statuses)
        params = {
            "owner": owner,
            "ids": ids,
            "epochs": [statuses[printer_id][0] for printer_id in ids],
            "statuses": [statuses[printer_id][1] for printer_id in ids],
        }
        async with self._database.transaction() as session:
            rows = (await session.execute(_SHARE, params)).all()
        return {row.printer_id for row in rows}

    async def shared(self, printer_ids: Collection[str]) -> dict[str, SharedStatus]:
        """The statuses last written for ``printer_ids`` (a printer never written is missing)."""
        if not printer_ids:
            return {}
        async with self._database.transaction() as session:
            rows = (await session.execute(_SHARED, {"ids": sorted(printer_ids)})).all()
        return {
            row.printer_id: SharedStatus(
                owner=row.owner, epoch=int(row.epoch), status=row.status, updated_at=_aware(row.updated_at)
            )
            for row in rows
        }

    async def fenced(self, owned: Mapping[str, int], owner: str) -> None:
        """Check, in a transaction of its own, that ``owner`` still holds each printer of ``owned`` under the epoch
        given. Raises StaleOwner naming the first printer it does not (see :func:`check_fence`)."""
        async with self._database.transaction() as session:
            for printer_id, epoch in owned.items():
                await check_fence(session, printer_id=printer_id, owner=owner, epoch=epoch)


async def check_fence(session: AsyncSession, *, printer_id: str, owner: str, epoch: int) -> None:
    """Inside a write's transaction: refuse the write unless ``owner`` holds ``printer_id``'s live lease under
    ``epoch``. The lease row is share-locked until the transaction ends, so no other process can claim the printer
    between this check and the write's commit. Raises StaleOwner."""
    params = {"printer_id": printer_id, "owner": owner, "epoch": epoch}
    if (await session.execute(_FENCE, params)).first() is None:
        raise StaleOwner(printer_id, epoch)


def _aware(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
