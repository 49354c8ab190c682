"""The outbox: announcements become stored messages, and a delivery worker sends them after commit.

Writing: the outbox subscribes to the event bus. Services publish an event only after the change committed
(DESIGN.md invariant 7), so a message is never written — let alone sent — for a change that did not happen. Each
announcement is matched against every enabled channel's rules, rendered, and written as one row per channel; the
store's unique (subject, event, channel) makes a repeated event a no-op (invariant 9).

A row is due at once, at the end of its rules' quiet hours, or at their digest's next sending moment; a channel's
digest rows due together are sent as one message.

Delivering: the worker sends due rows (:class:`~printfleet.services.notifications.delivery.Sending`), marks each
delivered, or schedules the next attempt with exponential backoff
(:class:`~printfleet.domain.notifications.model.Backoff`) until ``give_up_after``, then marks it failed. Rows still
pending at start-up are sent then (a restart between commit and send still sends). The limits of this design —
where "the same transaction" holds and where it does not — are in docs/notifications.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType

import structlog

from printfleet.aio import within
from printfleet.domain.accounts.roles import Permission, allows
from printfleet.domain.accounts.users import User
from printfleet.domain.events import DomainEvent
from printfleet.domain.jobs import Job, JobStatus
from printfleet.domain.notifications.announce import (
    Announcement,
    announcements,
    job_announcement,
    may_announce,
    start_announcement,
)
from printfleet.domain.notifications.model import (
    Backoff,
    Channel,
    ChannelKind,
    NewMessage,
    NotificationEvent,
    OutboxMessage,
)
from printfleet.domain.queue_commands import RateLimit
from printfleet.services.errors import StoreUnavailable
from printfleet.services.events import EventBus, Subscription
from printfleet.services.notifications.delivery import Sending, UserLookup
from printfleet.services.notifications.ports import NotificationRepository, Sender
from printfleet.services.notifications.templates import CustomTemplates, InvalidTemplate, Templates, context

log = structlog.get_logger("printfleet.notifications")

WRITE_BATCH = 200
"""The most events written in one transaction (the rest of a burst goes in the next ones)."""

RecentJobs = Callable[[datetime], Awaitable[list[Job]]]
"""Jobs that may have started or ended at or after the given moment (a superset is fine)."""


REMEMBERED_ANNOUNCEMENTS = 10_000
"""How many written announcements (event, subject) the outbox remembers so as not to write them again."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def may_hear(user: User, announcement: Announcement) -> bool:
    """Whether ``user`` may be told about ``announcement``: a queue event only to the member concerned; a material
    event to whoever may read materials (``materials.read``); a task falling due to whoever may read maintenance
    (``maintenance.read``); a printer's error or outage to whoever may read printers (``printers.read``); a shop to
    connect again to whoever manages orders (``orders.manage``); a job
    event to whoever may read every job (``jobs.read``) and to the job's own person (queue member or requester)."""
    if user.disabled:
        return False
    if announcement.event.queue_only:
        return announcement.queue_user_id == user.queue_user_id
    if announcement.maintenance is not None:
        return allows(user.role, Permission.MAINTENANCE_READ)
    if announcement.slot is not None:
        return allows(user.role, Permission.MATERIALS_READ)
    if announcement.error is not None or announcement.offline is not None:
        return allows(user.role, Permission.PRINTERS_READ)
    if announcement.shop is not None:
        return allows(user.role, Permission.ORDERS_MANAGE)
    job = announcement.job
    if job is None:
        return False
    if allows(user.role, Permission.JOBS_READ):
        return True
    return job.queue_user_id == user.queue_user_id or job.requested_by == user.id


def _earliest(holds: list[datetime | None]) -> datetime | None:
    """When a channel whose matching rules hold a message until these times hears it: at once when any rule does
    not hold it (None), else at the earliest end of their quiet hours."""
    if any(hold is None for hold in holds):
        return None
    return min(hold for hold in holds if hold is not None)


class Outbox:
    """Writes outbox rows for published events and delivers them. Use as an async context manager: entering
    subscribes to the bus and starts the writer and the worker; leaving writes what is still buffered, lets sends
    in flight finish (at most ``send_timeout`` seconds) and stops.

    ``gated``: the worker delivers only inside :meth:`delivering` (several processes on one PostgreSQL: the process
    holding the ``notifications.delivery`` lease delivers; every process writes the rows of the events it sees).
    ``rate_limits``: the pace of each channel of a kind (see :class:`~printfleet.services.notifications.delivery.
    Sending`)."""

    def __init__(
        self,
        *,
        repository: NotificationRepository,
        bus: EventBus,
        users: UserLookup,
        sender: Sender,
        templates: Templates | None = None,
        backoff: Backoff | None = None,
        base_url: str | None = None,
        send_timeout: float = 15.0,
        batch_size: int = 50,
        concurrency: int = 8,
        idle_poll: float = 5.0,
        recent_jobs: RecentJobs | None = None,
        recovery_window: float = 3600.0,
        clock: Callable[[], datetime] = _utcnow,
        gated: bool = False,
        rate_limits: Mapping[ChannelKind, RateLimit] | None = None,
    ) -> None:
        self._repository = repository
        self._delivering = not gated
        self._recent_jobs = recent_jobs
        self._recovery_window = recovery_window
        self._bus = bus
        self._users = users
        self._templates = templates or Templates()
        self._custom_templates: dict[tuple[int, str | None, str | None], CustomTemplates | None] = {}
        self._base_url = base_url
        self._send_timeout = send_timeout
        self._batch_size = batch_size
        self._sending = Sending(
            repository=repository,
            users=users,
            sender=sender,
            backoff=backoff or Backoff(),
            send_timeout=send_timeout,
            concurrency=concurrency,
            clock=clock,
            rate_limits=rate_limits,
        )
        self._idle_poll = idle_poll
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._written: OrderedDict[tuple[NotificationEvent, str], None] = OrderedDict()
        self._subscription: Subscription | None = None
        self._writer: asyncio.Task[None] | None = None
        self._worker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Outbox:
        self._subscription = self._bus.subscribe(maxsize=10_000, accepts=may_announce)
        try:
            await self.recover()
        except StoreUnavailable as error:
            log.error("notifications.recovery_failed", error=error.error)
        self._writer = asyncio.create_task(self._write_loop(), name="notifications-writer")
        self._worker = asyncio.create_task(self._deliver_loop(), name="notifications-worker")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        writer, worker, subscription = self._writer, self._worker, self._subscription
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        if subscription is not None:
            while subscription.pending():
                await self._write_event_safely(await subscription.get())
            subscription.close()
        self._stopping.set()
        self._wake.set()
        if worker is not None:
            try:
                await within(worker, self._send_timeout + 5)
            except TimeoutError:
                log.warning("notifications.stop_timeout")

    # -- writing ---------------------------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        assert self._subscription is not None
        while True:
            events = [await self._subscription.get()]
            # A burst (50 printers finishing at once) is written together: one read of the rules, one transaction.
            while self._subscription.pending() and len(events) < WRITE_BATCH:
                events.append(await self._subscription.get())
            writing = asyncio.ensure_future(self._write_events_safely(events))
            try:
                await asyncio.shield(writing)
            except asyncio.CancelledError:
                await writing  # stopping: the events in hand are written, not lost
                raise

    async def _write_event_safely(self, event: DomainEvent) -> None:
        await self._write_events_safely([event])

    async def _write_events_safely(self, events: list[DomainEvent]) -> None:
        found = [announcement for event in events for announcement in announcements(event)]
        if not found:
            return
        try:
            await self.write_many(found)
        except StoreUnavailable as error:
            log.error("notifications.write_failed", error=error.error, events=len(events))
        except Exception:
            log.exception("notifications.write_crashed", events=len(events))

    async def recover(self) -> int:
        """Write what the jobs say happened in the last ``recovery_window`` seconds: the start of each job that
        started then and the end of each that ended then. This closes the gap of an event lost between a job's
        commit and its outbox rows (a process killed in between, or notifications switched off for a while).
        Rows that exist already are not written again; a rule is only sent news no older than itself. Returns
        how many rows were written. Raises StoreUnavailable."""
        if self._recent_jobs is None:
            return 0
        since = self._clock() - timedelta(seconds=self._recovery_window)
        written = 0
        for job in await self._recent_jobs(since):
            found: list[Announcement] = []
            if job.status is not JobStatus.PENDING:
                found.append(start_announcement(job))
            current = job_announcement(job)
            if current is not None and current.event is not NotificationEvent.PRINT_STARTED:
                found.append(current)
            for announcement in found:
                if announcement.occurred_at is not None and announcement.occurred_at >= since:
                    written += len(await self.write(announcement))
        if written:
            log.info("notifications.recovered", written=written, since=since.isoformat())
        return written

    def _custom(self, channel: Channel) -> CustomTemplates | None:
        """The channel's own templates, compiled once per text (None: it has none, or they do not compile)."""
        if not channel.title_template and not channel.body_template:
            return None
        key = (channel.id, channel.title_template, channel.body_template)
        if key not in self._custom_templates:
            try:
                self._custom_templates[key] = CustomTemplates(channel.title_template, channel.body_template)
            except InvalidTemplate as error:
                log.warning("notification.template_invalid", channel_id=channel.id, problem=str(error))
                self._custom_templates[key] = None
        return self._custom_templates[key]

    async def write(self, announcement: Announcement) -> list[OutboxMessage]:
        """Write one row per channel whose rules ask for ``announcement`` and whose user may hear it; returns the
        rows written (none for a repeat). Rules made after ``announcement.occurred_at`` are left out. A row is due
        at once, at the end of the quiet hours of its channel's matching rules when all of them are quiet now, or at
        their digest's next sending moment when all of them gather it into a digest. Raises StoreUnavailable."""
        return await self.write_many([announcement])

    async def write_many(self, found: list[Announcement]) -> list[OutboxMessage]:
        """:meth:`write` for several announcements, with one read of the rules and one transaction. An announcement
        this outbox has written already (the same event and subject: a running job's progress updates all announce
        its start) is skipped without a look at the store; the store's unique key still keeps one row per channel
        across processes and restarts."""
        fresh: dict[tuple[NotificationEvent, str], Announcement] = {}
        for announcement in found:
            key = (announcement.event, announcement.subject)
            if key not in self._written:
                fresh.setdefault(key, announcement)
        if not fresh:
            return []
        written = await self._write_fresh(list(fresh.values()))
        for key in fresh:  # remembered once the store took them (or nobody was to hear them)
            self._written[key] = None
        while len(self._written) > REMEMBERED_ANNOUNCEMENTS:
            self._written.popitem(last=False)
        return written

    async def _write_fresh(self, found: list[Announcement]) -> list[OutboxMessage]:
        now = self._clock()
        rules = await self._repository.active_rules()
        hearing: dict[tuple[int, int], bool] = {}
        users: dict[int, User | None] = {}
        messages: list[NewMessage] = []
        for index, announcement in enumerate(found):
            occurred_at = announcement.occurred_at
            chosen: dict[int, Channel] = {}
            holds: dict[int, list[datetime | None]] = {}
            digests: dict[int, bool] = {}  # channel id -> every matching rule gathers this event into a digest
            for rule, channel in rules:
                if occurred_at is not None and rule.created_at is not None and rule.created_at > occurred_at:
                    continue
                if rule.matches(announcement.event, announcement.printer_id):
                    chosen.setdefault(channel.id, channel)
                    holds.setdefault(channel.id, []).append(rule.hold(announcement.event, now))
                    gathered = rule.digest is not None and rule.digest.held_until(announcement.event, now) is not None
                    digests[channel.id] = digests.get(channel.id, True) and gathered
            if not chosen:
                continue
            data = context(announcement, base_url=self._base_url, now=now, language=self._templates.language)
            title, body = self._templates.render(announcement.event, data)
            for channel in chosen.values():
                key = (index, channel.user_id)
                if key not in hearing:
                    if channel.user_id not in users:
                        users[channel.user_id] = await self._users(channel.user_id)
                    user = users[channel.user_id]
                    hearing[key] = user is not None and may_hear(user, announcement)
                if hearing[key]:
                    own_title, own_body = self._templates.render_for(
                        announcement.event, data, self._custom(channel), (title, body)
                    )
                    messages.append(
                        NewMessage(
                            channel_id=channel.id,
                            user_id=channel.user_id,
                            event=announcement.event,
                            subject=announcement.subject,
                            title=own_title,
                            body=own_body,
                            payload=data,
                            held_until=_earliest(holds[channel.id]),
                            digest=digests[channel.id],
                        )
                    )
        if not messages:
            return []
        written = await self._repository.enqueue(messages, now=now)
        for message in written:
            log.info(
                "notification.queued",
                notification_id=message.id,
                channel_id=message.channel_id,
                notification_event=message.event.value,
                subject=message.subject,
            )
        if written:
            self._wake.set()
        return written

    # -- delivering ------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def delivering(self) -> AsyncIterator[None]:
        """Deliver while inside (the role of a gated outbox): sends already begun when it is left finish."""
        self._delivering = True
        self._wake.set()
        try:
            yield
        finally:
            self._delivering = False

    async def _deliver_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()  # before reading: a row written from here on wakes the wait below
            if not self._delivering:
                with contextlib.suppress(TimeoutError):
                    await within(self._wake.wait(), self._idle_poll)
                continue
            try:
                batch = await self._repository.due(self._clock(), limit=self._batch_size)
                if batch:
                    await self._sending.send(batch)
                    continue
                delay = self._idle_poll
                next_due = await self._repository.next_due()
                if next_due is not None:
                    delay = min(delay, max((next_due - self._clock()).total_seconds(), 0.0))
            except StoreUnavailable as error:
                log.error("notifications.store_unavailable", error=error.error)
                delay = self._idle_poll
            except Exception:
                log.exception("notifications.worker_crashed")
                delay = self._idle_poll
            with contextlib.suppress(TimeoutError):
                await within(self._wake.wait(), delay)
