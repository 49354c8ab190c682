"""``/api/v1/files`` through a real server: upload (streamed, deduplicated, refused when unsliced or too large),
metadata, list/search/filter, thumbnails, delete, permissions and the audit log."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx

from printfleet.domain.accounts.roles import Role
from tests.api.conftest import RunningServer, admin_headers, start_server
from tests.files_samples import PNG, bambu_3mf, cura_gcode, prusa_bgcode, prusa_gcode, unsliced_3mf


async def _upload(client: httpx.AsyncClient, name: str, content: bytes, **kwargs: object) -> httpx.Response:
    return await client.post("/api/v1/files", files={"file": (name, content, "application/octet-stream")}, **kwargs)  # type: ignore[arg-type]


def _library(server: RunningServer) -> Path:
    return server.runtime.files.directory


async def test_upload_gives_the_metadata_and_stores_the_file_by_its_digest(server: RunningServer) -> None:
    content = bambu_3mf()
    response = await _upload(server.client, "bracket.gcode.3mf", content)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "bracket.gcode.3mf"
    assert body["kind"] == "gcode_3mf"
    assert body["size_bytes"] == len(content)
    assert body["printer_model"] == "Bambu Lab P1S"
    assert body["print_time_s"] == 5935 + 1210
    assert body["materials"] == ["PETG", "PLA"]
    assert [plate["index"] for plate in body["plates"]] == [1, 2]
    assert body["plates"][0]["filaments"][1] == {
        "slot": 3,
        "type": "PETG",
        "color": "#FF6A13",
        "used_g": 4.25,
        "used_m": 1.33,
    }
    stored = _library(server) / body["sha256"]
    assert stored.read_bytes() == content
    assert [path.name for path in _library(server).iterdir()] == [body["sha256"]]  # no temporary file left

    fetched = await server.client.get(f"/api/v1/files/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_the_same_file_uploaded_twice_is_one_file(server: RunningServer) -> None:
    first = await _upload(server.client, "a.gcode", prusa_gcode())
    second = await _upload(server.client, "renamed.gcode", prusa_gcode())

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    listing = (await server.client.get("/api/v1/files")).json()
    assert listing["total"] == 1
    assert len(list(_library(server).iterdir())) == 1


async def test_list_searches_filters_and_pages_newest_first(server: RunningServer) -> None:
    bambu = (await _upload(server.client, "Bracket.gcode.3mf", bambu_3mf())).json()
    prusa = (await _upload(server.client, "hook-mk4.gcode", prusa_gcode())).json()
    cura = (await _upload(server.client, "cura-hook.gcode", cura_gcode())).json()
    binary = (await _upload(server.client, "clip.bgcode", prusa_bgcode())).json()

    async def ids(**params: object) -> list[int]:
        response = await server.client.get("/api/v1/files", params=params)  # type: ignore[arg-type]
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["files"]]

    assert await ids() == [binary["id"], cura["id"], prusa["id"], bambu["id"]]
    assert await ids(search="HOOK") == [cura["id"], prusa["id"]]
    assert await ids(search="%") == []  # a wildcard is a character like any other
    assert await ids(kind="gcode") == [cura["id"], prusa["id"]]
    assert await ids(material="petg") == [binary["id"], prusa["id"], bambu["id"]]
    assert await ids(material="PLA", kind="gcode_3mf") == [bambu["id"]]
    assert await ids(limit=2, offset=1) == [cura["id"], prusa["id"]]
    assert (await server.client.get("/api/v1/files", params={"limit": 1})).json()["total"] == 4


async def test_thumbnails_per_plate(server: RunningServer) -> None:
    file_id = (await _upload(server.client, "b.gcode.3mf", bambu_3mf())).json()["id"]

    image = await server.client.get(f"/api/v1/files/{file_id}/thumbnail", params={"plate": 1})
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content == PNG
    missing = await server.client.get(f"/api/v1/files/{file_id}/thumbnail", params={"plate": 2})
    assert missing.status_code == 404
    assert (await server.client.get("/api/v1/files/999/thumbnail")).status_code == 404


async def test_delete_removes_the_entry_and_the_file(server: RunningServer) -> None:
    body = (await _upload(server.client, "x.gcode", cura_gcode())).json()

    deleted = await server.client.delete(f"/api/v1/files/{body['id']}")

    assert deleted.status_code == 204
    assert (await server.client.get(f"/api/v1/files/{body['id']}")).status_code == 404
    assert not (_library(server) / body["sha256"]).exists()
    assert (await server.client.delete(f"/api/v1/files/{body['id']}")).status_code == 404
    again = await _upload(server.client, "x.gcode", cura_gcode())  # the content can come back
    assert again.status_code == 201
    assert (_library(server) / body["sha256"]).exists()


async def test_unsliced_files_are_refused_with_a_reason(server: RunningServer) -> None:
    for name, content in (("project.3mf", unsliced_3mf()), ("part.stl", b"solid x\nendsolid x\n")):
        response = await _upload(server.client, name, content)
        assert response.status_code == 422, name
        assert "slice it first" in response.json()["detail"]
    assert (await server.client.get("/api/v1/files")).json()["total"] == 0
    assert list(_library(server).iterdir()) == []


async def test_a_corrupt_file_is_accepted_with_unknown_fields_and_a_warning(server: RunningServer) -> None:
    response = await _upload(server.client, "broken.gcode.3mf", b"PK\x03\x04garbage")

    assert response.status_code == 201
    body = response.json()
    assert body["print_time_s"] is None
    assert body["plates"] == []
    assert "not a readable 3MF" in body["warnings"][0]


async def test_bodies_that_are_not_an_upload_are_refused(server: RunningServer) -> None:
    no_multipart = await server.client.post("/api/v1/files", content=b"G28", headers={"content-type": "text/plain"})
    assert no_multipart.status_code == 422
    wrong_field = await server.client.post("/api/v1/files", files={"other": ("a.gcode", b"G28")})
    assert wrong_field.status_code == 422
    assert "part named 'file'" in wrong_field.json()["detail"]


async def test_a_member_may_list_but_not_upload_or_delete(server: RunningServer) -> None:
    file_id = (await _upload(server.client, "x.gcode", cura_gcode())).json()["id"]
    member = await server.headers_for("mia", Role.MEMBER)
    operator = await server.headers_for("otto", Role.OPERATOR)

    assert (await server.client.get("/api/v1/files", headers=member)).json()["total"] == 1
    refused = await _upload(server.client, "y.gcode", prusa_gcode(), headers=member)
    assert refused.status_code == 403
    assert refused.json()["permission"] == "files.manage"
    assert (await server.client.delete(f"/api/v1/files/{file_id}", headers=member)).status_code == 403
    assert (await _upload(server.client, "y.gcode", prusa_gcode(), headers=operator)).status_code == 201


async def test_upload_and_delete_are_audited(server: RunningServer) -> None:
    file_id = (await _upload(server.client, "x.gcode", cura_gcode())).json()["id"]
    await server.client.delete(f"/api/v1/files/{file_id}")

    entries = (await server.client.get("/api/v1/audit", params={"target": f"file:{file_id}"})).json()
    actions = [entry["action"] for entry in entries["records"]]
    assert actions == ["file_deleted", "file_uploaded"]


async def test_a_file_over_files_max_size_is_refused_with_413(tmp_path: Path) -> None:
    library = tmp_path / "files"
    uv, task, base_url = await start_server(
        f"sqlite+aiosqlite:///{tmp_path}/db.sqlite", files={"directory": str(library), "max_size": 100_000}
    )
    try:
        async with httpx.AsyncClient(base_url=base_url, headers=await admin_headers(uv), timeout=10) as client:
            # Under http.max_body_bytes' 1 MiB would not matter: the upload has its own limit, both ways.
            small = await _upload(client, "ok.gcode", prusa_gcode(moves=100))
            assert small.status_code == 201
            big = await _upload(client, "big.gcode", prusa_gcode(moves=20_000))  # ~400 kB
            assert big.status_code == 413
            assert big.json()["detail"] == "request body too large: at most 165536 bytes"  # from Content-Length

            async def chunked() -> object:
                yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="c.gcode"\r\n\r\n'
                for _ in range(13):  # 130 kB: within the route's body limit, over files.max_size
                    yield b";" * 10_000 + b"\n"
                yield b"\r\n--b--\r\n"

            streamed = await client.post(
                "/api/v1/files",
                content=chunked(),
                headers={"content-type": "multipart/form-data; boundary=b"},  # type: ignore[arg-type]
            )
            assert streamed.status_code == 413
            assert "files.max_size (100000 bytes)" in streamed.json()["detail"]  # counted as it streamed
            assert sorted(path.name for path in library.iterdir()) == [small.json()["sha256"]]
    finally:
        uv.should_exit = True
        await task


async def test_an_upload_larger_than_the_general_body_limit_is_accepted(server: RunningServer) -> None:
    content = bambu_3mf(padding=random.Random(1).randbytes(1_500_000))  # incompressible: stays > 1 MiB zipped
    assert len(content) > 1024 * 1024

    response = await _upload(server.client, "big.gcode.3mf", content)

    assert response.status_code == 201, response.text
    assert response.json()["size_bytes"] == len(content)


async def test_the_stored_name_is_the_file_name_without_its_directories(server: RunningServer) -> None:
    response = await _upload(server.client, "slices/today/hook.gcode", cura_gcode())

    assert response.status_code == 201
    assert response.json()["name"] == "hook.gcode"
    listing = (await server.client.get("/api/v1/files", params={"search": "today"})).json()
    assert listing["total"] == 0


async def test_an_interrupted_upload_leaves_no_file_behind(server: RunningServer) -> None:
    host, port = server.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="cut.gcode"\r\n\r\n'
    writer.write(
        b"POST /api/v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Authorization: {server.headers['Authorization']}\r\n".encode()
        + b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 10000000\r\n\r\n"
        + head
        + b";" * 300_000
    )
    await writer.drain()
    for _ in range(100):  # the temporary file appears while the body streams in
        if list(_library(server).glob(".upload-*")):
            break
        await asyncio.sleep(0.02)
    assert list(_library(server).glob(".upload-*"))
    writer.close()
    await writer.wait_closed()
    reader.feed_eof()

    for _ in range(100):
        if not list(_library(server).iterdir()):
            break
        await asyncio.sleep(0.05)
    assert list(_library(server).iterdir()) == []
    assert (await server.client.get("/api/v1/files")).json()["total"] == 0


async def test_uploads_left_unfinished_by_a_previous_run_are_removed_at_start(tmp_path: Path) -> None:
    library = tmp_path / "files"
    library.mkdir()
    (library / ".upload-abc123").write_bytes(b"half a file")
    uv, task, _ = await start_server(f"sqlite+aiosqlite:///{tmp_path}/db.sqlite", files={"directory": str(library)})
    try:
        assert list(library.iterdir()) == []
    finally:
        uv.should_exit = True
        await task
