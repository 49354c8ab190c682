"""Live material slots: what each printer holds where, stored, matched to inventory spools, announced once.

:meth:`SlotService.on_printer_slots` takes a printer's slots whenever its adapter reports a change (the monitoring
service calls it; the adapter hands on the same :class:`~printfleet.domain.materials.slots.MaterialSlots` object while
nothing changed). It compares the reading with the stored records
(:func:`~printfleet.domain.materials.slot_records.plan_sync`), matches each RFID spool to the inventory by
``tray_uuid`` (creating it from the tag when ``auto_create_rfid_spools``), writes the records, and only then
publishes one :class:`~printfleet.domain.events.MaterialSlotChanged` per real change, plus ``spool_low`` once per
crossing below ``low_stock_grams``. A restart or a repeated ``pushall`` compares equal with what is stored and
announces nothing.

Grams left in a slot: the AMS estimate (``remain`` % of the tag's net weight) when the printer knows it, else the
assigned inventory spool's remaining weight.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

import structlog

from printfleet.domain.events import MaterialSlotChanged
from printfleet.domain.materials import InvalidMaterial, Spool
from printfleet.domain.materials.loaded import LoadedCheck, MaterialNeed, SlotStock, check_loaded
from printfleet.domain.materials.model import clean_text, normalise_color
from printfleet.domain.materials.slot_events import SlotEvent, SlotEventKind
from printfleet.domain.materials.slot_records import SlotRecord, low_stock_crossing, parse_slot, plan_sync
from printfleet.domain.materials.slots import MaterialSlots, SlotKind, SlotSpool
from printfleet.domain.printer import PrinterConfig, PrinterStatus
from printfleet.services.errors import NotFound
from printfleet.services.events import EventBus
from printfleet.services.materials.service import MaterialsService

log = structlog.get_logger("printfleet.materials")

SPOOL_LOW = "spool_low"


class SlotRepository(Protocol):
    """Stored slot records (``printfleet.store.materials.slots`` implements it). Raises StoreUnavailable."""

    async def slots(self, printer_id: str) -> list[SlotRecord]:
        """The printer's stored slots."""
        ...

    async def all_slots(self) -> list[SlotRecord]:
        """Every printer's stored slots."""
        ...

    async def get_slot(self, slot_row_id: int) -> SlotRecord | None:
        """One record by its row id, or None."""
        ...

    async def save_slots(self, records: Sequence[SlotRecord]) -> list[SlotRecord]:
        """Insert or replace records (by printer and label), in one transaction; Conflict for a vanished spool."""
        ...


class SlotNotFound(NotFound):
    """The printer has no such slot."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedSlot:
    """A stored slot with its inventory spool (None: none assigned or matched) and the grams left in it (None:
    unknown): the AMS estimate, else the spool's remaining weight."""

    record: SlotRecord
    spool: Spool | None

    @property
    def grams_left(self) -> float | None:
        """Grams of filament left in the slot, or None."""
        approx = self.record.approx_remaining_g
        if approx is not None:
            return approx
        return self.spool.remaining_weight_g if self.spool is not None else None


class SlotService:
    """Keeps the ``material_slots`` records current and announces their changes on ``bus``.

    ``auto_create_rfid_spools``: add an unknown RFID spool to the inventory from its tag; ``low_stock_grams``: the
    ``spool_low`` threshold (grams); ``status_of``: a printer's live status, None for a printer not in the farm
    (refused with 404)."""

    def __init__(
        self,
        *,
        repository: SlotRepository,
        materials: MaterialsService,
        bus: EventBus,
        auto_create_rfid_spools: bool = True,
        low_stock_grams: float = 100.0,
        status_of: Callable[[str], PrinterStatus | None] | None = None,
        on_change: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._repository = repository
        self._materials = materials
        self._bus = bus
        self._auto_create = auto_create_rfid_spools
        self._low_stock_g = low_stock_grams
        self._status_of = status_of
        self._on_change = on_change
        self._clock = clock
        self._views: dict[str, dict[str, SlotSpool]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, printer_id: str) -> asyncio.Lock:
        """One printer's slots are read and written by one step at a time here: a report's sync that read the slots
        before a person assigned a spool must not write them back without it."""
        return self._locks.setdefault(printer_id, asyncio.Lock())

    def slot_spools(self, printer_id: str) -> dict[str, SlotSpool]:
        """The spools in the printer's slots by label, from memory (as last synced or assigned); for display."""
        return self._views.get(printer_id, {})

    def _remember(self, printer_id: str, loaded: Iterable[LoadedSlot]) -> None:
        view = dict(self._views.get(printer_id, {}))
        for slot in loaded:
            spool = slot.spool if slot.record.spool_id is not None else None
            view[slot.record.slot] = SlotSpool(
                spool_id=spool.id if spool is not None else None,
                name=spool.display_name if spool is not None else None,
                grams_left=slot.grams_left,
            )
        if view != self._views.get(printer_id):
            self._views[printer_id] = view
            if self._on_change is not None:
                self._on_change(printer_id)

    @property
    def low_stock_grams(self) -> float:
        """The ``spool_low`` threshold, grams."""
        return self._low_stock_g

    async def on_printer_slots(self, printer: PrinterConfig, status: PrinterStatus) -> None:
        """A monitoring slot listener: sync the stored slots with ``status.material_slots`` (see the module).
        Raises StoreUnavailable (nothing announced; the next change compares with what is stored)."""
        if status.material_slots is not None:
            await self.sync(printer.id, status.material_slots, layer=status.layer if status.state.is_active else None)

    async def sync(self, printer_id: str, reading: MaterialSlots, *, layer: int | None = None) -> list[SlotRecord]:
        """Store ``reading`` for ``printer_id`` and announce what changed; the records as stored."""
        async with self._lock(printer_id):
            return await self._sync(printer_id, reading, layer=layer)

    async def _sync(self, printer_id: str, reading: MaterialSlots, *, layer: int | None) -> list[SlotRecord]:
        now = self._clock()
        stored = {record.slot: record for record in await self._repository.slots(printer_id)}
        plan = plan_sync(printer_id, stored, reading, now=now, layer=layer)
        records = {record.slot: record for record in plan.records}
        for slot in plan.rfid:
            record = records[slot.id.label]
            if record.spool_id is not None:
                continue
            spool = await self._materials.spool_for_rfid(slot, create=self._auto_create)
            if spool is not None:
                records[slot.id.label] = replace(record, spool_id=spool.id)
                log.info("materials.rfid_spool_matched", printer_id=printer_id, slot=slot.id.label, spool_id=spool.id)
        spools = await self._spools(records.values())
        lows = self._lows(records, spools)
        saved = await self._repository.save_slots(list(records.values()))  # last_synced moves on for all
        by_label = {record.slot: record for record in saved}
        for event in plan.events:
            self._bus.publish(_announce(printer_id, event, by_label, stored, now))
        self._announce_lows(printer_id, lows, now)
        self._remember(
            printer_id,
            (LoadedSlot(record=r, spool=spools.get(r.spool_id) if r.spool_id else None) for r in by_label.values()),
        )
        return list(by_label.values())

    async def recheck(self, printer_id: str) -> None:
        """Read the printer's slots and spools again after filament was charged to its spools: the grams shown on
        its card, and ``spool_low`` for a spool that fell below the threshold (once). Raises StoreUnavailable."""
        stored = {record.slot: record for record in await self._repository.slots(printer_id)}
        spools = await self._spools(stored.values())
        records = dict(stored)
        lows = self._lows(records, spools)
        changed = [record for label, record in records.items() if record != stored[label]]
        if changed:
            await self._repository.save_slots(changed)
        self._announce_lows(printer_id, lows, self._clock())
        self._remember(
            printer_id,
            (LoadedSlot(record=r, spool=spools.get(r.spool_id) if r.spool_id else None) for r in records.values()),
        )

    async def spool_changed(self, spool_id: int) -> None:
        """A spool changed outside a print (Spoolman's feed): the printers whose slots show it read them again."""
        for printer_id, view in list(self._views.items()):
            if any(shown.spool_id == spool_id for shown in view.values()):
                await self.recheck(printer_id)

    def _lows(self, records: dict[str, SlotRecord], spools: Mapping[int, Spool]) -> list[LoadedSlot]:
        """Mark in ``records`` the slots that crossed the low-stock threshold (either way); those that fell below."""
        lows: list[LoadedSlot] = []
        for label, record in records.items():
            loaded = LoadedSlot(record=record, spool=spools.get(record.spool_id) if record.spool_id else None)
            crossing = low_stock_crossing(record, loaded.grams_left, self._low_stock_g)
            if crossing is not None:
                records[label] = replace(record, low_alerted=crossing)
                if crossing:
                    lows.append(LoadedSlot(record=records[label], spool=loaded.spool))
        return lows

    def _announce_lows(self, printer_id: str, lows: Sequence[LoadedSlot], now: datetime) -> None:
        for low in lows:
            record = low.record
            log.info("materials.spool_low", printer_id=printer_id, slot=record.slot, grams_left=low.grams_left)
            self._bus.publish(
                MaterialSlotChanged(
                    printer_id=printer_id,
                    event=SPOOL_LOW,
                    slot=record.slot,
                    occurred_at=now,
                    spool_id=record.spool_id,
                    material_type=record.material_type,
                    color=record.color,
                    remaining_pct=record.remaining_pct,
                    grams_left=low.grams_left,
                )
            )

    async def _spools(self, records: Iterable[SlotRecord]) -> dict[int, Spool]:
        found: dict[int, Spool] = {}
        for record in records:
            if record.spool_id is not None and record.spool_id not in found:
                with contextlib.suppress(NotFound):  # deleted meanwhile: the store's key empties the slot
                    found[record.spool_id] = await self._materials.get_spool(record.spool_id)
        return found

    # Reading and assigning

    def _check_printer(self, printer_id: str) -> PrinterStatus | None:
        if self._status_of is None:
            return None
        status = self._status_of(printer_id)
        if status is None:
            raise NotFound(f"no printer with id {printer_id!r}")
        return status

    async def printer_slots(self, printer_id: str) -> list[LoadedSlot]:
        """The printer's slots with their spools: stored ones, plus the slots its live status shows that were not
        stored yet. Raises NotFound for an unknown printer."""
        status = self._check_printer(printer_id)
        records = {record.slot: record for record in await self._repository.slots(printer_id)}
        if status is not None and status.material_slots is not None:
            for slot in status.material_slots.slots:
                records.setdefault(slot.id.label, SlotRecord(printer_id=printer_id, slot=slot.id.label))
        spools = await self._spools(records.values())
        return [
            LoadedSlot(record=record, spool=spools.get(record.spool_id) if record.spool_id else None)
            for record in sorted(records.values(), key=_order)
        ]

    async def check_loaded(
        self, printer_id: str, needs: Sequence[MaterialNeed], *, unknown_grams_ok: bool = False
    ) -> LoadedCheck:
        """Whether the printer has every one of ``needs`` loaded with enough grams (for the scheduler; see
        :func:`~printfleet.domain.materials.loaded.check_loaded`). Raises NotFound for an unknown printer."""
        stock = [
            SlotStock(
                slot=loaded.record.slot,
                material=loaded.record.material_type if loaded.record.present else None,
                color=loaded.record.color,
                grams_left=loaded.grams_left,
            )
            for loaded in await self.printer_slots(printer_id)
        ]
        return check_loaded(stock, needs, unknown_grams_ok=unknown_grams_ok)

    async def all_slots(self) -> dict[str, list[LoadedSlot]]:
        """Every printer's stored slots with their spools, by printer id."""
        records = await self._repository.all_slots()
        spools = await self._spools(records)
        result: dict[str, list[LoadedSlot]] = {}
        for record in sorted(records, key=_order):
            spool = spools.get(record.spool_id) if record.spool_id else None
            result.setdefault(record.printer_id, []).append(LoadedSlot(record=record, spool=spool))
        return result

    async def slot_by_row(self, slot_row_id: int) -> LoadedSlot:
        """One stored slot by its row id. Raises SlotNotFound."""
        record = await self._repository.get_slot(slot_row_id)
        if record is None:
            raise SlotNotFound(f"no material slot with id {slot_row_id}")
        spools = await self._spools([record])
        return LoadedSlot(record=record, spool=spools.get(record.spool_id) if record.spool_id else None)

    async def release(self, spool_ids: Sequence[int]) -> None:
        """Unassign every slot holding one of ``spool_ids`` (Spoolman no longer has them). Raises StoreUnavailable."""
        wanted = set(spool_ids)
        for record in await self._repository.all_slots():
            if record.spool_id in wanted:
                with contextlib.suppress(NotFound):  # a printer removed meanwhile
                    await self.assign(record.printer_id, record.slot, spool_id=None)
                    log.info("materials.slot_released", printer_id=record.printer_id, slot=record.slot)

    async def assign(
        self,
        printer_id: str,
        label: str,
        *,
        spool_id: int | None,
        material_type: str | None = None,
        color: str | None = None,
    ) -> LoadedSlot:
        """Say what is in a slot: the inventory spool ``spool_id`` (None: none), or without a spool a material
        type and colour (``RRGGBBAA``). For a tool or an untagged spool this is the only way printfleet learns it; an
        RFID slot is matched again from its tag when the printer next reports it changed. A spool is in one place:
        a slot that held it lets it go. Raises NotFound (printer,
        slot label), InvalidMaterial (``spool_id`` unknown or archived, ``color``)."""
        async with self._lock(printer_id):
            return await self._assign(printer_id, label, spool_id=spool_id, material_type=material_type, color=color)

    async def _assign(
        self, printer_id: str, label: str, *, spool_id: int | None, material_type: str | None, color: str | None
    ) -> LoadedSlot:
        self._check_printer(printer_id)
        slot_id = parse_slot(label)
        if slot_id is None:
            raise SlotNotFound(f"{label!r} is not a slot label (AMS0-T0, AMS128-T0, EXT254, T0)")
        stored = {record.slot: record for record in await self._repository.slots(printer_id)}
        now = self._clock()
        record = stored.get(slot_id.label) or SlotRecord(printer_id=printer_id, slot=slot_id.label)
        spool: Spool | None = None
        if spool_id is not None:
            try:
                spool = await self._materials.get_spool(spool_id)
            except NotFound:
                raise InvalidMaterial("spool_id", f"no spool with id {spool_id}") from None
            if spool.archived:
                raise InvalidMaterial("spool_id", f"spool {spool_id} is archived")
        tool = slot_id.kind is SlotKind.TOOL
        material = clean_text(material_type, "material_type", max_length=32)
        colour = normalise_color(color, "color")
        if spool is not None:
            material = material or spool.filament.material
            colour = colour or spool.filament.color_hex
        changes: dict[str, object] = {"spool_id": spool_id, "loaded_at": now, "low_alerted": False}
        if tool or not record.present:
            changes.update(present=spool is not None or material is not None, material_type=material, color=colour)
        elif spool is None and material is not None:
            changes.update(material_type=material, color=colour)
        updated = replace(record, **changes)  # type: ignore[arg-type]
        moved = []
        if spool_id is not None:  # a spool is in one place: the slot that held it lets it go
            for other in await self._repository.all_slots():
                if other.spool_id == spool_id and (other.printer_id, other.slot) != (printer_id, updated.slot):
                    moved.append(replace(other, spool_id=None, low_alerted=False))
        saved, *released = await self._repository.save_slots([updated, *moved])
        for other in released:
            self._remember(other.printer_id, [LoadedSlot(record=other, spool=None)])
        self._bus.publish(
            MaterialSlotChanged(
                printer_id=printer_id,
                event=SlotEventKind.SPOOL_CHANGED.value if record.present else SlotEventKind.SPOOL_INSERTED.value,
                slot=saved.slot,
                occurred_at=now,
                spool_id=saved.spool_id,
                material_type=saved.material_type,
                color=saved.color,
                remaining_pct=saved.remaining_pct,
            )
        )
        loaded = LoadedSlot(record=saved, spool=spool)
        self._remember(printer_id, [loaded])
        return loaded


def _order(record: SlotRecord) -> tuple[object, ...]:
    slot_id = record.slot_id
    kinds = {SlotKind.AMS: 0, SlotKind.AMS_HT: 1, SlotKind.EXTERNAL: 2, SlotKind.TOOL: 3}
    if slot_id is None:
        return (record.printer_id, 9, record.slot)
    unit = -slot_id.unit if slot_id.kind is SlotKind.EXTERNAL else slot_id.unit  # right (255) before left (254)
    return (record.printer_id, kinds[slot_id.kind], unit, slot_id.index)


def _announce(
    printer_id: str,
    event: SlotEvent,
    records: Mapping[str, SlotRecord],
    stored: Mapping[str, SlotRecord],
    now: datetime,
) -> MaterialSlotChanged:
    label = event.slot.label if event.slot is not None else None
    record = records.get(label) if label is not None else None
    if event.kind is SlotEventKind.SPOOL_REMOVED and label is not None:
        record = stored.get(label)  # what was taken out
    spool = event.spool
    grams = spool.approx_remaining_g if spool is not None else None
    return MaterialSlotChanged(
        printer_id=printer_id,
        event=event.kind.value,
        slot=label,
        occurred_at=now,
        spool_id=record.spool_id if record is not None else None,
        material_type=spool.material if spool is not None else None,
        color=spool.color if spool is not None else None,
        remaining_pct=spool.remain_pct if spool is not None else None,
        grams_left=grams,
        from_slot=event.from_slot.label if event.from_slot is not None else None,
        layer=event.layer,
    )
