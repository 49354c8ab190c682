"""Churn: ``printfleet serve`` processes on one PostgreSQL started, stopped and killed at random for half a minute
while they share four simulated Bambu printers (a mosquitto each). A printer never has two printfleet clients at
once, counted by its own broker from mosquitto's connection log; at the end every printer has exactly one."""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

import pytest

from bench import ServerProcess
from printfleet.sim.bambu import BambuFarm
from tests.e2e.test_printer_failover import TTL_S, farm_servers, owned

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("mosquitto_binary")]

CHURN_S = 30.0


async def test_processes_coming_and_going_never_leave_a_printer_with_two_clients(
    tmp_path: Path, empty_postgres_url: str
) -> None:
    chance = random.Random(19)  # the same churn every run
    async with BambuFarm(4, workdir=tmp_path / "bambu", report_interval_s=0.5) as farm:
        servers = farm_servers(tmp_path, empty_postgres_url, farm, 3)
        try:
            for server in servers:
                await server.start()
            running = list(servers)
            stopped: list[ServerProcess] = []
            events = []
            loop = asyncio.get_running_loop()
            end = loop.time() + CHURN_S
            while loop.time() < end:
                await asyncio.sleep(chance.uniform(1.0, 4.0))
                if stopped and (len(running) == 1 or chance.random() < 0.5):
                    back = stopped.pop(chance.randrange(len(stopped)))
                    await back.start()
                    running.append(back)
                    events.append("start")
                else:
                    gone = running.pop(chance.randrange(len(running)))
                    if chance.random() < 0.5:
                        assert gone.process is not None
                        gone.process.send_signal(signal.SIGKILL)
                        await gone.process.wait()
                        gone.process = None
                        events.append("kill")
                    else:
                        await gone.stop()
                        events.append("stop")
                    stopped.append(gone)
            assert {"start", "kill", "stop"} <= set(events), events

            deadline = loop.time() + TTL_S + TTL_S / 3 + 10  # a killed owner's leases expire, then a round
            while sum(await owned(running)) != len(farm.printers):
                assert loop.time() < deadline, "the printers were not all owned again"
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
            for printer in farm.printers:
                assert printer.broker is not None
                now, peak = printer.broker.client_sessions("pf-")
                assert len(now) == 1, (printer.printer_id, now)
                assert peak == 1, (printer.printer_id, peak, events)  # never two at once
        finally:
            for server in servers:
                if server.process is not None and server.process.returncode is None:
                    server.process.kill()
                    await server.process.wait()
