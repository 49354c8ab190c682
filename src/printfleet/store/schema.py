"""The whole schema: every table module registered on one metadata, which the migrations must match."""

from __future__ import annotations

from sqlalchemy import MetaData

from printfleet.store import dispatch_tables as _dispatch_tables  # noqa: F401 - registers dispatches and plates
from printfleet.store import file_tables as _file_tables  # noqa: F401 - registers the file library table
from printfleet.store import job_previews as _job_previews  # noqa: F401 - registers the previews of printer-started prints
from printfleet.store import lease_tables as _lease_tables  # noqa: F401 - registers the roles' leases
from printfleet.store import maintenance_tables as _maintenance_tables  # noqa: F401 - registers maintenance
from printfleet.store import notification_tables as _notification_tables  # noqa: F401 - registers notifications
from printfleet.store import schedule_tables as _schedule_tables  # noqa: F401 - registers scheduled prints
from printfleet.store.accounts import tables as _accounts_tables  # noqa: F401 - registers the accounts tables
from printfleet.store.materials import tables as _materials_tables  # noqa: F401 - registers the material inventory
from printfleet.store.orders import tables as _orders_tables  # noqa: F401 - registers shop orders and profiles
from printfleet.store.tables import Base

metadata: MetaData = Base.metadata
"""Every printfleet table (core, queue, accounts, file library, dispatch, materials, notifications, maintenance,
scheduled prints, shop orders)."""
