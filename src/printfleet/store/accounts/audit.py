"""The audit log repository: :class:`SqlAuditRepository`."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, func, select

from printfleet.domain.accounts.audit import AuditAction, AuditEvent, AuditFilter, AuditRecord
from printfleet.store.accounts.tables import AuditRow
from printfleet.store.database import Database


def _record(row: AuditRow) -> AuditRecord:
    return AuditRecord(
        id=row.id,
        at=row.at.astimezone(UTC),
        action=AuditAction(row.action),
        actor_id=row.actor_id,
        actor_name=row.actor_name,
        target=row.target,
        detail=dict(row.detail or {}),
        client=row.client,
    )


def _conditions(query: AuditFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.actor_id is not None:
        conditions.append(AuditRow.actor_id == query.actor_id)
    if query.action is not None:
        conditions.append(AuditRow.action == query.action.value)
    if query.target is not None:
        conditions.append(AuditRow.target == query.target)
    if query.since is not None:
        conditions.append(AuditRow.at >= query.since)
    if query.until is not None:
        conditions.append(AuditRow.at < query.until)
    return conditions


class SqlAuditRepository:
    """Appends audit records and lists them, newest first."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def add(self, event: AuditEvent, *, at: datetime) -> None:
        """Append one record."""
        async with self._database.transaction() as session:
            session.add(
                AuditRow(
                    at=at,
                    action=event.action.value,
                    actor_id=event.actor_id,
                    actor_name=event.actor_name[:100],
                    target=None if event.target is None else event.target[:200],
                    detail=event.detail,
                    client=None if event.client is None else event.client[:64],
                )
            )

    async def list(self, query: AuditFilter, *, limit: int, offset: int) -> tuple[list[AuditRecord], int]:
        """A page of the records matching ``query``, newest first, and how many match in all."""
        conditions = _conditions(query)
        async with self._database.transaction() as session:
            total = await session.scalar(select(func.count()).select_from(AuditRow).where(*conditions))
            rows = await session.scalars(
                select(AuditRow).where(*conditions).order_by(AuditRow.id.desc()).limit(limit).offset(offset)
            )
            return [_record(row) for row in rows], int(total or 0)
