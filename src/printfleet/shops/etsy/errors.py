"""What can go wrong talking to Etsy, as a small hierarchy carrying Etsy's own words.

Etsy's application errors are ``{"error": "<message>"}`` (the document's ``ErrorSchema``); OAuth errors are
``{"error": "<code>", "error_description": "<text>"}`` (research dispatch-scheduling-orders.md 4.2, 4.8). No
token or secret is ever part of a message.
"""

from __future__ import annotations

import httpx


class EtsyError(Exception):
    """Etsy refused or failed a request. ``status`` is the HTTP status (None when no answer came), ``error`` Etsy's
    ``error`` text and ``description`` its ``error_description`` (OAuth errors only)."""

    def __init__(self, message: str, *, status: int | None = None, error: str = "", description: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.description = description

    @classmethod
    def from_response(cls, response: httpx.Response, *, action: str) -> EtsyError:
        """The error of a 4xx/5xx ``response`` to ``action`` (e.g. ``"list receipts"``), with Etsy's texts when
        the body is the documented JSON."""
        error, description = error_texts(response)
        detail = ": ".join(part for part in (error, description) if part) or response.reason_phrase
        return cls(
            f"Etsy refused to {action} (HTTP {response.status_code}): {detail}",
            status=response.status_code,
            error=error,
            description=description,
        )


class EtsyReconnectNeeded(EtsyError):
    """The seller must connect the shop again: the refresh token is revoked or reused (``invalid_grant``), or no
    tokens are stored. Retrying cannot help; a person has to walk the authorize page."""


class EtsyRateLimited(EtsyError):
    """Etsy kept answering 429 past the client's cap. ``retry_after_s`` is Etsy's last ``Retry-After`` in seconds
    (None when it sent none)."""

    def __init__(self, message: str, *, retry_after_s: float | None) -> None:
        super().__init__(message, status=429, error="rate_limited")
        self.retry_after_s = retry_after_s


class EtsyUnavailable(EtsyError):
    """No answer from Etsy (connection refused, timeout, TLS failure); worth retrying at the next poll."""


def error_texts(response: httpx.Response) -> tuple[str, str]:
    """``(error, error_description)`` of an Etsy error body; empty strings when the body is not that JSON."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    error, description = body.get("error"), body.get("error_description")
    return (error if isinstance(error, str) else "", description if isinstance(description, str) else "")
