"""The notification outbox's rows on SQLAlchemy (SQLite or PostgreSQL): written, made due, delivered, paced, failed.

Rows are inserted with ``ON CONFLICT DO NOTHING`` on (subject, event, channel_id), so two writers of one announcement
(a repeated event, or two processes) leave one row. A burst is written and recorded in single statements.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from printfleet.domain.notifications.model import DeliveryState, NewMessage, NotificationEvent, OutboxMessage
from printfleet.store.database import Database
from printfleet.store.notification_tables import NotificationRow


def _message(row: NotificationRow) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        channel_id=row.channel_id,
        user_id=row.user_id,
        event=NotificationEvent(row.event),
        subject=row.subject,
        title=row.title,
        body=row.body,
        payload=dict(row.payload),
        state=DeliveryState(row.state),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at.astimezone(UTC),
        created_at=row.created_at.astimezone(UTC),
        delivered_at=row.delivered_at.astimezone(UTC) if row.delivered_at else None,
        last_error=row.last_error,
        digest=bool(row.digest),
    )


class SqlOutboxRows:
    """The outbox part of :class:`~printfleet.store.notifications.SqlNotificationRepository`. Raises
    StoreUnavailable when the store fails."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def enqueue(self, messages: list[NewMessage], *, now: datetime) -> list[OutboxMessage]:
        """Insert the rows that do not exist yet (ON CONFLICT DO NOTHING), due at once or when held until;
        returns those inserted, in the order given. One statement for all of them (a burst is one round trip)."""
        if not messages:
            return []
        insert = pg_insert if self._database.dialect_name == "postgresql" else sqlite_insert
        values = [
            {
                "channel_id": message.channel_id,
                "user_id": message.user_id,
                "event": message.event.value,
                "subject": message.subject[:200],
                "title": message.title[:300],
                "body": message.body,
                "payload": message.payload,
                "state": DeliveryState.PENDING.value,
                "attempts": 0,
                "next_attempt_at": message.held_until or now,
                "created_at": now,
                "digest": message.digest,
            }
            for message in messages
        ]
        written: list[OutboxMessage] = []
        async with self._database.transaction() as session:
            # At most 500 rows a statement: SQLite allows 32,766 bound values, a row binds 12.
            for first in range(0, len(values), 500):
                statement = (
                    insert(NotificationRow)
                    .values(values[first : first + 500])
                    .on_conflict_do_nothing(index_elements=["subject", "event", "channel_id"])
                    .returning(NotificationRow.id)
                )
                new_ids = list((await session.execute(statement)).scalars())
                if new_ids:
                    rows = await session.scalars(
                        select(NotificationRow).where(NotificationRow.id.in_(new_ids)).order_by(NotificationRow.id)
                    )
                    written.extend(_message(row) for row in rows)
        return written

    async def due(self, now: datetime, *, limit: int) -> list[OutboxMessage]:
        """Pending rows due at ``now``, oldest first."""
        async with self._database.transaction() as session:
            rows = await session.scalars(
                select(NotificationRow)
                .where(NotificationRow.state == DeliveryState.PENDING.value, NotificationRow.next_attempt_at <= now)
                .order_by(NotificationRow.next_attempt_at, NotificationRow.id)
                .limit(limit)
            )
            return [_message(row) for row in rows]

    async def next_due(self) -> datetime | None:
        """The earliest due time of a pending row."""
        async with self._database.transaction() as session:
            value = await session.scalar(
                select(func.min(NotificationRow.next_attempt_at)).where(
                    NotificationRow.state == DeliveryState.PENDING.value
                )
            )
        if value is None:
            return None
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    async def record_attempt(
        self,
        message_id: int,
        *,
        attempts: int,
        state: str,
        next_attempt_at: datetime | None,
        error: str | None,
        delivered_at: datetime | None,
    ) -> None:
        """Store one attempt's outcome (a row deleted meanwhile is ignored)."""
        async with self._database.transaction() as session:
            row = await session.get(NotificationRow, message_id)
            if row is None:
                return
            row.attempts = attempts
            row.state = str(state)
            if next_attempt_at is not None:
                row.next_attempt_at = next_attempt_at
            row.last_error = error[:300] if error else None
            row.delivered_at = delivered_at

    async def postpone(self, rows: list[tuple[int, datetime]]) -> None:
        """Make pending rows due later, in one statement, without counting an attempt: ``(row id, when)`` each."""
        if not rows:
            return
        table = cast(Table, NotificationRow.__table__)
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"), table.c.state == DeliveryState.PENDING.value)
            .values(next_attempt_at=bindparam("row_due"))
        )
        async with self._database.transaction() as session:
            connection = await session.connection()
            await connection.execute(statement, [{"row_id": row_id, "row_due": due} for row_id, due in rows])

    async def record_delivered(self, deliveries: list[tuple[int, int]], *, delivered_at: datetime) -> None:
        """Mark rows delivered, in one transaction and one statement run for every row: ``(row id, attempts)``
        each (rows deleted meanwhile are ignored)."""
        if not deliveries:
            return
        table = cast(Table, NotificationRow.__table__)
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(
                attempts=bindparam("row_attempts"),
                state=DeliveryState.DELIVERED.value,
                last_error=None,
                delivered_at=delivered_at,
            )
        )
        async with self._database.transaction() as session:
            connection = await session.connection()
            await connection.execute(
                statement, [{"row_id": row_id, "row_attempts": attempts} for row_id, attempts in deliveries]
            )

    async def history(self, channel_id: int, *, limit: int, offset: int) -> tuple[list[OutboxMessage], int]:
        """The channel's rows, newest first, and their count."""
        async with self._database.transaction() as session:
            total = await session.scalar(
                select(func.count()).select_from(NotificationRow).where(NotificationRow.channel_id == channel_id)
            )
            rows = await session.scalars(
                select(NotificationRow)
                .where(NotificationRow.channel_id == channel_id)
                .order_by(NotificationRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return [_message(row) for row in rows], int(total or 0)
