"""Apprise channels (research materials-notifications.md §5.1, verified with apprise 2.3.0: ``Apprise.add(url)``
returns False for a URL it does not understand; ``async_notify`` returns a falsy ``AppriseResult`` on failure,
e.g. an HTTP 500 or a closed port). Apprise's own log lines and results quote URLs, which hold credentials: its
logger is kept out of printfleet's log, and only the outcome is reported. Apprise is loaded at the first message sent
through it (it and its plugins take about 19 MB: a process that sends none does not pay it)."""

from __future__ import annotations

import logging

from printfleet.services.notifications.ports import DeliveryFailed, Outgoing

_APPRISE_LOG = logging.getLogger("apprise")
_APPRISE_LOG.propagate = False
_APPRISE_LOG.addHandler(logging.NullHandler())
_APPRISE_LOG.setLevel(logging.CRITICAL)

_TYPES = {  # event -> Apprise's NotifyType, by name (the rest are "INFO")
    "print_finished": "SUCCESS",
    "print_failed": "FAILURE",
    "print_cancelled": "WARNING",
    "print_paused": "WARNING",
    "reservation_released": "WARNING",
}


class AppriseSender:
    """Sends through any Apprise URL (``json://``, ``mailtos://``, ``discord://``, ``ntfys://``, ...)."""

    def __init__(self, *, timeout: float = 10.0) -> None:
        self._timeout = timeout

    async def send(self, outgoing: Outgoing) -> None:
        """Send title and body; raises DeliveryFailed (permanent when the URL is missing or not understood)."""
        url = outgoing.secrets.url
        if not url:
            raise DeliveryFailed("the channel has no url", permanent=True)
        import apprise

        notifier = apprise.Apprise()
        if not notifier.add(url):
            raise DeliveryFailed("Apprise does not understand the channel's url", permanent=True)
        result = await notifier.async_notify(
            body=outgoing.body,
            title=outgoing.title,
            notify_type=getattr(apprise.NotifyType, _TYPES.get(outgoing.event, "INFO")),
        )
        if not result:
            raise DeliveryFailed("Apprise reported a failure")
