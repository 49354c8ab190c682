"""Queue events to Discord: offers, missed windows, prints started and ended, unqueued prints.

The :class:`Notifier` reads its own event-bus subscription (like a WebSocket client, so a slow Discord never
delays the queue) and posts each queue event the users must hear about in the queue channel:

- ``claim_offered``: mentions the user (the only message that pings anyone, and only them) with the printer and
  the claim deadline; also sent as a direct message when ``dm_offers`` is on;
- ``claim_expired`` and ``reservation_released`` (reason ``start_missed``): the offer or reservation ran out, the
  job went to the back of the queue or left it;
- ``queue_print_started``: the print started, with the time it is expected done (the printer's remaining time,
  else the user's estimate);
- ``queue_entry_finished``: the outcome and the actual duration;
- ``unqueued_print``: a print started without the queue (and whose offer it cut short).

An entry from the web or the REST API has a user id that is not a Discord id: it is named, never mentioned. A
message Discord refuses (no permission in the channel, DMs closed) is logged and skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import discord
import structlog

from printfleet.bot import replies
from printfleet.bot.identity import DiscordIdentities
from printfleet.domain.events import (
    ClaimExpired,
    ClaimOffered,
    DomainEvent,
    QueueEntryFinished,
    QueuePrintStarted,
    ReservationReleased,
    UnqueuedPrint,
)
from printfleet.domain.queue import QueueEntry
from printfleet.services.events import Subscription

log = structlog.get_logger("printfleet.bot")

NO_MENTIONS = discord.AllowedMentions.none()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def mention_only(user_id: str) -> discord.AllowedMentions:
    """Allowed mentions that ping the Discord user ``user_id`` and nobody else (nobody for a non-Discord id)."""
    if not replies.is_discord_id(user_id):
        return NO_MENTIONS
    return discord.AllowedMentions(
        everyone=False, roles=False, replied_user=False, users=[discord.Object(int(user_id))]
    )


class Notifier:
    """Posts queue events to the channel ``channel_id`` of guild ``guild_id`` through ``client``.

    ``printer_names`` gives the printers' display names by id; ``clock`` (aware UTC) dates the expected end of a
    print that just started.
    """

    def __init__(
        self,
        client: discord.Client,
        *,
        channel_id: int,
        guild_id: int | None,
        printer_names: Callable[[], replies.PrinterNames],
        dm_offers: bool = False,
        clock: Callable[[], datetime] = _utcnow,
        identities: DiscordIdentities | None = None,
    ) -> None:
        """``identities`` finds the Discord id behind an account's queue user id, to mention them."""
        self._identities = identities or DiscordIdentities(None)
        self._client = client
        self._channel_id = channel_id
        self._guild_id = guild_id
        self._printer_names = printer_names
        self._dm_offers = dm_offers
        self._clock = clock

    async def run(self, subscription: Subscription) -> None:
        """Post the events of ``subscription`` once the client is ready, until cancelled. One failed message
        never stops the loop."""
        await self._client.wait_until_ready()
        while True:
            event = await subscription.get()
            try:
                await self.notify(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("discord.notify_failed", event=event.name)

    async def notify(self, event: DomainEvent) -> None:
        """Post ``event`` when it is one the users must hear about; other events are ignored."""
        names = self._printer_names()
        if isinstance(event, ClaimOffered):
            await self._offer(event.entry, names)
        elif isinstance(event, ClaimExpired):
            await self._post(replies.claim_expired_notice(event.entry, event.printer_id, names))
        elif isinstance(event, ReservationReleased) and event.reason == "start_missed":
            await self._post(replies.start_missed_notice(event.entry, event.printer_id, names))
        elif isinstance(event, QueuePrintStarted):
            await self._post(replies.print_started_notice(event.entry, names, done_at=self._done_at(event)))
        elif isinstance(event, QueueEntryFinished):
            await self._post(replies.finished_notice(event.entry, names))
        elif isinstance(event, UnqueuedPrint):
            await self._post(replies.unqueued_notice(event.printer_id, event.file_name, event.withdrawn, names))

    def _done_at(self, event: QueuePrintStarted) -> datetime | None:
        if event.remaining_seconds is not None and event.remaining_seconds > 0:
            return self._clock() + timedelta(seconds=event.remaining_seconds)
        entry = event.entry
        return (entry.started_at or self._clock()) + entry.estimate

    async def _offer(self, entry: QueueEntry, names: replies.PrinterNames) -> None:
        discord_id = await self._identities.discord_id_of(entry.user_id)
        text = replies.offered_notice(entry, names, discord_id=discord_id)
        await self._post(text, allowed_mentions=mention_only(discord_id or ""))
        if self._dm_offers and discord_id is not None:
            await self._direct_message(int(discord_id), text)

    async def _post(self, text: str, *, allowed_mentions: discord.AllowedMentions = NO_MENTIONS) -> None:
        channel = self._client.get_partial_messageable(self._channel_id, guild_id=self._guild_id)
        try:
            await channel.send(replies.fit(text), allowed_mentions=allowed_mentions)
        except discord.Forbidden:
            log.warning(
                "discord.channel_forbidden",
                channel_id=self._channel_id,
                hint="give the bot View Channel and Send Messages in the queue channel",
            )
        except discord.HTTPException as error:
            log.warning("discord.post_failed", channel_id=self._channel_id, status=error.status, code=error.code)

    async def _direct_message(self, user_id: int, text: str) -> None:
        try:
            user = self._client.get_user(user_id) or await self._client.fetch_user(user_id)
            await user.send(replies.fit(text), allowed_mentions=NO_MENTIONS)
        except discord.Forbidden:  # the user does not accept direct messages from server members
            log.info("discord.dm_refused", user_id=user_id)
        except discord.HTTPException as error:
            log.warning("discord.dm_failed", user_id=user_id, status=error.status, code=error.code)
