"""Print tracking: from a printer's snapshots and its active job, decide what happens to jobs.

Pure rules, no I/O (DESIGN.md invariants 1–4). The job service asks :func:`decide` on every state change of a
printer and carries out the decisions in one transaction each.

A print's identity is the printer plus, in order of strength: the printer's native job id (PrusaLink job id, Bambu
task id when non-zero), the file name, and continuity (progress and elapsed time never go backwards within one
print). A snapshot is matched against the active job, never against a wall-clock window, so a print seen again
after a restart or a reconnect, however long after it started, adopts its job.
"""

from __future__ import annotations

from dataclasses import dataclass

from printfleet.domain.jobs import JobStatus
from printfleet.domain.printer import PrinterState, PrinterStatus

PROGRESS_REWIND_PERCENT = 2.0
"""Progress lower than the job's last progress by more than this (%) means a new print of the same file."""

ELAPSED_REWIND_SECONDS = 120
"""Printer-reported elapsed time lower than the job's by more than this (seconds) means a new print."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveJob:
    """What the tracker needs of a printer's active job (status ``running`` or ``paused``).

    ``progress`` in %, ``elapsed_seconds`` as last reported by the printer (None when it never reported any).
    """

    job_id: int
    filename: str | None
    native_job_id: str | None
    status: JobStatus
    progress: float | None = None
    elapsed_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class StartJob:
    """A print started (or was found running): create its job, or adopt a matching pending manual job.

    ``discovered`` is True when the print was already under way when we first saw it (start-up or reconnect).
    """

    discovered: bool


@dataclass(frozen=True, slots=True)
class UpdateJob:
    """The active job's print goes on: set ``status`` (running/paused) and progress."""

    status: JobStatus


@dataclass(frozen=True, slots=True)
class EndJob:
    """End the active job with ``status``; ``reason`` says why when the end was not reported by the printer, or
    names the error codes a failed print ended with (``printer error (A, B)``)."""

    status: JobStatus
    reason: str | None = None


Decision = StartJob | UpdateJob | EndJob

_ENDINGS = {
    PrinterState.FINISHED: JobStatus.COMPLETED,
    PrinterState.FAILED: JobStatus.FAILED,
    PrinterState.CANCELLED: JobStatus.CANCELLED,
}


def outcome(state: PrinterState) -> JobStatus:
    """The job status a print ends with when the printer shows ``state`` (finished → completed, failed, cancelled).
    Raises KeyError for a state that is not an end."""
    return _ENDINGS[state]


FIRST_LAYER_DONE_AT = 2
"""The layer number at which the first layer counts as done: the printer started the second one (research
materials-notifications.md N4: Bambu ``layer_num`` or Klipper's current layer reaching 2 while printing, not a height
or time guess)."""


def first_layer_done(previous: PrinterStatus | None, current: PrinterStatus) -> bool:
    """Whether ``current`` shows the print's layer counter crossing :data:`FIRST_LAYER_DONE_AT` while printing, from
    a known lower layer in ``previous`` (a print first seen past its first layer, after a restart, does not count)."""
    if previous is None or previous.layer is None or current.layer is None:
        return False
    if current.state is not PrinterState.PRINTING:
        return False
    return previous.layer < FIRST_LAYER_DONE_AT <= current.layer


def is_identifiable(status: PrinterStatus) -> bool:
    """False for placeholder reports: an active state with neither a file name nor a native job id.

    Some Bambu firmwares send such reports right after a reconnect (PROTOCOLS.md); they must neither end nor start
    anything.
    """
    return bool(status.file_name or status.native_job_id)


def same_print(job: ActiveJob, status: PrinterStatus) -> bool:
    """True when ``status`` shows the print ``job`` tracks (native id, then file name, then continuity)."""
    if job.native_job_id and status.native_job_id:
        return job.native_job_id == status.native_job_id
    if (job.filename or None) != (status.file_name or None):
        return False
    if (
        job.progress is not None
        and status.progress is not None
        and status.progress < job.progress - PROGRESS_REWIND_PERCENT
    ):
        return False
    return not (
        job.elapsed_seconds is not None
        and status.elapsed_seconds is not None
        and status.elapsed_seconds < job.elapsed_seconds - ELAPSED_REWIND_SECONDS
    )


def decide(job: ActiveJob | None, status: PrinterStatus, *, first_sight: bool) -> list[Decision]:
    """What to do with ``job`` (the printer's active job, if any) given the printer's new ``status``.

    ``first_sight`` is True for the first real report after start-up or a reconnect: a print found under way then
    is ``discovered``. Offline snapshots and placeholders decide nothing: a vanished printer ends no job.
    """
    state = status.state
    if state is PrinterState.OFFLINE:
        return []
    if state.is_active:
        if not is_identifiable(status):
            return []
        wanted = JobStatus.PAUSED if state is PrinterState.PAUSED else JobStatus.RUNNING
        if job is None:
            return [StartJob(discovered=first_sight)]
        if same_print(job, status):
            return [UpdateJob(wanted)]
        return [EndJob(JobStatus.UNKNOWN, "another print started before this one's end was seen"), StartJob(False)]
    if job is None:
        return []  # e.g. FINISH still shown after a restart for a job already closed
    if state.is_terminal:
        if same_print(job, status) or not is_identifiable(status):
            if state is PrinterState.FAILED and status.error_codes:  # why it failed, for whoever investigates
                return [EndJob(JobStatus.FAILED, f"printer error ({', '.join(status.error_codes)})")]
            return [EndJob(_ENDINGS[state])]
        return [EndJob(JobStatus.UNKNOWN, "the printer reports the end of another print")]
    if state is PrinterState.ERROR:
        codes = ", ".join(status.error_codes) or "no code"
        return [EndJob(JobStatus.FAILED, f"printer error ({codes})")]
    return [EndJob(JobStatus.UNKNOWN, "printer idle; the end of the print was not seen")]
