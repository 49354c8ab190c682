"""Which picture a printing card shows: the preview of the plate being printed, when printfleet has it.

:class:`PrintThumbnails` follows the jobs (this process's and, on a farm, the others'): a running or paused job
printed from the library (sent by printfleet: its dispatch names the file and plate; or created with a library file)
whose plate carries a preview gives its printer the library's preview URL
(``/api/v1/files/{id}/thumbnail?plate=N``); a print started at the printer whose plate preview printfleet kept (a
Bambu Lab project file read back from the printer: ``job_previews``) gives ``/api/v1/jobs/{id}/preview``; a job that
ends takes it away. A printer whose picture changed has its status published again, so its card updates live. The
printers that serve their own previews (PrusaLink, Moonraker) are shown through their connections instead (see
``MonitoringService``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog

from printfleet.domain.events import DomainEvent, JobAutoCreated, JobUpdated
from printfleet.domain.files.library import PrintFile
from printfleet.domain.jobs import Job, JobStatus
from printfleet.services.errors import NotFound, StoreUnavailable
from printfleet.services.events import EventBus, TimedFollower

log = structlog.get_logger(__name__)

_SHOWN = frozenset({JobStatus.RUNNING, JobStatus.PAUSED})


def job_preview_url(job_id: int) -> str:
    """The URL of the kept preview of job ``job_id``'s plate (a print started at the printer)."""
    return f"/api/v1/jobs/{job_id}/preview"


def thumbnail_url(file_id: int, plate: int) -> str:
    """The library's preview URL of ``file_id``'s plate ``plate``."""
    return f"/api/v1/files/{file_id}/thumbnail?plate={plate}"


class PrintThumbnails(TimedFollower):
    """Keeps :meth:`lookup` (printer id → the preview URL of what it prints) up to date from job events. Enter to run.

    ``file_of_dispatch(dispatch_id)``: the (file id, plate) a dispatch sent (raises NotFound when gone); ``file(id)``:
    the library file (raises NotFound); ``has_preview(job_id)``: whether a preview of a printer-started print was kept
    (it comes some seconds into the print, so a job without one is asked again every ``recheck_s`` seconds, on its
    updates); ``refresh(printer_id)``: publish the printer's status again."""

    def __init__(
        self,
        *,
        bus: EventBus,
        file_of_dispatch: Callable[[int], Awaitable[tuple[int, int]]],
        file: Callable[[int], Awaitable[PrintFile]],
        refresh: Callable[[str], None],
        has_preview: Callable[[int], Awaitable[bool]] | None = None,
        recheck_s: float = 15.0,
    ) -> None:
        super().__init__(
            bus,
            name="print-thumbnails",
            clock=lambda: datetime.now(UTC),
            remote=True,
            maxsize=1_000,
            accepts=lambda event: isinstance(event, JobAutoCreated | JobUpdated),
        )
        self._file_of_dispatch = file_of_dispatch
        self._file = file
        self._refresh = refresh
        self._has_preview = has_preview
        self._recheck_s = recheck_s
        self._shown: dict[str, tuple[int, str | None]] = {}  # printer id -> (job id, url; None: it has none)
        self._asked: dict[int, float] = {}  # job id -> monotonic time its kept preview was last looked for

    async def preview_kept(self, job: Job) -> None:
        """A preview of ``job``'s plate was just kept (this process read it): show it now. Raises StoreUnavailable."""
        self._asked.pop(job.id, None)
        shown = self._shown.get(job.printer_id)
        if shown is not None and shown[0] == job.id and shown[1] is None:
            del self._shown[job.printer_id]
        await self.follow(job)

    def lookup(self, printer_id: str) -> str | None:
        """The preview URL of the print under way on ``printer_id`` (from memory), or None."""
        shown = self._shown.get(printer_id)
        return shown[1] if shown is not None else None

    async def follow(self, job: Job) -> None:
        """Take in ``job``'s state. Raises StoreUnavailable."""
        shown = self._shown.get(job.printer_id)
        if job.status not in _SHOWN:
            if shown is not None and shown[0] == job.id:
                del self._shown[job.printer_id]
                self._refresh(job.printer_id)
            return
        if shown is not None and shown[0] == job.id:
            if shown[1] is not None or not self._ask_kept_again(job):
                return  # known already: a running job's updates ask nothing again
            url = await self._kept_url(job)
            if url is not None:
                self._shown[job.printer_id] = (job.id, url)
                self._refresh(job.printer_id)
            return
        url = await self._url(job)
        self._shown[job.printer_id] = (job.id, url)
        if url is not None or (shown is not None and shown[1] is not None):
            self._refresh(job.printer_id)

    def _ask_kept_again(self, job: Job) -> bool:
        """Whether to look for a kept preview of ``job`` (a printer-started print, at most every ``recheck_s``)."""
        if self._has_preview is None or job.dispatch_id is not None or (job.file_id or "").isdigit():
            return False
        now = time.monotonic()
        if now - self._asked.get(job.id, -self._recheck_s) < self._recheck_s:
            return False
        self._asked[job.id] = now
        if len(self._asked) > 1_000:
            self._asked.pop(next(iter(self._asked)))
        return True

    async def _kept_url(self, job: Job) -> str | None:
        assert self._has_preview is not None
        return job_preview_url(job.id) if await self._has_preview(job.id) else None

    async def _url(self, job: Job) -> str | None:
        try:
            if job.dispatch_id is not None:
                file_id, plate = await self._file_of_dispatch(job.dispatch_id)
            elif job.file_id is not None and job.file_id.isdigit():
                file_id, plate = int(job.file_id), 1
            else:
                return await self._kept_url(job) if self._ask_kept_again(job) else None
            stored = await self._file(file_id)
        except NotFound:
            return None
        info = next((candidate for candidate in stored.metadata.plates if candidate.index == plate), None)
        return thumbnail_url(file_id, plate) if info is not None and info.has_thumbnail else None

    async def on_event(self, event: DomainEvent, now: datetime) -> None:
        """Follow the jobs (see the module's description); a failure is logged, never raised."""
        if not isinstance(event, JobAutoCreated | JobUpdated):
            return
        try:
            await self.follow(event.job)
        except StoreUnavailable as error:
            log.warning("thumbnails.not_found", printer_id=event.job.printer_id, error=error.error)
        except Exception:  # a card's picture must never stop the server
            log.exception("thumbnails.failed", printer_id=event.job.printer_id)
