"""PostgreSQL ``LISTEN``/``NOTIFY`` as the farm's announcement channel (:class:`PgAnnouncementChannel`).

Facts this relies on (PostgreSQL 15 NOTIFY(7), each measured in the moonraker-auth-scale research C2):

- a payload must be shorter than 8,000 bytes; notifications are delivered at commit only, in commit order;
- only sessions listening *now* receive them: nothing is kept for a listener that reconnects, so after every
  reconnect the receiver re-reads what it shows (``on_connected(first=False)``);
- the listening session needs a connection of its own outside any pool: asyncpg's pool runs ``UNLISTEN *`` when a
  connection goes back, SQLAlchemy's keeps a ``LISTEN`` on a pooled connection for whoever checks it out next. The
  listener here is one asyncpg connection, opened and watched by this class;
- a listener that stops reading fills the server's notification queue (8 GB) and then every ``NOTIFY`` fails at
  commit: the callback only queues the payload, and :meth:`PgAnnouncementChannel.queue_usage` reports
  ``pg_notification_queue_usage()`` for ``/metrics``.

A dead link is found by a ``SELECT 1`` every ``watch_interval_s`` answered within ``watch_timeout_s``; the server
drops a half-open link after ``tcp_user_timeout`` (10 s, set for the session, research C1). Reconnects back off from
0.5 s doubling to 10 s.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import structlog
from sqlalchemy import text
from sqlalchemy.engine import URL

from printfleet.aio import within
from printfleet.store.database import Database

log = structlog.get_logger(__name__)

CHANNEL = "printfleet_farm"
"""The ``LISTEN`` channel every process of a farm shares."""

_NOTIFY = text("SELECT pg_notify(:channel, :payload)")
_USAGE = text("SELECT pg_notification_queue_usage()")


def asyncpg_dsn(url: URL) -> str:
    """The plain ``postgresql://`` DSN asyncpg takes for SQLAlchemy's ``postgresql+asyncpg://`` ``url``."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PgAnnouncementChannel:
    """Sends payloads with ``NOTIFY`` through ``database``'s pool and receives them on a connection of its own.

    ``send`` and ``queue_usage`` raise StoreUnavailable when the store fails (the database's own mapping)."""

    def __init__(
        self,
        database: Database,
        *,
        watch_interval_s: float = 5.0,
        watch_timeout_s: float = 5.0,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 10.0,
    ) -> None:
        self._database = database
        self._watch = (watch_interval_s, watch_timeout_s)
        self._retry = (retry_initial_s, retry_max_s)

    async def send(self, payloads: Sequence[str]) -> None:
        """``NOTIFY`` each payload (UTF-8, under 8,000 bytes) in one transaction: they arrive together, in order."""
        if not payloads:
            return
        async with self._database.transaction() as session:
            for payload in payloads:
                await session.execute(_NOTIFY, {"channel": CHANNEL, "payload": payload})

    async def queue_usage(self) -> float:
        """The fraction (0–1) of the server's notification queue in use (``pg_notification_queue_usage()``)."""
        async with self._database.transaction() as session:
            return float((await session.execute(_USAGE)).scalar_one())

    async def listen(self, on_payload: Callable[[str], None], on_connected: Callable[[bool], Awaitable[None]]) -> None:
        """Listen until cancelled: ``on_payload(payload)`` for every notification (on the event loop; it must only
        queue), ``await on_connected(first)`` once listening (``first`` False after a reconnect: notifications
        may have been missed). Connection failures are logged and retried with backoff; never raises but
        CancelledError."""
        delay, (initial, maximum) = self._retry[0], self._retry
        first = True
        while True:
            try:
                connection = await asyncpg.connect(
                    asyncpg_dsn(self._database.url),
                    server_settings={"tcp_user_timeout": "10000", "application_name": "printfleet-listener"},
                    timeout=10.0,
                )
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                log.warning("announcements.listener_unavailable", error=type(error).__name__, retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, maximum)
                continue
            try:
                await self._listen_on(connection, on_payload, on_connected, first=first)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
                log.warning("announcements.listener_lost", error=type(error).__name__, retry_in_s=initial)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(connection.close(timeout=2.0))
            first = False
            delay = initial
            await asyncio.sleep(delay)

    async def _listen_on(
        self,
        connection: asyncpg.Connection,
        on_payload: Callable[[str], None],
        on_connected: Callable[[bool], Awaitable[None]],
        *,
        first: bool,
    ) -> None:
        """Listen on ``connection`` until it fails its watch (raises) or the task is cancelled."""

        def received(_connection: Any, _pid: int, _channel: str, payload: str) -> None:
            on_payload(payload)

        await connection.add_listener(CHANNEL, received)
        log.info("announcements.listening", reconnected=not first)
        await on_connected(first)
        interval, timeout = self._watch
        while True:
            await asyncio.sleep(interval)
            await within(connection.fetchval("SELECT 1"), timeout)
