"""Roles and permissions: the one table that says who may do what (DESIGN.md invariant 11).

Every route of the API, the web UI and the WebSockets declares one :class:`Permission`; the table below is the only
place that maps roles to permissions, and :func:`allows` is the only check. A personal API token acts with its
owner's role, never more.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a person is to the farm, from most to least trusted.

    ``admin`` may do everything; ``operator`` runs the printers and the queue; ``member`` prints through the queue and
    sees and edits their own jobs; ``viewer`` only reads (a wall screen).
    """

    ADMIN = "admin"
    OPERATOR = "operator"
    MEMBER = "member"
    VIEWER = "viewer"


class Permission(StrEnum):
    """One thing a route does. ``*_own`` permissions are checked again against the thing's owner by the service."""

    PRINTERS_READ = "printers.read"
    PRINTERS_CONTROL = "printers.control"
    """Pause, resume, stop; mark a plate cleared."""
    PRINTERS_PRINT = "printers.print"
    """Send a library file to any ready printer and start it (a dispatch)."""
    PRINTERS_PRINT_OWN = "printers.print_own"
    """Send a print to the printer the shared queue reserved for oneself (checked against the queue)."""
    PRINTERS_MANAGE = "printers.manage"
    """Add, edit, remove printers and test their connections (they carry secrets)."""
    JOBS_READ = "jobs.read"
    """Every job, with customer fields."""
    JOBS_READ_OWN = "jobs.read_own"
    JOBS_EDIT = "jobs.edit"
    """Edit, convert or delete any job."""
    JOBS_EDIT_OWN = "jobs.edit_own"
    QUEUE_READ = "queue.read"
    QUEUE_USE = "queue.use"
    """Join, claim, cancel and re-estimate one's own entries."""
    QUEUE_MANAGE = "queue.manage"
    """Remove and move entries, hold printers, pause the queue, act on behalf of someone."""
    SETTINGS_READ = "settings.read"
    SETTINGS_MANAGE = "settings.manage"
    USERS_MANAGE = "users.manage"
    AUDIT_READ = "audit.read"
    PROFILE = "profile"
    """One's own profile: display name, password, personal API tokens, Discord link."""
    NOTIFICATIONS = "notifications"
    """One's own notification channels, rules and per-printer preferences (with their delivery history)."""
    FILES_READ = "files.read"
    """List and read the print-file library, with thumbnails."""
    FILES_MANAGE = "files.manage"
    """Upload print files to the library and delete them."""
    MATERIALS_READ = "materials.read"
    """List and read vendors, filaments and spools."""
    MATERIALS_MANAGE = "materials.manage"
    """Add, edit, archive and delete vendors, filaments and spools; record use and weighings."""
    MAINTENANCE_READ = "maintenance.read"
    """See maintenance tasks, where each printer stands and what was done."""
    MAINTENANCE_MANAGE = "maintenance.manage"
    """Add, edit and delete maintenance tasks; mark them done; set a printer's counter offset."""
    SCHEDULE_READ = "schedule.read"
    """List and read scheduled prints and the timeline."""
    SCHEDULE_OWN = "schedule.own"
    """Schedule, change and cancel one's own prints (only when ``schedule.members_may_schedule``)."""
    SCHEDULE_MANAGE = "schedule.manage"
    """Schedule prints for anyone; change, reprioritise and cancel any scheduled print."""
    ORDERS_READ = "orders.read"
    """List and read shop orders (they hold buyers' names) and product profiles."""
    ORDERS_MANAGE = "orders.manage"
    """Type in, import, schedule, ship and cancel orders; add, change and delete product profiles."""
    LIVE = "live"
    """The live event streams (``/ws``, ``/ui/ws``); what each frame may show is filtered by the other permissions."""


_VIEWER = frozenset(
    {
        Permission.PRINTERS_READ,
        Permission.JOBS_READ,
        Permission.QUEUE_READ,
        Permission.SETTINGS_READ,
        Permission.FILES_READ,
        Permission.MATERIALS_READ,
        Permission.MAINTENANCE_READ,
        Permission.SCHEDULE_READ,
        Permission.PROFILE,
        Permission.NOTIFICATIONS,
        Permission.LIVE,
    }
)
_MEMBER = frozenset(
    {
        Permission.PRINTERS_READ,
        Permission.JOBS_READ_OWN,
        Permission.JOBS_EDIT_OWN,
        Permission.QUEUE_READ,
        Permission.QUEUE_USE,
        Permission.FILES_READ,
        Permission.MATERIALS_READ,
        Permission.MAINTENANCE_READ,
        Permission.PRINTERS_PRINT_OWN,
        Permission.SCHEDULE_READ,
        Permission.SCHEDULE_OWN,
        Permission.PROFILE,
        Permission.NOTIFICATIONS,
        Permission.LIVE,
    }
)
_OPERATOR = (
    _VIEWER
    | _MEMBER
    | {
        Permission.PRINTERS_CONTROL,
        Permission.PRINTERS_PRINT,
        Permission.JOBS_EDIT,
        Permission.QUEUE_MANAGE,
        Permission.FILES_MANAGE,
        Permission.MATERIALS_MANAGE,
        Permission.MAINTENANCE_MANAGE,
        Permission.SCHEDULE_MANAGE,
        Permission.ORDERS_READ,
        Permission.ORDERS_MANAGE,
    }
)
_ADMIN = frozenset(Permission)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: _ADMIN,
    Role.OPERATOR: frozenset(_OPERATOR),
    Role.MEMBER: _MEMBER,
    Role.VIEWER: _VIEWER,
}
"""The permission table. ``admin`` has every permission, including ones added later."""


def allows(role: Role, permission: Permission) -> bool:
    """True when ``role`` may do ``permission``.

    An ``*_own`` permission is implied by its unrestricted form (an operator who may edit every job may edit their
    own).
    """
    granted = ROLE_PERMISSIONS[role]
    if permission in granted:
        return True
    wider = _WIDER.get(permission)
    return wider is not None and wider in granted


_WIDER: dict[Permission, Permission] = {
    Permission.JOBS_READ_OWN: Permission.JOBS_READ,
    Permission.JOBS_EDIT_OWN: Permission.JOBS_EDIT,
    Permission.PRINTERS_PRINT_OWN: Permission.PRINTERS_PRINT,
    Permission.SCHEDULE_OWN: Permission.SCHEDULE_MANAGE,
}


def parse_role(value: str) -> Role:
    """The role named ``value`` (case-insensitive). Raises ValueError naming the known roles."""
    try:
        return Role(value.strip().lower())
    except ValueError:
        known = ", ".join(role.value for role in Role)
        raise ValueError(f"unknown role {value!r} (known: {known})") from None
