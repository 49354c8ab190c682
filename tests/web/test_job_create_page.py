"""Creating a job from the Jobs page (for a farm with automatic job creation off): the form, the new job waiting as
Pending on its page, the form kept with a reason when a value is missing, and who may use it."""

from __future__ import annotations

from printfleet.domain.accounts.roles import Role
from tests.api.conftest import RunningServer
from tests.support_accounts import bearer_headers
from tests.web.test_pages import _unreachable_octoprint


async def test_an_operator_creates_a_job_that_waits_for_its_print(bare_server: RunningServer) -> None:
    await bare_server.client.post("/api/v1/printers", json=_unreachable_octoprint("o1"))
    page = (await bare_server.client.get("/jobs")).text
    assert "<summary>New job</summary>" in page
    assert 'action="/ui/jobs"' in page

    created = await bare_server.client.post(
        "/ui/jobs",
        data={"printer_id": "o1", "job_name": "Bracket for Anna", "filename": "bracket.gcode", "is_business": "1"},
    )

    assert created.status_code == 303
    job_page = created.headers["location"]
    (job,) = (await bare_server.client.get("/api/v1/jobs")).json()["jobs"]
    assert job_page == f"/jobs/{job['id']}"
    assert job["status"] == "pending"
    assert job["job_name"] == "Bracket for Anna"
    assert job["filename"] == "bracket.gcode"
    assert job["is_business"] is True
    shown = (await bare_server.client.get(job_page)).text
    assert "Bracket for Anna" in shown
    audit = (await bare_server.client.get("/api/v1/audit", params={"action": "job_created"})).json()
    assert audit["records"][0]["target"] == f"job:{job['id']}"


async def test_a_refused_job_keeps_the_form_as_typed_with_the_reason(bare_server: RunningServer) -> None:
    await bare_server.client.post("/api/v1/printers", json=_unreachable_octoprint("o1"))

    no_name = await bare_server.client.post("/ui/jobs", data={"printer_id": "o1", "notes": "for the fair"})
    assert no_name.status_code == 422
    assert "Give the job a name or the file name the printer will print." in no_name.text
    assert '<details class="new-job" open>' in no_name.text
    assert ">for the fair</textarea>" in no_name.text

    no_printer = await bare_server.client.post("/ui/jobs", data={"printer_id": "", "job_name": "Vase"})
    assert no_printer.status_code == 422
    assert "Choose the printer the job will print on." in no_printer.text
    assert 'value="Vase"' in no_printer.text
    assert (await bare_server.client.get("/api/v1/jobs")).json()["total"] == 0


async def test_a_member_neither_sees_the_form_nor_may_post_it(bare_server: RunningServer) -> None:
    await bare_server.client.post("/api/v1/printers", json=_unreachable_octoprint("o1"))
    member = await bearer_headers(bare_server.runtime.accounts, username="mia", role=Role.MEMBER)
    assert "New job" not in (await bare_server.client.get("/jobs", headers=member)).text
    refused = await bare_server.client.post("/ui/jobs", data={"printer_id": "o1", "job_name": "x"}, headers=member)
    assert refused.status_code == 403
