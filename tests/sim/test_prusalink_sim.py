"""The simulated PrusaLink printer speaks the Prusa-Link-Web API over real sockets, the way each firmware does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from printfleet.sim.prusalink import MALFORMED_BODY, SimulatedPrusaLinkPrinter, StorageShape, short_name


async def client_for(sim: SimulatedPrusaLinkPrinter) -> httpx.AsyncClient:
    config = sim.printer_config()
    auth: httpx.Auth | None = None
    if config.api_key is not None:
        headers = {"X-Api-Key": config.api_key.reveal()}
    else:
        assert config.username is not None
        assert config.password is not None
        auth = httpx.DigestAuth(config.username, config.password.reveal())
        headers = {}
    return httpx.AsyncClient(base_url=sim.url, auth=auth, headers=headers, timeout=5.0)


@pytest.fixture
async def buddy() -> AsyncIterator[SimulatedPrusaLinkPrinter]:
    async with SimulatedPrusaLinkPrinter("mk4", storage_shape="buddy") as sim:
        yield sim


@pytest.fixture
async def pi() -> AsyncIterator[SimulatedPrusaLinkPrinter]:
    async with SimulatedPrusaLinkPrinter("mk3", storage_shape="pi") as sim:
        yield sim


async def test_buddy_challenge_is_rfc2069_digest_with_the_printer_realm(buddy: SimulatedPrusaLinkPrinter) -> None:
    async with httpx.AsyncClient(base_url=buddy.url) as anonymous:
        response = await anonymous.get("/api/v1/status")

    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Digest realm="Printer API"')
    assert "qop" not in challenge
    assert "stale=false" in challenge


async def test_pi_challenge_is_rfc7616_md5_with_qop(pi: SimulatedPrusaLinkPrinter) -> None:
    async with httpx.AsyncClient(base_url=pi.url) as anonymous:
        response = await anonymous.get("/api/v1/status")

    challenge = response.headers["www-authenticate"]
    assert 'realm="Administrator"' in challenge
    assert 'qop="auth"' in challenge
    assert "algorithm=MD5" in challenge


@pytest.mark.parametrize("shape", ["buddy", "pi"])
async def test_digest_with_the_right_password_is_let_in_and_a_wrong_one_is_not(shape: StorageShape) -> None:
    async with SimulatedPrusaLinkPrinter("p", storage_shape=shape) as sim, await client_for(sim) as client:
        good = await client.get("/api/v1/status")
        bad = await client.get("/api/v1/status", auth=httpx.DigestAuth("maker", "guess"))

    assert good.status_code == 200
    assert good.json()["printer"]["state"] == "IDLE"
    assert bad.status_code == 401


async def test_a_stale_nonce_gets_a_stale_challenge_and_the_client_recovers() -> None:
    async with SimulatedPrusaLinkPrinter("mk4", nonce_lifetime_s=0.1) as sim, await client_for(sim) as client:
        first = await client.get("/api/version")
        await asyncio.sleep(0.2)
        hits_before = sim.requests_served
        second = await client.get("/api/version")

    assert first.status_code == second.status_code == 200
    assert sim.requests_served - hits_before == 2  # stale answer, then the retry with the new nonce


async def test_api_key_mode_refuses_a_missing_key_401_and_a_wrong_key_403() -> None:
    async with SimulatedPrusaLinkPrinter("mk3", auth="api_key", storage_shape="pi") as sim:
        async with httpx.AsyncClient(base_url=sim.url) as client:
            missing = await client.get("/api/v1/status")
            wrong = await client.get("/api/v1/status", headers={"X-Api-Key": "nope"})
        async with await client_for(sim) as client:
            right = await client.get("/api/v1/status")

    assert missing.status_code == 401
    assert wrong.status_code == 403
    assert wrong.text == "Bad X-Api-Key."
    assert right.status_code == 200


async def test_job_is_204_when_idle_and_job_ids_count_up_per_print(buddy: SimulatedPrusaLinkPrinter) -> None:
    async with await client_for(buddy) as client:
        idle = await client.get("/api/v1/job")
        await buddy.start_print("benchy_0.2mm_PLA.bgcode", duration_s=30)
        first = (await client.get("/api/v1/job")).json()
        status = (await client.get("/api/v1/status")).json()
        await buddy.cancel()
        await buddy.start_print("cube.bgcode", duration_s=30)
        second = (await client.get("/api/v1/job")).json()

    assert idle.status_code == 204
    assert first["state"] == "PRINTING"
    assert first["file"]["name"] == "BENCHY~1.BGC"
    assert first["file"]["display_name"] == "benchy_0.2mm_PLA.bgcode"
    assert first["file"]["path"] == "/usb"
    assert status["job"]["id"] == first["id"]
    assert status["storage"] == {"path": "/usb/", "name": "usb", "read_only": False}
    assert second["id"] == first["id"] + 1


async def test_buddy_keeps_an_ended_job_visible_until_the_next_print(buddy: SimulatedPrusaLinkPrinter) -> None:
    async with await client_for(buddy) as client:
        await buddy.start_print("benchy.bgcode", duration_s=0.2)
        await asyncio.sleep(0.3)
        finished = await client.get("/api/v1/job")
        status = (await client.get("/api/v1/status")).json()

    assert finished.status_code == 200
    assert finished.json()["state"] == "FINISHED"
    assert finished.json()["progress"] == 100
    assert status["printer"]["state"] == "FINISHED"


async def test_pi_drops_an_ended_job_but_keeps_the_end_state(pi: SimulatedPrusaLinkPrinter) -> None:
    async with await client_for(pi) as client:
        await pi.start_print("examples/benchy.gcode", duration_s=30)
        printing = (await client.get("/api/v1/job")).json()
        await pi.cancel()
        after = await client.get("/api/v1/job")
        status = (await client.get("/api/v1/status")).json()

    assert printing["file"]["path"] == "/local/examples/benchy.gcode"
    assert after.status_code == 204
    assert status["printer"]["state"] == "STOPPED"
    assert "job" not in status
    assert isinstance(status["storage"], list)


async def test_pause_resume_and_stop_over_http_with_409_when_not_possible(buddy: SimulatedPrusaLinkPrinter) -> None:
    await buddy.start_print("benchy.bgcode", duration_s=30)
    job_id = buddy.current.job_id if buddy.current else -1
    async with await client_for(buddy) as client:
        resume_while_printing = await client.put(f"/api/v1/job/{job_id}/resume")
        pause = await client.put(f"/api/v1/job/{job_id}/pause")
        paused_state = (await client.get("/api/v1/status")).json()["printer"]["state"]
        pause_again = await client.put(f"/api/v1/job/{job_id}/pause")
        resume = await client.put(f"/api/v1/job/{job_id}/resume")
        wrong_job = await client.delete(f"/api/v1/job/{job_id + 5}")
        stop = await client.delete(f"/api/v1/job/{job_id}")
        stop_again = await client.delete(f"/api/v1/job/{job_id}")
        stopped_state = (await client.get("/api/v1/status")).json()["printer"]["state"]

    assert (resume_while_printing.status_code, pause.status_code, paused_state) == (409, 204, "PAUSED")
    assert (pause_again.status_code, resume.status_code) == (409, 204)
    assert (wrong_job.status_code, stop.status_code, stop_again.status_code) == (404, 204, 409)
    assert stopped_state == "STOPPED"


async def test_upload_then_print_and_start_a_stored_file(buddy: SimulatedPrusaLinkPrinter) -> None:
    buddy.remote_print_duration_s = 30
    async with await client_for(buddy) as client:
        upload = await client.put("/api/v1/files/usb/box.bgcode", content=b"G28\n" * 100)
        duplicate = await client.put("/api/v1/files/usb/box.bgcode", content=b"G28\n")
        missing = await client.post("/api/v1/files/usb/none.bgcode")
        start = await client.post("/api/v1/files/usb/box.bgcode")
        busy = await client.put(
            "/api/v1/files/usb/other.bgcode", content=b"G28\n", headers={"Print-After-Upload": "?1"}
        )
        job = (await client.get("/api/v1/job")).json()

    assert (upload.status_code, duplicate.status_code, missing.status_code, start.status_code) == (201, 409, 404, 204)
    assert busy.status_code == 409
    assert job["file"]["display_name"] == "box.bgcode"
    assert job["file"]["size"] == 400


async def test_upload_with_print_after_upload_starts_printing(pi: SimulatedPrusaLinkPrinter) -> None:
    async with await client_for(pi) as client:
        upload = await client.put(
            "/api/v1/files/local/cube.gcode", content=b"G28\n", headers={"Print-After-Upload": "?1"}
        )
        status = (await client.get("/api/v1/status")).json()

    assert upload.status_code == 201
    assert status["printer"]["state"] == "PRINTING"


async def test_upload_refusals_follow_the_spec_and_the_stored_file_is_described(
    buddy: SimulatedPrusaLinkPrinter,
) -> None:
    buddy.remote_print_duration_s = 30
    async with await client_for(buddy) as client:
        first = await client.put("/api/v1/files/usb/box.bgcode", content=b"G28\n", headers={"Print-After-Upload": "?1"})
        over_printed = await client.put("/api/v1/files/usb/box.bgcode", content=b"G28\n", headers={"Overwrite": "?1"})
        stl = await client.put("/api/v1/files/usb/box.stl", content=b"solid box\n")
        json_body = await client.put(
            "/api/v1/files/usb/box2.gcode", content=b"{}", headers={"Content-Type": "application/json"}
        )
        info = await client.get("/api/v1/files/usb/box.bgcode")
        head = await client.head("/api/v1/files/usb/box.bgcode")
        absent = await client.head("/api/v1/files/usb/none.bgcode")
        await buddy.cancel()
        replaced = await client.put("/api/v1/files/usb/box.bgcode", content=b"G28\nG1\n", headers={"Overwrite": "?1"})
        size = (await client.get("/api/v1/files/usb/box.bgcode")).json()["size"]

    assert first.status_code == 201
    assert (over_printed.status_code, over_printed.json()["text"]) == (409, "File is busy.")
    assert (stl.status_code, json_body.status_code) == (415, 415)
    assert info.json() | {"m_timestamp": 0} == {
        "name": "BOX~1.BGC",
        "display_name": "box.bgcode",
        "path": "/usb/box.bgcode",
        "type": "PRINT_FILE",
        "size": 4,
        "m_timestamp": 0,
    }
    assert (head.status_code, head.headers["currently-printed"]) == (200, "?1")
    assert absent.status_code == 404
    assert (replaced.status_code, size) == (201, 7)


async def test_disconnect_refuses_connections_then_comes_back_on_the_same_port(
    buddy: SimulatedPrusaLinkPrinter,
) -> None:
    port = buddy.port
    await buddy.start_print("benchy.bgcode", duration_s=30)
    await buddy.disconnect(0.4)
    async with await client_for(buddy) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/api/v1/status")
        await asyncio.sleep(0.6)
        back = await client.get("/api/v1/status")

    assert buddy.port == port
    assert back.json()["printer"]["state"] == "PRINTING"  # it printed on while away


async def test_restart_loses_the_print_and_comes_back_idle(buddy: SimulatedPrusaLinkPrinter) -> None:
    await buddy.start_print("benchy.bgcode", duration_s=30)
    await buddy.restart()
    async with await client_for(buddy) as client:
        status = (await client.get("/api/v1/status")).json()
        job = await client.get("/api/v1/job")

    assert status["printer"]["state"] == "IDLE"
    assert job.status_code == 204


async def test_fail_shows_error_until_the_next_print(buddy: SimulatedPrusaLinkPrinter) -> None:
    await buddy.start_print("benchy.bgcode", duration_s=30)
    await buddy.fail()
    async with await client_for(buddy) as client:
        failed = (await client.get("/api/v1/status")).json()["printer"]["state"]
        await buddy.start_print("cube.bgcode", duration_s=30)
        again = (await client.get("/api/v1/status")).json()["printer"]["state"]

    assert (failed, again) == ("ERROR", "PRINTING")


async def test_malformed_status_is_served_once(buddy: SimulatedPrusaLinkPrinter) -> None:
    buddy.set_malformed(True)
    async with await client_for(buddy) as client:
        broken = await client.get("/api/v1/status")
        fine = await client.get("/api/v1/status")

    assert broken.status_code == 200
    assert broken.content == MALFORMED_BODY
    assert fine.json()["printer"]["state"] == "IDLE"


async def test_version_info_storage_and_legacy_endpoints_answer(buddy: SimulatedPrusaLinkPrinter) -> None:
    await buddy.start_print("benchy.bgcode", duration_s=30)
    async with await client_for(buddy) as client:
        version = (await client.get("/api/version")).json()
        info = (await client.get("/api/v1/info")).json()
        storage = (await client.get("/api/v1/storage")).json()
        legacy_printer = (await client.get("/api/printer")).json()
        legacy_job = (await client.get("/api/job")).json()

    assert version["api"] == "2.0.0"
    assert version["capabilities"]["upload-by-put"] is True
    assert info["name"] == "mk4"
    assert storage["storage_list"][0]["path"] == "/usb/"
    assert legacy_printer["state"]["flags"]["printing"] is True
    assert legacy_job["job"]["file"]["name"] == "benchy.bgcode"
    assert 0 <= legacy_job["progress"]["completion"] <= 1


@pytest.mark.parametrize(
    ("long", "short"),
    [("benchy_0.2mm_PLA.bgcode", "BENCHY~1.BGC"), ("cube.gco", "CUBE.GCO"), ("Box.gcode", "BOX~1.GCO")],
)
def test_short_names_follow_the_8_3_pattern(long: str, short: str) -> None:
    assert short_name(long) == short


async def test_a_printer_error_while_idle_shows_error_until_a_restart(buddy: SimulatedPrusaLinkPrinter) -> None:
    await buddy.start_print("benchy.bgcode", duration_s=0.1)
    await asyncio.sleep(0.2)
    await buddy.fail()
    async with await client_for(buddy) as client:
        failed = (await client.get("/api/v1/status")).json()["printer"]["state"]
        await buddy.restart()
        restarted = (await client.get("/api/v1/status")).json()["printer"]["state"]

    assert (failed, restarted) == ("ERROR", "IDLE")
