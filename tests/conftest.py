"""Shared test fixtures."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.support import need_service

pytest_plugins = ["tests.database_fixtures"]


@pytest.fixture
def mosquitto_binary() -> str:
    """Path of the mosquitto broker binary (skips, or fails under PRINTFLEET_REQUIRE_SERVICES=1, when absent)."""
    path = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None
    )
    need_service(path is not None, "mosquitto is not installed (apt-get install mosquitto)")
    assert path is not None
    return path


SERIAL_MODULES = frozenset(
    {
        "tests/api/test_poll_interval.py",
        "tests/e2e/test_dispatch_bambu.py",
        "tests/e2e/test_job_tracking.py",
        "tests/e2e/test_queue_day.py",
        "tests/e2e/test_sigkill.py",
        "tests/e2e/test_store_failure.py",
    }
)
"""Modules whose tests race real timers against restarts, outages, claim windows and poll intervals: ``make test``
runs them alone (marker ``serial``) after the parallel part, so a busy CPU never decides their outcome."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of :data:`SERIAL_MODULES` ``serial``."""
    root = config.rootpath
    for item in items:
        if item.path.relative_to(root).as_posix() in SERIAL_MODULES:
            item.add_marker(pytest.mark.serial)
