"""The upload body the HTTP adapters stream from disk, and the deadlines sized for the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from printfleet.printers.uploads import CHUNK_BYTES, FileBody, SourceChanged, upload_deadline_s


async def collect(body: FileBody) -> bytes:
    return b"".join([chunk async for chunk in body])


async def test_the_body_streams_the_file_in_chunks_and_can_be_sent_again(tmp_path: Path) -> None:
    """A Digest re-challenge resends the request: the body must replay, whole, from the start."""
    content = bytes(range(256)) * (3 * CHUNK_BYTES // 256 + 7)
    path = tmp_path / "part.gcode"
    path.write_bytes(content)
    body = FileBody(path, len(content))

    chunks = [chunk async for chunk in body]
    again = await collect(body)

    assert len(chunks) == 4
    assert max(len(chunk) for chunk in chunks) == CHUNK_BYTES
    assert b"".join(chunks) == content
    assert again == content


async def test_a_file_shorter_than_announced_is_refused_not_sent_short(tmp_path: Path) -> None:
    path = tmp_path / "part.gcode"
    path.write_bytes(b"G28\n" * 10)

    with pytest.raises(SourceChanged):
        await collect(FileBody(path, 1000))


def test_the_deadline_grows_with_the_file() -> None:
    small, large = upload_deadline_s(1_000, 10.0), upload_deadline_s(200_000_000, 10.0)

    assert small < 100
    assert large > 200_000_000 / 100_000  # far beyond a poll's 10 s: a slow Wi-Fi printer still gets the file
