"""The REST API against its own OpenAPI document, fuzzed by schemathesis (a few examples per operation).

A real printfleet server on a loopback port (SQLite, like a default install) answers every case; each answer must
be no server error (5xx) and must match the document: a declared status code, content type, headers and body
schema. Generation is deterministic (``derandomize``): a failure here is reproducible, and the run stays bounded.

Every call is made as an admin (a personal API token made before the server starts), so the whole API is reached;
the few operations that could lock the fuzzer out of its own account (revoking its token, changing users, its
password, signing out) are left out of the run.

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
from printfleet.cli_users import account_service
from printfleet.config import load_settings
from printfleet.domain.accounts.roles import Role
from printfleet.domain.printer import OfflineReason, PrinterConfig, PrinterNotConnected, PrinterStatus
from printfleet.services.ports import StatusCallback
from tests.support import free_port
from tests.support_accounts import TEST_PASSWORD, fast_hasher

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
    files = Path(database_url.removeprefix("sqlite+aiosqlite:///")).parent / "files"
    return build_app(
        load_settings(None, database_url=database_url, files={"directory": str(files)}),
        factory=NeverDials,
        password_hasher=fast_hasher(),
        announce_setup=lambda _url: None,
    )


LOCKOUTS = (
    ("DELETE", "/api/v1/me/tokens/{token_id}"),
    ("PATCH", "/api/v1/users/{user_id}"),
    ("POST", "/api/v1/users/{user_id}/password"),
    ("POST", "/api/v1/me/password"),
    ("POST", "/api/v1/auth/sign-out"),
)
"""Operations left out: each could end the fuzzer's own access midway (tested in tests/api/test_accounts_api.py)."""

DIALS_OUT = (("POST", "/api/v1/notifications/channels/{channel_id}/test"),)
"""Left out because they send to a URL the fuzzer made up (tested in tests/e2e/test_notifications.py)."""

schema = schemathesis.openapi.from_dict(_app("sqlite+aiosqlite:///unused.db").openapi())  # type: ignore[attr-defined]
for _method, _path in (*LOCKOUTS, *DIALS_OUT):
    schema = schema.exclude(method=_method, path=_path)
schema.config.generation.update(modes=list(GenerationMode), max_examples=EXAMPLES_PER_OPERATION)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server, in a thread of its own (the fuzzer's client is synchronous)."""
    database = Path(tmp_path_factory.mktemp("fuzz")) / "printfleet.db"
    global TOKEN
    TOKEN = asyncio.run(_admin_token(f"sqlite+aiosqlite:///{database}"))
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


TOKEN = ""
"""The fuzzer's admin token (made by the ``base_url`` fixture)."""


async def _admin_token(database_url: str) -> str:
    """An admin and a personal API token on the (migrated) database, before the server starts."""
    async with account_service(load_settings(None, database_url=database_url)) as accounts:
        user = await accounts.create_user(username="fuzzer", password=TEST_PASSWORD, role=Role.ADMIN)
        token, _ = await accounts.create_token(user.id, name="fuzzing", actor=None)
        return token


@pytest.fixture(scope="module")
def session(base_url: str) -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {TOKEN}"
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
