"""The fair shared print queue: durations people type, offers, claims, windows, links, ETAs, predictions, limits."""

from __future__ import annotations

import contextlib
import dataclasses
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from printfleet.domain.durations import (
    MAX_ESTIMATE,
    QueueInputError,
    format_duration,
    parse_duration,
    parse_estimate,
)
from printfleet.domain.jobs import JobStatus
from printfleet.domain.queue import (
    EntryStatus,
    QueueEntry,
    QueuePolicy,
    QueuePrinter,
    QueueRefusal,
    Refusal,
    StartKind,
    Window,
    back_of_queue,
    can_transition,
    claim,
    entry_for_job,
    expire,
    expire_due,
    finish,
    holder_of,
    join,
    next_deadline,
    next_offers,
    print_started,
    waiting_in_order,
    withdraw_offers,
)
from printfleet.domain.queue_commands import RateLimit, cancel, move, remove, update_estimate
from printfleet.domain.queue_eta import Eta, estimate_waits
from printfleet.domain.queue_predict import (
    DurationSample,
    Match,
    job_name_tokens,
    percentile,
    predict,
    samples_from_entries,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
POLICY = QueuePolicy()
MIN = timedelta(minutes=1)


def entry(entry_id: int, user: str | None = None, **changes: object) -> QueueEntry:
    base = QueueEntry(
        id=entry_id,
        user_id=user or f"u{entry_id}",
        user_name=user or f"user {entry_id}",
        job_name=f"job {entry_id}",
        estimate=timedelta(hours=1),
        queue_key=entry_id,
        created_at=NOW,
        queued_at=NOW,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def offered(entry_id: int, printer_id: str, **changes: object) -> QueueEntry:
    fields: dict[str, object] = {"deadline": NOW + POLICY.claim_window, "offered_at": NOW}
    return entry(entry_id, status=EntryStatus.OFFERED, printer_id=printer_id, **(fields | changes))


def claimed(entry_id: int, printer_id: str, **changes: object) -> QueueEntry:
    fields: dict[str, object] = {"deadline": NOW + POLICY.start_window, "claimed_at": NOW}
    return entry(entry_id, status=EntryStatus.CLAIMED, printer_id=printer_id, **(fields | changes))


def idle(*printer_ids: str) -> list[QueuePrinter]:
    return [QueuePrinter(id=printer_id, ready=True) for printer_id in printer_ids]


def offers_by_printer(offers: Iterable[QueueEntry]) -> dict[str | None, int]:
    return {offer.printer_id: offer.id for offer in offers}


def updated(entries: list[QueueEntry], changes: Iterable[QueueEntry]) -> list[QueueEntry]:
    by_id = {e.id: e for e in entries} | {e.id: e for e in changes}
    return list(by_id.values())


# --- durations people type -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("90", 90),
        ("90m", 90),
        ("1h30m", 90),
        ("1h", 60),
        ("2:15", 135),
        ("1h 30m", 90),
        ("1H30M", 90),
        (" 1.5h ", 90),
        ("1 hour 30 min", 90),
        ("72h", 72 * 60),
    ],
)
def test_estimates_people_type_are_read(text: str, minutes: int) -> None:
    assert parse_estimate(text) == timedelta(minutes=minutes)


def test_seconds_are_allowed_in_window_settings() -> None:
    assert parse_duration("90s", maximum=timedelta(hours=1)) == timedelta(seconds=90)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "That is not a duration; try e.g. 90 (minutes), 90m, 1h30m or 2:15."),
        ("", "Give a duration, e.g. 90 (minutes), 90m, 1h30m or 2:15."),
        ("-5", "A duration can't be negative."),
        ("-1h", "A duration can't be negative."),
        ("0", "A duration must be more than zero."),
        ("73h", "73h is over the maximum of 72h."),
        ("2:75", "In h:mm the minutes go from 00 to 59, e.g. 2:15."),
        ("30m 1h", "Give the units largest first and once each, e.g. 90 (minutes), 90m, 1h30m or 2:15."),
        ("5 parsecs", "Unknown unit: use d, h, m or s, e.g. 90 (minutes), 90m, 1h30m or 2:15."),
        ("30s", "30s is too short: at least 1m."),
        ("999999999999999999h", "That is over the maximum of 72h."),
    ],
)
def test_bad_estimates_are_refused_with_a_sentence_for_the_user(text: str, message: str) -> None:
    with pytest.raises(QueueInputError) as caught:
        parse_estimate(text)
    assert str(caught.value) == message
    assert caught.value.field == "estimate"
    assert caught.value.value == text


def test_a_refusal_never_quotes_what_was_typed() -> None:
    with pytest.raises(QueueInputError) as caught:
        parse_estimate("@everyone")
    assert "@everyone" not in str(caught.value)


def test_the_maximum_is_a_parameter() -> None:
    with pytest.raises(QueueInputError, match="over the maximum of 30m"):
        parse_duration("31m", maximum=timedelta(minutes=30))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5400, "1h30m"), (7200, "2h"), (2700, "45m"), (90, "1m30s"), (0, "0m"), (72 * 3600, "72h"), (-600, "-10m")],
)
def test_durations_are_written_back_in_the_form_people_type(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


def test_written_durations_read_back_to_the_same_value() -> None:
    for seconds in [1, 59, 61, 3599, 3600, 5400, 86_399, 72 * 3600]:
        value = timedelta(seconds=seconds)
        assert parse_duration(format_duration(value), maximum=MAX_ESTIMATE) == value


def test_etas_can_be_written_to_the_minute() -> None:
    assert format_duration(timedelta(hours=1, minutes=29, seconds=47), seconds=False) == "1h30m"
    assert format_duration(timedelta(seconds=29), seconds=False) == "0m"


# --- joining and the guard rails -------------------------------------------------------------------------------


def test_joining_puts_the_entry_at_the_back_of_the_queue() -> None:
    entries = [entry(1, queue_key=4), offered(2, "a", queue_key=9), entry(3, status=EntryStatus.DONE, queue_key=50)]
    new = join(
        entries,
        user_id="u9",
        user_name="Ada",
        job_name="  gridfinity   bin ",
        estimate=timedelta(minutes=90),
        printer_ids=["b"],
        known_printer_ids=["a", "b"],
        now=NOW,
        policy=POLICY,
    )
    assert (new.job_name, new.queue_key, new.printer_ids, new.created_at) == ("gridfinity bin", 10, {"b"}, NOW)


def join_as(user: str, entries: list[QueueEntry], **changes: object) -> object:
    fields: dict[str, object] = {
        "user_id": user,
        "user_name": user,
        "job_name": "benchy",
        "estimate": timedelta(hours=1),
        "known_printer_ids": ["a", "b"],
        "now": NOW,
        "policy": POLICY,
    }
    return join(entries, **(fields | changes))  # type: ignore[arg-type]


def test_the_per_user_limit_counts_every_active_entry_including_a_print() -> None:
    with pytest.raises(QueueRefusal) as caught:
        join_as("u1", [entry(1, status=EntryStatus.PRINTING, printer_id="a", job_id=5)], job_name="other")
    assert caught.value.reason is Refusal.LIMIT_REACHED
    assert str(caught.value) == "You have 1 job(s) in the queue already; the limit is 1."
    join_as("u1", [entry(1, status=EntryStatus.DONE)])  # an ended entry does not count
    join_as("u1", [entry(1)], policy=QueuePolicy(max_active_per_user=2), job_name="other")


def test_joining_twice_with_the_same_job_answers_with_the_entry_already_queued() -> None:
    with pytest.raises(QueueRefusal) as caught:
        join_as("u1", [entry(1, job_name="benchy")], policy=QueuePolicy(max_active_per_user=3))
    assert (caught.value.reason, caught.value.entry_id) == (Refusal.ALREADY_QUEUED, 1)
    assert str(caught.value) == "You queued that job already (#1)."


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"printer_ids": ["zz", "a"]}, "Unknown printer; the printers are a, b."),
        ({"job_name": "   "}, "Give the job a name."),
        ({"job_name": "x" * 201}, "A job name has at most 200 characters."),
        ({"estimate": timedelta(hours=73)}, "The estimate must be from 1m to 72h."),
        ({"estimate": -MIN}, "The estimate must be from 1m to 72h."),
    ],
)
def test_bad_joins_are_refused_with_a_sentence_for_the_user(changes: dict[str, object], message: str) -> None:
    with pytest.raises(QueueInputError) as caught:
        join_as("u1", [], **changes)
    assert str(caught.value) == message


def test_an_unknown_printer_is_named_in_the_errors_value_not_its_message() -> None:
    with pytest.raises(QueueInputError) as caught:
        join_as("u1", [], printer_ids=["@everyone", "a"])
    assert (caught.value.field, caught.value.value) == ("printer_ids", "@everyone")


def test_policy_values_that_make_no_sense_are_refused() -> None:
    with pytest.raises(ValueError, match="claim_window"):
        QueuePolicy(claim_window=timedelta(0))
    with pytest.raises(ValueError, match="max_missed_offers"):
        QueuePolicy(max_missed_offers=0)


def test_the_clock_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_offers([entry(1)], idle("a"), now=NOW.replace(tzinfo=None), policy=POLICY)


# --- offers ------------------------------------------------------------------------------------------------------


def test_the_first_waiting_entry_is_offered_the_idle_printer_until_the_claim_deadline() -> None:
    [offer] = next_offers([entry(2), entry(1)], idle("a"), now=NOW, policy=POLICY)
    assert (offer.id, offer.status, offer.printer_id) == (1, EntryStatus.OFFERED, "a")
    assert offer.deadline == offer.claim_deadline == NOW + timedelta(minutes=10)
    assert next_deadline([offer]) == NOW + timedelta(minutes=10)


def test_an_entry_limited_to_printer_b_is_skipped_for_a_and_the_next_eligible_entry_gets_a() -> None:
    entries = [entry(1, printer_ids=frozenset({"b"})), entry(2), entry(3)]
    assert offers_by_printer(next_offers(entries, idle("a"), now=NOW, policy=POLICY)) == {"a": 2}


def test_an_unlimited_entry_leaves_the_only_printer_a_limited_entry_behind_it_may_use() -> None:
    entries = [entry(1), entry(2, printer_ids=frozenset({"a"}))]
    assert offers_by_printer(next_offers(entries, idle("a", "b"), now=NOW, policy=POLICY)) == {"b": 1, "a": 2}


def test_one_printer_is_never_offered_to_two_entries() -> None:
    entries = [entry(1), entry(2), entry(3)]
    assert offers_by_printer(next_offers(entries, idle("a"), now=NOW, policy=POLICY)) == {"a": 1}
    assert next_offers([*entries[1:], offered(1, "a")], idle("a"), now=NOW, policy=POLICY) == []


def test_one_user_is_never_offered_two_printers() -> None:
    entries = [entry(1, "ada"), entry(2, "ada"), entry(3, "bob")]
    assert offers_by_printer(next_offers(entries, idle("a", "b"), now=NOW, policy=POLICY)) == {"a": 1, "b": 3}


def test_a_user_whose_print_runs_is_offered_nothing_more() -> None:
    entries = [entry(1, "ada", status=EntryStatus.PRINTING, printer_id="a", job_id=7), entry(2, "ada"), entry(3)]
    assert offers_by_printer(next_offers(entries, idle("b"), now=NOW, policy=POLICY)) == {"b": 3}


def test_held_busy_and_reserved_printers_are_not_offered() -> None:
    printers = [
        QueuePrinter(id="held", ready=True, held=True),
        QueuePrinter(id="busy", ready=False, remaining_seconds=600),
        QueuePrinter(id="reserved", ready=True),
    ]
    entries = [claimed(1, "reserved"), entry(2)]
    assert next_offers(entries, printers, now=NOW, policy=POLICY) == []


def test_a_paused_queue_offers_nothing() -> None:
    assert next_offers([entry(1)], idle("a"), now=NOW, policy=POLICY, paused=True) == []


# --- missed offers -----------------------------------------------------------------------------------------------


def test_a_missed_offer_goes_to_the_back_of_the_queue() -> None:
    entries = [offered(1, "a"), entry(2), entry(3)]
    later = NOW + timedelta(minutes=10)
    [expiry] = expire_due(entries, now=later, policy=POLICY)
    assert (expiry.window, expiry.printer_id, expiry.requeued) == (Window.CLAIM, "a", True)
    after = expiry.after
    assert (after.status, after.missed_offers, after.queue_key, after.queued_at) == (EntryStatus.WAITING, 1, 4, later)
    assert (after.printer_id, after.deadline) == (None, None)
    entries = updated(entries, [after])
    assert [e.id for e in waiting_in_order(entries)] == [2, 3, 1]
    assert offers_by_printer(next_offers(entries, idle("a"), now=later, policy=POLICY)) == {"a": 2}


def test_the_second_missed_offer_in_a_row_removes_the_entry() -> None:
    expiry = expire(offered(1, "a", missed_offers=1), now=NOW + timedelta(hours=1), policy=POLICY, back_key=9)
    assert expiry is not None
    assert (expiry.after.status, expiry.after.missed_offers, expiry.requeued) == (EntryStatus.EXPIRED, 2, False)
    assert expiry.after.end_reason == "missed 2 windows in a row (the last one a claim window)"


def test_how_many_missed_offers_end_an_entry_is_configurable() -> None:
    patient = QueuePolicy(max_missed_offers=3)
    expiry = expire(offered(1, "a", missed_offers=1), now=NOW + timedelta(hours=1), policy=patient, back_key=9)
    assert expiry is not None
    assert expiry.after.status is EntryStatus.WAITING
    never = QueuePolicy(max_missed_offers=None)
    expiry = expire(offered(1, "a", missed_offers=50), now=NOW + timedelta(hours=1), policy=never, back_key=9)
    assert expiry is not None
    assert expiry.after.status is EntryStatus.WAITING


def test_nothing_expires_before_its_deadline() -> None:
    entries = [offered(1, "a"), claimed(2, "b")]
    assert expire_due(entries, now=NOW + timedelta(minutes=9, seconds=59), policy=POLICY) == []
    assert next_deadline(entries) == NOW + timedelta(minutes=10)


def test_entries_missing_their_windows_together_go_to_the_back_in_deadline_order() -> None:
    entries = [offered(1, "a", deadline=NOW + MIN * 5), offered(2, "b", deadline=NOW + MIN * 3), entry(3)]
    expiries = expire_due(entries, now=NOW + MIN * 6, policy=POLICY)
    assert [(x.after.id, x.after.queue_key) for x in expiries] == [(2, 4), (1, 5)]


# --- claims and the start window ---------------------------------------------------------------------------------


def test_a_claim_in_time_reserves_the_printer_until_the_start_deadline() -> None:
    now = NOW + MIN * 4
    reserved = claim(offered(1, "a", missed_offers=1), user_id="u1", now=now, policy=POLICY)
    assert (reserved.status, reserved.printer_id, reserved.missed_offers) == (EntryStatus.CLAIMED, "a", 0)
    assert reserved.start_deadline == now + timedelta(minutes=15)
    assert reserved.claimed_at == now


def test_a_double_claim_is_harmless() -> None:
    reserved = claim(offered(1, "a"), user_id="u1", now=NOW, policy=POLICY)
    assert claim(reserved, user_id="u1", now=NOW + MIN, policy=POLICY) is reserved


def test_a_claim_after_the_deadline_fails_even_before_the_scheduler_ran() -> None:
    with pytest.raises(QueueRefusal) as caught:
        claim(offered(1, "a"), user_id="u1", now=NOW + POLICY.claim_window, policy=POLICY)
    assert caught.value.reason is Refusal.OFFER_EXPIRED


@pytest.mark.parametrize(
    ("claimed_entry", "user", "reason"),
    [
        (offered(1, "a"), "u2", Refusal.NOT_YOURS),
        (entry(1), "u1", Refusal.NOT_OFFERED),
        (entry(1, status=EntryStatus.EXPIRED), "u1", Refusal.ENDED),
    ],
)
def test_claims_that_cannot_be_are_refused_with_a_reason(claimed_entry: QueueEntry, user: str, reason: Refusal) -> None:
    with pytest.raises(QueueRefusal) as caught:
        claim(claimed_entry, user_id=user, now=NOW, policy=POLICY)
    assert caught.value.reason is reason


def test_a_start_window_expiry_releases_the_reservation_to_the_next_user() -> None:
    entries = [claimed(1, "a"), entry(2)]
    later = NOW + POLICY.start_window
    [expiry] = expire_due(entries, now=later, policy=POLICY)
    assert (expiry.window, expiry.printer_id, expiry.requeued) == (Window.START, "a", True)
    assert (expiry.after.status, expiry.after.queue_key, expiry.after.missed_offers) == (EntryStatus.WAITING, 3, 1)
    entries = updated(entries, [expiry.after])
    assert offers_by_printer(next_offers(entries, idle("a"), now=later, policy=POLICY)) == {"a": 2}


def test_a_missed_start_window_can_end_the_entry_at_once() -> None:
    strict = QueuePolicy(requeue_on_start_miss=False)
    expiry = expire(claimed(1, "a"), now=NOW + timedelta(hours=1), policy=strict, back_key=5)
    assert expiry is not None
    assert (expiry.after.status, expiry.after.end_reason) == (
        EntryStatus.EXPIRED,
        "no print started on the reserved printer in time",
    )


# --- prints starting and ending ----------------------------------------------------------------------------------


def test_a_print_starting_on_the_reserved_printer_in_time_is_linked() -> None:
    now = NOW + MIN * 7
    start = print_started([claimed(1, "a"), entry(2)], printer_id="a", job_id=42, now=now)
    assert start.kind is StartKind.LINKED
    assert start.entry is not None
    assert (start.entry.status, start.entry.job_id, start.entry.started_at) == (EntryStatus.PRINTING, 42, now)
    assert start.entry.deadline is None
    again = print_started([start.entry], printer_id="a", job_id=42, now=now + MIN)
    assert (again.kind, again.entry) == (StartKind.ALREADY_LINKED, start.entry)


def test_a_print_starting_after_the_start_window_is_not_linked() -> None:
    start = print_started([claimed(1, "a")], printer_id="a", job_id=42, now=NOW + POLICY.start_window)
    assert (start.kind, start.entry) == (StartKind.UNQUEUED, None)


def test_a_print_bypassing_the_queue_withdraws_the_offer_and_the_entry_keeps_its_place() -> None:
    entries = [offered(1, "a"), entry(2), entry(3)]
    start = print_started(entries, printer_id="a", job_id=42, now=NOW + MIN)
    assert start.kind is StartKind.UNQUEUED
    assert start.entry is not None
    withdrawn = start.entry
    assert (withdrawn.status, withdrawn.printer_id, withdrawn.deadline) == (EntryStatus.WAITING, None, None)
    assert (withdrawn.queue_key, withdrawn.missed_offers) == (1, 0)
    entries = updated(entries, [withdrawn])
    assert [e.id for e in waiting_in_order(entries)] == [1, 2, 3]
    printers = [QueuePrinter(id="a", ready=False, remaining_seconds=3600), *idle("b")]
    assert offers_by_printer(next_offers(entries, printers, now=NOW + MIN, policy=POLICY)) == {"b": 1}


def test_a_print_on_a_printer_nobody_holds_is_unqueued() -> None:
    start = print_started([entry(1), claimed(2, "b")], printer_id="a", job_id=42, now=NOW)
    assert (start.kind, start.entry) == (StartKind.UNQUEUED, None)


def test_an_admin_hold_withdraws_the_printers_open_offers_only() -> None:
    withdrawn = withdraw_offers([offered(1, "a"), claimed(2, "a"), offered(3, "b")], "a")
    assert [(e.id, e.status) for e in withdrawn] == [(1, EntryStatus.WAITING)]


def test_completion_records_the_outcome_and_the_actual_duration() -> None:
    printing = entry(1, status=EntryStatus.PRINTING, printer_id="a", job_id=42, started_at=NOW)
    assert entry_for_job([entry(2), printing], 42) == printing
    done = finish(printing, outcome=JobStatus.COMPLETED, now=NOW + timedelta(hours=2))
    assert (done.status, done.outcome, done.actual_duration) == (
        EntryStatus.DONE,
        JobStatus.COMPLETED,
        timedelta(hours=2),
    )
    assert (done.printer_id, done.ended_at) == ("a", NOW + timedelta(hours=2))
    from_job = finish(printing, outcome=JobStatus.FAILED, now=NOW + MIN * 50, duration=MIN * 47)
    assert (from_job.outcome, from_job.actual_duration) == (JobStatus.FAILED, MIN * 47)
    assert finish(done, outcome=JobStatus.COMPLETED, now=NOW + timedelta(hours=3)) is done


def test_the_printer_goes_to_the_next_entry_after_completion() -> None:
    printing = entry(1, status=EntryStatus.PRINTING, printer_id="a", job_id=42, started_at=NOW)
    entries = [printing, entry(2)]
    assert next_offers(entries, [QueuePrinter(id="a", ready=False, remaining_seconds=60)], now=NOW, policy=POLICY) == []
    done = finish(printing, outcome=JobStatus.CANCELLED, now=NOW + MIN)
    assert holder_of(updated(entries, [done]), "a") is None
    offers = next_offers(updated(entries, [done]), idle("a"), now=NOW + MIN, policy=POLICY)
    assert offers_by_printer(offers) == {"a": 2}


def test_completion_wants_an_ending_and_a_printing_entry() -> None:
    with pytest.raises(ValueError, match="not how a job ends"):
        finish(entry(1, status=EntryStatus.PRINTING), outcome=JobStatus.RUNNING, now=NOW)
    with pytest.raises(ValueError, match="not printing"):
        finish(entry(1), outcome=JobStatus.COMPLETED, now=NOW)


# --- users' and admins' commands ---------------------------------------------------------------------------------


def test_a_user_cancels_their_own_entry_and_a_reservation_is_released() -> None:
    cancelled = cancel(claimed(1, "a"), user_id="u1", now=NOW)
    assert (cancelled.status, cancelled.printer_id, cancelled.deadline) == (EntryStatus.CANCELLED, None, None)
    assert cancel(cancelled, user_id="u1", now=NOW + MIN) is cancelled
    for target, user, reason in [
        (entry(1), "u2", Refusal.NOT_YOURS),
        (entry(1, status=EntryStatus.DONE), "u2", Refusal.NOT_YOURS),
        (entry(1, status=EntryStatus.PRINTING, printer_id="a", job_id=3), "u1", Refusal.PRINTING),
    ]:
        with pytest.raises(QueueRefusal) as caught:
            cancel(target, user_id=user, now=NOW)
        assert caught.value.reason is reason


@pytest.mark.parametrize("status", [EntryStatus.DONE, EntryStatus.EXPIRED, EntryStatus.REMOVED])
def test_cancelling_an_entry_that_ended_otherwise_is_harmless_and_changes_nothing(status: EntryStatus) -> None:
    ended = entry(1, status=status, ended_at=NOW)
    assert cancel(ended, user_id="u1", now=NOW + MIN) is ended


def test_a_new_estimate_changes_the_etas_behind_it() -> None:
    entries = [claimed(1, "a", estimate=timedelta(hours=2)), entry(2)]
    assert estimate_waits(entries, idle("a"), now=NOW)[2].wait == timedelta(hours=2)
    shorter = update_estimate(entries[0], user_id="u1", estimate=MIN * 30, policy=POLICY)
    assert estimate_waits(updated(entries, [shorter]), idle("a"), now=NOW)[2].wait == MIN * 30
    with pytest.raises(QueueInputError):
        update_estimate(entries[0], user_id="u1", estimate=timedelta(hours=80), policy=POLICY)


def test_an_admin_removes_an_entry() -> None:
    removed = remove(offered(1, "a"), now=NOW)
    assert (removed.status, removed.printer_id, removed.end_reason) == (
        EntryStatus.REMOVED,
        None,
        "removed by an admin",
    )
    assert remove(removed, now=NOW) is removed
    with pytest.raises(QueueRefusal):
        remove(entry(1, status=EntryStatus.DONE), now=NOW)


def test_an_admin_moves_a_waiting_entry_to_a_position() -> None:
    entries = [entry(1), offered(2, "a"), entry(3), entry(4)]
    entries = updated(entries, move(entries, entry_id=4, position=1))
    assert [e.id for e in waiting_in_order(entries)] == [4, 1, 3]
    entries = updated(entries, move(entries, entry_id=4, position=3))
    assert [e.id for e in waiting_in_order(entries)] == [1, 3, 4]
    assert back_of_queue(entries) == 5
    with pytest.raises(QueueInputError, match="from 1 to 3"):
        move(entries, entry_id=1, position=4)
    with pytest.raises(QueueRefusal):
        move(entries, entry_id=2, position=1)


def test_status_transitions_are_defined_in_one_place() -> None:
    assert can_transition(EntryStatus.OFFERED, EntryStatus.WAITING)
    assert can_transition(EntryStatus.PRINTING, EntryStatus.DONE)
    assert not can_transition(EntryStatus.PRINTING, EntryStatus.CANCELLED)
    assert not can_transition(EntryStatus.DONE, EntryStatus.WAITING)


# --- ETA -----------------------------------------------------------------------------------------------------------


def test_waits_for_a_small_farm_worked_out_by_hand() -> None:
    # Printers when next free: a prints something unqueued with 30m left (printer-reported) -> +30m; b is reserved
    # by entry 1 (2h estimate) -> +2h; c is idle -> +0; d is held and e offline: both left out.
    printers = [
        QueuePrinter(id="a", ready=False, remaining_seconds=30 * 60),
        QueuePrinter(id="b", ready=True),
        QueuePrinter(id="c", ready=True),
        QueuePrinter(id="d", ready=True, held=True),
        QueuePrinter(id="e", ready=False),
    ]
    entries = [
        claimed(1, "b", estimate=timedelta(hours=2)),
        entry(2, estimate=timedelta(hours=1)),
        entry(3, estimate=MIN * 45, printer_ids=frozenset({"a"})),
        entry(4, estimate=timedelta(hours=3)),
        entry(5, estimate=MIN * 20, printer_ids=frozenset({"b", "d"})),
    ]
    # In line: 2 takes c at +0 (c free at +1h); 3 may use only a: +30m (a free at +1h15m); 4 takes the earliest of
    # a +1h15m, b +2h, c +1h: c at +1h; 5 may use b (d is held): +2h.
    assert estimate_waits(entries, printers, now=NOW) == {
        2: Eta(1, timedelta(0), "c"),
        3: Eta(2, MIN * 30, "a"),
        4: Eta(3, timedelta(hours=1), "c"),
        5: Eta(4, timedelta(hours=2), "b"),
    }


def test_a_users_next_entry_waits_for_their_print_ahead() -> None:
    # ada prints on a for 40 more minutes (estimate 1h, started 20m ago, no printer-reported remaining time); b is
    # idle, but ada holds one printer at a time.
    printing = entry(1, "ada", status=EntryStatus.PRINTING, printer_id="a", job_id=9, started_at=NOW - MIN * 20)
    waits = estimate_waits([printing, entry(2, "ada")], [QueuePrinter(id="a", ready=False), *idle("b")], now=NOW)
    assert waits == {2: Eta(1, MIN * 40, "a")}


def test_an_entry_no_printer_can_serve_has_no_wait() -> None:
    waits = estimate_waits([entry(1, printer_ids=frozenset({"gone"}))], idle("a"), now=NOW)
    assert waits == {1: Eta(1, None, None)}


# --- predict -------------------------------------------------------------------------------------------------------


def sample(name: str, minutes: float, printer: str = "a", user: str = "ada", estimate: float = 30) -> DurationSample:
    return DurationSample(
        job_name=name, actual=MIN * minutes, printer_id=printer, user_id=user, estimate=MIN * estimate
    )


HISTORY = [
    sample("benchy.gcode", 30),
    sample("Benchy_v2.3mf", 33),
    sample("benchy", 36),
    sample("benchy_0.4n_0.2mm_PLA_MK4_1h2m.bgcode", 62, estimate=60),
    sample("benchy", 40, user="bob"),
    sample("BENCHY-2", 50, printer="b", user="bob"),
    sample("gridfinity_bin_2x3", 120, user="bob", estimate=100),
]


def test_job_names_are_reduced_to_the_words_that_name_the_job() -> None:
    assert job_name_tokens("cache/Benchy_v2.gcode.3mf") == ("benchy",)
    assert job_name_tokens("benchy_0.4n_0.2mm_PLA_MK4_1h2m.bgcode") == ("benchy", "mk4")
    assert job_name_tokens("Gridfinity Bin (2x3) copy") == ("gridfinity", "bin", "2x3")


def test_predict_gives_median_and_p90_of_exact_matches_overall_and_per_printer() -> None:
    prediction = predict(HISTORY, "benchy.3mf", printer_id="a")
    assert prediction.match is Match.EXACT
    # Exact "benchy": 30, 33, 36, 40, 50 minutes. Median = 36. p90: h = 4 * 0.9 = 3.6 -> 40 + 0.6 * (50 - 40) = 46.
    assert prediction.overall is not None
    assert (prediction.overall.count, prediction.overall.median, prediction.overall.p90) == (5, MIN * 36, MIN * 46)
    # On printer a: 30, 33, 36, 40. Median h = 1.5 -> 34.5; p90 h = 2.7 -> 36 + 0.7 * 4 = 38.8 minutes.
    assert prediction.on_printer is not None
    assert (prediction.on_printer.count, prediction.on_printer.median) == (4, timedelta(minutes=34, seconds=30))
    assert prediction.on_printer.p90 == timedelta(minutes=38, seconds=48)
    assert prediction.suggested == timedelta(minutes=34, seconds=30)


def test_predict_falls_back_to_similar_names() -> None:
    # {benchy, mk3} matches no sample exactly; against {benchy} the overlap is 1/2 (similar), against the slicer's
    # {benchy, mk4} only 1/3 (not similar): the five plain benchies 30, 33, 36, 40, 50 count.
    prediction = predict(HISTORY, "Benchy MK3")
    assert prediction.match is Match.SIMILAR
    assert prediction.overall is not None
    assert (prediction.overall.count, prediction.overall.median) == (5, MIN * 36)
    assert predict(HISTORY, "mk4 benchy").match is Match.EXACT  # word order does not matter
    grid = predict(HISTORY, "gridfinity_bin_3x3.gcode")  # {gridfinity, bin} of 4 tokens: 0.5
    assert (grid.match, grid.suggested) == (Match.SIMILAR, MIN * 120)


def test_predict_with_no_history_says_none() -> None:
    prediction = predict(HISTORY, "phone stand", printer_id="a", user_id="zoe")
    assert (prediction.match, prediction.overall, prediction.on_printer, prediction.bias) == (None, None, None, None)
    assert prediction.suggested is None
    assert predict([], "benchy").overall is None


def test_a_users_estimate_bias_is_the_median_of_actual_over_estimate() -> None:
    # ada's ratios: 30/30, 33/30, 36/30, 62/60 -> 1.0, 1.1, 1.2, 1.0333; median (1.0333 + 1.1) / 2 = 1.0667.
    bias = predict(HISTORY, "benchy", user_id="ada").bias
    assert bias is not None
    assert bias.count == 4
    assert bias.ratio == pytest.approx(1.0666667)
    assert bias.adjust(timedelta(hours=1)) == MIN * 64


def test_only_completed_prints_are_history() -> None:
    done = entry(1, status=EntryStatus.DONE, outcome=JobStatus.COMPLETED, actual_duration=MIN * 50, printer_id="a")
    failed = dataclasses.replace(done, id=2, outcome=JobStatus.FAILED)
    [only] = samples_from_entries([done, failed, entry(3)])
    assert (only.job_name, only.actual, only.printer_id, only.estimate) == ("job 1", MIN * 50, "a", timedelta(hours=1))


def test_percentiles_interpolate_between_closest_ranks() -> None:
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0], 0.9) == pytest.approx(91.0)
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


# --- rate limit ----------------------------------------------------------------------------------------------------


def test_the_rate_limit_allows_a_burst_then_one_command_per_interval() -> None:
    limit = RateLimit(capacity=2, interval=timedelta(seconds=10))
    allowed, limit, _ = limit.allow(NOW)
    assert allowed
    allowed, limit, _ = limit.allow(NOW)
    assert allowed
    allowed, limit, retry_after = limit.allow(NOW)
    assert (allowed, retry_after) == (False, timedelta(seconds=10))
    allowed, limit, retry_after = limit.allow(NOW + timedelta(seconds=4))
    assert (allowed, retry_after) == (False, timedelta(seconds=6))
    allowed, limit, retry_after = limit.allow(NOW + timedelta(seconds=10))
    assert (allowed, retry_after) == (True, timedelta(0))


def test_a_clock_going_backwards_refills_nothing() -> None:
    _, limit, _ = RateLimit(capacity=1).allow(NOW)
    allowed, _, _ = limit.allow(NOW - timedelta(hours=1))
    assert not allowed


# --- a farm under random traffic -----------------------------------------------------------------------------------


class RandomFarm:
    """Joins, offers, claims, clock ticks, prints starting and ending, cancels, moves, holds, in random order, the
    way the queue service will carry out the decisions."""

    PRINTERS = ("a", "b", "c")
    USERS = ("ada", "bob", "cy", "dee", "eve")
    POLICY = QueuePolicy(max_active_per_user=2)
    ACTIONS = ("join", "join", "offer", "offer", "claim", "claim", "tick", "start", "start", "end", "end")
    ACTIONS += ("cancel", "move", "hold", "remove")

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.now = NOW
        self.entries: dict[int, QueueEntry] = {}
        self.jobs: dict[str, int | None] = dict.fromkeys(self.PRINTERS)
        self.held: set[str] = set()
        self.next_id = 1

    def active(self) -> list[QueueEntry]:
        return [e for e in self.entries.values() if e.status.is_active]

    def printers(self) -> list[QueuePrinter]:
        return [
            QueuePrinter(
                id=p,
                ready=self.jobs[p] is None,
                held=p in self.held,
                remaining_seconds=None if self.jobs[p] is None else self.rng.randrange(0, 7200),
            )
            for p in self.PRINTERS
        ]

    def store(self, changes: Iterable[QueueEntry]) -> None:
        for new in changes:
            old = self.entries[new.id]
            assert new.status is old.status or can_transition(old.status, new.status), (old.status, new.status)
            self.entries[new.id] = new

    def step(self) -> None:
        action = getattr(self, self.rng.choice(self.ACTIONS))
        with contextlib.suppress(QueueRefusal, QueueInputError):
            action()

    def join(self) -> None:
        limits = self.rng.choice([(), (), ("a",), ("b", "c")])
        new = join(
            self.active(),
            user_id=self.rng.choice(self.USERS),
            user_name="someone",
            job_name=self.rng.choice(["benchy", "bin", "vase"]),
            estimate=MIN * self.rng.randrange(1, 300),
            printer_ids=limits,
            known_printer_ids=self.PRINTERS,
            now=self.now,
            policy=self.POLICY,
        )
        fields = {f.name: getattr(new, f.name) for f in dataclasses.fields(new)}
        self.entries[self.next_id] = QueueEntry(id=self.next_id, queued_at=new.created_at, **fields)
        self.next_id += 1

    def offer(self) -> None:
        self.tick(advance=False)
        self.store(next_offers(self.active(), self.printers(), now=self.now, policy=self.POLICY))

    def claim(self) -> None:
        offers = [e for e in self.active() if e.status is EntryStatus.OFFERED]
        target = self.rng.choice(offers if offers and self.rng.random() < 0.8 else self.active() or [None])
        if target is not None:
            user = target.user_id if self.rng.random() < 0.9 else self.rng.choice(self.USERS)
            self.store([claim(target, user_id=user, now=self.now, policy=self.POLICY)])

    def tick(self, *, advance: bool = True) -> None:
        if advance:
            self.now += timedelta(seconds=self.rng.randrange(0, 20 * 60))
        self.store(x.after for x in expire_due(self.active(), now=self.now, policy=self.POLICY))

    def start(self) -> None:
        self.tick(advance=False)
        free = [p for p in self.PRINTERS if self.jobs[p] is None]
        reserved = [e.printer_id for e in self.active() if e.status is EntryStatus.CLAIMED and e.printer_id in free]
        # Mostly the user who claimed starts their print; sometimes someone bypasses the queue.
        printer_id = self.rng.choice(reserved if reserved and self.rng.random() < 0.8 else free or [None])
        if printer_id is not None:
            self.jobs[printer_id] = job_id = self.rng.randrange(10**6)
            outcome = print_started(self.active(), printer_id=printer_id, job_id=job_id, now=self.now)
            self.store([outcome.entry] if outcome.entry is not None else [])

    def end(self) -> None:
        printer_id = self.rng.choice([p for p in self.PRINTERS if self.jobs[p] is not None] or [None])
        if printer_id is not None:
            linked = entry_for_job(self.active(), self.jobs[printer_id] or 0)
            if linked is not None:
                self.store([finish(linked, outcome=JobStatus.COMPLETED, now=self.now)])
            self.jobs[printer_id] = None

    def cancel(self) -> None:
        target = self.rng.choice(self.active() or [None])
        if target is not None:
            self.store([cancel(target, user_id=target.user_id, now=self.now)])

    def remove(self) -> None:
        target = self.rng.choice(self.active() or [None])
        if target is not None and self.rng.random() < 0.3:
            self.store([remove(target, now=self.now)])

    def move(self) -> None:
        waiting = waiting_in_order(self.active())
        if waiting:
            target = self.rng.choice(waiting)
            self.store(move(self.active(), entry_id=target.id, position=self.rng.randrange(1, len(waiting) + 1)))

    def hold(self) -> None:
        printer_id = self.rng.choice(self.PRINTERS)
        if printer_id in self.held:
            self.held.remove(printer_id)
        else:
            self.held.add(printer_id)
            self.store(withdraw_offers(self.active(), printer_id))

    def check(self) -> None:
        holding = [e for e in self.active() if e.status.holds_printer]
        assert len({e.printer_id for e in holding}) == len(holding), "a printer held by two entries"
        assert len({e.user_id for e in holding}) == len(holding), "a user holding two printers"
        for e in self.active():
            assert (e.printer_id is not None) == e.status.holds_printer
            assert (e.deadline is not None) == (e.status in (EntryStatus.OFFERED, EntryStatus.CLAIMED))
            if e.status is EntryStatus.PRINTING:
                assert self.jobs[e.printer_id or ""] == e.job_id, "a linked entry whose print is not on its printer"
            elif e.status is EntryStatus.OFFERED:
                assert e.printer_id not in self.held, "an offer of a held printer"
        for user in self.USERS:
            assert sum(e.user_id == user for e in self.active()) <= self.POLICY.max_active_per_user
        etas = estimate_waits(self.active(), self.printers(), now=self.now)
        assert sorted(eta.position for eta in etas.values()) == list(range(1, len(etas) + 1))
        assert all(eta.wait is None or eta.wait >= timedelta(0) for eta in etas.values())


def test_under_random_traffic_no_printer_has_two_entries_and_no_user_two_printers() -> None:
    seen: set[EntryStatus] = set()
    for seed in range(60):
        farm = RandomFarm(random.Random(seed))
        for _ in range(150):
            farm.step()
            farm.check()
        seen |= {e.status for e in farm.entries.values()}
    assert seen == set(EntryStatus), "the traffic should reach every status"


def test_the_simulation_tail_places_a_joiner_exactly_as_the_whole_simulation_does() -> None:
    from printfleet.domain.queue_eta import simulate

    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    rng = random.Random(7)
    printers = [QueuePrinter(id=f"p{i}", ready=i == 0, remaining_seconds=None if i == 0 else 600 * i) for i in range(4)]
    entries = [
        QueueEntry(
            id=n,
            user_id=f"u{rng.randrange(6)}",
            user_name="x",
            job_name="j",
            estimate=timedelta(minutes=rng.randrange(5, 120)),
            queue_key=n,
            created_at=now,
            queued_at=now,
            printer_ids=frozenset(rng.sample(["p0", "p1", "p2", "p3"], rng.randrange(0, 3))),
        )
        for n in range(1, 40)
    ]
    for split in (0, 1, 20, 38):
        _, tail = simulate(entries[:split], printers, now=now)
        placed = {}
        for entry in entries[split:]:
            placed[entry.id], tail = tail.place(entry)
        full, _ = simulate(entries, printers, now=now)
        assert placed == {entry.id: full[entry.id] for entry in entries[split:]}
