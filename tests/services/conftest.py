"""Fixtures of the service tests: ``setup``, a QueueService on a real migrated database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from printfleet.services.events import EventBus
from printfleet.store.database import Database
from printfleet.store.jobs import SqlJobRepository
from tests.services.queue_support import PRINTING, Farm, Recorder, Setup, make_service


@pytest.fixture
async def setup(database: Database) -> AsyncIterator[Setup]:
    """Three printers p1..p3, all printing, a service (loaded, scheduler not started) and an event recorder."""
    farm = Farm({"p1": PRINTING, "p2": PRINTING, "p3": PRINTING})
    bus = EventBus()
    service = make_service(database, farm, bus)
    await service.reload()
    yield Setup(database, farm, bus, Recorder(bus), SqlJobRepository(database), service)
    await service.stop()
