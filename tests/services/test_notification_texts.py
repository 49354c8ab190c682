"""Message texts: every event printfleet announces has an English and a German default, rendered over the
documented context (the job's name, the printer, the duration)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from printfleet.domain.events import PrinterErrorRaised, PrinterWentOffline
from printfleet.domain.jobs import Job, JobStatus
from printfleet.domain.notifications.announce import Announcement, announcements, job_announcement
from printfleet.domain.notifications.model import NotificationEvent
from printfleet.domain.notifications.printer_alerts import error_text
from printfleet.domain.queue import EntryStatus, QueueEntry
from printfleet.services.notifications.templates import CustomTemplates, InvalidTemplate, Templates, context

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
FINISHED = Job(
    id=3,
    printer_id="x1c-left",
    printer_type="bambu",
    job_name="benchy",
    filename="benchy.gcode.3mf",
    status=JobStatus.COMPLETED,
    progress=100.0,
    created_at=T0,
    start_time=T0,
    end_time=T0 + timedelta(minutes=62),
    duration_seconds=62 * 60,
)
ENTRY = QueueEntry(
    id=5,
    user_id="user:2",
    user_name="Maya",
    job_name="Halter",
    estimate=timedelta(hours=1),
    queue_key=1,
    created_at=T0,
    queued_at=T0,
    status=EntryStatus.OFFERED,
    printer_id="x1c-left",
    deadline=T0 + timedelta(minutes=10),
)
ANNOUNCED = [
    NotificationEvent.PRINT_STARTED,
    NotificationEvent.PRINT_FINISHED,
    NotificationEvent.PRINT_FAILED,
    NotificationEvent.PRINT_CANCELLED,
    NotificationEvent.PRINT_PAUSED,
    NotificationEvent.CLAIM_OFFERED,
    NotificationEvent.RESERVATION_RELEASED,
]


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("event", ANNOUNCED)
def test_every_announced_event_has_a_text_naming_what_it_is_about(language: str, event: NotificationEvent) -> None:
    if event.queue_only:
        announcement = Announcement(event=event, subject="s", printer_id="x1c-left", entry=ENTRY, reason="cancelled")
        named = "Halter"
    else:
        announcement = Announcement(event=event, subject="s", printer_id="x1c-left", job=FINISHED)
        named = "benchy"
    title, body = Templates(language).render(event, context(announcement, base_url=None, now=T0))
    assert title
    assert named in title + body
    assert "x1c-left" in title + body


def test_a_finished_print_says_how_long_it_took_and_links_its_page() -> None:
    announcement = job_announcement(FINISHED)
    assert announcement is not None
    data = context(announcement, base_url="https://farm.example.org/", now=T0)
    title, body = Templates("en").render(announcement.event, data)
    assert (title, body) == ("Print finished: benchy", "benchy finished on x1c-left after 1 h 02 min.")
    assert data["job"]["url"] == "https://farm.example.org/jobs/3"


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_printers_runout_error_and_outage_name_the_printer_and_what_happened(language: str) -> None:
    runout = PrinterErrorRaised(
        printer_id="x1c-left",
        code="HMS_0700_2000_0002_0001",
        text=error_text("HMS_0700_2000_0002_0001"),
        runout=True,
        occurred_at=T0,
    )
    nozzle = PrinterErrorRaised(printer_id="x1c-left", code="0300800A", text=None, runout=False, occurred_at=T0)
    gone = PrinterWentOffline(printer_id="x1c-left", since=T0, reason="unreachable", detail="connection refused")
    templates = Templates(language)
    texts = {}
    for event in (runout, nozzle, gone):
        [announcement] = announcements(event)
        data = context(announcement, base_url=None, now=T0, language=language)
        texts[announcement.event] = templates.render(announcement.event, data)
    for title, body in texts.values():
        assert "x1c-left" in title
        assert "x1c-left" in body
    assert "0300800A" in texts[NotificationEvent.HMS_ERROR][1]
    assert "connection refused" in texts[NotificationEvent.PRINTER_OFFLINE][1]
    assert T0.isoformat() in texts[NotificationEvent.PRINTER_OFFLINE][1]
    if language == "en":
        assert texts[NotificationEvent.FILAMENT_RUNOUT][1] == (
            "x1c-left: AMS A slot 1: the filament has run out. Insert a new spool."
        )
    else:
        assert texts[NotificationEvent.FILAMENT_RUNOUT][1] == (
            "x1c-left: AMS A Fach 1: Das Filament ist aufgebraucht. Legen Sie eine neue Spule ein. "
            "(HMS_0700_2000_0002_0001)"
        )


def test_hms_codes_are_told_in_the_messages_language_with_bambus_page() -> None:
    clogged = PrinterErrorRaised(
        printer_id="p1s-3", code="HMS_0300_1A00_0002_0002", text=None, runout=False, occurred_at=T0
    )
    unknown = PrinterErrorRaised(
        printer_id="p1s-3", code="HMS_0701_9900_0002_0001", text=None, runout=False, occurred_at=T0
    )
    link = "https://e.bambulab.com/index.php?e=03001A0000020002&s=device_hms&lang=en"
    [announcement] = announcements(clogged)
    _, german = Templates("de").render(announcement.event, context(announcement, base_url=None, now=T0, language="de"))
    said = "p1s-3 meldet einen Fehler (HMS_0300_1A00_0002_0002): Die Düse ist verstopft."
    assert german == f"{said} Erklärung von Bambu Lab: {link}"
    [announcement] = announcements(unknown)
    data = context(announcement, base_url=None, now=T0, language="de")
    assert data["error"]["text"] == "Ein ernster Fehler des AMS B (Bambu HMS)."
    assert context(announcement, base_url=None, now=T0)["error"]["text"] == "A serious error of the AMS B (Bambu HMS)."


def test_own_texts_that_fail_when_a_message_is_written_fall_back_to_printfleets() -> None:
    templates = Templates("en")
    data = {"event": "print_finished", "printer": {"id": "mk4"}, "time": "2026-12-05T13:05:00+00:00"}
    default = ("Print finished: cube", "cube finished on mk4.")
    wrong_zone = CustomTemplates(None, "{{ time | local('Mars/Olympus') }}")
    only_title = CustomTemplates("{{ printer.id }}: {{ time | local('America/New_York', '%H:%M') }}", None)

    assert templates.render_for(NotificationEvent.PRINT_FINISHED, data, wrong_zone, default) == default
    assert templates.render_for(NotificationEvent.PRINT_FINISHED, data, only_title, default) == (
        "mk4: 08:05",
        "cube finished on mk4.",  # the body printfleet's
    )
    with pytest.raises(InvalidTemplate, match=r"title_template: .*\(line 1\)"):
        CustomTemplates("{% if %}", None)
    with pytest.raises(InvalidTemplate, match="at most 4000"):
        CustomTemplates(None, "x" * 4001)
