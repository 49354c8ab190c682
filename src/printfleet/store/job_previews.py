"""The plate pictures of prints started at the printer (migration 0022): one PNG or JPEG per job, read from the
project file the printer holds (see ``printfleet.app.materials``), kept with the job and deleted with it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from printfleet.domain.files.model import Thumbnail
from printfleet.store.database import Database
from printfleet.store.tables import Base

MAX_PREVIEW_BYTES = 512 * 1024
"""A larger picture is not kept (a slicer's plate preview is a few tens of kB)."""


class JobPreviewRow(Base):
    """The preview of job ``job_id``'s plate."""

    __tablename__ = "job_previews"

    job_id: Mapped[int] = mapped_column(Integer, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(32))
    image: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class SqlJobPreviews:
    """Job previews on SQLAlchemy (SQLite or PostgreSQL). Raises StoreUnavailable when the store fails."""

    def __init__(self, database: Database, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._database = database
        self._clock = clock

    async def save(self, job_id: int, thumbnail: Thumbnail) -> bool:
        """Keep ``thumbnail`` as job ``job_id``'s preview; False when it is too large, the job has one already (two
        processes read the same file) or the job is gone."""
        if len(thumbnail.data) > MAX_PREVIEW_BYTES:
            return False
        row = JobPreviewRow(
            job_id=job_id, media_type=thumbnail.media_type, image=thumbnail.data, created_at=self._clock()
        )
        try:
            async with self._database.transaction() as session:
                if await session.get(JobPreviewRow, job_id) is not None:
                    return False
                session.add(row)
        except IntegrityError:  # another process saved it first, or the job was deleted meanwhile
            return False
        return True

    async def get(self, job_id: int) -> Thumbnail | None:
        """Job ``job_id``'s preview, or None."""
        async with self._database.transaction() as session:
            row = await session.get(JobPreviewRow, job_id)
            return Thumbnail(row.image, row.media_type) if row is not None else None

    async def has(self, job_id: int) -> bool:
        """Whether job ``job_id`` has a preview."""
        async with self._database.transaction() as session:
            found = await session.scalar(select(JobPreviewRow.job_id).where(JobPreviewRow.job_id == job_id))
            return found is not None
