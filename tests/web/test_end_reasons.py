"""Why a job ended is a sentence in the page's language, in the jobs list and on the job's page."""

from __future__ import annotations

import html

import pytest

from printfleet.domain.jobs import JobStatus
from printfleet.web.pages import renderer
from tests.domain.test_jobs import NOON, job


@pytest.mark.parametrize(
    ("reason", "english", "german"),
    [
        (
            "printer idle; the end of the print was not seen",
            "The printer became idle; the end of the print was not seen.",
            "Der Drucker wurde untätig; das Ende des Drucks wurde nicht gesehen.",
        ),
        (
            "printer error (HMS_0300_0200_0001_000A)",
            "The printer reported an error: HMS_0300_0200_0001_000A.",
            "Der Drucker meldete einen Fehler: HMS_0300_0200_0001_000A.",
        ),
        (
            "printer error (0300800A, HMS_0700_2000_0002_0002)",
            "The printer reported an error: 0300800A, HMS_0700_2000_0002_0002 (AMS A slot 2 ran out of filament).",
            "Der Drucker meldete einen Fehler: 0300800A, HMS_0700_2000_0002_0002 "
            "(AMS A Fach 2: Filament aufgebraucht).",
        ),
        (
            "printer error (05004004)",
            "The printer reported an error: 05004004 (the printer was busy and refused to start another print).",
            "Der Drucker meldete einen Fehler: 05004004 (der Drucker war beschäftigt und hat einen weiteren Druck "
            "abgelehnt).",
        ),
        (
            "printer error (no code)",
            "The printer reported an error: no code.",
            "Der Drucker meldete einen Fehler: no code.",
        ),
        (
            "dispatch failed: upload_failed",
            "Sending the print failed: The upload failed.",
            "Das Senden des Drucks ist fehlgeschlagen: Das Hochladen ist fehlgeschlagen.",
        ),
        ("a reason from a later version", "a reason from a later version", "a reason from a later version"),
    ],
)
def test_an_end_reason_reads_as_a_sentence_in_each_language(reason: str, english: str, german: str) -> None:
    ended = job(status=JobStatus.FAILED, end_reason=reason, end_time=NOON, duration_seconds=60)
    for locale, sentence in (("en", english), ("de", german)):
        row = html.unescape(renderer().render("_job_row.html", locale, job=ended, printer_names={}))
        assert sentence in row
        assert reason not in row or reason == sentence
        facts = html.unescape(renderer().render("_job_facts.html", locale, job=ended, printer_names={}))
        assert sentence in facts


def test_a_completed_job_shows_no_reason_in_the_list() -> None:
    done = job(status=JobStatus.COMPLETED, end_reason="printer deleted")
    assert "end-reason" not in renderer().render("_job_row.html", "en", job=done, printer_names={})
