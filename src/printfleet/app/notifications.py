"""Composition of notifications (part of the composition root, used by ``app.py`` only): the store, the senders,
the outbox and the management service, from the ``notifications`` settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from printfleet.config import NotificationSettings
from printfleet.domain.accounts.users import User
from printfleet.domain.jobs import Job, JobFilter
from printfleet.domain.notifications.model import Backoff, ChannelKind
from printfleet.domain.printer import PrinterConfig, PrinterStatus
from printfleet.domain.queue_commands import RateLimit
from printfleet.notify import ChannelSender
from printfleet.notify.email import SmtpServer
from printfleet.services.accounts import AccountService
from printfleet.services.errors import NotFound
from printfleet.services.events import EventBus
from printfleet.services.jobs import JobService
from printfleet.services.notifications import NotificationService, Outbox
from printfleet.services.notifications.claim_reminders import ClaimReminders, EntryLookup
from printfleet.services.notifications.delivery import UserLookup
from printfleet.services.notifications.outbox import RecentJobs
from printfleet.services.notifications.printer_alerts import PrinterAlerts
from printfleet.services.notifications.templates import Templates
from printfleet.store.database import Database
from printfleet.store.notifications import SqlNotificationRepository


def smtp_server(settings: NotificationSettings) -> SmtpServer | None:
    """The SMTP server of ``notifications.smtp``, or None without a host."""
    smtp = settings.smtp
    if smtp.host is None:
        return None
    return SmtpServer(
        host=smtp.host,
        port=smtp.port,
        starttls=smtp.starttls,
        ssl=smtp.ssl,
        user=smtp.user,
        password=smtp.password.get_secret_value() if smtp.password else None,
        sender=smtp.sender,
        timeout=smtp.timeout,
        ca_file=smtp.ca_file,
    )


def user_lookup(accounts: AccountService) -> UserLookup:
    """A user by id, or None when the account is gone."""

    async def lookup(user_id: int) -> User | None:
        try:
            return await accounts.get_user(user_id)
        except NotFound:
            return None

    return lookup


def recent_jobs(jobs: JobService) -> RecentJobs:
    """Jobs created up to a week before ``since`` (a print started then may have ended since), newest 500."""

    async def recent(since: datetime) -> list[Job]:
        found, _ = await jobs.list(JobFilter(since=since - timedelta(days=7), limit=500))
        return found

    return recent


@dataclass(frozen=True, slots=True)
class Notifying:
    """The running notification parts: enter ``outbox`` to write (it delivers inside ``outbox.delivering()``, the
    ``notifications.delivery`` role), ``alerts`` to announce printers' errors and outages, ``reminders`` to recall
    unclaimed queue offers; close ``sender`` at the end."""

    outbox: Outbox
    alerts: PrinterAlerts
    reminders: ClaimReminders
    service: NotificationService
    sender: ChannelSender


def build_notifications(
    settings: NotificationSettings,
    *,
    database: Database,
    bus: EventBus,
    accounts: AccountService,
    jobs: JobService,
    queue_entries: EntryLookup,
    printers_now: Callable[[], list[tuple[PrinterConfig, PrinterStatus]]],
    clock: Callable[[], datetime] | None = None,
) -> Notifying:
    """Wire the notification parts for ``settings``."""
    sender = ChannelSender(smtp=smtp_server(settings), timeout=settings.send_timeout)
    repository = SqlNotificationRepository(database)
    templates = Templates(settings.language)
    outbox = Outbox(
        repository=repository,
        bus=bus,
        users=user_lookup(accounts),
        sender=sender,
        templates=templates,
        backoff=Backoff(
            initial=settings.retry_initial, maximum=settings.retry_max, give_up_after=settings.give_up_after
        ),
        base_url=settings.base_url,
        send_timeout=settings.send_timeout,
        recent_jobs=recent_jobs(jobs),
        recovery_window=settings.recovery_window,
        clock=clock or (lambda: datetime.now(UTC)),
        gated=True,
        rate_limits={
            ChannelKind(kind): RateLimit(capacity=limit.burst, interval=timedelta(seconds=60 / limit.per_minute))
            for kind, limit in settings.rate_limits.items()
        },
    )
    service = NotificationService(
        repository=repository,
        users=user_lookup(accounts),
        sender=sender,
        templates=templates,
        test_timeout=settings.send_timeout,
    )
    alerts = PrinterAlerts(
        bus=bus,
        grace=timedelta(seconds=settings.offline_grace),
        current=printers_now,
        **({"clock": clock} if clock is not None else {}),
    )
    reminders = ClaimReminders(
        bus=bus,
        entries=queue_entries,
        before=timedelta(seconds=settings.claim_reminder),
        **({"clock": clock} if clock is not None else {}),
    )
    return Notifying(outbox=outbox, alerts=alerts, reminders=reminders, service=service, sender=sender)
