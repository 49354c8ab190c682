"""The notifications API: each person manages only their own channels and rules (another's is 404), every
signed-in role may, bad URLs and secrets are refused without being quoted, and a test send reports why it failed."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from printfleet.domain.accounts.roles import Role
from printfleet.domain.events import PrinterWentOffline
from tests.api.conftest import RunningServer
from tests.e2e.receivers import HttpReceiver
from tests.support_accounts import bearer_headers

CHANNELS = "/api/v1/notifications/channels"
SECRET = "whsec_" + base64.b64encode(b"x" * 32).decode()


async def test_a_viewer_manages_their_own_channels_and_nobody_elses(server: RunningServer) -> None:
    viewer = await bearer_headers(server.runtime.accounts, username="vera", role=Role.VIEWER)
    made = await server.client.post(
        CHANNELS, json={"kind": "webhook", "name": "mine", "url": "http://127.0.0.1:9/x", "secret": SECRET}
    )
    assert made.status_code == 201, made.text
    admin_channel = made.json()["id"]
    own = await server.client.post(CHANNELS, json={"kind": "email", "name": "mail"}, headers=viewer)
    assert own.status_code == 201, own.text

    listed = (await server.client.get(CHANNELS, headers=viewer)).json()["channels"]
    assert [channel["name"] for channel in listed] == ["mail"]
    for method, path in (
        ("GET", f"{CHANNELS}/{admin_channel}"),
        ("PATCH", f"{CHANNELS}/{admin_channel}"),
        ("DELETE", f"{CHANNELS}/{admin_channel}"),
        ("POST", f"{CHANNELS}/{admin_channel}/test"),
        ("GET", f"{CHANNELS}/{admin_channel}/deliveries"),
    ):
        answer = await server.client.request(method, path, headers=viewer, json={} if method == "PATCH" else None)
        assert answer.status_code == 404, (method, path, answer.text)
    rule = {"channel_id": admin_channel, "events": ["print_finished"]}
    assert (await server.client.post("/api/v1/notifications/rules", json=rule, headers=viewer)).status_code == 404
    assert (await server.client.get(f"{CHANNELS}/{admin_channel}")).status_code == 200  # still there for its owner


async def test_signing_in_is_needed(server: RunningServer) -> None:
    answer = await server.client.get(CHANNELS, headers={"Authorization": "Bearer pf_nonsense"})
    assert answer.status_code == 401


async def test_unusable_urls_and_secrets_are_refused_without_quoting_them(server: RunningServer) -> None:
    cases = [
        {"kind": "webhook", "name": "w", "url": "http://127.0.0.1:9/x", "secret": "whsec_short+TOPSECRET"},
        {"kind": "webhook", "name": "w", "url": "ftp://TOPSECRET@host/x"},
        {"kind": "apprise", "name": "a"},
        {"kind": "email", "name": "e", "url": "mailto://TOPSECRET@host"},
        {"kind": "apprise", "name": "a", "url": "json://host", "secret": SECRET},
        {"kind": "webhook", "name": "w", "url": "http://127.0.0.1:9/x", "secret": "whsec_" + "TOPSECRET" * 30},
    ]
    for body in cases:
        answer = await server.client.post(CHANNELS, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert "TOPSECRET" not in answer.text


async def test_a_test_send_says_why_it_was_not_delivered(server: RunningServer) -> None:
    email = (await server.client.post(CHANNELS, json={"kind": "email", "name": "mail"})).json()
    tested = await server.client.post(f"{CHANNELS}/{email['id']}/test")
    assert tested.status_code == 200
    assert tested.json() == {"delivered": False, "reason": "the account has no email address"}
    nonsense = (await server.client.post(CHANNELS, json={"kind": "apprise", "name": "x", "url": "nosuch://a"})).json()
    tested = await server.client.post(f"{CHANNELS}/{nonsense['id']}/test")
    assert tested.json() == {"delivered": False, "reason": "Apprise does not understand the channel's url"}


async def test_preferences_of_an_unknown_printer_are_404(server: RunningServer) -> None:
    assert (await server.client.get("/api/bambu/notifications/nope")).status_code == 404
    put = await server.client.put("/api/bambu/notifications/nope", json={"email_enabled": True})
    assert put.status_code == 404


async def test_a_channel_with_its_own_texts_gets_its_messages_in_them_and_a_broken_one_is_refused(
    server: RunningServer,
) -> None:
    broken = await server.client.post(
        CHANNELS,
        json={"kind": "webhook", "name": "x", "url": "http://127.0.0.1:9/x", "body_template": "ok\n{{ job.name "},
    )
    assert broken.status_code == 422
    assert "body_template" in broken.text
    assert "line 2" in broken.text

    own = {
        "title_template": "{{ printer.id }} is gone",
        "body_template": "Since {{ offline.since | local('Europe/Berlin', '%H:%M') }} ({{ job.name }}).",
    }
    made = await server.client.post(
        CHANNELS, json={"kind": "webhook", "name": "shop", "url": "http://127.0.0.1:9/x", **own}
    )
    assert made.status_code == 201, made.text
    assert {key: made.json()[key] for key in own} == own
    channel = made.json()["id"]
    rule = {"channel_id": channel, "events": ["printer_offline"]}
    assert (await server.client.post("/api/v1/notifications/rules", json=rule)).status_code == 201

    # after the rule was made (a rule applies to what happens after it), shown in the user's zone (Berlin)
    since = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=5)
    berlin = since.astimezone(ZoneInfo("Europe/Berlin"))
    server.runtime.bus.publish(PrinterWentOffline(printer_id="x1c-2", since=since, reason="unreachable", detail=None))

    async def written() -> list[dict[str, Any]]:
        body = (await server.client.get(f"{CHANNELS}/{channel}/deliveries")).json()
        return list(body["deliveries"])

    for _ in range(100):
        if deliveries := await written():
            break
        await asyncio.sleep(0.05)
    [message] = deliveries
    assert message["title"] == "x1c-2 is gone"
    assert message["body"] == f"Since {berlin:%H:%M} ()."  # no job in an offline message: empty, not an error

    back = await server.client.patch(f"{CHANNELS}/{channel}", json={"title_template": "", "body_template": ""})
    assert (back.json()["title_template"], back.json()["body_template"]) == (None, None)  # printfleet's texts again


async def test_a_discord_channel_needs_a_target_or_a_webhook_url(server: RunningServer) -> None:
    refused = [
        {"kind": "discord", "name": "d"},  # neither a target nor a webhook URL
        {"kind": "discord", "name": "d", "target": "general"},  # a name, not a channel id
        {"kind": "discord", "name": "d", "target": "123"},  # too short for a snowflake
        {"kind": "discord", "name": "d", "target": "dm", "url": "discord://TOPSECRET/x"},  # an Apprise URL
        {"kind": "webhook", "name": "w", "url": "http://127.0.0.1:9/x", "target": "dm"},  # only discord has targets
    ]
    for body in refused:
        answer = await server.client.post(CHANNELS, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert "TOPSECRET" not in answer.text
    direct = await server.client.post(CHANNELS, json={"kind": "discord", "name": "me", "target": "DM"})
    assert direct.status_code == 201, direct.text
    assert (direct.json()["target"], direct.json()["has_url"]) == ("dm", False)
    post = await server.client.post(CHANNELS, json={"kind": "discord", "name": "farm", "target": "222222222222222222"})
    assert post.json()["target"] == "222222222222222222"
    moved = await server.client.patch(f"{CHANNELS}/{post.json()['id']}", json={"target": "nonsense"})
    assert moved.status_code == 422


async def test_a_discord_channel_without_the_bot_sends_to_its_webhook_or_says_why_it_cannot(
    server: RunningServer,
) -> None:
    # No bot is configured on this server: a direct-message channel cannot send, and says so at once.
    direct = (await server.client.post(CHANNELS, json={"kind": "discord", "name": "me", "target": "dm"})).json()
    tested = (await server.client.post(f"{CHANNELS}/{direct['id']}/test")).json()
    assert tested == {"delivered": False, "reason": "the account is not linked to Discord (use /link in Discord)"}
    post = (
        await server.client.post(CHANNELS, json={"kind": "discord", "name": "farm", "target": "222222222222222222"})
    ).json()
    tested = (await server.client.post(f"{CHANNELS}/{post['id']}/test")).json()
    assert tested == {
        "delivered": False,
        "reason": "printfleet has no Discord bot (discord.token) and the channel has no Discord webhook url",
    }

    # With a Discord webhook URL (Discord's "Execute Webhook", here a loopback receiver) the message goes there.
    receiver = HttpReceiver(status=204)
    await receiver.start()
    try:
        url = f"{receiver.url}/api/webhooks/1/token"
        hooked = await server.client.patch(f"{CHANNELS}/{post['id']}", json={"url": url})
        assert hooked.json()["has_url"] is True
        tested = (await server.client.post(f"{CHANNELS}/{post['id']}/test")).json()
        assert tested == {"delivered": True, "reason": None}
        [request] = receiver.requests
        assert request.path == "/api/webhooks/1/token"
        body = request.json()
        assert body["allowed_mentions"] == {"parse": []}  # a notification pings nobody
        assert body["content"].startswith("**")
        assert "farm" in body["content"]

        receiver.status = 404  # the webhook was deleted in Discord: retrying cannot help
        tested = (await server.client.post(f"{CHANNELS}/{post['id']}/test")).json()
        assert tested == {"delivered": False, "reason": "Discord refused the webhook (HTTP 404)"}
    finally:
        await receiver.stop()
