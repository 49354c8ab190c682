"""ORM tables of notifications (schema: migration 0009): channels, rules, per-printer preferences, the outbox.

``uq_notifications_subject_event_channel`` makes each (subject, event, channel) one row whoever writes it, so a
repeated event never makes a second message (DESIGN.md invariant 9). Channel URLs and signing secrets are stored
as given (like printer access codes) and never leave the store except towards the delivery worker.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from printfleet.store.tables import Base


class NotificationChannelRow(Base):
    """One user's channel (``apprise``, ``webhook``, ``email``, ``discord``)."""

    __tablename__ = "notification_channels"
    __table_args__ = (Index("ix_notification_channels_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean)
    url: Mapped[str | None] = mapped_column(Text)
    signing_secret: Mapped[str | None] = mapped_column(String(200))
    managed_for: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    title_template: Mapped[str | None] = mapped_column(Text)  # migration 0020
    body_template: Mapped[str | None] = mapped_column(Text)
    target: Mapped[str | None] = mapped_column(String(40))  # migration 0021: a discord channel's dm / channel id


class NotificationRuleRow(Base):
    """A channel × events × printers (empty list: all printers), with optional quiet hours (migration 0016) and
    digest (migration 0019)."""

    __tablename__ = "notification_rules"
    __table_args__ = (Index("ix_notification_rules_channel_id", "channel_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("notification_channels.id", ondelete="CASCADE"))
    events: Mapped[list[str]] = mapped_column(JSON)
    printer_ids: Mapped[list[str]] = mapped_column(JSON)
    managed_for: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    quiet_timezone: Mapped[str | None] = mapped_column(String(64))
    quiet_critical_bypass: Mapped[bool | None] = mapped_column(Boolean)
    digest_period: Mapped[str | None] = mapped_column(String(8))
    digest_at: Mapped[str | None] = mapped_column(String(5))
    digest_timezone: Mapped[str | None] = mapped_column(String(64))


class NotificationPreferenceRow(Base):
    """A user's preferences for one printer (the planning document's fields)."""

    __tablename__ = "notification_printer_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    printer_id: Mapped[str] = mapped_column(String, primary_key=True)
    notify_print_start: Mapped[bool] = mapped_column(Boolean)
    notify_print_complete: Mapped[bool] = mapped_column(Boolean)
    notify_print_failed: Mapped[bool] = mapped_column(Boolean)
    notify_material_change: Mapped[bool] = mapped_column(Boolean)
    notify_maintenance: Mapped[bool] = mapped_column(Boolean)
    email_enabled: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime]


class NotificationRow(Base):
    """The outbox: one rendered message for one channel, with its delivery state."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("subject", "event", "channel_id", name="uq_notifications_subject_event_channel"),
        Index("ix_notifications_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_notifications_channel_id_id", "channel_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("notification_channels.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    digest: Mapped[bool] = mapped_column(Boolean, server_default=false())
