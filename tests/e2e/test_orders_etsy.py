"""Etsy orders end to end, on the Etsy stand-in (``printfleet.sim.etsy``, following Etsy's Open API v3) and simulated
Bambu Lab printers behind mosquitto, with a real printfleet server on SQLite and PostgreSQL: the shop connected
through OAuth with PKCE, three paid receipts imported once (a second poll adds nothing), matched, auto-scheduled,
printed, the order ``printed`` and shipped (the stand-in receives the shipment); an expired access token is refreshed
and the rotated tokens saved sealed; a revoked refresh token marks the shop ``reconnect_needed`` without a crash."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text

from printfleet.domain.printer import PrinterConfig, QueueMode
from printfleet.services.dispatch.steps import DispatchTimings
from printfleet.sim.bambu import BambuFarm
from printfleet.sim.etsy import EtsyStandIn
from printfleet.sim.etsy_receipts import personalisation, transaction, variation
from printfleet.store.database import Database
from tests.e2e.harness import Server, running
from tests.e2e.receivers import HttpReceiver
from tests.files_samples import bambu_3mf

pytestmark = pytest.mark.usefixtures("mosquitto_binary")

FAST = DispatchTimings(confirm_window_s=3.0, confirm_extension_s=1.0, poll_s=0.05, reconcile_wait_s=10)
REDIRECT = "https://farm.example/ui/shops/etsy/callback"
WEBHOOK_TOKEN = "wh-7c1d0e3f9a2b4c5d6e7f8a9b"
KEYCHAIN, VASE, MUG = 1_462_850_311, 1_462_850_313, 1_462_850_399
Body = dict[str, Any]


@pytest.fixture
async def farm(tmp_path: Path) -> AsyncIterator[BambuFarm]:
    async with BambuFarm(
        2, workdir=tmp_path / "bambu", report_interval_s=0.1, prepare_s=0.2, speed_factor=3000
    ) as bambu:
        yield bambu


@pytest.fixture
async def etsy() -> AsyncIterator[EtsyStandIn]:
    stand_in = EtsyStandIn(redirect_uris=[REDIRECT])
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


def _server(database_url: str, farm: BambuFarm, etsy: EtsyStandIn, tmp_path: Path) -> Server:
    printers: list[PrinterConfig] = [c.replace(queue_mode=QueueMode.SCHEDULED) for c in farm.printer_configs()]
    return Server(
        database_url,
        printers,
        files={"directory": str(tmp_path / "lib")},
        dispatch={"require_plate_clear": False},
        schedule={"stagger": 0, "interval": 0.5},
        orders={"auto_schedule": True},
        etsy={
            "keystring": etsy.keystring,
            "shared_secret": etsy.shared_secret,
            "redirect_url": REDIRECT,
            "api_url": etsy.url,
            "token_url": etsy.token_url,
            "authorize_url": etsy.authorize_url,
            "poll_interval": 3600,
            "webhook_token": WEBHOOK_TOKEN,
        },
        secrets={"key_file": str(tmp_path / "secrets.key")},
        dispatch_timings=FAST,
    )


def receipts(etsy: EtsyStandIn) -> None:
    """Three paid receipts: 7 keychains (4 a plate), a vase, and a mug nobody made a profile for."""
    soon = int((datetime.now(UTC) + timedelta(days=3)).timestamp())
    etsy.add_receipt(
        name="Grace Hopper",
        transactions=[
            transaction(
                title="Star keychain",
                quantity=7,
                listing_id=KEYCHAIN,
                sku="KEY-STAR",
                variations=[variation("Color", "Galaxy Black")],
                expected_ship_date=soon,
            )
        ],
    )
    etsy.add_receipt(
        name="Hedy Lamarr",
        transactions=[
            transaction(
                title="Spiral vase",
                listing_id=VASE,
                variations=[personalisation("Not requested on this item.")],
                expected_ship_date=soon,
            )
        ],
    )
    etsy.add_receipt(name="Alan Turing", transactions=[transaction(title="Mug", listing_id=MUG)])


async def post(server: Server, path: str, body: Any = None, *, expect: int = 200) -> Any:
    response = await server.client.post(path, json=body)
    assert response.status_code == expect, response.text
    return response.json() if response.content else None


async def connect(server: Server) -> None:
    """Walk the OAuth flow as the admin's browser would: printfleet → Etsy's authorize page → the callback."""
    start = await post(server, "/api/v1/shops/etsy/connect")
    async with httpx.AsyncClient() as browser:
        approved = await browser.get(start["authorize_url"])
    assert approved.status_code == 302, approved.text
    back = urlsplit(approved.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT
    query = {key: values[0] for key, values in parse_qs(back.query).items()}
    callback = await server.client.get("/ui/shops/etsy/callback", params=query)
    assert callback.status_code == 200, callback.text
    assert "Etsy shop connected" in callback.text


async def etsy_orders(server: Server) -> list[Body]:
    listed = (await server.client.get("/api/v1/orders", params={"source": "etsy", "limit": 200})).json()
    return list(listed["orders"])


async def wait_order(server: Server, order_id: int, status: str, *, timeout: float = 40.0) -> Body:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        body = dict((await server.client.get(f"/api/v1/orders/{order_id}")).json())
        if body["status"] == status:
            return body
        if loop.time() > deadline:
            raise AssertionError(f"order {order_id} never became {status}: {body}")
        await asyncio.sleep(0.2)


async def test_etsy_receipts_are_imported_once_printed_and_shipped_back(
    database_url: str, farm: BambuFarm, etsy: EtsyStandIn, tmp_path: Path
) -> None:
    receipts(etsy)
    async with running(_server(database_url, farm, etsy, tmp_path)) as server:
        file_id = await server.upload("keychain.gcode.3mf", bambu_3mf())
        for name, listing, units in (("Star keychain", KEYCHAIN, 4), ("Spiral vase", VASE, 1)):
            profile = {
                "name": name,
                "listing_id": str(listing),
                "parts": [{"file_id": file_id, "units_per_plate": units}],
            }
            await post(server, "/api/v1/product-profiles", profile, expect=201)
        assert (await server.client.get("/api/v1/shops/etsy")).json()["state"] == "disconnected"

        await connect(server)
        await post(server, "/api/v1/shops/etsy/poll")  # whatever the first poll after connecting already took
        status = (await server.client.get("/api/v1/shops/etsy")).json()
        assert (status["state"], status["shop_id"]) == ("connected", str(etsy.shop_id))
        orders = await etsy_orders(server)
        assert sorted(order["buyer_name"] for order in orders) == ["Alan Turing", "Grace Hopper", "Hedy Lamarr"]
        assert (await post(server, "/api/v1/shops/etsy/poll"))["received"] <= 3
        assert len(await etsy_orders(server)) == 3, "a second poll adds nothing"

        by_buyer = {order["buyer_name"]: order for order in orders}
        assert by_buyer["Alan Turing"]["status"] == "needs_attention"
        keychain = await wait_order(server, by_buyer["Grace Hopper"]["id"], "printed")
        assert keychain["progress"] == {"printed": 2, "needed": 2, "failed": 0}
        assert keychain["lines"][0]["variations"] == [{"name": "Color", "value": "Galaxy Black"}]
        await wait_order(server, by_buyer["Hedy Lamarr"]["id"], "printed")

        # The shipment is stored with the order and sent to Etsy after commit, by the shop's sync.
        await post(server, f"/api/v1/orders/{keychain['id']}/ship", {"tracking_code": "1Z999AA1", "carrier": "ups"})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not (shipped := etsy.receipt(int(keychain["external_id"])))["is_shipped"]:
            assert loop.time() < deadline, "the shipment never reached Etsy"
            await asyncio.sleep(0.1)
        assert [(s["tracking_code"], s["carrier_name"]) for s in shipped["shipments"]] == [("1Z999AA1", "ups")]


async def test_an_expired_token_is_refreshed_and_a_revoked_one_asks_for_a_reconnect(
    database_url: str, farm: BambuFarm, etsy: EtsyStandIn, tmp_path: Path
) -> None:
    async with running(_server(database_url, farm, etsy, tmp_path)) as server:
        await connect(server)
        await post(server, "/api/v1/shops/etsy/poll")
        async with Database(database_url) as database, database.transaction() as session:
            sealed_before = (await session.execute(text("SELECT tokens FROM shop_connections"))).scalar_one()

        etsy.expire_access_tokens()
        receipts(etsy)
        assert (await post(server, "/api/v1/shops/etsy/poll"))["received"] == 3
        async with Database(database_url) as database, database.transaction() as session:
            sealed_after = (await session.execute(text("SELECT tokens FROM shop_connections"))).scalar_one()
        assert sealed_after != sealed_before, "the rotated refresh token was saved"
        assert str(etsy.user_id) not in sealed_after, "tokens are stored sealed, never in clear"

        receiver = HttpReceiver()
        await receiver.start()
        try:
            channel = await server.client.post(
                "/api/v1/notifications/channels",
                json={"kind": "webhook", "name": "shop", "url": f"{receiver.url}/hook"},
            )
            rule = {"channel_id": channel.json()["id"], "events": ["shop_reconnect_needed"]}
            assert (await server.client.post("/api/v1/notifications/rules", json=rule)).status_code == 201
            etsy.revoke_all_tokens()
            etsy.expire_access_tokens()
            assert (await post(server, "/api/v1/shops/etsy/poll"))["received"] == 0
            assert (await post(server, "/api/v1/shops/etsy/poll"))["received"] == 0
            await receiver.wait_for(lambda: len(receiver.on("/hook")) == 1)
            await asyncio.sleep(0.8)  # the second refused poll tells nobody again
            [told] = receiver.on("/hook")
            assert told.json()["data"]["title"] == "Connect Etsy again"
            assert "connect the shop again" in told.json()["data"]["shop"]["problem"]
        finally:
            await receiver.stop()
        status = (await server.client.get("/api/v1/shops/etsy")).json()
        assert status["state"] == "reconnect_needed"
        assert "connect the shop again" in status["last_error"]
        page = (await server.client.get("/orders")).text
        assert "reconnect needed" in page
        settings = (await server.client.get("/settings")).text  # the admin sees it where shops are connected too
        assert "reconnect needed" in settings.split('id="shops"')[1]
        assert 'action="/ui/shops/etsy/connect"' in settings
        assert len(await etsy_orders(server)) == 3


async def _polls_settled(server: Server) -> None:
    """Wait until connecting the shop has polled it and no poll follows for a second: connecting can land while the
    poller's first round is under way, which then polls once more at once (a wake during a poll is kept)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    seen = None
    while True:
        polled = (await server.client.get("/api/v1/shops/etsy")).json()["last_poll_at"]
        if polled is not None and polled == seen:
            return
        assert loop.time() < deadline, f"connecting the shop did not poll it, or polls never stopped ({polled})"
        seen = polled
        await asyncio.sleep(1.0 if polled is not None else 0.05)


async def test_etsys_order_paid_webhook_brings_the_next_poll_forward(
    database_url: str, farm: BambuFarm, etsy: EtsyStandIn, tmp_path: Path
) -> None:
    async with running(_server(database_url, farm, etsy, tmp_path)) as server:
        await connect(server)
        await _polls_settled(server)
        receipts(etsy)  # the polls connecting starts are over: the next is an hour away
        anyone = httpx.AsyncClient(base_url=server.base_url)  # Etsy calls without printfleet's credentials
        body = {
            "event_type": "order.paid",
            "resource_url": f"{etsy.url}/v3/application/shops/1/receipts/2",
            "shop_id": 1,
        }
        try:
            wrong = await anyone.post("/api/v1/shops/etsy/webhook/not-the-token", json=body)
            assert wrong.status_code == 404
            await asyncio.sleep(0.5)
            assert await etsy_orders(server) == []  # a stranger's call polls nothing
            hinted = await anyone.post(f"/api/v1/shops/etsy/webhook/{WEBHOOK_TOKEN}", json=body)
            assert hinted.status_code == 202, hinted.text
        finally:
            await anyone.aclose()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while len(await etsy_orders(server)) < 3:
            assert loop.time() < deadline, "the webhook did not bring a poll"
            await asyncio.sleep(0.1)
