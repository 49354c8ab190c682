"""notifications: channels, rules, per-printer preferences and the outbox

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

``notification_channels`` holds each user's channels (Apprise URL, signed webhook, email) with their write-only URL
and signing secret; ``notification_rules`` a channel × events × printers; ``notification_printer_preferences`` the
per-printer preferences of the compatible endpoints; ``notifications`` the outbox, one row per (subject, event,
channel), unique.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the four notification tables."""
    op.create_table(
        "notification_channels",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("signing_secret", sa.String(200), nullable=True),
        sa.Column("managed_for", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notification_channels_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_channels")),
    )
    op.create_index("ix_notification_channels_user_id", "notification_channels", ["user_id"])
    op.create_table(
        "notification_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("printer_ids", sa.JSON(), nullable=False),
        sa.Column("managed_for", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["notification_channels.id"],
            name=op.f("fk_notification_rules_channel_id_notification_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_rules")),
    )
    op.create_index("ix_notification_rules_channel_id", "notification_rules", ["channel_id"])
    op.create_table(
        "notification_printer_preferences",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("printer_id", sa.String(), nullable=False),
        sa.Column("notify_print_start", sa.Boolean(), nullable=False),
        sa.Column("notify_print_complete", sa.Boolean(), nullable=False),
        sa.Column("notify_print_failed", sa.Boolean(), nullable=False),
        sa.Column("notify_material_change", sa.Boolean(), nullable=False),
        sa.Column("notify_maintenance", sa.Boolean(), nullable=False),
        sa.Column("email_enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_printer_preferences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "printer_id", name=op.f("pk_notification_printer_preferences")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["notification_channels.id"],
            name=op.f("fk_notifications_channel_id_notification_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("subject", "event", "channel_id", name="uq_notifications_subject_event_channel"),
    )
    op.create_index("ix_notifications_state_next_attempt_at", "notifications", ["state", "next_attempt_at"])
    op.create_index("ix_notifications_channel_id_id", "notifications", ["channel_id", "id"])


def downgrade() -> None:
    """Drop the notification tables."""
    op.drop_index("ix_notifications_channel_id_id", table_name="notifications")
    op.drop_index("ix_notifications_state_next_attempt_at", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("notification_printer_preferences")
    op.drop_index("ix_notification_rules_channel_id", table_name="notification_rules")
    op.drop_table("notification_rules")
    op.drop_index("ix_notification_channels_user_id", table_name="notification_channels")
    op.drop_table("notification_channels")
