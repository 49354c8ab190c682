"""Signed webhooks (Standard Webhooks, standardwebhooks.com): a JSON POST with ``webhook-id`` (stable across
retries), ``webhook-timestamp`` (Unix seconds) and, when the channel has a ``whsec_`` secret, ``webhook-signature``.

Body: ``{"type": <event>, "timestamp": <ISO 8601>, "data": {title, body, ...message context}}``. A 2xx answer is
delivered; anything else is retried (a 4xx too: a receiver being deployed answers 404 for a while)."""

from __future__ import annotations

import json

import httpx

from printfleet.domain.notifications.signing import sign
from printfleet.services.notifications.ports import DeliveryFailed, Outgoing


def webhook_request(outgoing: Outgoing) -> tuple[bytes, dict[str, str]]:
    """The body and headers of ``outgoing``'s POST."""
    body = json.dumps(
        {
            "type": outgoing.event,
            "timestamp": outgoing.timestamp.isoformat(),
            "data": {"title": outgoing.title, "body": outgoing.body, **outgoing.payload},
        },
        separators=(",", ":"),
    ).encode()
    timestamp = int(outgoing.timestamp.timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": "printfleet",
        "webhook-id": outgoing.message_id,
        "webhook-timestamp": str(timestamp),
    }
    if outgoing.secrets.signing_secret:
        headers["webhook-signature"] = sign(outgoing.secrets.signing_secret, outgoing.message_id, timestamp, body)
    return body, headers


class WebhookSender:
    """POSTs signed JSON; one connection pool for every webhook channel."""

    def __init__(self, *, timeout: float = 10.0) -> None:
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def send(self, outgoing: Outgoing) -> None:
        """POST ``outgoing``; raises DeliveryFailed naming the status or the error class, never the URL."""
        url = outgoing.secrets.url
        if not url:
            raise DeliveryFailed("the channel has no url", permanent=True)
        body, headers = webhook_request(outgoing)
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.InvalidURL:
            raise DeliveryFailed("the channel's url is not valid", permanent=True) from None
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"webhook not reached ({type(error).__name__})") from None
        if not response.is_success:
            raise DeliveryFailed(f"webhook answered HTTP {response.status_code}")

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
