"""Three ``printfleet serve`` processes on one PostgreSQL: exactly one runs a singleton role; a holder paused past
its lease (SIGSTOP) is replaced and, woken (SIGCONT), finds its role gone; a holder killed with SIGKILL is replaced
within the lease's life plus one retry."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from bench import ServerProcess
from printfleet.services.leases import DEFAULT_TTL_S

ROLE = "notifications.delivery"
TAKEOVER_S = DEFAULT_TTL_S + DEFAULT_TTL_S / 3 * 1.2 + 5  # the lease's life, one retry (with jitter), a margin


async def holders(servers: list[ServerProcess]) -> list[ServerProcess]:
    found = []
    for server in servers:
        if ROLE in (await server.health())["roles"]:
            found.append(server)
    return found


async def one_holder(servers: list[ServerProcess], timeout: float) -> ServerProcess:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await holders(servers)
        if len(found) == 1:
            return found[0]
        assert len(found) == 0, f"{len(found)} processes hold {ROLE}"
        assert loop.time() < deadline, f"nobody took {ROLE} within {timeout:.0f} s"
        await asyncio.sleep(0.2)


async def test_one_process_holds_a_role_and_a_paused_or_killed_holder_is_replaced(
    tmp_path: Path, empty_postgres_url: str
) -> None:
    servers = []
    for index in range(3):
        workdir = tmp_path / f"server-{index}"
        workdir.mkdir()
        server = ServerProcess(workdir, [], settings={"database_url": empty_postgres_url})
        server.username = f"bench{index}"  # one database: an account each
        servers.append(server)
    try:
        for server in servers:
            await server.start()
        first = await one_holder(servers, timeout=TAKEOVER_S)
        await asyncio.sleep(DEFAULT_TTL_S / 2)
        assert await holders(servers) == [first]  # renewed, held, by one only

        first.process.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
        others = [server for server in servers if server is not first]
        second = await one_holder(others, timeout=TAKEOVER_S)
        first.process.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
        await asyncio.sleep(DEFAULT_TTL_S / 3 + 2)  # its next renewal is refused: it leaves the role
        assert await holders(servers) == [second]

        second.process.kill()  # type: ignore[union-attr]
        await second.process.wait()  # type: ignore[union-attr]
        survivors = [server for server in servers if server is not second]
        third = await one_holder(survivors, timeout=TAKEOVER_S)
        assert third in survivors
    finally:
        for server in servers:
            if server.process is not None and server.process.returncode is None:
                server.process.send_signal(signal.SIGCONT)
                server.process.kill()
                await server.process.wait()
