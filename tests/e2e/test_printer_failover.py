"""Three ``printfleet serve`` processes on one PostgreSQL share six simulated Bambu printers (a mosquitto each): two
printers each, one printfleet client per printer counted by its broker; a process killed with SIGKILL has its
printers owned by the others within the lease's life and a round; a process paused past its leases (SIGSTOP) loses
its printers to the others and, woken (SIGCONT), has given them up. A short lease (6 s) keeps the test brief; the
times scale with it."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest

from bench import ServerProcess, printer_entry
from printfleet.sim.bambu import BambuFarm

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("mosquitto_binary")]

TTL_S = 6.0
ROUND_S = TTL_S / 3


def farm_servers(tmp_path: Path, database_url: str, farm: BambuFarm, count: int) -> list[ServerProcess]:
    """``count`` ``printfleet serve`` processes (not started) on ``database_url``, each configured with the whole
    ``farm`` and a lease of ``TTL_S``, each with an account of its own."""
    entries = [printer_entry(config) for config in farm.printer_configs()]
    servers = []
    for index in range(count):
        workdir = tmp_path / f"server-{index}"
        workdir.mkdir()
        server = ServerProcess(
            workdir, entries, settings={"database_url": database_url, "farm": {"printer_lease_ttl": TTL_S}}
        )
        server.username = f"bench{index}"  # one database: an account each
        servers.append(server)
    return servers


async def owned(servers: list[ServerProcess]) -> list[int]:
    """The printers each server owns, by its ``/healthz`` (read whether it says ok or degraded)."""
    counts = []
    async with httpx.AsyncClient(timeout=5.0) as client:
        for server in servers:
            counts.append(int((await client.get(f"{server.base_url}/healthz")).json()["printers_owned"]))
    return counts


async def until_owned(servers: list[ServerProcess], wanted: list[int], timeout: float) -> float:
    """Seconds until the servers own ``wanted`` printers each; fails with what they own after ``timeout``."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while (now := await owned(servers)) != wanted:
        assert loop.time() - started < timeout, f"owned {now}, not {wanted}, after {timeout:.0f} s"
        await asyncio.sleep(0.1)
    return loop.time() - started


def clients(farm: BambuFarm) -> list[tuple[int, int]]:
    """Per printer: printfleet's clients on its broker now, and the most ever at once."""
    counts = []
    for printer in farm.printers:
        assert printer.broker is not None
        now, peak = printer.broker.client_sessions("pf-")
        counts.append((len(now), peak))
    return counts


async def test_killed_and_paused_owners_are_replaced_and_a_printer_never_has_two(
    tmp_path: Path, empty_postgres_url: str
) -> None:
    async with BambuFarm(6, workdir=tmp_path / "bambu", report_interval_s=0.5) as farm:
        servers = farm_servers(tmp_path, empty_postgres_url, farm, 3)
        try:
            for server in servers:
                await server.start()
            await until_owned(servers, [2, 2, 2], timeout=4 * ROUND_S + 10)
            await asyncio.sleep(1.0)  # the last connections made
            assert [now for now, _ in clients(farm)] == [1] * 6
            assert [peak for _, peak in clients(farm)] == [1] * 6  # never two at once, start-up rebalancing included

            killed, paused, alive = servers
            killed.process.kill()  # type: ignore[union-attr]
            await killed.process.wait()  # type: ignore[union-attr]
            took = await until_owned([paused, alive], [3, 3], timeout=TTL_S + 5 + ROUND_S)
            assert took <= TTL_S + ROUND_S + 2  # its leases expired, then the next round claimed them
            await asyncio.sleep(1.0)
            assert [now for now, _ in clients(farm)] == [1] * 6  # the kernel closed the killed process's clients

            paused.process.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
            await until_owned([alive], [6], timeout=TTL_S + 5 + ROUND_S)
            paused.process.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
            # Woken, it finds its leases renewed by nobody: it fences itself at once and owns nothing, then takes its
            # share back from the live process at the next rounds.
            await until_owned([paused, alive], [3, 3], timeout=4 * ROUND_S + 10)
            await asyncio.sleep(1.0)
            assert [now for now, _ in clients(farm)] == [1] * 6
            woken_log = paused.log_file.read_text(errors="replace")
            assert "ownership.fenced" in woken_log or "ownership.printers_lost" in woken_log
        finally:
            for server in servers:
                if server.process is not None and server.process.returncode is None:
                    server.process.send_signal(signal.SIGCONT)
                    server.process.kill()
                    await server.process.wait()
