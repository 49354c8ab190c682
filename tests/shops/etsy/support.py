"""Helpers shared by the Etsy adapter tests: a connected token store, a client on the stand-in, a recording sleep."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from printfleet.domain.printer import Secret
from printfleet.shops.etsy.client import EtsyClient, MemoryTokenStore
from printfleet.shops.etsy.oauth import EtsyTokens, tokens_from_response
from printfleet.sim.etsy import ALL_SCOPES, EtsyStandIn


def connected(etsy: EtsyStandIn, scopes: Sequence[str] = ALL_SCOPES) -> MemoryTokenStore:
    """A token store holding tokens the seller just granted."""
    return MemoryTokenStore(tokens_of(etsy.issue_tokens(scopes), scopes))


def tokens_of(body: dict[str, Any], scopes: Sequence[str] = ALL_SCOPES) -> EtsyTokens:
    return tokens_from_response(body, now=datetime.now(UTC), scopes=scopes)


class RecordingSleep:
    """Stands in for asyncio.sleep: records the delays asked for (seconds) and only yields to the loop."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


def client_for(etsy: EtsyStandIn, store: MemoryTokenStore, http: httpx.AsyncClient, **options: Any) -> EtsyClient:
    return EtsyClient(
        base_url=etsy.url,
        token_url=etsy.token_url,
        keystring=etsy.keystring,
        shared_secret=Secret(etsy.shared_secret),
        tokens=store,
        http=http,
        **options,
    )
