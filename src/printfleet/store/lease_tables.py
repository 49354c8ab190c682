"""The lease table (migration 0017): one row per role a single process of the farm holds at a time.

``epoch`` grows by one whenever the lease passes to another holder (or is taken again after it expired), so a
holder that was paused past ``expires_at`` can tell, and be told, that its hold is stale. Expiry is judged on the
database's clock only (``now()``), never a process's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from printfleet.store.tables import Base


class LeaseRow(Base):
    """Who holds the role ``name`` (``notifications.delivery``, …), under which ``epoch``, until ``expires_at``."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    epoch: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime]
