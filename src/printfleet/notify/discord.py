"""``discord`` channels: through printfleet's own Discord bot when it runs in this process (a post in a channel, or a
direct message to the user's linked Discord account), else through the channel's Discord webhook URL.

The webhook is Discord's "Execute Webhook" (``POST`` the webhook URL with a JSON body ``content``, at most 2,000
characters; ``allowed_mentions`` ``{"parse": []}`` pings nobody; 204 No Content on success, 429 with
``retry_after`` when rate-limited, 404 for a deleted webhook: Discord developer documentation, Webhook resource).
"""

from __future__ import annotations

import httpx

from printfleet.services.notifications.ports import DeliveryFailed, DiscordPoster, Outgoing

DISCORD_MESSAGE_LIMIT = 2000
"""Discord's limit on a message's ``content``, in characters."""


def discord_text(title: str, body: str) -> str:
    """A message's text for Discord: the title in bold, then the body, cut to :data:`DISCORD_MESSAGE_LIMIT`
    characters (ending with an ellipsis when cut)."""
    text = f"**{title}**\n{body}" if title else body
    if len(text) <= DISCORD_MESSAGE_LIMIT:
        return text
    return text[: DISCORD_MESSAGE_LIMIT - 1] + "…"


class DiscordSender:
    """Sends a discord channel's messages. :meth:`attach` gives it the bot while the bot is logged in here."""

    def __init__(self, *, timeout: float = 10.0) -> None:
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._bot: DiscordPoster | None = None
        self.bot_configured = False
        """True when this printfleet has a Discord bot (``discord.enabled``): a channel without a webhook URL then
        waits for it (it may be logging in); without one such a channel can never send."""

    def attach(self, bot: DiscordPoster | None) -> None:
        """Send through ``bot`` from now on (None: the bot stopped; webhook URLs only)."""
        self._bot = bot

    async def send(self, outgoing: Outgoing) -> None:
        """Send ``outgoing``: through the bot to its destination when both are there, else to the channel's webhook
        URL. Raises DeliveryFailed: temporary while a channel without a webhook URL waits for the bot."""
        text = discord_text(outgoing.title, outgoing.body)
        destination = outgoing.discord
        if destination is not None and self._bot is not None:
            if destination.direct:
                await self._bot.direct_message(destination.id, text)
            else:
                await self._bot.post(destination.id, text)
            return
        url = outgoing.secrets.url
        if url:
            await self._execute_webhook(url, text)
            return
        if not self.bot_configured:
            raise DeliveryFailed(
                "printfleet has no Discord bot (discord.token) and the channel has no Discord webhook url",
                permanent=True,
            )
        raise DeliveryFailed("the Discord bot is not connected (and the channel has no Discord webhook url)")

    async def _execute_webhook(self, url: str, text: str) -> None:
        try:
            response = await self._client.post(
                url, json={"content": text, "allowed_mentions": {"parse": []}}, headers={"user-agent": "printfleet"}
            )
        except httpx.InvalidURL:
            raise DeliveryFailed("the channel's Discord webhook url is not valid", permanent=True) from None
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"Discord webhook not reached ({type(error).__name__})") from None
        if response.is_success:
            return
        if response.status_code in (401, 403, 404):  # a deleted webhook or a wrong token: retrying cannot help
            raise DeliveryFailed(f"Discord refused the webhook (HTTP {response.status_code})", permanent=True)
        raise DeliveryFailed(f"Discord webhook answered HTTP {response.status_code}")

    async def aclose(self) -> None:
        """Close the webhook connections."""
        await self._client.aclose()
