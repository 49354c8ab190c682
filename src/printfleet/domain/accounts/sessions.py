"""Sign-in sessions and personal API tokens as records, and the session expiry rules.

A session lasts while it is used: each use pushes its idle expiry ``IDLE`` further, up to ``ABSOLUTE`` after
sign-in. The stored last-use time is refreshed at most every ``TOUCH_EVERY``, so a busy page does not write on every
request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

IDLE = timedelta(days=14)
ABSOLUTE = timedelta(days=30)
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRecord:
    """A stored session: ``key`` is the digest of the cookie's id; times aware UTC."""

    key: str
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    client: str | None = None


def session_expires_at(session: SessionRecord, *, idle: timedelta = IDLE, absolute: timedelta = ABSOLUTE) -> datetime:
    """When ``session`` ends if not used again: the earlier of its idle and absolute expiry."""
    return min(session.last_seen_at + idle, session.created_at + absolute)


def session_is_live(
    session: SessionRecord, now: datetime, *, idle: timedelta = IDLE, absolute: timedelta = ABSOLUTE
) -> bool:
    """True while ``session`` has not expired at ``now``."""
    return now < session_expires_at(session, idle=idle, absolute=absolute)


def needs_touch(session: SessionRecord, now: datetime) -> bool:
    """True when the stored last-use time is old enough to be refreshed."""
    return now - session.last_seen_at >= TOUCH_EVERY


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiToken:
    """A personal API token as listed to its owner: never the token itself, only its visible ``prefix``."""

    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def is_usable(self, now: datetime) -> bool:
        """True when neither revoked nor expired at ``now``."""
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)
