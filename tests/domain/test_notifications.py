"""Notification rules in the domain: which event a job status announces and under which subject (so repeats are
one message), rule matching, the retry schedule, and Standard Webhooks signatures."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from printfleet.domain.events import JobUpdated
from printfleet.domain.jobs import Job, JobStatus
from printfleet.domain.notifications.announce import announcements, job_announcement
from printfleet.domain.notifications.model import Backoff, NotificationEvent, PrinterPreferences, Rule
from printfleet.domain.notifications.signing import secret_key, sign, verify

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def _job(status: JobStatus, **changes: object) -> Job:
    job = Job(
        id=7,
        printer_id="p1s",
        printer_type="bambu",
        job_name="benchy",
        filename="benchy.gcode.3mf",
        status=status,
        progress=40.0,
        created_at=T0,
        start_time=T0,
        end_time=None,
        duration_seconds=None,
    )
    return dataclasses.replace(job, **changes)  # type: ignore[arg-type]


def test_each_status_announces_its_event_and_a_resume_repeats_the_start() -> None:
    events = {status: job_announcement(_job(status)) for status in JobStatus}
    assert {s: (a.event if a else None) for s, a in events.items()} == {
        JobStatus.PENDING: None,
        JobStatus.RUNNING: NotificationEvent.PRINT_STARTED,
        JobStatus.PAUSED: NotificationEvent.PRINT_PAUSED,
        JobStatus.COMPLETED: NotificationEvent.PRINT_FINISHED,
        JobStatus.FAILED: NotificationEvent.PRINT_FAILED,
        JobStatus.CANCELLED: NotificationEvent.PRINT_CANCELLED,
        JobStatus.UNKNOWN: None,
    }
    started = announcements(JobUpdated(job=_job(JobStatus.RUNNING)))
    resumed = announcements(JobUpdated(job=_job(JobStatus.RUNNING, progress=60.0, elapsed_seconds=900)))
    assert [a.subject for a in started] == [a.subject for a in resumed] == ["job:7"]


def test_two_pauses_of_one_print_are_two_subjects_and_a_repeated_pause_is_one() -> None:
    first = job_announcement(_job(JobStatus.PAUSED, elapsed_seconds=600))
    edited = job_announcement(_job(JobStatus.PAUSED, elapsed_seconds=600, notes="hello"))
    second = job_announcement(_job(JobStatus.PAUSED, elapsed_seconds=1800))
    assert first is not None
    assert edited is not None
    assert second is not None
    assert first.subject == edited.subject == "job:7:pause:600"
    assert second.subject != first.subject


def test_a_deleted_job_announces_nothing() -> None:
    assert job_announcement(_job(JobStatus.COMPLETED, deleted=True)) is None


def test_rules_match_their_events_on_their_printers() -> None:
    everywhere = Rule(id=1, channel_id=1, events=frozenset({NotificationEvent.PRINT_FINISHED}))
    one = Rule(id=2, channel_id=1, events=frozenset({NotificationEvent.PRINT_FINISHED}), printer_ids=frozenset({"a"}))
    assert everywhere.matches(NotificationEvent.PRINT_FINISHED, "b")
    assert not everywhere.matches(NotificationEvent.PRINT_STARTED, "b")
    assert one.matches(NotificationEvent.PRINT_FINISHED, "a")
    assert not one.matches(NotificationEvent.PRINT_FINISHED, "b")


def test_preferences_name_the_events_they_ask_for() -> None:
    assert PrinterPreferences(printer_id="a").events() == {
        NotificationEvent.PRINT_FINISHED,
        NotificationEvent.PRINT_FAILED,
        NotificationEvent.MAINTENANCE_DUE,
    }


def test_retries_double_up_to_the_cap_and_stop_after_a_day() -> None:
    backoff = Backoff(initial=10, maximum=3600, give_up_after=86400)
    delays = [(backoff.next_attempt(n, T0, T0) or T0) - T0 for n in (1, 2, 3, 12)]
    assert delays == [timedelta(seconds=10), timedelta(seconds=20), timedelta(seconds=40), timedelta(hours=1)]
    assert backoff.next_attempt(30, T0 + timedelta(hours=23, minutes=30), T0) is None


def test_signature_matches_the_standard_webhooks_reference_vector() -> None:
    # The example of the Standard Webhooks specification's reference libraries (standard-webhooks/standard-webhooks).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert verify(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, f"v1,bogus {signature}")
    assert not verify(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body, signature)


@pytest.mark.parametrize("secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_c2hvcnQ="])
def test_a_secret_that_is_not_whsec_base64_of_24_bytes_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="webhook secret") as refused:
        secret_key(secret)
    assert secret not in str(refused.value)
