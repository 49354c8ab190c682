"""A print sent from printfleet shows its progress as toasts on the live connection of the person who sent it, on
any page, and on nobody else's."""

from __future__ import annotations

import asyncio
import re

import pytest
import websockets

from printfleet.domain.accounts.roles import Role
from printfleet.sim.bambu import BambuFarm
from printfleet.sim.samples import demo_samples
from tests.e2e.harness import Server
from tests.support_accounts import bearer_headers

pytestmark = pytest.mark.usefixtures("mosquitto_binary")


async def _messages_until_final(ws: websockets.ClientConnection, *, timeout: float = 20.0) -> list[str]:
    """The live messages that carry a dispatch toast, until one shows the dispatch started or failed."""
    seen: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        message = str(await asyncio.wait_for(ws.recv(), deadline - loop.time()))
        if "data-dispatch" in message:
            seen.append(message)
            if "data-sticky" not in message:
                return seen
    raise AssertionError(f"no final dispatch toast: {seen}")


async def _messages_for(ws: websockets.ClientConnection, *, seconds: float) -> list[str]:
    """Every live message that arrives within ``seconds``."""
    heard: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            heard.append(str(await asyncio.wait_for(ws.recv(), left)))
        except TimeoutError:
            break
    return heard


@pytest.mark.printers(1)
async def test_only_the_sender_gets_the_dispatch_toasts(server: Server, farm: BambuFarm) -> None:
    name, content = demo_samples()[0]
    file_id = (await server.client.post("/api/v1/files", files={"file": (name, content)})).json()["id"]
    other = await bearer_headers(server.runtime.accounts, username="olga", role=Role.OPERATOR)
    base = server.base_url.replace("http://", "ws://") + "/ui/ws"

    async with (
        websockets.connect(base + "?view=toasts&lang=en", additional_headers=server.headers) as sender,
        websockets.connect(base + "?view=printers&lang=de", additional_headers=other) as bystander,
    ):
        await asyncio.wait_for(bystander.recv(), 5)  # the cards (a toasts-only page gets no snapshot; both are
        # subscribed once the handshake is answered)
        sent = await server.client.post(f"/api/v1/printers/{farm[0].printer_id}/print", json={"file_id": file_id})
        assert sent.status_code == 202, sent.text
        dispatch_id = sent.json()["id"]

        toasts = await _messages_until_final(sender)
        heard = await _messages_for(bystander, seconds=1.5)
    assert not [message for message in heard if "data-dispatch" in message]  # the other operator's pages stay quiet

    final = (await server.client.get(f"/api/v1/dispatches/{dispatch_id}")).json()
    assert all(f'data-dispatch="{dispatch_id}"' in toast for toast in toasts)
    assert f"Print of calibration_cube on {farm[0].name}: waiting to send" in toasts[0]
    words = {"started": "started", "failed": "failed"}[final["state"]]
    assert re.search(rf"Print of calibration_cube on {re.escape(farm[0].name)}: {words}", toasts[-1])
    assert ("toast-success" if final["state"] == "started" else "toast-error") in toasts[-1]
