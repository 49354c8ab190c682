"""A connected shop (Etsy): how its connection stands and where its poll has got to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ConnectionState(StrEnum):
    """``disconnected``: no tokens; ``connecting``: the seller was sent to approve printfleet; ``connected``: polled;
    ``reconnect_needed``: the shop refused the refresh token (revoked, reused or expired): the seller must connect
    again."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECT_NEEDED = "reconnect_needed"


@dataclass(frozen=True, slots=True, kw_only=True)
class ShopConnection:
    """One shop's connection. ``shop`` is the kind (``etsy``); ``shop_id``/``user_id`` the seller's ids at the shop;
    ``watermark`` the shop's last-modified time of the newest order received (aware UTC; the next poll starts a
    little before it); ``last_poll_at`` and ``last_error`` the last poll's time and trouble; ``orders_seen`` how
    many orders (new or changed) polls have received; ``has_tokens`` whether tokens are stored (never the tokens)."""

    shop: str
    state: ConnectionState
    updated_at: datetime
    shop_id: str | None = None
    user_id: str | None = None
    watermark: datetime | None = None
    last_poll_at: datetime | None = None
    last_error: str | None = None
    orders_seen: int = 0
    has_tokens: bool = False
