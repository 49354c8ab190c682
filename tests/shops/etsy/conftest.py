"""Fixtures for the Etsy adapter tests: the stand-in on a loopback port and one HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from printfleet.sim.etsy import EtsyStandIn


@pytest.fixture
async def etsy() -> AsyncIterator[EtsyStandIn]:
    async with EtsyStandIn() as standin:
        yield standin


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client
