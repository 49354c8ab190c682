"""The notifications API: each person manages only their own channels and rules (another's is 404), every
signed-in role may, bad URLs and secrets are refused without being quoted, and a test send reports why it failed."""

from __future__ import annotations

import base64

from printfleet.domain.accounts.roles import Role
from tests.api.conftest import RunningServer
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
    assert tested.json() == {"delivered": False, "reason": "your account has no email address"}
    nonsense = (await server.client.post(CHANNELS, json={"kind": "apprise", "name": "x", "url": "nosuch://a"})).json()
    tested = await server.client.post(f"{CHANNELS}/{nonsense['id']}/test")
    assert tested.json() == {"delivered": False, "reason": "Apprise does not understand the channel's url"}


async def test_preferences_of_an_unknown_printer_are_404(server: RunningServer) -> None:
    assert (await server.client.get("/api/bambu/notifications/nope")).status_code == 404
    put = await server.client.put("/api/bambu/notifications/nope", json={"email_enabled": True})
    assert put.status_code == 404
