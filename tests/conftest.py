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
