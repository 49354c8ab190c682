"""The job repository: :class:`SqlJobRepository`.

Each public method is one transaction. Rows are mapped to domain jobs by :func:`job_from_row`. The store's share
of DESIGN.md invariant 1 is the partial unique index ``uq_jobs_active_printer_id``: a second active job for a
printer fails at the database, whichever process inserts it, and that failure becomes ``ActiveJobExists``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from printfleet.domain.jobs import Job, JobFilter, JobStatus, NewJob
from printfleet.services.errors import ActiveJobExists, JobNotFound
from printfleet.store.database import Database
from printfleet.store.materials.tables import JobCostRow
from printfleet.store.tables import ACTIVE_JOB_CONDITION, PENDING_JOB_CONDITION, JobRow

Clock = Callable[[], datetime]

UPDATABLE_COLUMNS = frozenset(
    {
        "status",
        "progress",
        "elapsed_seconds",
        "end_time",
        "duration_seconds",
        "end_reason",
        "job_name",
        "is_business",
        "customer_info",
        "notes",
        "auto_created",
        # User edits of a manual job (JobService.edit).
        "printer_id",
        "filename",
        "file_id",
        # What a printer may reveal after the job was created (a task id, its start).
        "native_job_id",
        "start_time",
        "printer_start_time",
        # Set once: the dispatch that sent the print; how the plate looked when cleared.
        "dispatch_id",
        "plate_outcome",
    }
)
"""The columns :meth:`SqlJobRepository.update_job` may set; id, creation, discovery and deletion are not among them."""

_ACTIVE_INDEX = "uq_jobs_active_printer_id"

# Literal predicates, not ``status IN (:a, :b)``: a partial index is only used when the query's WHERE implies the
# index's, which neither SQLite nor a PostgreSQL generic plan can prove against bound parameters.
_is_active = text(ACTIVE_JOB_CONDITION)
_is_pending = text(PENDING_JOB_CONDITION)


def utc_now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


def _utc(moment: datetime | None) -> datetime | None:
    """``moment`` in UTC: a row just written still holds the caller's datetimes, in whatever zone they came."""
    return None if moment is None else moment.astimezone(UTC)


def job_from_row(row: JobRow) -> Job:
    """The domain job of a ``jobs`` row, times in UTC."""
    return Job(
        id=row.id,
        printer_id=row.printer_id,
        printer_type=row.printer_type,
        job_name=row.job_name,
        filename=row.filename,
        status=JobStatus(row.status),
        progress=row.progress,
        created_at=row.created_at.astimezone(UTC),
        start_time=_utc(row.start_time),
        end_time=_utc(row.end_time),
        duration_seconds=row.duration_seconds,
        is_business=row.is_business,
        customer_info=dict(row.customer_info),
        file_id=row.file_id,
        native_job_id=row.native_job_id,
        end_reason=row.end_reason,
        notes=row.notes,
        auto_created=row.auto_created,
        discovered_on_startup=row.discovered_on_startup,
        printer_start_time=_utc(row.printer_start_time),
        elapsed_seconds=row.elapsed_seconds,
        deleted=row.deleted_at is not None,
        queue_entry_id=row.queue_entry_id,
        queue_user_id=row.queue_user_id,
        queue_user_name=row.queue_user_name,
        dispatch_id=row.dispatch_id,
        requested_by=row.requested_by,
        plate_outcome=row.plate_outcome,
    )


def _row_from_new_job(job: NewJob, *, now: datetime) -> JobRow:
    """A ``jobs`` row for a job to create (``now`` is the row's ``updated_at``)."""
    return JobRow(
        printer_id=job.printer_id,
        printer_type=job.printer_type,
        job_name=job.job_name,
        filename=job.filename,
        status=job.status.value,
        progress=job.progress,
        created_at=job.created_at,
        start_time=job.start_time,
        end_time=None,
        duration_seconds=None,
        is_business=job.is_business,
        customer_info=dict(job.customer_info),
        file_id=job.file_id,
        native_job_id=job.native_job_id,
        end_reason=None,
        notes=job.notes,
        auto_created=job.auto_created,
        discovered_on_startup=job.discovered_on_startup,
        printer_start_time=job.printer_start_time,
        elapsed_seconds=job.elapsed_seconds,
        deleted_at=None,
        updated_at=now,
        dispatch_id=job.dispatch_id,
        requested_by=job.requested_by,
    )


def _is_active_job_conflict(error: IntegrityError) -> bool:
    """True when ``error`` is the one-active-job index refusing a row (SQLite and PostgreSQL word it differently)."""
    message = str(error.orig)
    # PostgreSQL: 'duplicate key value violates unique constraint "uq_jobs_active_printer_id"'.
    # SQLite names the columns, not the index: 'UNIQUE constraint failed: jobs.printer_id'.
    return _ACTIVE_INDEX in message or "UNIQUE constraint failed: jobs.printer_id" in message


def _filter_conditions(job_filter: JobFilter) -> list[ColumnElement[bool]]:
    """The WHERE terms of a job listing: the filter's, and never a deleted job. ``until`` is exclusive."""
    conditions: list[ColumnElement[bool]] = [JobRow.deleted_at.is_(None)]
    if job_filter.printer_id is not None:
        conditions.append(JobRow.printer_id == job_filter.printer_id)
    if job_filter.status is not None:
        conditions.append(JobRow.status == job_filter.status.value)
    if job_filter.auto_created is not None:
        conditions.append(JobRow.auto_created.is_(job_filter.auto_created))
    if job_filter.queue_user_id is not None:
        conditions.append(JobRow.queue_user_id == job_filter.queue_user_id)
    if job_filter.search is not None:
        needle = job_filter.search.lower()
        conditions.append(
            or_(
                func.lower(JobRow.job_name).contains(needle, autoescape=True),
                func.lower(func.coalesce(JobRow.filename, "")).contains(needle, autoescape=True),
            )
        )
    if job_filter.since is not None:
        conditions.append(JobRow.created_at >= job_filter.since)
    if job_filter.until is not None:
        conditions.append(JobRow.created_at < job_filter.until)
    return conditions


def _oldest_pending(*, printer_id: str, filename: str, job_name: str, also_names: Sequence[str] = ()) -> Select[JobRow]:
    """The oldest visible pending job of ``printer_id`` named by ``filename`` or ``job_name`` (or whose filename or
    job name is one of ``also_names``), locked for update."""
    names = [name for name in also_names if name]
    matches = [JobRow.filename == filename, JobRow.job_name == job_name]
    if names:
        matches += [JobRow.filename.in_(names), JobRow.job_name.in_(names)]
    return (
        select(JobRow)
        .where(
            JobRow.printer_id == printer_id,
            _is_pending,
            JobRow.deleted_at.is_(None),
            or_(*matches),
        )
        .order_by(JobRow.created_at, JobRow.id)
        .limit(1)
        .with_for_update()
    )


class SqlJobRepository:
    """:class:`~printfleet.services.ports.JobRepository` on SQLAlchemy (SQLite or PostgreSQL).

    Soft-deleted jobs are hidden from :meth:`get_job`, :meth:`list_jobs` and :meth:`delete_job`, but not from
    :meth:`active_job`, :meth:`active_jobs` and :meth:`update_job`: a deleted auto-created job still holds its print
    until the print ends, and ending it must still be possible (DESIGN.md invariant 3).
    """

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        self._database = database
        self._clock = clock

    async def active_job(self, printer_id: str) -> Job | None:
        """The printer's running or paused job (deleted or not), or None; one probe of the partial unique index."""
        async with self._database.transaction() as session:
            row = await session.scalar(select(JobRow).where(JobRow.printer_id == printer_id, _is_active))
            return None if row is None else job_from_row(row)

    async def active_jobs(self) -> list[Job]:
        """Every active job (deleted or not) of every printer, ordered by printer id."""
        async with self._database.transaction() as session:
            rows = await session.scalars(select(JobRow).where(_is_active).order_by(JobRow.printer_id))
            return [job_from_row(row) for row in rows]

    async def create_job(self, job: NewJob) -> Job:
        """Insert a job; raises ActiveJobExists when ``job`` is active and its printer has an active job already.

        No check-then-insert: the insert itself is refused by the unique index, which also covers another process
        inserting at the same moment (PostgreSQL makes the second insert wait for the first to commit, then fail).
        """
        row = _row_from_new_job(job, now=self._clock())
        try:
            async with self._database.transaction() as session:
                session.add(row)
                await session.flush()
                return job_from_row(row)
        except IntegrityError as error:
            if _is_active_job_conflict(error):
                raise ActiveJobExists(job.printer_id) from error
            raise

    async def start_pending_job(
        self,
        *,
        printer_id: str,
        filename: str,
        job_name: str,
        start_time: datetime,
        native_job_id: str | None,
        printer_start_time: datetime | None,
        elapsed_seconds: int | None,
        progress: float | None,
        also_names: Sequence[str] = (),
    ) -> Job | None:
        """Turn the oldest pending manual job of ``printer_id`` whose filename equals ``filename`` or whose job_name
        equals ``job_name`` into the running job; None when there is none. ``also_names`` are further names the
        printer reports for the print (the bare file name, a display name): a pending job whose filename or job name
        is one of them matches too (a dispatched print's job, named by the file printfleet stored on the printer).

        The job takes the printer's ``filename`` (when not empty), so a job matched by name is then identified by
        the file actually printing. Raises ActiveJobExists when the printer has an active job: the unique index
        refuses the second running job, so of two processes racing for one print exactly one wins. A process that
        waited on the winner's row lock (PostgreSQL) finds no pending job left and gets ActiveJobExists too, as it
        would on SQLite, where transactions run one after the other.
        """
        try:
            async with self._database.transaction() as session:
                row = await session.scalar(
                    _oldest_pending(printer_id=printer_id, filename=filename, job_name=job_name, also_names=also_names)
                )
                if row is None:
                    # A fresh statement: under READ COMMITTED it sees a racing winner's commit.
                    active = await session.scalar(select(JobRow.id).where(JobRow.printer_id == printer_id, _is_active))
                    if active is not None:
                        raise ActiveJobExists(printer_id)
                    return None
                row.status = JobStatus.RUNNING.value
                row.filename = filename or row.filename
                row.start_time = start_time
                row.native_job_id = native_job_id
                row.printer_start_time = printer_start_time
                row.elapsed_seconds = elapsed_seconds
                row.progress = progress
                row.updated_at = self._clock()
                await session.flush()
                return job_from_row(row)
        except IntegrityError as error:
            if _is_active_job_conflict(error):
                raise ActiveJobExists(printer_id) from error
            raise

    async def update_job(self, job_id: int, **changes: Any) -> Job:
        """Set the given columns (names in :data:`UPDATABLE_COLUMNS`) and ``updated_at``; returns the job.

        Raises ValueError for a column that is not updatable (before touching the store), JobNotFound when no job
        has ``job_id``, and ActiveJobExists when the change would make a second active job for the printer. A
        soft-deleted job is updated too: its print still has to end.
        """
        unknown = set(changes) - UPDATABLE_COLUMNS
        if unknown:
            raise ValueError(f"jobs cannot be updated on {', '.join(sorted(unknown))}")
        if "status" in changes:
            changes["status"] = JobStatus(changes["status"]).value
        printer_id = changes.get("printer_id")
        try:
            async with self._database.transaction() as session:
                row = await session.get(JobRow, job_id, with_for_update=True)
                if row is None:
                    raise JobNotFound(job_id)
                printer_id = printer_id or row.printer_id
                for column, value in changes.items():
                    setattr(row, column, value)
                row.updated_at = self._clock()
                if "is_business" in changes or "customer_info" in changes:  # kept on the cost snapshot for the report
                    name = (row.customer_info or {}).get("name")
                    customer = name.strip()[:200] or None if isinstance(name, str) else None
                    await session.execute(
                        update(JobCostRow)
                        .where(JobCostRow.job_id == job_id)
                        .values(is_business=row.is_business, customer=customer)
                    )
                await session.flush()
                return job_from_row(row)
        except IntegrityError as error:
            if _is_active_job_conflict(error):
                raise ActiveJobExists(str(printer_id)) from error
            raise

    async def record_progress(self, job_id: int, *, progress: float | None, elapsed_seconds: int | None) -> None:
        """Set ``progress`` and ``elapsed_seconds`` (those given) and ``updated_at``: one UPDATE, nothing read back
        (a running print's checkpoint, every 15 s of every printer: 67 a second on a farm of 1,000)."""
        values: dict[str, Any] = {"updated_at": self._clock()}
        if progress is not None:
            values["progress"] = progress
        if elapsed_seconds is not None:
            values["elapsed_seconds"] = elapsed_seconds
        async with self._database.transaction() as session:
            await session.execute(update(JobRow).where(JobRow.id == job_id).values(**values))

    async def get_job(self, job_id: int) -> Job | None:
        """One job that is not deleted, or None."""
        async with self._database.transaction() as session:
            row = await session.get(JobRow, job_id)
            return None if row is None or row.deleted_at is not None else job_from_row(row)

    async def list_jobs(self, job_filter: JobFilter) -> tuple[list[Job], int]:
        """The jobs matching ``job_filter`` (``since`` inclusive, ``until`` exclusive, on ``created_at``), newest
        first (``created_at``, then id), one page of ``limit`` from ``offset``; and how many match in all.

        Deleted jobs are left out of both.
        """
        conditions = _filter_conditions(job_filter)
        page = (
            select(JobRow)
            .where(*conditions)
            .order_by(JobRow.created_at.desc(), JobRow.id.desc())
            .limit(job_filter.limit)
            .offset(job_filter.offset)
        )
        async with self._database.transaction() as session:
            total = await session.scalar(select(func.count()).select_from(JobRow).where(and_(*conditions)))
            rows = await session.scalars(page)
            return [job_from_row(row) for row in rows], int(total or 0)

    async def delete_job(self, job_id: int) -> Job:
        """Soft-delete a job; returns it as it was before. Raises JobNotFound (also when deleted already)."""
        async with self._database.transaction() as session:
            row = await session.get(JobRow, job_id, with_for_update=True)
            if row is None or row.deleted_at is not None:
                raise JobNotFound(job_id)
            before = job_from_row(row)
            row.deleted_at = row.updated_at = self._clock()
            await session.execute(update(JobCostRow).where(JobCostRow.job_id == job_id).values(deleted=True))
            return before
