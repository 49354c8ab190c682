"""Notifications end to end: a real printfleet server watching simulated Bambu Lab printers (MQTT through a real
broker) delivers to real loopback receivers — an HTTP server checking Standard Webhooks signatures, Apprise
``json://`` to the same server, and an aiosmtpd SMTP server — on SQLite and PostgreSQL. No transport is mocked."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog

from printfleet.domain.accounts.roles import Role
from printfleet.observability.logging import configure_logging
from printfleet.sim.bambu import BambuFarm
from printfleet.sim.tls import SimCertificateAuthority
from tests.e2e.harness import Server, printer_owner, statuses
from tests.e2e.receivers import HttpReceiver, SmtpReceiver
from tests.support_accounts import bearer_headers

pytestmark = pytest.mark.usefixtures("mosquitto_binary")

SECRET = "whsec_" + base64.b64encode(b"printfleet-test-signing-key-32by").decode()
FAST = {"retry_initial": 0.2, "retry_max": 0.5, "send_timeout": 5}


@pytest.fixture
async def farm(tmp_path: Path) -> AsyncIterator[BambuFarm]:
    async with BambuFarm(1, workdir=tmp_path / "bambu", report_interval_s=0.1, prepare_s=0.2) as bambu:
        yield bambu


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    running = HttpReceiver()
    yield running
    await running.stop()


async def started(database_url: str, farm: BambuFarm, **notifications: Any) -> Server:
    server = Server(database_url, farm.printer_configs(), notifications={**FAST, **notifications})
    await server.start()
    await server.wait_online()
    return server


async def add_channel(server: Server, **body: Any) -> dict[str, Any]:
    response = await server.client.post("/api/v1/notifications/channels", json=body)
    assert response.status_code == 201, response.text
    channel: dict[str, Any] = response.json()
    return channel


async def add_rule(server: Server, channel_id: int, events: list[str], printer_ids: list[str] | None = None) -> None:
    body = {"channel_id": channel_id, "events": events, "printer_ids": printer_ids or []}
    response = await server.client.post("/api/v1/notifications/rules", json=body)
    assert response.status_code == 201, response.text


async def deliveries(server: Server, channel_id: int) -> list[dict[str, Any]]:
    response = await server.client.get(f"/api/v1/notifications/channels/{channel_id}/deliveries")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["deliveries"]
    return found


async def test_signed_webhook_hears_start_and_finish_once_each_across_a_restart(
    database_url: str, farm: BambuFarm, receiver: HttpReceiver
) -> None:
    await receiver.start()
    server = await started(database_url, farm)
    try:
        channel = await add_channel(server, kind="webhook", name="ci", url=f"{receiver.url}/hook", secret=SECRET)
        assert channel["has_url"] is True
        assert channel["has_secret"] is True
        await add_rule(server, channel["id"], ["print_started", "print_finished"])
        printer = farm[0]
        await printer.start_print("benchy.gcode.3mf", duration_s=600)
        await receiver.wait_for(lambda: len(receiver.on("/hook")) == 1)
        await server.stop()
        assert printer.print is not None
        printer.print.started_at -= 600  # the print finishes while printfleet is down
        await server.start()
        await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"])
        await receiver.wait_for(lambda: len(receiver.on("/hook")) == 2)
        await asyncio.sleep(1.0)  # a repeat would arrive by now (retries are 0.2 s apart here)
        assert receiver.webhook_events("/hook", SECRET) == ["print_started", "print_finished"]
        assert len({request.headers["webhook-id"] for request in receiver.on("/hook")}) == 2
        finished = receiver.on("/hook")[1].json()
        assert finished["data"]["job"]["name"] == "benchy"
        assert finished["data"]["printer"]["id"] == printer.printer_id
        assert finished["data"]["title"] == "Print finished: benchy"
        history = await deliveries(server, channel["id"])
        assert [(d["event"], d["state"], d["attempts"]) for d in history] == [
            ("print_finished", "delivered", 1),
            ("print_started", "delivered", 1),
        ]
    finally:
        await server.stop()


async def test_a_receiver_down_gets_its_messages_once_when_back_even_after_a_restart(
    database_url: str, farm: BambuFarm, receiver: HttpReceiver
) -> None:
    server = await started(database_url, farm)
    try:
        webhook = await add_channel(server, kind="webhook", name="ci", url=f"{receiver.url}/hook", secret=SECRET)
        apprise = await add_channel(
            server, kind="apprise", name="json", url=f"json://127.0.0.1:{receiver.port}/apprise"
        )
        for channel in (webhook, apprise):
            await add_rule(server, channel["id"], ["print_finished"])
        await farm[0].start_print("cube.gcode.3mf", duration_s=0.8)
        await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"])

        async def retrying() -> bool:
            found = [*await deliveries(server, webhook["id"]), *await deliveries(server, apprise["id"])]
            return len(found) == 2 and all(d["state"] == "pending" and d["attempts"] >= 2 for d in found)

        for _ in range(200):
            if await retrying():
                break
            await asyncio.sleep(0.1)
        [pending] = await deliveries(server, webhook["id"])
        assert pending["last_error"].startswith("webhook not reached")
        assert str(receiver.port) not in pending["last_error"]
        await server.stop()
        await receiver.start()
        await server.start()
        await receiver.wait_for(lambda: len(receiver.on("/hook")) == 1 and len(receiver.on("/apprise")) == 1)
        await asyncio.sleep(1.0)
        assert receiver.webhook_events("/hook", SECRET) == ["print_finished"]
        [posted] = receiver.on("/apprise")
        assert posted.json()["title"] == "Print finished: cube"
        assert posted.json()["type"] == "success"
        [done] = await deliveries(server, apprise["id"])
        assert done["state"] == "delivered"
        assert done["attempts"] >= 3
    finally:
        await server.stop()


async def test_per_printer_preferences_mail_the_operator_and_post_their_webhook_but_not_to_a_member(
    database_url: str, farm: BambuFarm, receiver: HttpReceiver
) -> None:
    await receiver.start()
    printer = farm[0]
    with SmtpReceiver() as smtp:
        server = await started(
            database_url,
            farm,
            smtp={"host": "127.0.0.1", "port": smtp.port, "starttls": False, "sender": "farm@x.test"},
        )
        try:
            accounts = server.runtime.accounts
            await accounts.create_user(username="ops", password=None, role=Role.OPERATOR, email="ops@example.test")
            ops = await bearer_headers(accounts, username="ops")
            member = await bearer_headers(accounts, username="maya", role=Role.MEMBER)
            url = f"/api/bambu/notifications/{printer.printer_id}"
            defaults = (await server.client.get(url, headers=ops)).json()
            assert defaults["notify_print_complete"] is True
            assert defaults["email_enabled"] is False
            body = {"notify_print_failed": True, "email_enabled": True, "webhook_url": f"{receiver.url}/compat"}
            saved = await server.client.put(url, json=body, headers=ops)
            assert saved.status_code == 200, saved.text
            assert saved.json()["webhook_url"] is None
            assert saved.json()["has_webhook_url"] is True
            again = (await server.client.get(url, headers=ops)).json()
            assert again == saved.json()
            snoop = await server.client.post(
                "/api/v1/notifications/channels",
                json={"kind": "webhook", "name": "all", "url": f"{receiver.url}/member"},
                headers=member,
            )
            assert snoop.status_code == 201, snoop.text
            rule = {"channel_id": snoop.json()["id"], "events": ["print_failed", "print_started"]}
            assert (
                await server.client.post("/api/v1/notifications/rules", json=rule, headers=member)
            ).status_code == 201

            await printer.start_print("warp.gcode.3mf", duration_s=30)
            await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
            await printer.fail()
            await receiver.wait_for(lambda: len(receiver.on("/compat")) == 1)
            for _ in range(100):
                if smtp.mails:
                    break
                await asyncio.sleep(0.1)
            [mail] = smtp.mails
            assert mail["To"] == "ops@example.test"
            assert mail["From"] == "farm@x.test"
            assert mail["Subject"] == "Print failed: warp"
            assert printer.printer_id in mail.get_payload()
            [compat] = receiver.on("/compat")
            assert compat.json()["type"] == "print_failed"
            assert "webhook-signature" not in compat.headers  # a preference's webhook has no secret to sign with
            await asyncio.sleep(1.0)
            assert receiver.on("/member") == []  # a member hears of their own prints only
            assert len(smtp.mails) == 1
        finally:
            await server.stop()


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out = io.StringIO()
    configure_logging(level="DEBUG", json_format=True, stream=out)
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)
    structlog.reset_defaults()


async def test_channel_urls_and_secrets_never_leave_in_a_response_or_a_log_line(
    database_url: str, farm: BambuFarm, receiver: HttpReceiver, captured_logs: io.StringIO
) -> None:
    await receiver.start()
    token = "s3cretTOKENinURL"
    apprise_url = f"json://127.0.0.1:{receiver.port}/hook?+X-Token={token}"
    server = await started(database_url, farm)
    texts: list[str] = []
    try:
        apprise = await add_channel(server, kind="apprise", name="json", url=apprise_url)
        webhook = await add_channel(server, kind="webhook", name="ci", url=f"{receiver.url}/w/{token}", secret=SECRET)
        texts.append(str(apprise) + str(webhook))
        for channel in (apprise, webhook):
            await add_rule(server, channel["id"], ["print_started"])
            tested = await server.client.post(f"/api/v1/notifications/channels/{channel['id']}/test")
            assert tested.json() == {"delivered": True, "reason": None}
            texts.append(tested.text)
        patched = await server.client.patch(
            f"/api/v1/notifications/channels/{apprise['id']}", json={"url": apprise_url + "&x=1"}
        )
        texts.append(patched.text)
        await farm[0].start_print("tag.gcode.3mf", duration_s=30)
        await receiver.wait_for(lambda: len(receiver.on("/hook")) == 2 and len(receiver.on(f"/w/{token}")) == 2)
        assert receiver.on("/hook")[0].headers["x-token"] == token  # the URL's secret reached its receiver
        for path in ("/api/v1/notifications/channels", "/api/v1/notifications/rules", "/openapi.json"):
            texts.append((await server.client.get(path)).text)
        for channel in (apprise, webhook):
            texts.append(str(await deliveries(server, channel["id"])))
    finally:
        await server.stop()
    logged = captured_logs.getvalue()
    assert "notification.delivered" in logged  # the log does speak of the deliveries
    for text in [*texts, logged]:
        assert token not in text
        assert SECRET not in text
        assert SECRET.removeprefix("whsec_") not in text


async def test_a_finish_missed_while_notifications_were_off_is_sent_once_at_the_next_start(
    database_url: str, farm: BambuFarm, receiver: HttpReceiver
) -> None:
    # The same gap as a process killed between a job's commit and its outbox rows: the job ended, no row exists.
    await receiver.start()
    printer = farm[0]
    server = await started(database_url, farm)
    try:
        channel = await add_channel(server, kind="webhook", name="ci", url=f"{receiver.url}/hook", secret=SECRET)
        await add_rule(server, channel["id"], ["print_started", "print_finished"])
        await printer.start_print("clip.gcode.3mf", duration_s=600)
        await receiver.wait_for(lambda: len(receiver.on("/hook")) == 1)
    finally:
        await server.stop()
    quiet = await started(database_url, farm, enabled=False)
    try:
        assert printer.print is not None
        printer.print.started_at -= 600
        await quiet.wait_jobs(lambda jobs: statuses(jobs) == ["completed"])
        await asyncio.sleep(0.5)
        assert len(receiver.on("/hook")) == 1
    finally:
        await quiet.stop()
    for _ in range(2):  # the first start sends the missed finish; the second sends nothing more
        await server.start()
        try:
            await receiver.wait_for(lambda: len(receiver.on("/hook")) == 2)
            await asyncio.sleep(0.8)
        finally:
            await server.stop()
    assert receiver.webhook_events("/hook", SECRET) == ["print_started", "print_finished"]


async def test_a_queue_member_alone_hears_of_their_offer_and_released_reservation(
    database_url: str, farm: BambuFarm, receiver: HttpReceiver
) -> None:
    await receiver.start()
    server = await started(database_url, farm, language="de")
    try:
        member = await bearer_headers(server.runtime.accounts, username="maya", role=Role.MEMBER)
        events = ["claim_offered", "reservation_released"]
        admin_channel = await add_channel(server, kind="webhook", name="admin", url=f"{receiver.url}/admin")
        await add_rule(server, admin_channel["id"], events)
        mine = await server.client.post(
            "/api/v1/notifications/channels",
            json={"kind": "apprise", "name": "json", "url": f"json://127.0.0.1:{receiver.port}/maya"},
            headers=member,
        )
        rule = {"channel_id": mine.json()["id"], "events": events}
        assert (await server.client.post("/api/v1/notifications/rules", json=rule, headers=member)).status_code == 201

        joined = await server.client.post(
            "/api/v1/queue", json={"job_name": "Halter", "estimate": "1h"}, headers=member
        )
        assert joined.status_code == 201, joined.text
        entry_id = joined.json()["entry"]["id"]
        await receiver.wait_for(lambda: len(receiver.on("/maya")) == 1)
        offered = receiver.on("/maya")[0].json()
        assert offered["title"] == f"Du bist dran: {farm[0].printer_id}"
        assert "Halter" in offered["message"]
        claimed = await server.client.post(f"/api/v1/queue/{entry_id}/claim", json={}, headers=member)
        assert claimed.status_code == 200, claimed.text
        cancelled = await server.client.post(f"/api/v1/queue/{entry_id}/cancel", json={}, headers=member)
        assert cancelled.status_code == 200, cancelled.text
        await receiver.wait_for(lambda: len(receiver.on("/maya")) == 2)
        released = receiver.on("/maya")[1].json()
        assert released["title"] == f"Reservierung beendet: {farm[0].printer_id}"
        assert "cancelled" in released["message"]
        await asyncio.sleep(0.8)
        assert len(receiver.on("/maya")) == 2
        assert receiver.on("/admin") == []  # the queue member concerned, nobody else
    finally:
        await server.stop()


async def test_email_goes_over_starttls_with_a_login_and_a_refused_login_is_reported(
    database_url: str, farm: BambuFarm, tmp_path: Path, captured_logs: io.StringIO
) -> None:
    authority = SimCertificateAuthority.create()
    files = authority.issue("localhost", directory=tmp_path / "smtp", name="smtp", dns_names=["localhost"])
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(files.cert_file, files.key_file)
    password = "smtp-Pa55word"
    with SmtpReceiver(tls=tls, login="farm", password=password) as smtp:
        smtp_settings = {
            "host": "localhost",
            "port": smtp.port,
            "starttls": True,
            "user": "farm",
            "password": password,
            "ca_file": str(authority.write_ca(tmp_path / "smtp" / "ca.pem")),
        }
        for given, delivered in ((password, True), ("wrong", False)):
            server = await started(database_url, farm, smtp={**smtp_settings, "password": given})
            try:
                me = await server.client.patch("/api/v1/me", json={"email": "admin@example.test"})
                assert me.status_code == 200, me.text
                channel = await add_channel(server, kind="email", name="mail")
                tested = await server.client.post(f"/api/v1/notifications/channels/{channel['id']}/test")
                expected = {"delivered": True, "reason": None}
                if not delivered:
                    expected = {"delivered": False, "reason": "the SMTP server refused the login"}
                assert tested.json() == expected
            finally:
                await server.stop()
        [mail] = smtp.mails
        assert mail["To"] == "admin@example.test"
        assert mail["Subject"] == "printfleet test message"
        assert set(smtp.authenticator.tried) == {b"farm"}  # smtplib tries PLAIN, then LOGIN, after a refusal
    assert password not in captured_logs.getvalue()


async def test_a_rule_made_mid_print_hears_the_finish_but_never_the_old_start(
    database_url: str, farm: BambuFarm, receiver: HttpReceiver
) -> None:
    await receiver.start()
    printer = farm[0]
    server = await started(database_url, farm)
    try:
        await printer.start_print("lid.gcode.3mf", duration_s=600)
        [job] = await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
        channel = await add_channel(server, kind="webhook", name="ci", url=f"{receiver.url}/hook", secret=SECRET)
        await add_rule(server, channel["id"], ["print_started", "print_paused", "print_finished"])
        edited = await server.client.patch(f"/api/v1/jobs/{job['id']}", json={"notes": "blue lid"})
        assert edited.status_code == 200, edited.text  # a job_updated of a running job, after the rule
        await printer.pause()
        await server.wait_jobs(lambda jobs: statuses(jobs) == ["paused"])
        await printer.resume()
        await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
        assert printer.print is not None
        printer.print.started_at -= 600
        await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"])
        await receiver.wait_for(lambda: len(receiver.on("/hook")) == 2)
        await asyncio.sleep(0.8)
        assert receiver.webhook_events("/hook", SECRET) == ["print_paused", "print_finished"]
    finally:
        await server.stop()


async def test_first_layer_done_is_announced_once_when_the_printer_reaches_layer_two(
    database_url: str, farm: BambuFarm, receiver: HttpReceiver
) -> None:
    await receiver.start()
    server = await started(database_url, farm)
    try:
        channel = await add_channel(server, kind="webhook", name="ci", url=f"{receiver.url}/hook", secret=SECRET)
        await add_rule(server, channel["id"], ["first_layer_done"])
        await farm[0].start_print("vase.gcode.3mf", duration_s=4, total_layers=10)  # a layer every 0.4 s
        await server.wait_jobs(lambda jobs: statuses(jobs) == ["completed"], timeout=20)
        await receiver.wait_for(lambda: len(receiver.on("/hook")) == 1)
        await asyncio.sleep(0.5)
        assert receiver.webhook_events("/hook", SECRET) == ["first_layer_done"]
        message = receiver.on("/hook")[0].json()["data"]
        assert message["title"] == "First layer done: vase"
        assert message["job"]["name"] == "vase"
    finally:
        await server.stop()


async def test_a_runout_and_an_outage_are_each_announced_once(
    database_url: str, farm: BambuFarm, receiver: HttpReceiver
) -> None:
    await receiver.start()
    server = await started(database_url, farm, offline_grace=1.0)
    try:
        channel = await add_channel(server, kind="webhook", name="ops", url=f"{receiver.url}/hook", secret=SECRET)
        await add_rule(server, channel["id"], ["filament_runout", "hms_error", "printer_offline"])
        printer = farm[0]
        await printer.start_print("benchy.gcode.3mf", duration_s=600)
        await server.wait_printer(printer.printer_id, "printing")
        await printer.run_out(0)  # AMS A slot 1: the print pauses with the HMS runout code
        await receiver.wait_for(lambda: len(receiver.on("/hook")) == 1)
        await printer.disconnect(3.0)  # off the network for longer than the 1 s grace
        await receiver.wait_for(lambda: len(receiver.on("/hook")) == 2)
        await server.wait_printer(printer.printer_id, "paused")  # back, still showing the runout
        await asyncio.sleep(1.0)  # a repeat of either would arrive by now
        assert receiver.webhook_events("/hook", SECRET) == ["filament_runout", "printer_offline"]
        runout, gone = (request.json()["data"] for request in receiver.on("/hook"))
        assert runout["title"] == f"Filament ran out: {printer.printer_id}"
        assert runout["error"]["code"] == "HMS_0700_2000_0002_0001"
        assert runout["body"] == f"{printer.printer_id}: AMS A slot 1: the filament has run out. Insert a new spool."
        assert gone["title"] == f"Printer offline: {printer.printer_id}"
        assert gone["offline"]["reason"] == "unreachable"
    finally:
        await server.stop()


async def test_hms_errors_arrive_with_their_meaning_and_bambus_page_and_a_pause_at_the_printer_is_no_error(
    database_url: str, farm: BambuFarm, receiver: HttpReceiver
) -> None:
    await receiver.start()
    server = await started(database_url, farm)
    try:
        channel = await add_channel(server, kind="webhook", name="ops", url=f"{receiver.url}/hook", secret=SECRET)
        await add_rule(server, channel["id"], ["hms_error"])
        printer = farm[0]
        await printer.start_print("benchy.gcode.3mf", duration_s=600)
        await server.wait_printer(printer.printer_id, "printing")
        await printer.pause()  # a person pauses at the printer: print_error 0x03008001, no fault
        paused = await server.wait_printer(printer.printer_id, "paused")
        assert paused["status"]["error_codes"] == []
        await printer.show_hms(0x03001A00, 0x00020002)  # the nozzle is clogged
        await receiver.wait_for(lambda: len(receiver.on("/hook")) == 1)
        await printer.show_hms(0x0C000300, 0x00020099)  # a camera code printfleet has no words for
        await receiver.wait_for(lambda: len(receiver.on("/hook")) == 2)
        await asyncio.sleep(1.0)  # a repeat, or a message for the pause, would arrive by now
        assert receiver.webhook_events("/hook", SECRET) == ["hms_error", "hms_error"]
        clogged, unknown = (request.json()["data"] for request in receiver.on("/hook"))
        assert clogged["error"]["code"] == "HMS_0300_1A00_0002_0002"
        assert clogged["body"] == (
            f"{printer.printer_id} reports an error (HMS_0300_1A00_0002_0002): The nozzle is clogged. Bambu Lab "
            "explains it at https://e.bambulab.com/index.php?e=03001A0000020002&s=device_hms&lang=en"
        )
        assert unknown["error"]["text"] == "A serious error of the camera (Bambu HMS)."
        assert unknown["error"]["link"] == "https://e.bambulab.com/index.php?e=0C00030000020099&s=device_hms&lang=en"
    finally:
        await server.stop()


async def test_quiet_hours_hold_a_message_until_they_end_and_let_a_failure_through(
    database_url: str, farm: BambuFarm, receiver: HttpReceiver
) -> None:
    await receiver.start()
    server = await started(database_url, farm)
    try:
        channel = await add_channel(server, kind="webhook", name="night", url=f"{receiver.url}/hook", secret=SECRET)
        now = datetime.now(UTC)
        start, end = now - timedelta(hours=1), now + timedelta(hours=1)
        quiet = {"start": f"{start:%H:%M}", "end": f"{end:%H:%M}", "timezone": "UTC"}
        body = {"channel_id": channel["id"], "events": ["print_started", "print_failed"], "quiet_hours": quiet}
        created = await server.client.post("/api/v1/notifications/rules", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["quiet_hours"] == {**quiet, "critical_bypass": True}
        printer = farm[0]
        await printer.start_print("benchy.gcode.3mf", duration_s=600)
        await server.wait_jobs(lambda jobs: statuses(jobs) == ["running"])
        await printer.fail()
        await receiver.wait_for(lambda: len(receiver.on("/hook")) == 1)
        await asyncio.sleep(1.0)  # the start would have arrived by now, were it not held
        assert receiver.webhook_events("/hook", SECRET) == ["print_failed"]
        history = {d["event"]: d for d in await deliveries(server, channel["id"])}
        held = history["print_started"]
        assert (held["state"], held["attempts"]) == ("pending", 0)
        assert datetime.fromisoformat(held["next_attempt_at"]) == end.replace(second=0, microsecond=0)
        assert history["print_failed"]["state"] == "delivered"
    finally:
        await server.stop()


async def test_quiet_hours_name_a_real_time_zone_and_can_be_removed(database_url: str, farm: BambuFarm) -> None:
    server = await started(database_url, farm)
    try:
        channel = await add_channel(server, kind="webhook", name="night", url="https://example.org/hook")
        quiet = {"start": "22:00", "end": "07:00", "timezone": "Mars/Olympus"}
        body = {"channel_id": channel["id"], "events": ["print_finished"], "quiet_hours": quiet}
        refused = await server.client.post("/api/v1/notifications/rules", json=body)
        assert refused.status_code == 422
        assert "unknown time zone 'Mars/Olympus'" in refused.text
        body["quiet_hours"] = {**quiet, "timezone": "Europe/Berlin", "critical_bypass": False}
        rule = (await server.client.post("/api/v1/notifications/rules", json=body)).json()
        kept = await server.client.patch(f"/api/v1/notifications/rules/{rule['id']}", json={"events": ["print_failed"]})
        assert kept.json()["quiet_hours"]["timezone"] == "Europe/Berlin"
        removed = await server.client.patch(f"/api/v1/notifications/rules/{rule['id']}", json={"quiet_hours": None})
        assert removed.status_code == 200, removed.text
        assert removed.json()["quiet_hours"] is None
    finally:
        await server.stop()


async def test_a_member_who_has_not_claimed_is_reminded_once_before_the_window_ends(
    database_url: str, farm: BambuFarm, receiver: HttpReceiver
) -> None:
    await receiver.start()
    server = Server(
        database_url,
        farm.printer_configs(),
        notifications={**FAST, "claim_reminder": 3.0},
        queue={"claim_window": "8s"},
    )
    await server.start()
    try:
        await server.wait_online()
        member = await bearer_headers(server.runtime.accounts, username="maya", role=Role.MEMBER)
        mine = await server.client.post(
            "/api/v1/notifications/channels",
            json={"kind": "apprise", "name": "json", "url": f"json://127.0.0.1:{receiver.port}/maya"},
            headers=member,
        )
        rule = {"channel_id": mine.json()["id"], "events": ["claim_offered"]}
        assert (await server.client.post("/api/v1/notifications/rules", json=rule, headers=member)).status_code == 201
        joined = await server.client.post(
            "/api/v1/queue", json={"job_name": "Halter", "estimate": "1h"}, headers=member
        )
        assert joined.status_code == 201, joined.text
        await receiver.wait_for(lambda: len(receiver.on("/maya")) == 2, timeout=15)
        first, reminder = (request.json() for request in receiver.on("/maya"))
        assert first["title"] == f"Your turn: {farm[0].printer_id}"
        assert reminder["title"] == f"Reminder: Your turn: {farm[0].printer_id}"
        claimed = await server.client.post(
            f"/api/v1/queue/{joined.json()['entry']['id']}/claim", json={}, headers=member
        )
        assert claimed.status_code == 200, claimed.text
        await asyncio.sleep(1.0)
        assert len(receiver.on("/maya")) == 2
    finally:
        await server.stop()


async def role_holder(servers: list[Server], role: str, *, timeout: float = 10.0) -> Server:
    """The one server whose ``/healthz`` lists ``role``, once one does; fails when two do or none in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = [s for s in servers if role in (await s.client.get("/healthz")).json()["roles"]]
        if len(found) == 1:
            return found[0]
        assert not found, f"{len(found)} processes hold {role}"
        assert loop.time() < deadline, f"no process took {role}"
        await asyncio.sleep(0.1)


async def test_two_processes_on_one_postgresql_deliver_each_message_once_and_hand_delivery_over(
    empty_postgres_url: str, farm: BambuFarm, receiver: HttpReceiver
) -> None:
    await receiver.start()
    first = await started(empty_postgres_url, farm)
    second = await started(empty_postgres_url, farm)
    try:
        channel = await add_channel(first, kind="webhook", name="ci", url=f"{receiver.url}/hook", secret=SECRET)
        await add_rule(first, channel["id"], ["print_finished"])

        holder = await role_holder([first, second], "notifications.delivery")
        printer = farm[0]
        await printer.start_print("cube.gcode.3mf", duration_s=0.8)
        await receiver.wait_for(lambda: len(receiver.on("/hook")) == 1)
        await holder.stop()  # lets the lease go: the other process delivers from now on
        other = second if holder is first else first
        assert await role_holder([other], "notifications.delivery") is other
        await printer.start_print("benchy.gcode.3mf", duration_s=0.8)
        await receiver.wait_for(lambda: len(receiver.on("/hook")) == 2)
        await asyncio.sleep(1.5)  # a second delivery of either would arrive by now
        assert receiver.webhook_events("/hook", SECRET) == ["print_finished", "print_finished"]
        assert len({request.headers["webhook-id"] for request in receiver.on("/hook")}) == 2
    finally:
        await first.stop()
        await second.stop()


async def test_two_processes_sharing_one_printer_announce_its_runout_once(
    empty_postgres_url: str, farm: BambuFarm, receiver: HttpReceiver
) -> None:
    await receiver.start()
    first = await started(empty_postgres_url, farm)
    second = await started(empty_postgres_url, farm)
    try:
        channel = await add_channel(first, kind="webhook", name="ci", url=f"{receiver.url}/hook", secret=SECRET)
        await add_rule(first, channel["id"], ["filament_runout"])
        printer = farm[0]
        await printer_owner([first, second], printer.printer_id)  # its owner raises its alarms; both show it
        await printer.start_print("benchy.gcode.3mf", duration_s=600)
        for server in (first, second):
            await server.wait_printer(printer.printer_id, "printing")
        await printer.run_out(1)
        await receiver.wait_for(lambda: len(receiver.on("/hook")) == 1)
        await asyncio.sleep(1.5)  # the other process's announcement would arrive by now
        assert receiver.webhook_events("/hook", SECRET) == ["filament_runout"]
        assert receiver.on("/hook")[0].json()["data"]["error"]["code"] == "HMS_0700_2000_0002_0002"
    finally:
        await first.stop()
        await second.stop()
