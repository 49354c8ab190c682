"""Sending the outbox's due rows: one message per row, or one digest for a channel's digest rows due together;
each row then delivered, or scheduled for another attempt with exponential backoff, or failed (see
:mod:`printfleet.services.notifications.outbox`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime

import structlog

from printfleet.aio import within
from printfleet.domain.accounts.users import User
from printfleet.domain.notifications.digest import DigestItem, digest_text
from printfleet.domain.notifications.model import (
    DISCORD_DM,
    Backoff,
    Channel,
    ChannelKind,
    ChannelSecrets,
    DeliveryState,
    OutboxMessage,
)
from printfleet.domain.queue_commands import RateLimit  # the token bucket shared with the queue's commands
from printfleet.services.notifications.ports import (
    DeliveryFailed,
    DiscordDestination,
    NotificationRepository,
    Outgoing,
    Sender,
)

log = structlog.get_logger("printfleet.notifications")

UserLookup = Callable[[int], Awaitable[User | None]]
"""The account of a user id, or None when it no longer exists."""

_Channels = dict[int, tuple[Channel | None, ChannelSecrets]]
"""A batch's channels by id, read once: the channel (None when deleted) and its secrets."""

_Delivered = list[tuple[OutboxMessage, int]]
"""The rows a batch delivered, with their attempt counts, to record together."""


def recipient(
    channel: Channel, user: User | None, secrets: ChannelSecrets
) -> tuple[str | None, DiscordDestination | None]:
    """Who ``channel`` (of ``user``) sends to: the email address of an email channel, the Discord destination of a
    discord channel (None: its webhook URL). Raises DeliveryFailed (permanent) when the user has no email address,
    or a direct-message channel's user linked no Discord account and the channel has no webhook URL."""
    if channel.kind is ChannelKind.EMAIL:
        if user is None or not user.email:
            raise DeliveryFailed("the account has no email address", permanent=True)
        return user.email, None
    if channel.kind is not ChannelKind.DISCORD or channel.target is None:
        return None, None
    if channel.target != DISCORD_DM:
        return None, DiscordDestination(direct=False, id=int(channel.target))
    if user is not None and user.discord_id:
        return None, DiscordDestination(direct=True, id=int(user.discord_id))
    if secrets.url:
        return None, None
    raise DeliveryFailed("the account is not linked to Discord (use /link in Discord)", permanent=True)


class Sending:
    """Sends due outbox rows on their channels, at most ``concurrency`` at a time, each within ``send_timeout``
    seconds, and records each row's outcome in ``repository``."""

    def __init__(
        self,
        *,
        repository: NotificationRepository,
        users: UserLookup,
        sender: Sender,
        backoff: Backoff,
        send_timeout: float,
        concurrency: int,
        clock: Callable[[], datetime],
        rate_limits: Mapping[ChannelKind, RateLimit] | None = None,
    ) -> None:
        """``rate_limits``: the pace of each channel of a kind (a token bucket per channel; a kind not given is not
        paced)."""
        self._repository = repository
        self._users = users
        self._sender = sender
        self._backoff = backoff
        self._send_timeout = send_timeout
        self._slots = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._rate_limits = dict(rate_limits or {})
        self._buckets: dict[int, RateLimit] = {}

    async def send(self, batch: list[OutboxMessage]) -> None:
        """Send ``batch`` side by side: each row alone, a channel's digest rows as one digest (a lone digest row as
        itself). Raises the first store failure after every send has been tried."""
        gathered: dict[int, list[OutboxMessage]] = {}
        for message in batch:
            if message.digest:
                gathered.setdefault(message.channel_id, []).append(message)
        # Each channel is read once per batch, and the deliveries are recorded together: a burst of messages costs
        # a few store transactions, not three per message.
        channels = {
            channel_id: (await self._repository.channel(channel_id), await self._repository.channel_secrets(channel_id))
            for channel_id in sorted({message.channel_id for message in batch})
        }
        delivered: list[tuple[OutboxMessage, int]] = []
        units: list[list[OutboxMessage]] = [[message] for message in batch if not message.digest]
        units += list(gathered.values())
        later = self._paced(units, channels)
        sends = [
            self._deliver_one(rows[0], channels, delivered)
            if len(rows) == 1
            else self._deliver_digest(rows, channels, delivered)
            for rows in units
            if rows[0].id not in later
        ]
        if later:
            await self._repository.postpone(sorted(later.items()))
        outcomes = await asyncio.gather(*sends, return_exceptions=True)
        if delivered:
            await self._repository.record_delivered(
                [(message.id, attempts) for message, attempts in delivered], delivered_at=self._clock()
            )
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if failures:
            raise failures[0]

    def _paced(self, units: list[list[OutboxMessage]], channels: _Channels) -> dict[int, datetime]:
        """The rows of ``units`` (each sent as one message) whose channel has used up its pace now, with when each
        may go: they wait their turn in the store (not an attempt), so a burst is spread, never lost."""
        now = self._clock()
        later: dict[int, datetime] = {}
        waiting: dict[int, int] = {}
        for rows in units:
            channel = channels.get(rows[0].channel_id, (None, None))[0]
            limit = self._rate_limits.get(channel.kind) if channel is not None else None
            if limit is None or channel is None:
                continue
            allowed, self._buckets[channel.id], wait = self._buckets.get(channel.id, limit).allow(now)
            if not allowed:
                # Each later message of the channel in this batch waits one more token.
                turn = wait + limit.interval * waiting.get(channel.id, 0)
                waiting[channel.id] = waiting.get(channel.id, 0) + 1
                for row in rows:
                    later[row.id] = now + turn
        if later:
            log.info("notification.paced", notifications=len(later), channels=sorted(waiting))
        return later

    async def _deliver_one(self, message: OutboxMessage, channels: _Channels, delivered: _Delivered) -> None:
        async with self._slots:
            attempts = message.attempts + 1
            try:
                outgoing = await self._outgoing(message, channels)
                await within(self._sender.send(outgoing), self._send_timeout)
            except DeliveryFailed as failure:
                await self._failed(message, attempts, failure.reason, permanent=failure.permanent)
                return
            except TimeoutError:
                await self._failed(message, attempts, f"no answer within {self._send_timeout:g} s", permanent=False)
                return
            except Exception as error:  # a sender bug must not stop the worker; its text may quote a URL
                await self._failed(message, attempts, f"unexpected {type(error).__name__}", permanent=False)
                return
            delivered.append((message, attempts))
            log.info(
                "notification.delivered",
                notification_id=message.id,
                channel_id=message.channel_id,
                kind=outgoing.kind.value,
                notification_event=message.event.value,
                attempts=attempts,
            )

    async def _deliver_digest(self, rows: list[OutboxMessage], channels: _Channels, delivered: _Delivered) -> None:
        """Send a channel's digest rows due together as one message (``event`` ``digest``, the rows' payloads in
        ``data.digest``); each row is then delivered, or retried or failed with the same reason."""
        async with self._slots:
            first = rows[0]
            try:
                single = await self._outgoing(first, channels)
                title, body = digest_text([DigestItem(row.event, row.title, row.body) for row in rows])
                outgoing = replace(
                    single,
                    message_id=f"digest_{first.id}",
                    event="digest",
                    title=title,
                    body=body,
                    payload={"digest": [{"event": row.event.value, **row.payload} for row in rows]},
                )
                await within(self._sender.send(outgoing), self._send_timeout)
            except DeliveryFailed as failure:
                for row in rows:
                    await self._failed(row, row.attempts + 1, failure.reason, permanent=failure.permanent)
                return
            except TimeoutError:
                for row in rows:
                    await self._failed(
                        row, row.attempts + 1, f"no answer within {self._send_timeout:g} s", permanent=False
                    )
                return
            except Exception as error:  # a sender bug must not stop the worker; its text may quote a URL
                for row in rows:
                    await self._failed(row, row.attempts + 1, f"unexpected {type(error).__name__}", permanent=False)
                return
            delivered.extend((row, row.attempts + 1) for row in rows)
            log.info(
                "notification.digest_delivered",
                channel_id=first.channel_id,
                kind=outgoing.kind.value,
                notifications=len(rows),
                notification_ids=[row.id for row in rows],
            )

    async def _outgoing(self, message: OutboxMessage, channels: _Channels) -> Outgoing:
        channel, secrets = channels[message.channel_id]
        if channel is None:
            raise DeliveryFailed("the channel was deleted", permanent=True)
        if not channel.enabled:
            raise DeliveryFailed("the channel is disabled", permanent=True)
        user = await self._users(channel.user_id) if channel.kind in (ChannelKind.EMAIL, ChannelKind.DISCORD) else None
        email, discord = recipient(channel, user, secrets)
        return Outgoing(
            message_id=message.message_id,
            kind=channel.kind,
            event=message.event.value,
            title=message.title,
            body=message.body,
            timestamp=self._clock(),
            payload=message.payload,
            secrets=secrets,
            email=email,
            channel_label=f"{channel.kind.value}:{channel.id}",
            discord=discord,
        )

    async def _failed(self, message: OutboxMessage, attempts: int, reason: str, *, permanent: bool) -> None:
        now = self._clock()
        retry_at = None if permanent else self._backoff.next_attempt(attempts, now, message.created_at)
        state = DeliveryState.PENDING if retry_at is not None else DeliveryState.FAILED
        await self._repository.record_attempt(
            message.id,
            attempts=attempts,
            state=state,
            next_attempt_at=retry_at,
            error=reason,
            delivered_at=None,
        )
        log.warning(
            "notification.retry" if retry_at is not None else "notification.failed",
            notification_id=message.id,
            channel_id=message.channel_id,
            notification_event=message.event.value,
            attempts=attempts,
            reason=reason,
            retry_at=retry_at.isoformat() if retry_at is not None else None,
        )
