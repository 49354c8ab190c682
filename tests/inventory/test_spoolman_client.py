"""The Spoolman client against the stand-in on loopback: reading a spool, adding use (not idempotent), Spoolman's
refusals and a Spoolman that is not there, each with its reason."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from printfleet.inventory.spoolman import SpoolmanClient, SpoolmanError
from printfleet.sim.spoolman import SpoolmanStandIn


@pytest.fixture
async def spoolman() -> AsyncIterator[SpoolmanStandIn]:
    async with SpoolmanStandIn() as stand_in:
        yield stand_in


async def test_use_adds_on_every_call_and_the_spool_reads_back(spoolman: SpoolmanStandIn) -> None:
    spool = spoolman.add_spool(spoolman.add_filament("PLA Basic", "PLA"), used_weight=10.0)
    client = SpoolmanClient(spoolman.url, headers={"X-Proxy-Token": "t0k3n"})
    try:
        assert await client.healthy()
        await client.use(spool.id, 2.5)
        await client.use(spool.id, 2.5)
        assert await client.used_weight(spool.id) == 15.0
        back = await client.use(spool.id, -100.0)  # a give-back never goes below 0
        assert back["used_weight"] == 0.0
    finally:
        await client.aclose()


async def test_an_unknown_spool_is_not_found_with_spoolmans_message(spoolman: SpoolmanStandIn) -> None:
    client = SpoolmanClient(spoolman.url)
    try:
        with pytest.raises(SpoolmanError) as missing:
            await client.used_weight(9999)
        assert missing.value.reason == "not_found"
        assert str(missing.value) == "No spool with ID 9999 found."
    finally:
        await client.aclose()


async def test_a_server_error_a_slow_answer_and_no_server_have_their_own_reasons(spoolman: SpoolmanStandIn) -> None:
    spool = spoolman.add_spool(spoolman.add_filament("PETG", "PETG", density=1.27))
    client = SpoolmanClient(spoolman.url, timeout=0.3)
    try:
        spoolman.fail_next_use(mode="error")
        with pytest.raises(SpoolmanError) as failed:
            await client.use(spool.id, 1.0)
        assert failed.value.reason == "server_error"
        spoolman.fail_next_use(mode="slow", slow_s=1.0)
        with pytest.raises(SpoolmanError) as slow:
            await client.use(spool.id, 1.0)
        assert slow.value.reason == "timeout"
        assert spool.used_weight == 1.0  # the slow one was applied; its answer came too late
        await spoolman.stop()
        with pytest.raises(SpoolmanError) as gone:
            await client.used_weight(spool.id)
        assert gone.value.reason == "unreachable"
        assert not await client.healthy()
    finally:
        await client.aclose()
