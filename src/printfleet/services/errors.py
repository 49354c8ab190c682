"""Domain-level errors the services raise; the API maps each to one HTTP status in one place."""

from __future__ import annotations


class ServiceError(Exception):
    """Base class; ``message`` is safe to show to a user (never holds a secret)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    """The thing asked for does not exist (HTTP 404)."""


class PrinterNotFound(NotFound):
    """No printer has this id."""

    def __init__(self, printer_id: str) -> None:
        super().__init__(f"no printer with id {printer_id!r}")
        self.printer_id = printer_id


class Conflict(ServiceError):
    """The request conflicts with the current state (HTTP 409)."""


class PrinterAlreadyExists(Conflict):
    """A printer with this id exists already."""

    def __init__(self, printer_id: str) -> None:
        super().__init__(f"a printer with id {printer_id!r} exists already")
        self.printer_id = printer_id


class InvalidInput(ServiceError):
    """The request is well-formed but its values do not make sense (HTTP 422)."""


class JobNotFound(NotFound):
    """No (visible) job has this id."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"no job with id {job_id}")
        self.job_id = job_id


class ActiveJobExists(Conflict):
    """The printer already has an active job (the store's one-active-job-per-printer rule)."""

    def __init__(self, printer_id: str) -> None:
        super().__init__(f"printer {printer_id!r} already has an active job")
        self.printer_id = printer_id


class QueueEntryNotFound(NotFound):
    """No queue entry has this id (or the user has no entry the command could act on)."""

    def __init__(self, entry_id: int | None, message: str | None = None) -> None:
        super().__init__(message or f"No queue entry #{entry_id}.")
        self.entry_id = entry_id


class QueueConflict(Conflict):
    """The store refused a queue change: a printer or a user would be held twice (another process got there
    first). The service re-reads the queue; the caller may try again."""


class RateLimited(ServiceError):
    """Too many commands from one user (HTTP 429); ``retry_after`` is the wait in seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"Too many commands; try again in {max(1, round(retry_after))} s.")
        self.retry_after = retry_after


class StaleOwner(Conflict):
    """A write from a printer connection was refused: this process no longer owns the printer under the epoch it
    holds (its lease expired while it was paused or cut off, and another process claimed the printer). The
    connection must stop writing; the printer's new owner carries on."""

    def __init__(self, printer_id: str, epoch: int) -> None:
        super().__init__(f"printer {printer_id!r} is no longer owned here under epoch {epoch}")
        self.printer_id = printer_id
        self.epoch = epoch


class StoreUnavailable(ServiceError):
    """The store could not carry out an operation for a reason outside the request: the database is locked by
    another process, its disk is full, the server does not answer (HTTP 503). Retrying later may succeed.

    ``error`` names the driver's error class (``OperationalError``, ``InterfaceError``, ...) and ``message`` says
    what the database said, never the statement or its parameters (they may hold a secret).
    """

    def __init__(self, error: str, detail: str) -> None:
        super().__init__(f"the database is unavailable: {detail}")
        self.error = error
        self.detail = detail


class AuthenticationFailed(ServiceError):
    """The request could not be tied to a person (HTTP 401): no credentials, a wrong password, an expired session
    or token, a disabled account. ``message`` is the same for an unknown user and a wrong password."""


class PermissionDenied(ServiceError):
    """The person may not do this (HTTP 403); ``permission`` names what their role lacks (or ``reason`` says why,
    e.g. ``not_yours``)."""

    def __init__(self, message: str, *, permission: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.permission = permission
        self.reason = reason
