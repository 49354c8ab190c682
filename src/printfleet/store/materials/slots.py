"""The printers' material slots: :class:`SqlSlotRepository` over the ``material_slots`` table (migration 0010)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from printfleet.domain.materials.slot_records import SlotRecord
from printfleet.services.errors import Conflict
from printfleet.store.database import Database
from printfleet.store.materials.tables import MaterialSlotRow

_COLUMNS = [field.name for field in fields(SlotRecord) if field.name != "id"]


def _record(row: MaterialSlotRow) -> SlotRecord:
    return SlotRecord(id=row.id, **{name: getattr(row, name) for name in _COLUMNS})


class SqlSlotRepository:
    """Slot records, one row per (printer, slot label)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def slots(self, printer_id: str) -> list[SlotRecord]:
        """The printer's stored slots, by label."""
        async with self._database.transaction() as session:
            rows = await session.scalars(
                select(MaterialSlotRow).where(MaterialSlotRow.printer_id == printer_id).order_by(MaterialSlotRow.id)
            )
            return [_record(row) for row in rows]

    async def all_slots(self) -> list[SlotRecord]:
        """Every stored slot of every printer, by printer and label."""
        async with self._database.transaction() as session:
            query = select(MaterialSlotRow).order_by(MaterialSlotRow.printer_id, MaterialSlotRow.id)
            rows = await session.scalars(query)
            return [_record(row) for row in rows]

    async def get_slot(self, slot_row_id: int) -> SlotRecord | None:
        """The slot record with this row id, or None."""
        async with self._database.transaction() as session:
            row = await session.get(MaterialSlotRow, slot_row_id)
            return None if row is None else _record(row)

    async def save_slots(self, records: Sequence[SlotRecord]) -> list[SlotRecord]:
        """Insert or replace each record (matched by printer and label) in one transaction; the records as stored.
        Raises Conflict when a named spool no longer exists."""
        saved: list[SlotRecord] = []
        try:
            async with self._database.transaction() as session:
                for record in records:
                    row = (
                        await session.scalars(
                            select(MaterialSlotRow)
                            .where(MaterialSlotRow.printer_id == record.printer_id, MaterialSlotRow.slot == record.slot)
                            .with_for_update()
                        )
                    ).first()
                    values = {name: getattr(record, name) for name in _COLUMNS}
                    if row is None:
                        row = MaterialSlotRow(**values)
                        session.add(row)
                    else:
                        for name, value in values.items():
                            setattr(row, name, value)
                    await session.flush()
                    saved.append(replace(record, id=row.id))
        except IntegrityError:
            raise Conflict("the spool named for a slot no longer exists") from None
        return saved
