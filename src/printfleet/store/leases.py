"""Leases on PostgreSQL: :class:`SqlLeaseRepository`, the store of :class:`printfleet.services.leases.Singleton`.

Each statement is one round trip judged on the database's clock (``now()``): a process's own clock never decides
who holds a role (moonraker-auth-scale research C1: leases with a heartbeat and an epoch, not session advisory locks,
which a hung process holds for ever and pools leak).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from printfleet.domain.leases import Hold
from printfleet.store.database import Database

_ACQUIRE = text(
    """
    INSERT INTO leases (name, owner, epoch, expires_at)
    VALUES (:name, :owner, 1, now() + make_interval(secs => :ttl))
    ON CONFLICT (name) DO UPDATE
       SET owner = EXCLUDED.owner,
           epoch = leases.epoch + 1,
           expires_at = EXCLUDED.expires_at
     WHERE leases.expires_at <= now() OR leases.owner = EXCLUDED.owner
    RETURNING epoch, expires_at
    """
)
_RENEW = text(
    """
    UPDATE leases SET expires_at = now() + make_interval(secs => :ttl)
     WHERE name = :name AND owner = :owner AND epoch = :epoch AND expires_at > now()
    RETURNING expires_at
    """
)
_RELEASE = text("UPDATE leases SET expires_at = now() WHERE name = :name AND owner = :owner AND epoch = :epoch")
_HOLDERS = text("SELECT name, owner, epoch, expires_at, expires_at > now() AS live FROM leases ORDER BY name")


class SqlLeaseRepository:
    """Roles' leases in the ``leases`` table (PostgreSQL). Raises StoreUnavailable when the store fails."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def acquire(self, name: str, owner: str, ttl_s: float) -> Hold | None:
        """Take ``name`` for ``ttl_s`` seconds when it is free, expired, or already ``owner``'s (a new epoch
        each time); None when another holder's lease is live."""
        async with self._database.transaction() as session:
            row = (await session.execute(_ACQUIRE, {"name": name, "owner": owner, "ttl": ttl_s})).first()
        if row is None:
            return None
        return Hold(name=name, owner=owner, epoch=int(row.epoch), expires_at=_aware(row.expires_at))

    async def renew(self, hold: Hold, ttl_s: float) -> Hold | None:
        """Extend ``hold`` by ``ttl_s`` seconds from now; None when it is no longer held (expired, or taken by
        another holder under a new epoch)."""
        params = {"name": hold.name, "owner": hold.owner, "epoch": hold.epoch, "ttl": ttl_s}
        async with self._database.transaction() as session:
            row = (await session.execute(_RENEW, params)).first()
        if row is None:
            return None
        return Hold(name=hold.name, owner=hold.owner, epoch=hold.epoch, expires_at=_aware(row.expires_at))

    async def release(self, hold: Hold) -> None:
        """Let ``hold`` go at once (another process may take it at its next try)."""
        async with self._database.transaction() as session:
            await session.execute(_RELEASE, {"name": hold.name, "owner": hold.owner, "epoch": hold.epoch})

    async def holders(self) -> list[tuple[Hold, bool]]:
        """Every role's last holder, with whether its lease is live now."""
        async with self._database.transaction() as session:
            rows = (await session.execute(_HOLDERS)).all()
        return [
            (Hold(name=row.name, owner=row.owner, epoch=int(row.epoch), expires_at=_aware(row.expires_at)), row.live)
            for row in rows
        ]


def _aware(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
