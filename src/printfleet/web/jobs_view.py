"""The jobs page's filters: from the query string (or the live connection's) to a :class:`JobFilter` and back.

Dates in the filter form are the viewer's calendar days; the browser sends its IANA time zone (``tz``) beside
them, so ``from=2026-11-20&tz=Europe/Berlin`` means from 2026-11-20 00:00 Berlin time (23:00 UTC the day before).
``to`` includes the whole day.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from printfleet.domain.jobs import JobFilter, JobStatus

PAGE_SIZE = 50
"""Jobs per page."""

MAX_SEARCH = 100
"""The longest search text, characters."""

MAX_PAGE = (2**63 - 1) // PAGE_SIZE
"""The last page number whose offset the store can hold (a signed 64-bit integer)."""


@dataclass(frozen=True, slots=True)
class JobsQuery:
    """The jobs page's query as typed in the form: ``q`` searches job and file names (at most
    :data:`MAX_SEARCH` characters), ``auto`` is ``yes``/``no``/empty, dates ``YYYY-MM-DD``, ``page`` 1-based.
    ``errors`` lists the parameters that were ignored and why."""

    printer_id: str = ""
    q: str = ""
    status: str = ""
    auto: str = ""
    date_from: str = ""
    date_to: str = ""
    tz: str = "UTC"
    page: int = 1
    errors: tuple[str, ...] = field(default=())

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> JobsQuery:
        """Read the query string; a bad value is dropped and named in ``errors`` (never raises)."""
        errors: list[str] = []
        status = params.get("status", "")
        if status and status not in JobStatus.__members__.values():
            errors.append(f"status: unknown value {status!r}")
            status = ""
        auto = params.get("auto", "")
        if auto not in ("", "yes", "no"):
            errors.append(f"auto: must be yes or no, not {auto!r}")
            auto = ""
        tz = params.get("tz") or "UTC"
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            errors.append(f"tz: unknown time zone {tz!r}")
            tz = "UTC"
        dates: dict[str, str] = {}
        for name in ("from", "to"):
            value = params.get(name, "")
            try:
                if value:
                    date.fromisoformat(value)
                dates[name] = value
            except ValueError:
                errors.append(f"{name}: give a date as YYYY-MM-DD, not {value!r}")
                dates[name] = ""
        try:
            page = max(1, int(params.get("page") or 1))
        except ValueError:
            errors.append("page: must be a number")
            page = 1
        if page > MAX_PAGE:
            errors.append(f"page: must be at most {MAX_PAGE}")
            page = 1
        q = " ".join(params.get("q", "").split())
        if len(q) > MAX_SEARCH:
            errors.append(f"q: at most {MAX_SEARCH} characters")
            q = q[:MAX_SEARCH]
        return cls(
            printer_id=params.get("printer_id", ""),
            q=q,
            status=status,
            auto=auto,
            date_from=dates["from"],
            date_to=dates["to"],
            tz=tz,
            page=page,
            errors=tuple(errors),
        )

    def _bound(self, value: str, *, next_day: bool) -> datetime | None:
        if not value:
            return None
        day = date.fromisoformat(value) + (timedelta(days=1) if next_day else timedelta())
        return datetime.combine(day, time(), tzinfo=ZoneInfo(self.tz)).astimezone(UTC)

    def job_filter(self, *, page: int | None = None) -> JobFilter:
        """The store filter of this query for ``page`` (default: the query's own page)."""
        number = self.page if page is None else page
        return JobFilter(
            printer_id=self.printer_id or None,
            search=self.q or None,
            status=JobStatus(self.status) if self.status else None,
            auto_created={"yes": True, "no": False}.get(self.auto),
            since=self._bound(self.date_from, next_day=False),
            until=self._bound(self.date_to, next_day=True),
            limit=PAGE_SIZE,
            offset=(number - 1) * PAGE_SIZE,
        )

    def params(self, *, page: int | None = None) -> dict[str, str]:
        """The non-empty query parameters (to build links and the live connection's address)."""
        values = {
            "q": self.q,
            "printer_id": self.printer_id,
            "status": self.status,
            "auto": self.auto,
            "from": self.date_from,
            "to": self.date_to,
            "tz": self.tz if (self.date_from or self.date_to) else "",
            "page": str(page if page is not None else self.page),
        }
        if values["page"] == "1":
            values["page"] = ""
        return {name: value for name, value in values.items() if value}


def page_count(total: int) -> int:
    """Pages needed for ``total`` jobs (at least one)."""
    return max(1, math.ceil(total / PAGE_SIZE))
