"""Notification channels, rules and preferences on SQLAlchemy (SQLite or PostgreSQL), with the outbox rows of
:mod:`printfleet.store.notification_outbox`; together they implement
:class:`~printfleet.services.notifications.ports.NotificationRepository`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import delete, select

from printfleet.domain.notifications.digest import Digest, DigestPeriod
from printfleet.domain.notifications.model import (
    Channel,
    ChannelKind,
    ChannelSecrets,
    NotificationEvent,
    PrinterPreferences,
    Rule,
)
from printfleet.domain.notifications.quiet import QuietHours
from printfleet.store.database import Database
from printfleet.store.notification_outbox import SqlOutboxRows
from printfleet.store.notification_tables import (
    NotificationChannelRow,
    NotificationPreferenceRow,
    NotificationRuleRow,
)

_CHANNEL_FIELDS = frozenset({"name", "enabled", "url", "signing_secret", "title_template", "body_template", "target"})


def _channel(row: NotificationChannelRow) -> Channel:
    return Channel(
        id=row.id,
        user_id=row.user_id,
        kind=ChannelKind(row.kind),
        name=row.name,
        enabled=row.enabled,
        has_url=bool(row.url),
        has_secret=bool(row.signing_secret),
        created_at=row.created_at.astimezone(UTC),
        managed_for=row.managed_for,
        title_template=row.title_template,
        body_template=row.body_template,
        target=row.target,
    )


def _events(values: list[str]) -> frozenset[NotificationEvent]:
    known = {event.value for event in NotificationEvent}
    return frozenset(NotificationEvent(value) for value in values if value in known)


def _quiet(row: NotificationRuleRow) -> QuietHours | None:
    if row.quiet_start is None or row.quiet_end is None or row.quiet_timezone is None:
        return None
    return QuietHours(
        start=time.fromisoformat(row.quiet_start),
        end=time.fromisoformat(row.quiet_end),
        timezone=row.quiet_timezone,
        critical_bypass=row.quiet_critical_bypass is not False,
    )


def _set_quiet(row: NotificationRuleRow, quiet: QuietHours | None) -> None:
    row.quiet_start = f"{quiet.start:%H:%M}" if quiet is not None else None
    row.quiet_end = f"{quiet.end:%H:%M}" if quiet is not None else None
    row.quiet_timezone = quiet.timezone if quiet is not None else None
    row.quiet_critical_bypass = quiet.critical_bypass if quiet is not None else None


def _digest(row: NotificationRuleRow) -> Digest | None:
    if row.digest_period is None:
        return None
    return Digest(
        period=DigestPeriod(row.digest_period),
        timezone=row.digest_timezone or "UTC",
        at=time.fromisoformat(row.digest_at) if row.digest_at else time(8, 0),
    )


def _set_digest(row: NotificationRuleRow, digest: Digest | None) -> None:
    row.digest_period = digest.period.value if digest is not None else None
    row.digest_at = f"{digest.at:%H:%M}" if digest is not None else None
    row.digest_timezone = digest.timezone if digest is not None else None


def _rule(row: NotificationRuleRow) -> Rule:
    return Rule(
        id=row.id,
        channel_id=row.channel_id,
        events=_events(row.events),
        printer_ids=frozenset(row.printer_ids),
        managed_for=row.managed_for,
        created_at=row.created_at.astimezone(UTC),
        quiet_hours=_quiet(row),
        digest=_digest(row),
    )


class SqlNotificationRepository(SqlOutboxRows):
    """The notification store: channels, rules and preferences here, the outbox rows in :class:`SqlOutboxRows`."""

    def __init__(self, database: Database, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__(database)
        self._clock = clock

    async def add_channel(
        self,
        *,
        user_id: int,
        kind: ChannelKind,
        name: str,
        secrets: ChannelSecrets,
        managed_for: str | None = None,
        title_template: str | None = None,
        body_template: str | None = None,
        target: str | None = None,
    ) -> Channel:
        """Store a new, enabled channel (with its own message templates and a discord channel's target, when
        given)."""
        row = NotificationChannelRow(
            user_id=user_id,
            kind=kind.value,
            name=name,
            enabled=True,
            url=secrets.url,
            signing_secret=secrets.signing_secret,
            managed_for=managed_for,
            created_at=self._clock(),
            title_template=title_template,
            body_template=body_template,
            target=target,
        )
        async with self._database.transaction() as session:
            session.add(row)
            await session.flush()
        return _channel(row)

    async def channels(self, user_id: int) -> list[Channel]:
        """The user's channels, oldest first."""
        async with self._database.transaction() as session:
            rows = await session.scalars(
                select(NotificationChannelRow)
                .where(NotificationChannelRow.user_id == user_id)
                .order_by(NotificationChannelRow.id)
            )
            return [_channel(row) for row in rows]

    async def channel(self, channel_id: int) -> Channel | None:
        """One channel, or None."""
        async with self._database.transaction() as session:
            row = await session.get(NotificationChannelRow, channel_id)
            return _channel(row) if row is not None else None

    async def update_channel(self, channel_id: int, **changes: Any) -> Channel:
        """Set ``name``, ``enabled``, ``url``, ``signing_secret``, ``title_template``, ``body_template`` or
        ``target``. Raises KeyError when missing."""
        unknown = set(changes) - _CHANNEL_FIELDS
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)}")
        async with self._database.transaction() as session:
            row = await session.get(NotificationChannelRow, channel_id)
            if row is None:
                raise KeyError(channel_id)
            for name, value in changes.items():
                setattr(row, name, value)
        return _channel(row)

    async def delete_channel(self, channel_id: int) -> None:
        """Delete a channel; its rules and outbox rows go with it (ON DELETE CASCADE)."""
        async with self._database.transaction() as session:
            await session.execute(delete(NotificationChannelRow).where(NotificationChannelRow.id == channel_id))

    async def channel_secrets(self, channel_id: int) -> ChannelSecrets:
        """The channel's URL and signing secret (empty when the channel is gone)."""
        async with self._database.transaction() as session:
            row = await session.get(NotificationChannelRow, channel_id)
            if row is None:
                return ChannelSecrets()
            return ChannelSecrets(url=row.url, signing_secret=row.signing_secret)

    async def add_rule(
        self,
        *,
        channel_id: int,
        events: frozenset[NotificationEvent],
        printer_ids: frozenset[str],
        managed_for: str | None = None,
        quiet_hours: QuietHours | None = None,
        digest: Digest | None = None,
    ) -> Rule:
        """Store a rule."""
        row = NotificationRuleRow(
            channel_id=channel_id,
            events=sorted(event.value for event in events),
            printer_ids=sorted(printer_ids),
            managed_for=managed_for,
            created_at=self._clock(),
        )
        _set_quiet(row, quiet_hours)
        _set_digest(row, digest)
        async with self._database.transaction() as session:
            session.add(row)
            await session.flush()
        return _rule(row)

    async def rules(self, user_id: int) -> list[Rule]:
        """Every rule of the user's channels."""
        async with self._database.transaction() as session:
            rows = await session.scalars(
                select(NotificationRuleRow)
                .join(NotificationChannelRow, NotificationChannelRow.id == NotificationRuleRow.channel_id)
                .where(NotificationChannelRow.user_id == user_id)
                .order_by(NotificationRuleRow.id)
            )
            return [_rule(row) for row in rows]

    async def update_rule(self, rule_id: int, **changes: Any) -> Rule:
        """Set ``events``, ``printer_ids``, ``quiet_hours`` or ``digest`` (None removes them). Raises KeyError when
        missing."""
        async with self._database.transaction() as session:
            row = await session.get(NotificationRuleRow, rule_id)
            if row is None:
                raise KeyError(rule_id)
            if "events" in changes:
                row.events = sorted(event.value for event in changes["events"])
            if "printer_ids" in changes:
                row.printer_ids = sorted(changes["printer_ids"])
            if "quiet_hours" in changes:
                _set_quiet(row, changes["quiet_hours"])
            if "digest" in changes:
                _set_digest(row, changes["digest"])
        return _rule(row)

    async def delete_rule(self, rule_id: int) -> None:
        """Delete a rule."""
        async with self._database.transaction() as session:
            await session.execute(delete(NotificationRuleRow).where(NotificationRuleRow.id == rule_id))

    async def active_rules(self) -> list[tuple[Rule, Channel]]:
        """Every rule of every enabled channel."""
        async with self._database.transaction() as session:
            rows = await session.execute(
                select(NotificationRuleRow, NotificationChannelRow)
                .join(NotificationChannelRow, NotificationChannelRow.id == NotificationRuleRow.channel_id)
                .where(NotificationChannelRow.enabled.is_(True))
                .order_by(NotificationRuleRow.id)
            )
            return [(_rule(rule), _channel(channel)) for rule, channel in rows.all()]

    async def preferences(self, user_id: int, printer_id: str) -> PrinterPreferences | None:
        """The stored preferences, or None."""
        async with self._database.transaction() as session:
            row = await session.get(NotificationPreferenceRow, (user_id, printer_id))
            if row is None:
                return None
            return PrinterPreferences(
                printer_id=row.printer_id,
                notify_print_start=row.notify_print_start,
                notify_print_complete=row.notify_print_complete,
                notify_print_failed=row.notify_print_failed,
                notify_material_change=row.notify_material_change,
                notify_maintenance=row.notify_maintenance,
                email_enabled=row.email_enabled,
            )

    async def save_preferences(self, user_id: int, preferences: PrinterPreferences) -> None:
        """Insert or replace the preferences."""
        async with self._database.transaction() as session:
            row = await session.get(NotificationPreferenceRow, (user_id, preferences.printer_id))
            if row is None:
                row = NotificationPreferenceRow(user_id=user_id, printer_id=preferences.printer_id)
                session.add(row)
            row.notify_print_start = preferences.notify_print_start
            row.notify_print_complete = preferences.notify_print_complete
            row.notify_print_failed = preferences.notify_print_failed
            row.notify_material_change = preferences.notify_material_change
            row.notify_maintenance = preferences.notify_maintenance
            row.email_enabled = preferences.email_enabled
            row.updated_at = self._clock()
