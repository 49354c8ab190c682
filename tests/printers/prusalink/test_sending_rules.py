"""Reading PrusaLink's answers to an upload: the storage to use and what a 409 means."""

from __future__ import annotations

import pytest

from printfleet.printers.prusalink.sending import (
    error_text,
    files_url,
    refused_before_storing,
    storage_of_path,
    writable_storage,
)


def test_the_storage_is_the_first_writable_one_the_status_reports() -> None:
    buddy = {"storage": {"path": "/usb/", "name": "usb", "read_only": False}}
    pi = {"storage": [{"path": "/sdcard", "read_only": True}, {"path": "/local", "read_only": False}]}

    assert writable_storage(buddy) == "usb"
    assert writable_storage(pi) == "local"
    assert writable_storage({"storage": [{"path": "/sdcard", "read_only": True}]}) is None
    assert writable_storage({}) is None
    assert storage_of_path("/usb/") == "usb"
    assert storage_of_path(None) is None


@pytest.mark.parametrize(
    ("body", "before"),
    [
        (b'{"title": "Conflict", "text": "File already exists."}', True),
        (b"Already in transfer process: Only one file at time can be transferred", True),
        (b'{"title": "Conflict", "text": "File is busy."}', True),
        (b'{"title": "Conflict", "text": "Not in state to print."}', False),
        (b"", False),
    ],
)
def test_a_409_says_whether_the_file_was_refused_before_it_was_stored(body: bytes, before: bool) -> None:
    assert refused_before_storing(error_text(body)) is before


def test_error_text_reads_json_and_plain_bodies_and_the_url_is_encoded() -> None:
    assert error_text(b'{"title": "Conflict", "text": "Not in state to print."}') == (
        "Conflict: Not in state to print."
    )
    assert error_text(b"409 Conflict\nmore") == "409 Conflict"
    assert files_url("usb", "my part #2.bgcode") == "/api/v1/files/usb/my%20part%20%232.bgcode"
