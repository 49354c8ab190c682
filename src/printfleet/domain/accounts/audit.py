"""The audit log: who did what, when, from where. Never a password or a token."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class AuditAction(StrEnum):
    """What was done. Names are part of the API (``GET /api/v1/audit?action=…``)."""

    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_OUT = "sign_out"
    USER_CREATED = "user_created"
    USER_UPDATED = "user_updated"
    ROLE_CHANGED = "role_changed"
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_RESET = "password_reset"
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    DISCORD_LINKED = "discord_linked"
    PRINTER_COMMAND = "printer_command"
    PRINTER_ADDED = "printer_added"
    PRINTER_UPDATED = "printer_updated"
    PRINTER_REMOVED = "printer_removed"
    JOB_CREATED = "job_created"
    JOB_UPDATED = "job_updated"
    JOB_DELETED = "job_deleted"
    SETTINGS_CHANGED = "settings_changed"
    QUEUE_ADMIN = "queue_admin"
    FILE_UPLOADED = "file_uploaded"
    FILE_DELETED = "file_deleted"
    PRINT_DISPATCHED = "print_dispatched"
    PLATE_CLEARED = "plate_cleared"
    MATERIAL_ADDED = "material_added"
    MATERIAL_UPDATED = "material_updated"
    MATERIAL_REMOVED = "material_removed"
    MAINTENANCE_CHANGED = "maintenance_changed"
    MAINTENANCE_DONE = "maintenance_done"
    PRINT_SCHEDULED = "print_scheduled"
    SCHEDULED_PRINT_UPDATED = "scheduled_print_updated"
    SCHEDULED_PRINT_CANCELLED = "scheduled_print_cancelled"
    ORDER_CHANGED = "order_changed"
    PRODUCT_PROFILE_CHANGED = "product_profile_changed"


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    """One thing done. ``actor_id`` None: nobody signed in (a failed sign-in, the CLI). ``target`` names what it was
    done to (``printer:x1c-1``, ``job:17``, ``user:alice``); ``detail`` holds the fields that changed (names and
    non-secret values only)."""

    action: AuditAction
    actor_id: int | None
    actor_name: str
    target: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    client: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """A stored :class:`AuditEvent` with its id and time (aware UTC)."""

    id: int
    at: datetime
    action: AuditAction
    actor_id: int | None
    actor_name: str
    target: str | None
    detail: dict[str, Any]
    client: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditFilter:
    """Which audit records to list: by actor, action, target prefix and time range (aware UTC)."""

    actor_id: int | None = None
    action: AuditAction | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None
