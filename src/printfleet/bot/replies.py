"""The bot's words: pure functions from the queue service's views and the domain's entries to Discord message text.

Nothing here sends anything or reads a clock; the commands and the notifier pass what the text is about. Every
name typed by a person (job names, user names of entries from the web, printer file names) goes through
:func:`safe`, so it can neither format the message nor look like a mention. Only a Discord user's own id becomes a
``<@id>`` mention (:func:`user_ref`); whether that pings is up to the sender's ``allowed_mentions``.

Times are Discord timestamps (``<t:unix:R>``: "in 8 minutes", in each reader's own time zone); durations are
``1h30m`` (:func:`printfleet.domain.durations.format_duration`). A message stays under Discord's 2,000 characters:
long lists end with "… and N more" (:func:`take`), long names with "…".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from discord.utils import escape_markdown, escape_mentions, format_dt

from printfleet.domain.durations import format_duration
from printfleet.domain.jobs import JobStatus
from printfleet.domain.queue import EntryStatus, QueueEntry
from printfleet.domain.queue_eta import Eta
from printfleet.domain.queue_predict import DurationStats, EstimateBias, Match, Prediction
from printfleet.services.queue_views import JoinResult, MyJobs, PrinterSlot, QueueView

MESSAGE_LIMIT = 2000
"""Longest message Discord accepts (characters)."""

NAME_LIMIT = 60
"""Longest job or user name shown (characters; longer ones end with "…"): a list line stays about 150 long."""

PrinterNames = Mapping[str, str]
"""Printer id -> display name; an id missing from it is shown as the id."""


def safe(text: str, *, limit: int | None = None) -> str:
    """``text`` with Discord markdown and mentions (``@everyone``, ``<@id>``, ``<@&id>``) neutralised; cut to
    ``limit`` characters (before escaping) when given."""
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return escape_mentions(escape_markdown(text))


def is_discord_id(user_id: str) -> bool:
    """True when ``user_id`` is a Discord user id (ASCII digits only): entries from the web have other ids."""
    return user_id.isascii() and user_id.isdigit()


def user_ref(user_id: str, user_name: str) -> str:
    """``<@id>`` for a Discord user, else the entry's user name in bold (escaped)."""
    return f"<@{user_id}>" if is_discord_id(user_id) else f"**{safe(user_name, limit=NAME_LIMIT)}**"


def printer_label(printer_id: str | None, names: PrinterNames) -> str:
    """The printer's name in bold (its id when unnamed); ``any printer`` for None."""
    if printer_id is None:
        return "any printer"
    return f"**{safe(names.get(printer_id) or printer_id)}**"


def when(moment: datetime) -> str:
    """A relative Discord timestamp, ``<t:unix:R>``."""
    return format_dt(moment, "R")


def duration(value: timedelta) -> str:
    """``1h30m``, to the minute."""
    return format_duration(value, seconds=False)


def job_label(entry: QueueEntry) -> str:
    """``#12 **benchy**``: the entry id and its job name (cut to :data:`NAME_LIMIT`)."""
    return f"#{entry.id} **{safe(entry.job_name, limit=NAME_LIMIT)}**"


def _printers_wanted(entry: QueueEntry, names: PrinterNames) -> str:
    if not entry.printer_ids:
        return "any printer"
    return ", ".join(printer_label(p, names) for p in sorted(entry.printer_ids))


def wait_text(eta: Eta | None) -> str:
    """``position 2 in line, estimated wait about 45m`` (position and wait of a waiting entry)."""
    if eta is None:
        return "waiting"
    if eta.wait is None:
        return f"position {eta.position} in line; no printer it may use is expected free yet"
    if eta.wait <= timedelta(0):
        return f"position {eta.position} in line, next up"
    return f"position {eta.position} in line, estimated wait about {duration(eta.wait)}"


def take(lines: Sequence[str], budget: int) -> list[str]:
    """The first of ``lines`` that fit in ``budget`` characters (newlines counted), then ``… and N more``."""
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        rest = len(lines) - index
        tail = 0 if rest == 1 else len(f"\n… and {rest - 1} more")  # room to say what is left out after this line
        if used + len(line) + 1 + tail > budget:
            return [*kept, f"… and {rest} more"]
        kept.append(line)
        used += len(line) + 1
    return kept


def fit(text: str) -> str:
    """``text`` cut to :data:`MESSAGE_LIMIT` characters (a last resort: lists are clipped before)."""
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


# --- user commands ---------------------------------------------------------------------------------------------


def offer_line(entry: QueueEntry, names: PrinterNames) -> str:
    """What an offered entry must do: claim the printer before its deadline."""
    deadline = f" {when(entry.deadline)}" if entry.deadline is not None else ""
    printer = printer_label(entry.printer_id, names)
    return f"{printer} is offered to you: use `/claim` to take it, the offer ends{deadline}."


def join_reply(result: JoinResult, names: PrinterNames) -> str:
    """``/join``: the entry, and its place in line or the printer offered right away."""
    entry = result.entry
    head = (
        f"{job_label(entry)} ({duration(entry.estimate)}) joined the queue on {_printers_wanted(entry, names)}."
        if result.created
        else f"You queued that job already: {job_label(entry)} ({duration(entry.estimate)})."
    )
    if entry.status is EntryStatus.OFFERED:
        return f"{head}\n{offer_line(entry, names)}"
    if entry.status is EntryStatus.WAITING:
        return f"{head}\nIt is at {wait_text(result.eta)}."
    return f"{head}\n{status_phrase(entry, names)}."


def claim_reply(entry: QueueEntry, names: PrinterNames) -> str:
    """``/claim``: the printer is reserved until the start deadline (also when it was claimed before)."""
    if entry.status is EntryStatus.PRINTING:
        return f"{job_label(entry)} is printing on {printer_label(entry.printer_id, names)}."
    deadline = f" {when(entry.deadline)}" if entry.deadline is not None else ""
    return (
        f"{printer_label(entry.printer_id, names)} is reserved for {job_label(entry)}. "
        f"Start your print on it; the reservation ends{deadline} unless a print has started."
    )


def cancel_reply(before: QueueEntry | None, after: QueueEntry, names: PrinterNames) -> str:
    """``/cancel``: the entry left the queue; a printer it held goes to the next in line. ``before`` is the entry
    before the command, None when it was not active: an entry that had ended already is left as it is."""
    if before is None and after.status.is_terminal:
        return f"{job_label(after)} is not in the queue any more ({ended_phrase(after, names)})."
    if before is not None and before.status.holds_printer and before.printer_id is not None:
        return f"{job_label(after)} is cancelled; {printer_label(before.printer_id, names)} goes to the next in line."
    return f"{job_label(after)} left the queue."


def update_reply(entry: QueueEntry, eta: Eta | None) -> str:
    """``/update_time``: the new estimate, and the new wait while waiting."""
    text = f"{job_label(entry)} is now estimated at {duration(entry.estimate)}."
    if entry.status is EntryStatus.WAITING:
        text += f" It is at {wait_text(eta)}."
    return text


def status_phrase(entry: QueueEntry, names: PrinterNames) -> str:
    """One entry's state in a few words: ``offered **MK4**, the offer ends <t:..:R>``."""
    printer = printer_label(entry.printer_id, names)
    if entry.status is EntryStatus.OFFERED:
        return f"offered {printer}" + (f", the offer ends {when(entry.deadline)}" if entry.deadline else "")
    if entry.status is EntryStatus.CLAIMED:
        return f"reserved {printer}" + (f", the reservation ends {when(entry.deadline)}" if entry.deadline else "")
    if entry.status is EntryStatus.PRINTING:
        return f"printing on {printer}"
    if entry.status is EntryStatus.WAITING:
        return "waiting"
    return ended_phrase(entry, names)


def ended_phrase(entry: QueueEntry, names: PrinterNames) -> str:
    """How an ended entry ended: ``completed on **MK4** in 1h12m``, ``cancelled``, ``expired: missed …``."""
    if entry.status is EntryStatus.DONE:
        outcome = (entry.outcome or JobStatus.UNKNOWN).value
        took = f" in {duration(entry.actual_duration)}" if entry.actual_duration is not None else ""
        return f"{outcome} on {printer_label(entry.printer_id, names)}{took}"
    if entry.status in (EntryStatus.REMOVED, EntryStatus.EXPIRED) and entry.end_reason:
        reason = safe(entry.end_reason)  # "removed by Dana", "missed 2 windows in a row (…)"
        return reason if entry.end_reason.startswith(entry.status.value) else f"{entry.status.value}: {reason}"
    return entry.status.value


_HOLDING_WORDS = {
    EntryStatus.OFFERED: "offered to",
    EntryStatus.CLAIMED: "reserved for",
    EntryStatus.PRINTING: "printing for",
}


def _slot_line(slot: PrinterSlot, names: PrinterNames) -> str:
    name = printer_label(slot.id, names)
    holder = slot.holder
    if holder is not None:
        who = user_ref(holder.user_id, holder.user_name)
        text = f"{name}: {_HOLDING_WORDS.get(holder.status, holder.status.value)} {who}, {job_label(holder)}"
        if holder.status is EntryStatus.OFFERED and holder.deadline is not None:
            text += f", offer ends {when(holder.deadline)}"
        elif holder.status is EntryStatus.CLAIMED and holder.deadline is not None:
            text += f", reservation ends {when(holder.deadline)}"
        elif slot.free_at is not None:
            text += f", free {when(slot.free_at)}"
    elif slot.ready:
        text = f"{name}: free ({slot.state.value})"
    elif slot.free_at is not None:
        text = f"{name}: {slot.state.value}, free {when(slot.free_at)}"
    else:
        text = f"{name}: {slot.state.value}"
    if slot.held:
        text += " — held by an admin (out of rotation)"
    return f"• {text}"


def status_reply(view: QueueView) -> str:
    """``/status``: the printers with who holds each and its deadline, then the waiting line with ETAs."""
    names = {slot.id: slot.name for slot in view.printers}
    lines = ["**Queue paused**: no new offers until an admin resumes it." if view.paused else "**Print queue**"]
    lines.append("__Printers__")
    lines += take([_slot_line(slot, names) for slot in view.printers], 900) or ["• none configured"]
    waiting = view.waiting
    lines.append(f"__Waiting__ ({len(waiting)})")
    waiting_lines = [
        f"{index}. {job_label(entry)} ({duration(entry.estimate)}) — {user_ref(entry.user_id, entry.user_name)}"
        f", {_printers_wanted(entry, names)}{_wait_suffix(view.etas.get(entry.id))}"
        for index, entry in enumerate(waiting, start=1)
    ]
    budget = MESSAGE_LIMIT - len("\n".join(lines)) - 1
    lines += take(waiting_lines, budget) or ["• nobody is waiting: `/join` to queue a print"]
    return fit("\n".join(lines))


def _wait_suffix(eta: Eta | None) -> str:
    if eta is None or eta.wait is None:
        return ""
    return ", next up" if eta.wait <= timedelta(0) else f", wait about {duration(eta.wait)}"


def my_jobs_reply(mine: MyJobs, names: PrinterNames) -> str:
    """``/myjobs``: the user's active entries with their state or ETA, then their recent ended ones."""
    lines = ["__Your queue entries__"]
    for entry in mine.active:
        state = (
            wait_text(mine.etas.get(entry.id)) if entry.status is EntryStatus.WAITING else status_phrase(entry, names)
        )
        lines.append(f"• {job_label(entry)} ({duration(entry.estimate)}): {state}")
    if not mine.active:
        lines.append("• nothing in the queue: `/join` to queue a print")
    if mine.recent:
        lines.append("__Recent__")
        budget = MESSAGE_LIMIT - len("\n".join(lines)) - 1
        lines += take([_history_line(entry, names, with_user=False) for entry in mine.recent], budget)
    return fit("\n".join(lines))


def _history_line(entry: QueueEntry, names: PrinterNames, *, with_user: bool) -> str:
    who = f" — {user_ref(entry.user_id, entry.user_name)}" if with_user else ""
    ended = f" {when(entry.ended_at)}" if entry.ended_at is not None else ""
    return f"• {job_label(entry)}{who}: {ended_phrase(entry, names)}{ended}"


def history_reply(entries: Sequence[QueueEntry], names: PrinterNames) -> str:
    """``/history``: ended entries, latest first: job, user, printer, outcome, actual duration."""
    if not entries:
        return "No queue entry has ended yet."
    lines = [_history_line(e, names, with_user=True) for e in entries]
    return fit("\n".join(["__Queue history__", *take(lines, MESSAGE_LIMIT - 30)]))


def _stats(stats: DurationStats) -> str:
    prints = "print" if stats.count == 1 else "prints"
    return f"median {duration(stats.median)}, 90% within {duration(stats.p90)} ({stats.count} {prints})"


def _bias(bias: EstimateBias) -> str:
    percent = round(abs(bias.ratio - 1) * 100)
    prints = "print" if bias.count == 1 else "prints"
    if percent == 0:
        return f"Your estimates have been right on time ({bias.count} {prints})."
    direction = "longer" if bias.ratio > 1 else "shorter"
    return f"Your prints took {percent}% {direction} than you estimated (median over {bias.count} {prints})."


def predict_reply(prediction: Prediction, *, printer_id: str | None, names: PrinterNames) -> str:
    """``/predict``: median and 90th percentile of similar jobs, on the printer asked about, and the user's bias."""
    name = f"**{safe(prediction.job_name)}**"
    if prediction.match is None or prediction.overall is None:
        lines = [f"No completed print is like {name} yet."]
    else:
        kind = "the same name" if prediction.match is Match.EXACT else "similar names"
        lines = [f"{name}: prints with {kind} took {_stats(prediction.overall)}."]
        if printer_id is not None:
            on = printer_label(printer_id, names)
            lines.append(
                f"On {on}: {_stats(prediction.on_printer)}."
                if prediction.on_printer
                else f"None of them printed on {on}."
            )
        if prediction.suggested is not None:
            lines.append(f"Suggested estimate: `{duration(prediction.suggested)}`.")
    if prediction.bias is not None:
        lines.append(_bias(prediction.bias))
    return fit("\n".join(lines))


# --- admin commands --------------------------------------------------------------------------------------------


def removed_reply(entry: QueueEntry) -> str:
    """``/queue_remove``."""
    return f"{job_label(entry)} of {user_ref(entry.user_id, entry.user_name)} is removed from the queue."


def moved_reply(entry: QueueEntry, position: int) -> str:
    """``/queue_move``."""
    return f"{job_label(entry)} of {user_ref(entry.user_id, entry.user_name)} is now at position {position}."


def hold_reply(printer_id: str, *, held: bool, names: PrinterNames) -> str:
    """``/printer_hold``."""
    printer = printer_label(printer_id, names)
    if held:
        return f"{printer} is held: out of rotation (an offer of it is withdrawn; a print on it runs on)."
    return f"{printer} is back in rotation."


def cleared_reply(printer_id: str, outcome: str, *, names: PrinterNames) -> str:
    """``/cleared``: the plate is confirmed clear; printfleet may send the printer its next print."""
    printer = printer_label(printer_id, names)
    verdict = "the print was good" if outcome == "good" else "the print failed"
    return f"{printer}: plate cleared ({verdict}). It can take the next print."


def pause_reply(*, paused: bool) -> str:
    """``/queue_pause``."""
    if paused:
        return "The queue is paused: no new offers. Open offers and reservations run on."
    return "The queue is running again."


# --- notifications ---------------------------------------------------------------------------------------------


def offered_notice(entry: QueueEntry, names: PrinterNames, *, discord_id: str | None = None) -> str:
    """A printer is offered: mention the user (their ``discord_id`` when known: an account's linked Discord id),
    the printer and the claim deadline."""
    deadline = f" {when(entry.deadline)}" if entry.deadline is not None else ""
    who = user_ref(discord_id or entry.user_id, entry.user_name)
    return (
        f"{who}, {printer_label(entry.printer_id, names)} is free for "
        f"{job_label(entry)}: `/claim` it, the offer ends{deadline}."
    )


def _back_or_out(entry: QueueEntry) -> str:
    if entry.status is EntryStatus.WAITING:
        return "the job goes to the back of the queue"
    reason = f": {safe(entry.end_reason)}" if entry.end_reason else ""
    return f"the job left the queue{reason}"


def claim_expired_notice(entry: QueueEntry, printer_id: str, names: PrinterNames) -> str:
    """An offer was not claimed in time."""
    return (
        f"{user_ref(entry.user_id, entry.user_name)}: the offer of {printer_label(printer_id, names)} for "
        f"{job_label(entry)} ran out; {_back_or_out(entry)}."
    )


def start_missed_notice(entry: QueueEntry, printer_id: str, names: PrinterNames) -> str:
    """A reservation ran out without a print starting."""
    return (
        f"{user_ref(entry.user_id, entry.user_name)}: no print started on {printer_label(printer_id, names)} in "
        f"time for {job_label(entry)}, so the reservation is released; {_back_or_out(entry)}."
    )


def print_started_notice(entry: QueueEntry, names: PrinterNames, *, done_at: datetime | None) -> str:
    """A queued print started on its reserved printer; ``done_at`` is when it is expected to end."""
    text = (
        f"{user_ref(entry.user_id, entry.user_name)}: {job_label(entry)} started on "
        f"{printer_label(entry.printer_id, names)}"
    )
    return text + (f", expected done {when(done_at)}." if done_at is not None else ".")


def finished_notice(entry: QueueEntry, names: PrinterNames) -> str:
    """A queued print ended: the outcome and the actual duration."""
    return f"{user_ref(entry.user_id, entry.user_name)}: {job_label(entry)} {ended_phrase(entry, names)}."


def unqueued_notice(printer_id: str, file_name: str | None, withdrawn: QueueEntry | None, names: PrinterNames) -> str:
    """A print started on a printer nobody claimed; an offer of it withdrawn keeps its place in line."""
    what = f" ({safe(file_name)})" if file_name else ""
    text = f"Unqueued print on {printer_label(printer_id, names)}{what}: it was started without the queue."
    if withdrawn is not None:
        text += (
            f" The offer to {user_ref(withdrawn.user_id, withdrawn.user_name)} for {job_label(withdrawn)} is "
            "withdrawn; the job keeps its place in line."
        )
    return text
