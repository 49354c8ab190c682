"""Reading OctoPrint's answer to an upload (the body of ``POST /api/files/local``, OctoPrint 1.11)."""

from __future__ import annotations

import json

from printfleet.printers.octoprint.sending import error_text, parse_upload_answer


def test_an_upload_answer_gives_the_stored_path_and_whether_it_printed() -> None:
    body = {
        "files": {"local": {"name": "part.gcode", "path": "jobs/part.gcode", "origin": "local", "refs": {}}},
        "done": True,
        "effectiveSelect": False,
        "effectivePrint": False,
    }

    answer = parse_upload_answer(json.dumps(body).encode())

    assert answer.path == "jobs/part.gcode"
    assert (answer.effective_select, answer.effective_print) == (False, False)


def test_an_unreadable_answer_is_not_taken_for_a_started_print() -> None:
    assert parse_upload_answer(b"<html>").effective_print is False
    assert parse_upload_answer(b'{"effectivePrint": "yes"}').effective_print is False
    assert parse_upload_answer(b'{"effectivePrint": true}').path is None


def test_error_text_reads_octoprint_error_bodies() -> None:
    assert error_text(b'{"error": "File already exists and noOverwrite was set"}') == (
        "File already exists and noOverwrite was set"
    )
    assert error_text(b"<!DOCTYPE html>\n<title>409</title>") == "<!DOCTYPE html>"
