"""The Discord front end of the shared print queue: slash commands and queue notifications.

It calls the queue service only (never the store or the printers): :mod:`~printfleet.bot.commands` holds the
commands, :mod:`~printfleet.bot.replies` their words, :mod:`~printfleet.bot.notifier` the channel messages that
follow the queue's events, and :mod:`~printfleet.bot.client` the ``discord.Client`` and its life inside
``printfleet serve`` (:class:`DiscordBot`). Setting it up: ``docs/discord.md``.
"""

from printfleet.bot.client import DiscordBot

__all__ = ["DiscordBot"]
