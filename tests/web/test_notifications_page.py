"""The Notifications page: a person adds a channel (its URL never shown again), sends a test that arrives, adds a
rule with quiet hours, switches the channel off and deletes it; a wrong time zone is refused with the reason; each
person sees only their own channels."""

from __future__ import annotations

from printfleet.domain.accounts.roles import Role
from tests.e2e.harness import Server
from tests.e2e.receivers import HttpReceiver
from tests.support_accounts import bearer_headers


async def test_a_person_adds_a_channel_tests_it_adds_a_rule_with_quiet_hours_and_deletes_it(server: Server) -> None:
    receiver = HttpReceiver()
    await receiver.start()
    try:
        empty = await server.client.get("/notifications")
        assert empty.status_code == 200
        assert "No channels yet" in empty.text
        url = f"{receiver.url}/hook"
        added = await server.client.post(
            "/ui/notifications/channels", data={"kind": "webhook", "name": "ops", "url": url}
        )
        assert added.status_code == 200, added.text
        assert "Added ops" in added.text
        assert "URL set" in added.text
        assert receiver.url not in added.text  # write-only
        [channel] = await server.runtime.notifications.channels(1)

        tested = await server.client.post(f"/ui/notifications/channels/{channel.id}/test")
        assert "Test message delivered" in tested.text
        assert len(receiver.on("/hook")) == 1

        rule = {
            "channel_id": str(channel.id),
            "events": ["print_finished", "filament_runout"],
            "quiet_start": "22:00",
            "quiet_end": "07:00",
            "quiet_timezone": "Europe/Berlin",
            "critical_bypass": "true",
        }
        refused = await server.client.post("/ui/notifications/rules", data={**rule, "quiet_timezone": "Mars/Olympus"})
        assert refused.status_code == 422
        assert "unknown time zone &#39;Mars/Olympus&#39;" in refused.text
        assert 'value="22:00"' in refused.text  # what was typed is kept
        ruled = await server.client.post("/ui/notifications/rules", data=rule)
        assert "Rule added" in ruled.text
        assert "Filament ran out, Print finished" in ruled.text
        assert "quiet 22:00–07:00 Europe/Berlin (urgent ones pass)" in ruled.text

        summary = {"channel_id": str(channel.id), "events": ["print_started"], "digest_period": "daily"}
        bad_summary = await server.client.post("/ui/notifications/rules", data={**summary, "digest_at": "25:00"})
        assert bad_summary.status_code == 422
        assert "Summary: choose hourly or daily, and a time as HH:MM." in bad_summary.text
        daily = await server.client.post(
            "/ui/notifications/rules", data={**summary, "digest_at": "18:30", "digest_timezone": "America/New_York"}
        )
        assert "daily summary at 18:30 (America/New_York)" in daily.text
        stored = [rule.digest for rule in await server.runtime.notifications.rules(1) if rule.digest is not None]
        assert [d.text() for d in stored] == ["daily at 18:30 (America/New_York)"]

        off = await server.client.post(f"/ui/notifications/channels/{channel.id}/enabled", data={"enabled": "false"})
        assert "ops switched off" in off.text
        assert not (await server.runtime.notifications.channel(1, channel.id)).enabled

        deleted = await server.client.post(f"/ui/notifications/channels/{channel.id}/delete")
        assert "No channels yet" in deleted.text
        assert await server.runtime.notifications.rules(1) == []
    finally:
        await receiver.stop()


async def test_each_person_sees_only_their_own_channels_in_german(server: Server) -> None:
    await server.client.post(
        "/ui/notifications/channels", data={"kind": "webhook", "name": "admins-hook", "url": "https://example.org/a"}
    )
    member = await bearer_headers(server.runtime.accounts, username="maya", role=Role.MEMBER)
    mine = await server.client.get("/notifications", headers={**member, "Accept-Language": "de"})
    assert mine.status_code == 200
    assert "admins-hook" not in mine.text
    assert "Benachrichtigungen" in mine.text
    [admins] = await server.runtime.notifications.channels(1)
    refused = await server.client.post(f"/ui/notifications/channels/{admins.id}/delete", headers=member)
    assert refused.status_code == 404
    assert await server.runtime.notifications.channels(1) == [admins]


async def test_own_message_texts_are_kept_with_the_reason_when_refused_and_saved_when_right(server: Server) -> None:
    form = {
        "kind": "webhook",
        "name": "shop",
        "url": "http://127.0.0.1:9/hook",
        "title_template": "{{ printer.id }}: {{ event }}",
        "body_template": "{% if event == 'print_failed' %}Look at {{ printer.id }}",
    }
    refused = await server.client.post("/ui/notifications/channels", data=form)
    assert refused.status_code == 422
    assert "body_template: " in refused.text
    assert "{{ printer.id }}: {{ event }}" in refused.text  # what was typed is kept
    assert await server.runtime.notifications.channels(1) == []

    added = await server.client.post(
        "/ui/notifications/channels", data={**form, "body_template": form["body_template"] + "{% endif %}"}
    )
    assert added.status_code == 200, added.text
    [channel] = await server.runtime.notifications.channels(1)
    assert channel.title_template == "{{ printer.id }}: {{ event }}"
