"""Fixtures: a real Moonraker + batch-mode Klippy per test (:mod:`tests.printers.moonraker.stack`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.printers.moonraker.stack import MoonrakerStack, klipper_dir
from tests.support import need_service


@pytest.fixture
def moonraker_stack(tmp_path: Path) -> Iterator[MoonrakerStack]:
    """A started Klippy + Moonraker on a free loopback port in ``tmp_path`` (about 2 s); stopped afterwards."""
    base = klipper_dir()
    need_service(
        base is not None,
        "Moonraker and Klippy are not installed: run scripts/klipper-env.sh .cache/klipper (make klipper; needs "
        "gcc and Debian's libusb-dev) or set PRINTFLEET_KLIPPER_DIR",
    )
    assert base is not None
    stack = MoonrakerStack(base=base, data=tmp_path / "printer_data")
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
