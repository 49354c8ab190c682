"""The bot as a sender of ``discord`` notification channels
(:class:`~printfleet.services.notifications.ports.DiscordPoster`): a post in a Discord channel, or a direct message.

Only REST calls (``POST /channels/{id}/messages``; a direct message opens the DM channel with
``POST /users/@me/channels`` first), so it works as soon as the bot is logged in. Discord's answers map to outcomes
(discord.py raises ``Forbidden`` for 403, ``NotFound`` for 404, ``HTTPException`` otherwise, after its own retries of
429 and 5xx): a refusal that retrying cannot change (no permission, unknown channel or user, direct messages closed)
fails the message for good; anything else is tried again later.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import aiohttp
import discord

from printfleet.services.notifications.ports import DeliveryFailed

NO_MENTIONS = discord.AllowedMentions.none()


@contextlib.contextmanager
def _outcome(forbidden: str, not_found: str) -> Iterator[None]:
    """Discord's answers as :class:`DeliveryFailed`: ``forbidden`` (403) and ``not_found`` (404) for good, anything
    else (5xx, 429 after discord.py's own retries, the network) to be tried again later."""
    try:
        yield
    except discord.Forbidden:
        raise DeliveryFailed(forbidden, permanent=True) from None
    except discord.NotFound:
        raise DeliveryFailed(not_found, permanent=True) from None
    except discord.HTTPException as error:
        raise DeliveryFailed(f"Discord answered HTTP {error.status}") from None
    except (aiohttp.ClientError, OSError) as error:
        raise DeliveryFailed(f"Discord not reached ({type(error).__name__})") from None


class BotPoster:
    """Posts through the logged-in ``client``; never pings anyone (a notification is not a mention). The text comes
    cut to Discord's 2,000 characters already (``printfleet.notify.discord.discord_text``)."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    async def post(self, channel_id: int, text: str) -> None:
        """Post ``text`` in the Discord channel ``channel_id``. Raises DeliveryFailed."""
        channel = self._client.get_partial_messageable(channel_id)
        with _outcome(
            "the bot may not post in that Discord channel (give it View Channel and Send Messages)",
            "Discord knows no such channel",
        ):
            await channel.send(text, allowed_mentions=NO_MENTIONS)

    async def direct_message(self, user_id: int, text: str) -> None:
        """Send ``text`` to the Discord user ``user_id``. Raises DeliveryFailed."""
        # Forbidden: the user does not accept direct messages from the members of the bot's servers.
        with _outcome("the Discord user does not accept direct messages from the bot", "Discord knows no such user"):
            user = self._client.get_user(user_id) or await self._client.fetch_user(user_id)
            await user.send(text, allowed_mentions=NO_MENTIONS)
