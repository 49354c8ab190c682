"""The REST API against its own OpenAPI document, fuzzed by schemathesis (a few examples per operation).

A real printfleet server on a loopback port (SQLite, like a default install) answers every case; each answer must
be no server error (5xx) and must match the document: a declared status code, content type, headers and body
schema. Generation is deterministic (``derandomize``): a failure here is reproducible, and the run stays bounded.

No network beyond this machine: the fuzzer makes up printer hosts and URLs, and the add and connection-test routes
would dial them, so the server runs with a connection factory that never dials (every printer reports
``offline``/``unreachable`` at once and refuses commands).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from printfleet.app import build_app
from printfleet.config import load_settings
from printfleet.domain.printer import OfflineReason, PrinterConfig, PrinterNotConnected, PrinterStatus
from printfleet.services.ports import StatusCallback
from tests.support import free_port

EXAMPLES_PER_OPERATION = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


class NeverDials:
    """A printer connection that opens no socket: it reports ``offline``/``unreachable`` and refuses commands."""

    def __init__(self, config: PrinterConfig, sink: StatusCallback) -> None:
        self.config = config
        self._sink = sink
        self._status = PrinterStatus.offline(OfflineReason.UNREACHABLE, detail="no network in this test")

    @property
    def status(self) -> PrinterStatus:
        return self._status

    async def run(self) -> None:
        await self._sink(self.config.id, self._status)
        await asyncio.Event().wait()

    async def pause(self) -> None:
        raise PrinterNotConnected(self.config.id, "not connected")

    async def resume(self) -> None:
        raise PrinterNotConnected(self.config.id, "not connected")

    async def stop(self) -> None:
        raise PrinterNotConnected(self.config.id, "not connected")


def _app(database_url: str) -> object:
    return build_app(load_settings(None, database_url=database_url), factory=NeverDials)


schema = schemathesis.openapi.from_dict(_app("sqlite+aiosqlite:///unused.db").openapi())  # type: ignore[attr-defined]
schema.config.generation.update(modes=list(GenerationMode), max_examples=EXAMPLES_PER_OPERATION)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server, in a thread of its own (the fuzzer's client is synchronous)."""
    database = Path(tmp_path_factory.mktemp("fuzz")) / "printfleet.db"
    port = free_port()
    config = uvicorn.Config(
        _app(f"sqlite+aiosqlite:///{database}"), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fuzzed-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(15)


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(
    case: schemathesis.Case, base_url: str, session: requests.Session
) -> None:
    case.call_and_validate(base_url=base_url, session=session, checks=CHECKS, timeout=30)
