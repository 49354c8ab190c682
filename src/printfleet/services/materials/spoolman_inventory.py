"""Spoolman's inventory mirrored into printfleet's: :class:`SpoolmanInventory`.

With ``spoolman.url`` set, Spoolman is where the shop keeps its spools: at start every Spoolman spool is read
(``GET /api/v1/spool``, pages of 100, archived ones too) and stored as a printfleet spool linked to it by
``spoolman_id`` — its vendor and filament found by name or added; a spool tagged with a Bambu RFID id (``extra.tag``)
is the printfleet spool of that ``tray_uuid``, so the AMS slot holding it maps to it — and Spoolman's websocket
change feed
(``/api/v1/spool``: ``added``, ``updated``, ``deleted`` frames with the whole spool) keeps the copy current. A spool
deleted in Spoolman is archived here and unlinked (its history stays). After the feed drops, printfleet connects
again with a growing wait and reads everything again, so a change made meanwhile is not missed. Slots hold
printfleet spools, so a slot holding a linked spool maps to its Spoolman spool, and a print's use is reported there
(:mod:`printfleet.services.materials.spoolman`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol

import structlog

from printfleet.domain.materials.model import InvalidMaterial
from printfleet.domain.materials.spoolman import MirroredSpool, mirror_of
from printfleet.services.errors import Conflict, StoreUnavailable
from printfleet.services.materials.service import MaterialsService
from printfleet.services.materials.spoolman import SpoolmanUnavailable

log = structlog.get_logger(__name__)

PAGE = 100
"""Spools read per request."""


class SpoolmanCatalog(Protocol):
    """Reading Spoolman's spools (``printfleet.inventory.spoolman`` through the composition root). Raises
    SpoolmanUnavailable when Spoolman cannot be read."""

    async def list_spools(self, *, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """A page of spools (archived ones too) and how many there are."""
        ...

    async def open_changes(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Connect to the change feed; its frames as ``(type, spool)`` (``added``, ``updated``, ``deleted``) until it
        drops."""
        ...


class SpoolmanInventory:
    """Keeps printfleet's spools in step with Spoolman's (see the module). Use as an async context manager.
    ``await on_change(spool_id)`` is told of each printfleet spool changed (slots showing it refresh)."""

    def __init__(
        self,
        *,
        catalog: SpoolmanCatalog,
        materials: MaterialsService,
        on_change: Callable[[int], Awaitable[None]] | None = None,
        reconnect_initial_s: float = 1.0,
        reconnect_max_s: float = 60.0,
    ) -> None:
        self._catalog = catalog
        self._materials = materials
        self._on_change = on_change
        self._reconnect_initial_s = reconnect_initial_s
        self._reconnect_max_s = reconnect_max_s
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def import_all(self) -> int:
        """Read every Spoolman spool and store it; how many were stored. Raises SpoolmanUnavailable,
        StoreUnavailable."""
        stored, offset = 0, 0
        while True:
            page, total = await self._catalog.list_spools(offset=offset, limit=PAGE)
            for remote in page:
                stored += await self.apply(remote)
            offset += len(page)
            if not page or offset >= total:
                return stored

    async def apply(self, remote: Mapping[str, Any]) -> bool:
        """Store one Spoolman spool (added or changed); False when it is not usable (logged). Raises
        StoreUnavailable."""
        mirrored = mirror_of(remote)
        if mirrored is None:
            log.warning("spoolman.spool_unusable", spoolman_id=remote.get("id"))
            return False
        try:
            filament_id = await self._filament_for(mirrored)
            existing = await self._materials.find_spoolman_spool(mirrored.spoolman_id)
            tag = mirrored.spool_values.get("tray_uuid")
            if existing is None and tag is not None:
                # An RFID spool printfleet made from the AMS before: Spoolman's spool with that tag is the same one.
                tagged = await self._materials.find_spool(tag)
                if tagged is not None and tagged.spoolman_id is None:
                    existing = tagged
            if existing is None:
                try:
                    spool = await self._materials.add_spool(filament_id, mirrored.spool_values)
                except Conflict:
                    # Its tag was just read in an AMS tray, which made the spool meanwhile: link that one.
                    tagged = await self._materials.find_spool(tag) if tag is not None else None
                    if tagged is None or tagged.spoolman_id is not None:
                        raise
                    changes = {**mirrored.spool_values, "filament_id": filament_id}
                    spool = await self._materials.update_spool(tagged.id, changes)
            else:
                changes = {**mirrored.spool_values, "filament_id": filament_id}
                spool = await self._materials.update_spool(existing.id, changes)
        except (InvalidMaterial, Conflict) as exc:
            log.warning("spoolman.spool_refused", spoolman_id=mirrored.spoolman_id, error=str(exc))
            return False
        if self._on_change is not None:
            await self._on_change(spool.id)
        return True

    async def removed(self, spoolman_id: int) -> None:
        """A spool deleted in Spoolman: its printfleet spool is archived and unlinked. Raises StoreUnavailable."""
        existing = await self._materials.find_spoolman_spool(spoolman_id)
        if existing is None:
            return
        await self._materials.update_spool(existing.id, {"spoolman_id": None, "archived": True})
        log.info("spoolman.spool_deleted", spoolman_id=spoolman_id, spool_id=existing.id)
        if self._on_change is not None:
            await self._on_change(existing.id)

    async def _filament_for(self, mirrored: MirroredSpool) -> int:
        vendor_id = None
        if mirrored.vendor_name is not None:
            vendor_id = (await self._materials.vendor_named(mirrored.vendor_name)).id
        wanted = replace(mirrored.filament, vendor_id=vendor_id)
        found = await self._materials.filament_like(wanted)
        changes = {
            name: getattr(wanted, name)
            for name in ("density_g_cm3", "net_weight_g", "empty_spool_weight_g", "price_per_spool")
            if getattr(wanted, name) != getattr(found, name)
        }
        if changes:
            if changes.get("price_per_spool") is not None:
                changes["price_per_kg"] = None  # Spoolman prices a full spool
            await self._materials.update_filament(found.id, changes)
        return found.id

    async def _follow(self) -> None:
        """Read everything, then follow the feed; again after each drop, waiting longer each time (up to the
        maximum; reset once connected)."""
        wait = self._reconnect_initial_s
        while True:
            try:
                feed = await self._catalog.open_changes()  # connected first: nothing changed since is missed
                await self.import_all()
                self.connected.set()
                wait = self._reconnect_initial_s
                async for kind, remote in feed:
                    if kind == "deleted" and isinstance(remote.get("id"), int):
                        await self.removed(remote["id"])
                    elif kind in ("added", "updated"):
                        await self.apply(remote)
                log.info("spoolman.feed_closed")
            except SpoolmanUnavailable as exc:
                log.info("spoolman.unavailable", error=str(exc))
            except StoreUnavailable:
                log.warning("spoolman.store_unavailable")
            except Exception:  # a bug must not stop the mirror for good
                log.exception("spoolman.mirror_failed")
            self.connected.clear()
            await asyncio.sleep(wait)
            wait = min(wait * 2, self._reconnect_max_s)

    async def start(self) -> None:
        """Start mirroring in the background."""
        self._task = asyncio.create_task(self._follow(), name="spoolman-inventory")

    async def stop(self) -> None:
        """Stop mirroring."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def __aenter__(self) -> SpoolmanInventory:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()
