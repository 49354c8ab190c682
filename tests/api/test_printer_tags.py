"""Printer tags through the API: set on add, changed and cleared by PATCH, refused with a reason when unusable."""

from __future__ import annotations

from tests.api.conftest import RunningServer
from tests.api.test_printers_api import unreachable_bambu


async def test_tags_are_set_listed_changed_and_cleared(server: RunningServer) -> None:
    created = await server.client.post("/api/v1/printers", json={**unreachable_bambu(), "tags": ["room-a", " petg "]})
    assert created.status_code == 201, created.text
    assert created.json()["tags"] == ["room-a", "petg"]
    listed = (await server.client.get("/api/v1/printers")).json()["printers"]
    assert [printer["tags"] for printer in listed] == [["room-a", "petg"]]

    changed = await server.client.patch("/api/v1/printers/x1c-1", json={"tags": ["Room-B", "room-b", "enclosure"]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["tags"] == ["Room-B", "enclosure"]
    assert (await server.client.get("/api/v1/printers/x1c-1")).json()["tags"] == ["Room-B", "enclosure"]

    cleared = await server.client.patch("/api/v1/printers/x1c-1", json={"tags": []})
    assert cleared.json()["tags"] == []


async def test_an_unusable_tag_is_refused_with_the_reason(server: RunningServer) -> None:
    comma = await server.client.post("/api/v1/printers", json={**unreachable_bambu(), "tags": ["room a, b"]})
    assert comma.status_code == 422
    assert "comma" in comma.text
    long = await server.client.post("/api/v1/printers", json={**unreachable_bambu(), "tags": ["x" * 41]})
    assert long.status_code == 422
    assert "tags" in long.text
    assert (await server.client.get("/api/v1/printers")).json()["printers"] == []
