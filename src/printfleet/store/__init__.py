"""Persistence: SQLAlchemy 2 async tables, repositories implementing the service ports, Alembic migrations."""

from printfleet.store.database import DEFAULT_URL, Database, migrate, migrate_sync
from printfleet.store.printers import SqlPrinterRepository, SqlSettingsRepository

__all__ = [
    "DEFAULT_URL",
    "Database",
    "SqlPrinterRepository",
    "SqlSettingsRepository",
    "migrate",
    "migrate_sync",
]
