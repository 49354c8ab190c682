"""What the dispatch services need from the store (implemented in ``printfleet.store.dispatch``)."""

from __future__ import annotations

from typing import Any, Protocol

from printfleet.domain.dispatch.model import Dispatch, DispatchQuery, NewDispatch
from printfleet.domain.dispatch.plates import PlateState


class DispatchInFlight(Exception):
    """The printer already has a dispatch in flight (the store's one-in-flight-per-printer index refused)."""


class DispatchRepository(Protocol):
    """Stored dispatches. Raises StoreUnavailable (services.errors) when the store fails."""

    async def add(self, new: NewDispatch) -> Dispatch:
        """Record a ``pending`` dispatch; raises :class:`DispatchInFlight` when its printer has one in flight."""
        ...

    async def update(self, dispatch_id: int, **changes: Any) -> Dispatch:
        """Set columns (``state``, ``attempts``, ``error``, ``detail``, ``job_id``, ``remote_path``,
        ``start_sent_at``) and ``updated_at``; returns the dispatch. Raises KeyError when there is none."""
        ...

    async def get(self, dispatch_id: int) -> Dispatch | None:
        """One dispatch, or None."""
        ...

    async def list_dispatches(self, query: DispatchQuery) -> tuple[list[Dispatch], int]:
        """A page of dispatches matching ``query``, newest first, and how many match in all."""
        ...

    async def in_flight(self) -> list[Dispatch]:
        """Every dispatch not yet ``started`` or ``failed`` (reconciled at start-up)."""
        ...


class PlateRepository(Protocol):
    """Stored plate states, one per printer."""

    async def all(self) -> list[PlateState]:
        """Every printer's plate state."""
        ...

    async def get(self, printer_id: str) -> PlateState | None:
        """One printer's stored plate state, or None."""
        ...

    async def save(self, state: PlateState) -> None:
        """Insert or replace the printer's plate state."""
        ...

    async def delete(self, printer_id: str) -> None:
        """Forget a (deleted) printer's plate."""
        ...
