"""Etsy Open API v3 adapter: OAuth 2.0 with PKCE (:mod:`.oauth`), receipts polling and shipments (:mod:`.client`),
and the pure mapping of a ``ShopReceipt`` to an :class:`~printfleet.domain.orders.model.IncomingOrder`
(:mod:`.mapping`). Protocol facts come from Etsy's published API document and research
dispatch-scheduling-orders.md section 4."""

from printfleet.shops.etsy.client import EtsyClient, MemoryTokenStore, RateLimits, TokenStore
from printfleet.shops.etsy.errors import EtsyError, EtsyRateLimited, EtsyReconnectNeeded, EtsyUnavailable
from printfleet.shops.etsy.mapping import EtsyReceiptMalformed, receipt_to_order
from printfleet.shops.etsy.oauth import AuthorizationRequest, EtsyTokens, authorize_url, start_authorization

__all__ = [
    "AuthorizationRequest",
    "EtsyClient",
    "EtsyError",
    "EtsyRateLimited",
    "EtsyReceiptMalformed",
    "EtsyReconnectNeeded",
    "EtsyTokens",
    "EtsyUnavailable",
    "MemoryTokenStore",
    "RateLimits",
    "TokenStore",
    "authorize_url",
    "receipt_to_order",
    "start_authorization",
]
