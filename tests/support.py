"""Helpers shared by tests: service availability and free ports."""

from __future__ import annotations

import os
import socket

import pytest

REQUIRE_SERVICES = os.environ.get("PRINTFLEET_REQUIRE_SERVICES") == "1"


def need_service(available: bool, reason: str) -> None:
    """Skip the test with ``reason`` when a service is absent; fail instead when PRINTFLEET_REQUIRE_SERVICES=1."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing (PRINTFLEET_REQUIRE_SERVICES=1): {reason}")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
