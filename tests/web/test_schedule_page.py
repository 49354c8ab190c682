"""The Schedule page: the timeline strip and the list of scheduled prints, cancelling from the list, German; and
the strip's geometry (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx

from printfleet.domain.accounts.roles import Role
from printfleet.domain.schedule.timeline import TimelineEntry
from printfleet.sim.samples import demo_samples
from printfleet.web.schedule_page import strip
from tests.api.conftest import RunningServer
from tests.support_accounts import bearer_headers, session_cookie

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


async def _schedule_two(server: RunningServer) -> tuple[int, int]:
    name, content = next(iter(demo_samples()))
    upload = await server.client.post("/api/v1/files", files={"file": (name, content)})
    assert upload.status_code == 201, upload.text
    file_id = upload.json()["id"]
    created = await server.client.post(
        "/api/v1/scheduled-prints", json={"file_id": file_id, "job_name": "Hooks", "copies": 2, "priority": 2}
    )
    assert created.status_code == 201, created.text
    first, second = (p["id"] for p in created.json())
    return first, second


async def test_the_schedule_lists_prints_and_an_operator_cancels_one(bare_server: RunningServer) -> None:
    first, second = await _schedule_two(bare_server)

    body = (await bare_server.client.get("/schedule")).text

    assert 'href="/schedule" aria-current="page"' in body
    assert "Hooks (1/2)" in body
    assert "Hooks (2/2)" in body
    assert "Scheduled prints: 2" in body
    assert "No printer can take it yet" in body  # no scheduled printer exists
    assert f'hx-post="/ui/schedule/{first}/cancel"' in body

    cancelled = await bare_server.client.post(f"/ui/schedule/{first}/cancel", headers={"HX-Request": "true"})
    assert cancelled.status_code == 200
    assert "Hooks (1/2) cancelled" in cancelled.text
    assert f'id="scheduled-{first}"' in cancelled.text
    assert (await bare_server.client.get(f"/api/v1/scheduled-prints/{first}")).json()["status"] == "cancelled"
    again = await bare_server.client.post(f"/ui/schedule/{first}/cancel", headers={"HX-Request": "true"})
    assert again.status_code == 409
    open_only = (await bare_server.client.get("/schedule")).text
    assert "Hooks (1/2)" not in open_only
    assert "Hooks (1/2)" in (await bare_server.client.get("/schedule?status=cancelled")).text
    assert f'hx-post="/ui/schedule/{second}/cancel"' in open_only


async def test_a_member_sees_the_schedule_but_may_not_cancel_others_prints(bare_server: RunningServer) -> None:
    first, _ = await _schedule_two(bare_server)
    member = await bearer_headers(bare_server.runtime.accounts, username="mia", role=Role.MEMBER)

    body = (await bare_server.client.get("/schedule", headers=member)).text

    assert "Hooks (1/2)" in body
    assert "/ui/schedule/" not in body
    refused = await bare_server.client.post(f"/ui/schedule/{first}/cancel", headers={**member, "HX-Request": "true"})
    assert refused.status_code == 403


async def test_the_schedule_page_speaks_german(bare_server: RunningServer) -> None:
    await _schedule_two(bare_server)
    cookie = await session_cookie(bare_server.runtime.accounts, username="olga", role=Role.OPERATOR)
    async with httpx.AsyncClient(base_url=bare_server.base_url, cookies={"printfleet_session": cookie}) as browser:
        german = await browser.get("/schedule", headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert german.status_code == 200
    assert "Zeitplan" in german.text
    assert "Eingereiht" in german.text


def _entry(print_id: int, printer_id: str | None, start_h: float, end_h: float, **fields: object) -> TimelineEntry:
    return TimelineEntry(
        print_id=print_id,
        printer_id=printer_id,
        start=NOW + timedelta(hours=start_h) if printer_id else None,
        end=NOW + timedelta(hours=end_h) if printer_id else None,
        finish_by=fields.get("finish_by"),  # type: ignore[arg-type]
        at_risk=bool(fields.get("at_risk", False)),
        running=bool(fields.get("running", False)),
    )


def test_the_strip_places_prints_by_time_from_now_to_the_last_end() -> None:
    entries = [
        (_entry(1, "a", 0, 2, running=True), SimpleNamespace(job_name="one")),
        (_entry(2, "a", 2, 4, finish_by=NOW + timedelta(hours=3), at_risk=True), SimpleNamespace(job_name="two")),
        (_entry(3, None, 0, 0), SimpleNamespace(job_name="nowhere")),
    ]
    lanes, end = strip(entries, {"a": "Printer A"}, NOW)
    assert end == NOW + timedelta(hours=4)
    placed, unplaced = lanes
    assert placed.name == "Printer A"
    one, two = placed.blocks
    assert (one.left, one.width, one.running) == (0.0, 50.0, True)
    assert (two.left, two.width, two.at_risk, two.deadline) == (50.0, 50.0, True, 75.0)
    assert unplaced.printer_id is None


async def test_the_settings_form_sets_who_sends_a_printer_prints_and_its_tags(bare_server: RunningServer) -> None:
    htmx = {"HX-Request": "true"}
    url = "http://127.0.0.1:9"
    form = {"id": "voron", "name": "Voron", "type": "moonraker", "url": url, "queue_mode": "scheduled", "tags": "abs"}
    added = await bare_server.client.post("/ui/printers", data=form, headers=htmx)
    assert added.status_code == 200, added.text
    printer = (await bare_server.client.get("/api/v1/printers/voron")).json()
    assert (printer["queue_mode"], printer["tags"]) == ("scheduled", ["abs"])
    settings = (await bare_server.client.get("/settings")).text
    assert '<option value="scheduled" selected>' in settings

    edit = {"name": "Voron", "url": url, "queue_mode": "manual", "tags": "abs, 0.6-nozzle"}
    edited = await bare_server.client.post("/ui/printers/voron", data=edit, headers=htmx)
    assert edited.status_code == 200, edited.text
    printer = (await bare_server.client.get("/api/v1/printers/voron")).json()
    assert (printer["queue_mode"], printer["tags"]) == ("manual", ["abs", "0.6-nozzle"])


async def test_an_operator_schedules_a_chain_from_the_form_and_reprioritises_it(bare_server: RunningServer) -> None:
    first, _ = await _schedule_two(bare_server)
    page = (await bare_server.client.get("/schedule")).text
    assert 'action="/ui/schedule"' in page
    file_id = (await bare_server.client.get(f"/api/v1/scheduled-prints/{first}")).json()["file_id"]
    form = {
        "file_id": str(file_id),
        "plate": "1",
        "job_name": "Lid",
        "scheduled_start": "2026-12-24T08:30",
        "finish_by": "2026-12-24T18:00",
        "tz": "Europe/Berlin",
        "priority": "4",
        "copies": "1",
        "depends_on": str(first),
        "offset_minutes": "15",
        "offset_from": "start",
        "only_if_succeeded": "1",
        "tags": "petg",
    }
    done = await bare_server.client.post("/ui/schedule", data=form)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/schedule"
    [lid] = (await bare_server.client.get("/api/v1/scheduled-prints")).json()["scheduled_prints"][2:]
    assert lid["job_name"] == "Lid"
    assert lid["scheduled_start"].startswith("2026-12-24T07:30:00")  # 08:30 in Berlin
    assert (lid["depends_on"], lid["offset_minutes"], lid["offset_from"]) == (first, 15, "start")
    assert lid["target"] == {"tags": ["petg"]}
    assert lid["priority"] == 4

    moved = await bare_server.client.post(f"/ui/schedule/{lid['id']}/priority", data={"priority": "9"})
    assert moved.status_code == 303
    assert (await bare_server.client.get(f"/api/v1/scheduled-prints/{lid['id']}")).json()["priority"] == 9

    bad = await bare_server.client.post("/ui/schedule", data={**form, "finish_by": "2026-12-23T08:00"})
    assert bad.status_code == 422
    assert "finish_by must be after scheduled_start" in bad.text
