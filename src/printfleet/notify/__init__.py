"""Outbox senders: Apprise URLs, signed webhooks and SMTP email (implementing the notification service's
``Sender`` port). A sender's failures name the channel, never its URL, address or secret."""

from printfleet.notify.sender import ChannelSender

__all__ = ["ChannelSender"]
