"""Shared test fixtures."""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import shutil
from collections.abc import Callable, Coroutine
from typing import Any

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
        "tests/e2e/test_printer_failover.py",
        "tests/e2e/test_queue_day.py",
        "tests/e2e/test_roles_failover.py",
        "tests/e2e/test_sigkill.py",
        "tests/e2e/test_store_failure.py",
    }
)
"""Modules whose tests race real timers against restarts, outages, claim windows and poll intervals: ``make test``
runs them alone (marker ``serial``) after the parallel part, so a busy CPU never decides their outcome."""


ASYNC_TEST_TIMEOUT_S = 100.0
"""An async test still running after this many seconds is cancelled inside its own event loop and fails with the
await it was stuck at. pytest-timeout (``timeout`` in pyproject.toml, longer) stays the backstop for a blocked
thread; cancelling here instead lets the test's ``finally`` blocks and fixtures stop its servers, so one stuck test
never leaves servers running into the tests after it."""


def _bounded(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., Coroutine[Any, Any, None]]:
    @functools.wraps(test)
    async def bounded(*args: Any, **kwargs: Any) -> None:
        bound = asyncio.timeout(ASYNC_TEST_TIMEOUT_S)
        try:
            async with bound:
                await test(*args, **kwargs)
        except TimeoutError as error:
            if not bound.expired():
                raise  # a timeout of the test's own (its message says which), not this bound
            raise AssertionError(
                f"the test ran past {ASYNC_TEST_TIMEOUT_S:.0f} s and was cancelled; the traceback above shows what it "
                "was waiting for"
            ) from error

    return bounded


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of :data:`SERIAL_MODULES` ``serial``; bound every async test by :data:`ASYNC_TEST_TIMEOUT_S`."""
    root = config.rootpath
    for item in items:
        if item.path.relative_to(root).as_posix() in SERIAL_MODULES:
            item.add_marker(pytest.mark.serial)
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            item.obj = _bounded(item.obj)
