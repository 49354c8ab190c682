"""The bot's world: a real queue service on a migrated SQLite file, a farm of printers the test controls, a manual
clock, the real bot client and command tree, and the fake Discord of :mod:`tests.bot.harness`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from printfleet.bot.client import QueueBotClient
from printfleet.bot.commands import QueueCommands
from printfleet.bot.identity import DiscordIdentities
from printfleet.bot.notifier import Notifier
from printfleet.domain.jobs import JobStatus, NewJob
from printfleet.domain.printer import PrinterConfig, PrinterKind, PrinterState, PrinterStatus
from printfleet.domain.queue_commands import RateLimit
from printfleet.services.accounts import AccountService, AccountSettings
from printfleet.services.dispatch.plates import PlateService
from printfleet.services.events import EventBus, Subscription
from printfleet.services.queue import QueueService
from printfleet.store.accounts.audit import SqlAuditRepository
from printfleet.store.accounts.repository import SqlAccountRepository
from printfleet.store.database import Database
from printfleet.store.dispatch import SqlPlateRepository
from printfleet.store.jobs import SqlJobRepository
from printfleet.store.printers import SqlPrinterRepository
from printfleet.store.queue import SqlQueueRepository
from tests.bot.harness import (
    ADMIN_ROLE_ID,
    CHANNEL_ID,
    GUILD_ID,
    OTHER_ROLE_ID,
    FakeDiscord,
    Sent,
    dispatch,
    guild_create_payload,
    interaction_payload,
    patch_http,
)
from tests.support_accounts import fast_hasher

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Member:
    """A guild member who sends commands."""

    id: int
    name: str
    roles: tuple[int, ...] = ()


ALICE = Member(100_000_000_000_000_001, "Alice", (OTHER_ROLE_ID,))
BOB = Member(100_000_000_000_000_002, "Bob")
CAROL = Member(100_000_000_000_000_003, "Carol")
ADMIN = Member(100_000_000_000_000_009, "Dana", (OTHER_ROLE_ID, ADMIN_ROLE_ID))


class Clock:
    """The queue's manual clock (aware UTC)."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Farm:
    """The live printers the queue sees; ``set`` changes one's status (and tells the queue, like monitoring)."""

    configs: dict[str, PrinterConfig]
    statuses: dict[str, PrinterStatus]

    def __call__(self) -> list[tuple[PrinterConfig, PrinterStatus]]:
        return [(self.configs[p], self.statuses[p]) for p in self.configs]


@dataclass
class World:
    """Everything a bot test drives."""

    queue: QueueService
    client: QueueBotClient
    discord: FakeDiscord
    farm: Farm
    clock: Clock
    bus: EventBus
    subscription: Subscription
    notifier: Notifier
    database: Database
    accounts: AccountService | None = None
    plates: PlateService | None = None
    sent_posts: int = field(default=0)

    async def run(self, command: str, *, user: Member = ALICE, **options: Any) -> Sent:
        """Send ``/command`` as ``user`` through the gateway parser; returns the bot's answer."""
        before = len(self.discord.replies)
        await dispatch(
            self.client,
            interaction_payload(command, user_id=user.id, user_name=user.name, roles=user.roles, options=options),
        )
        assert len(self.discord.replies) == before + 1, "expected exactly one answer"
        return self.discord.replies[-1]

    async def notify(self) -> list[Sent]:
        """Let the notifier post every queue event published so far; returns the new channel posts and DMs."""
        while self.subscription.pending():
            await self.notifier.notify(await self.subscription.get())
        new = self.discord.posts[self.sent_posts :]
        self.sent_posts = len(self.discord.posts)
        return new

    async def printer(self, printer_id: str, status: PrinterStatus) -> None:
        """The printer reports ``status`` (the monitoring service's listener call)."""
        previous = self.farm.statuses[printer_id]
        self.farm.statuses[printer_id] = status
        await self.queue.on_printer_change(self.farm.configs[printer_id], previous, status)
        if self.plates is not None:  # registered after the queue, as in the server
            await self.plates.on_printer_change(self.farm.configs[printer_id], previous, status)

    async def start_print(self, printer_id: str, *, job_name: str, remaining_seconds: int | None = None) -> int:
        """A print starts on ``printer_id``: the job tracker's running job, then the printer's report."""
        job = await SqlJobRepository(self.database).create_job(
            NewJob(
                printer_id=printer_id,
                printer_type="bambu",
                job_name=job_name,
                filename=f"{job_name}.gcode.3mf",
                status=JobStatus.RUNNING,
                created_at=self.clock(),
                start_time=self.clock(),
            )
        )
        await self.printer(
            printer_id,
            PrinterStatus(
                state=PrinterState.PRINTING, file_name=f"{job_name}.gcode.3mf", remaining_seconds=remaining_seconds
            ),
        )
        return job.id

    async def finish_print(self, printer_id: str, job_id: int, *, took: timedelta) -> None:
        """The print ends completed after ``took``: the job tracker ends the job, then the printer reports."""
        self.clock.now += took
        await SqlJobRepository(self.database).update_job(
            job_id,
            status=JobStatus.COMPLETED,
            end_time=self.clock(),
            duration_seconds=round(took.total_seconds()),
        )
        await self.printer(printer_id, PrinterStatus(state=PrinterState.FINISHED))


WorldFactory = Callable[..., AbstractAsyncContextManager[World]]


def idle() -> PrinterStatus:
    """A ready printer."""
    return PrinterStatus(state=PrinterState.IDLE)


def busy(remaining_seconds: int) -> PrinterStatus:
    """A printer printing something nobody queued, done in ``remaining_seconds``."""
    return PrinterStatus(state=PrinterState.PRINTING, remaining_seconds=remaining_seconds)


@pytest.fixture
def make_world(sqlite_database_url: str, monkeypatch: pytest.MonkeyPatch) -> WorldFactory:
    """Build a world: ``printers`` (id -> status; default two busy printers), ``rate_limit``, ``dm_offers``."""

    @asynccontextmanager
    async def build(
        *,
        printers: dict[str, PrinterStatus] | None = None,
        rate_limit: RateLimit | None = None,
        dm_offers: bool = False,
        admin_role: str = "Print Admin",
        accounts: bool = False,
        auto_provision: bool = True,
    ) -> AsyncIterator[World]:
        fake = FakeDiscord()
        patch_http(monkeypatch, fake)
        clock = Clock()
        statuses = printers if printers is not None else {"mk4": busy(3600), "x1c": busy(7200)}
        names = {"mk4": "MK4 #1", "x1c": "X1 Carbon"}
        configs = {p: PrinterConfig(id=p, name=names.get(p, p), kind=PrinterKind.BAMBU) for p in statuses}
        farm = Farm(configs, dict(statuses))
        bus = EventBus()
        subscription = bus.subscribe()
        async with Database(sqlite_database_url) as database:
            for config in configs.values():
                await SqlPrinterRepository(database).add_printer(config)
            queue = QueueService(
                repository=SqlQueueRepository(database, clock=clock),
                jobs=SqlJobRepository(database, clock=clock),
                bus=bus,
                printers=farm,
                clock=clock,
                rate_limit=rate_limit or RateLimit(capacity=1000),
                startup_grace=timedelta(0),  # the farm's printers have all reported: no start window waits for one
            )
            account_service = (
                AccountService(
                    repository=SqlAccountRepository(database),
                    audit=SqlAuditRepository(database),
                    hasher=fast_hasher(),
                    settings=AccountSettings(discord_auto_provision=auto_provision),
                )
                if accounts
                else None
            )
            identities = DiscordIdentities(account_service)
            plates = PlateService(repository=SqlPlateRepository(database), jobs=SqlJobRepository(database), bus=bus)
            commands = QueueCommands(queue, admin_role=admin_role, identities=identities, plates=plates)
            client = QueueBotClient(guild_id=GUILD_ID, commands=commands)
            async with client:  # binds the client to the test's loop, as DiscordBot does
                await client.login("test-token")  # against the fake: the bot user, then the commands synced
                client._connection.parse_guild_create(guild_create_payload())  # type: ignore[arg-type]
                notifier = Notifier(
                    client,
                    channel_id=CHANNEL_ID,
                    guild_id=GUILD_ID,
                    printer_names=lambda: {c.id: c.name for c in configs.values()},
                    dm_offers=dm_offers,
                    clock=clock,
                    identities=identities,
                )
                async with queue:
                    yield World(
                        queue=queue,
                        client=client,
                        discord=fake,
                        farm=farm,
                        clock=clock,
                        bus=bus,
                        subscription=subscription,
                        notifier=notifier,
                        database=database,
                        accounts=account_service,
                        plates=plates,
                    )

    return build


@pytest.fixture
async def world(make_world: WorldFactory) -> AsyncIterator[World]:
    """The default world: printers ``mk4`` (free in 1 h) and ``x1c`` (free in 2 h), both busy with unqueued prints."""
    async with make_world() as built:
        yield built
