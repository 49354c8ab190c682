"""The Files page as each role meets it: the library with plate previews, predicted time, grams and material chips;
search; upload and delete only for those who may manage files, Print on… for those who may print; German; signed
out is sent to sign in."""

from __future__ import annotations

import httpx

from printfleet.domain.accounts.roles import Role
from printfleet.sim.samples import demo_samples
from tests.api.conftest import RunningServer
from tests.support_accounts import bearer_headers, session_cookie


async def _upload_samples(server: RunningServer) -> dict[str, int]:
    ids = {}
    for name, content in demo_samples():
        response = await server.client.post("/api/v1/files", files={"file": (name, content)})
        assert response.status_code == 201, response.text
        ids[name] = response.json()["id"]
    return ids


async def test_a_member_reads_the_library_and_may_print_but_not_upload_or_delete(bare_server: RunningServer) -> None:
    ids = await _upload_samples(bare_server)
    member = await bearer_headers(bare_server.runtime.accounts, username="alice", role=Role.MEMBER)

    response = await bare_server.client.get("/files", headers=member)

    assert response.status_code == 200
    body = response.text
    assert 'href="/files" aria-current="page"' in body
    assert "Files: 4" in body
    cube = ids["calibration_cube.gcode.3mf"]
    assert f'src="/api/v1/files/{cube}/thumbnail?plate=1"' in body
    two_plates = ids["shelf_bracket_and_clips.gcode.3mf"]
    assert f'src="/api/v1/files/{two_plates}/thumbnail?plate=2"' in body
    assert "</svg>1 h 35 min</span>" in body  # the cube, predicted 5700 s
    assert '<span class="material">PETG</span>' in body
    assert "47.7 g" in body  # plate 1 of the bracket: 41.2 g PLA + 6.5 g PETG
    assert 'fill="#FF6A13"' in body  # the chip's colour swatch
    assert 'id="dropzone"' not in body
    assert "/ui/files/" not in body  # no delete
    assert body.count('class="primary print-on"') == 5  # a member may print on the printer the queue holds for them
    thumbnail = await bare_server.client.get(f"/api/v1/files/{cube}/thumbnail?plate=1", headers=member)
    assert thumbnail.headers["content-type"] == "image/png"


async def test_an_operator_gets_upload_delete_and_print_on_a_viewer_only_reads(bare_server: RunningServer) -> None:
    ids = await _upload_samples(bare_server)
    operator = await bearer_headers(bare_server.runtime.accounts, username="olga", role=Role.OPERATOR)

    body = (await bare_server.client.get("/files", headers=operator)).text

    assert 'id="dropzone" data-upload="/api/v1/files"' in body
    assert 'type="file" id="upload-input"' in body
    assert f'hx-post="/ui/files/{ids["wall_hook_MK4S.bgcode"]}/delete"' in body
    assert f'data-file-id="{ids["shelf_bracket_and_clips.gcode.3mf"]}"' in body
    assert body.count('class="primary print-on"') == 5  # one per plate: 1 + 2 + 1 + 1
    assert '<dialog id="print-dialog"' in body
    assert '"plate_not_clear": "Plate needs clearing"' in body  # the script's words, as JSON
    viewer = await bearer_headers(bare_server.runtime.accounts, username="wall", role=Role.VIEWER)
    as_viewer = (await bare_server.client.get("/files", headers=viewer)).text
    assert "shelf_bracket_and_clips.gcode.3mf" in as_viewer
    assert "print-on" not in as_viewer
    assert "print-dialog" not in as_viewer
    assert 'id="dropzone"' not in as_viewer


async def test_search_narrows_the_list_to_matching_names(bare_server: RunningServer) -> None:
    await _upload_samples(bare_server)

    fragment = await bare_server.client.get(
        "/files", params={"search": "MK4S"}, headers={"HX-Request": "true", "HX-Target": "file-results"}
    )

    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="file-results">')
    assert "<html" not in fragment.text
    assert "cable_clip_MK4S.gcode" in fragment.text
    assert "wall_hook_MK4S.bgcode" in fragment.text
    assert "calibration_cube" not in fragment.text
    nothing = (await bare_server.client.get("/files", params={"search": "<benchy>"})).text
    assert "No file matches “&lt;benchy&gt;”." in nothing


async def test_deleting_from_the_page_needs_files_manage_and_the_same_site(bare_server: RunningServer) -> None:
    ids = await _upload_samples(bare_server)
    cube = ids["calibration_cube.gcode.3mf"]
    member = await bearer_headers(bare_server.runtime.accounts, username="alice", role=Role.MEMBER)
    htmx = {"HX-Request": "true"}

    refused = await bare_server.client.post(f"/ui/files/{cube}/delete", headers={**member, **htmx})
    assert refused.status_code == 403
    cross = await bare_server.client.post(
        f"/ui/files/{cube}/delete", headers={**htmx, "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403
    assert (await bare_server.client.get(f"/api/v1/files/{cube}")).status_code == 200

    deleted = await bare_server.client.post(f"/ui/files/{cube}/delete", headers=htmx)

    assert deleted.status_code == 200
    assert "calibration_cube.gcode.3mf deleted" in deleted.text
    assert (await bare_server.client.get(f"/api/v1/files/{cube}")).status_code == 404
    records = (await bare_server.client.get("/api/v1/audit", params={"action": "file_deleted"})).json()["records"]
    assert any(entry["target"] == f"file:{cube}" for entry in records)


async def test_the_files_page_speaks_german_and_sends_the_signed_out_to_sign_in(bare_server: RunningServer) -> None:
    await _upload_samples(bare_server)
    cookie = await session_cookie(bare_server.runtime.accounts, username="olga", role=Role.OPERATOR)
    async with httpx.AsyncClient(base_url=bare_server.base_url) as browser:
        signed_out = await browser.get("/files", headers={"Accept": "text/html"})
        assert signed_out.status_code in (302, 303)
        assert signed_out.headers["location"].startswith("/signin")

        browser.cookies.set("printfleet_session", cookie)
        german = await browser.get("/files", headers={"Accept-Language": "de-DE,de;q=0.9"})

    assert german.status_code == 200
    assert "Dateien" in german.text
    assert "Drucken auf…" in german.text
    assert "Dateien auswählen" in german.text
