"""Notifications: event → signed webhook delivered to a loopback receiver, at 100 events per second (target p99 ≤ 1 s).

Setup, in this process: a migrated SQLite store in a temporary directory; one admin user with three webhook channels
(each with a ``whsec_`` signing secret), each with a rule for ``print_started`` on every printer (the issue's "every
printer subscribed by 3 channels"); printfleet's own :class:`~printfleet.services.notifications.outbox.Outbox` with
its real :class:`~printfleet.notify.ChannelSender` (httpx, Standard Webhooks signatures); an aiohttp receiver on a
loopback port that answers 200 and stamps each request with ``time.perf_counter()`` on arrival.

The benchmark publishes :class:`~printfleet.domain.events.JobAutoCreated` on the event bus at 100 events/s for 10 s
(1,000 prints on 50 printers, each event its own print), as the job tracker does after a commit. Each event is
written as three outbox rows (one per channel) and sent three times. A sample is one delivery: the receiver's
arrival stamp minus the moment its event was published. Figures: p50, p99 and max of the 3,000 deliveries, and
whether every one arrived exactly once.

Run alone with ``python -m bench.notifications``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from bench import Figure, free_port, percentile
from printfleet.domain.accounts.roles import Role
from printfleet.domain.accounts.users import NewUser, User
from printfleet.domain.events import JobAutoCreated
from printfleet.domain.jobs import Job, JobStatus
from printfleet.domain.notifications.model import ChannelKind, ChannelSecrets, NotificationEvent
from printfleet.notify import ChannelSender
from printfleet.services.events import EventBus
from printfleet.services.notifications import Outbox
from printfleet.store.accounts.repository import SqlAccountRepository
from printfleet.store.database import Database, migrate
from printfleet.store.notifications import SqlNotificationRepository

RATE = 100
"""Events published per second."""
SECONDS = 10
CHANNELS = 3
PRINTERS = 50
TARGET_P99_S = 1.0
SECRET = "whsec_YmVuY2htYXJrLXNpZ25pbmcta2V5LTMyLWJ5dGVzISE="  # noqa: S105 - the benchmark's own signing key


class Receiver:
    """A loopback HTTP server answering 200 and stamping each webhook's arrival by (path, job id)."""

    def __init__(self, expected: int) -> None:
        self.port = free_port()
        self.arrivals: dict[tuple[str, int], list[float]] = {}
        self.count = 0
        self.expected = expected
        self.all_arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def _hook(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        arrived = time.perf_counter()
        self.arrivals.setdefault((request.path, int(body["data"]["job"]["id"])), []).append(arrived)
        self.count += 1
        if self.count >= self.expected:
            self.all_arrived.set()
        return web.Response(status=200)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{name}", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _job(job_id: int, now: datetime) -> Job:
    return Job(
        id=job_id,
        printer_id=f"bench-{job_id % PRINTERS:02}",
        printer_type="bambu",
        job_name=f"part {job_id}",
        filename=f"part_{job_id}.gcode.3mf",
        status=JobStatus.RUNNING,
        progress=0.0,
        created_at=now,
        start_time=now,
        end_time=None,
        duration_seconds=None,
        auto_created=True,
    )


async def _measure(directory: Path) -> tuple[list[float], int, int]:
    url = f"sqlite+aiosqlite:///{directory}/printfleet.db"
    await migrate(url)
    receiver = Receiver(RATE * SECONDS * CHANNELS)
    await receiver.start()
    sender = ChannelSender(smtp=None, timeout=5.0)
    published: dict[int, float] = {}
    try:
        async with Database(url) as database:
            accounts = SqlAccountRepository(database)
            user: User = await accounts.create_user(
                NewUser(username="bench", display_name="Bench", email=None, role=Role.ADMIN, password_hash=None),
                now=datetime.now(UTC),
            )
            repository = SqlNotificationRepository(database)
            for n in range(CHANNELS):
                channel = await repository.add_channel(
                    user_id=user.id,
                    kind=ChannelKind.WEBHOOK,
                    name=f"hook {n}",
                    secrets=ChannelSecrets(url=f"http://127.0.0.1:{receiver.port}/hook{n}", signing_secret=SECRET),
                )
                await repository.add_rule(
                    channel_id=channel.id, events=frozenset({NotificationEvent.PRINT_STARTED}), printer_ids=frozenset()
                )
            bus = EventBus()

            async def lookup(user_id: int) -> User | None:
                return user if user_id == user.id else None

            outbox = Outbox(repository=repository, bus=bus, users=lookup, sender=sender, idle_poll=1.0)
            async with outbox:
                loop = asyncio.get_running_loop()
                start = loop.time()
                for n in range(RATE * SECONDS):
                    await asyncio.sleep(max(0.0, start + n / RATE - loop.time()))
                    job_id = n + 1
                    published[job_id] = time.perf_counter()
                    bus.publish(JobAutoCreated(job=_job(job_id, datetime.now(UTC))))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(receiver.all_arrived.wait(), 60)
    finally:
        await sender.aclose()
        await receiver.stop()
    latencies = [
        arrival - published[job_id] for (_, job_id), arrivals in receiver.arrivals.items() for arrival in arrivals
    ]
    repeats = sum(len(arrivals) - 1 for arrivals in receiver.arrivals.values())
    missing = RATE * SECONDS * CHANNELS - len(receiver.arrivals)
    return latencies, repeats, missing


def run() -> list[Figure]:
    """The figures: delivery latency p50/p99/max (p99 against the target), and deliveries lost or repeated."""
    with tempfile.TemporaryDirectory() as directory:
        latencies, repeats, missing = asyncio.run(_measure(Path(directory)))
    p99 = percentile(latencies, 0.99)
    return [
        Figure(
            name=f"notifications: event → webhook delivered ({RATE}/s for {SECONDS} s, {CHANNELS} channels each)",
            measured=(
                f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
                f"max {max(latencies) * 1000:.0f} ms ({len(latencies):,} deliveries)"
            ),
            target=f"p99 ≤ {TARGET_P99_S * 1000:.0f} ms",
            passed=p99 <= TARGET_P99_S,
        ),
        Figure(
            name="notifications: deliveries lost or repeated",
            measured=f"{missing} lost, {repeats} repeated",
            target="0 and 0",
            passed=missing == 0 and repeats == 0,
        ),
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure)
