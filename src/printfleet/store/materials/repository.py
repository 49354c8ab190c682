"""The material inventory's records: :class:`SqlMaterialRepository`.

Reads join a spool to its filament and the filament to its vendor, so every record comes whole. A spool changes in
one transaction that locks its row (``FOR UPDATE`` on PostgreSQL; SQLite transactions hold the write lock), so two
uses of one spool at once both count. A duplicate ``tray_uuid`` or a delete refused by a foreign key raises
:class:`~printfleet.services.errors.Conflict`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from printfleet.domain.materials import (
    Filament,
    FilamentFields,
    FilamentQuery,
    Spool,
    SpoolFields,
    SpoolQuery,
    Vendor,
    VendorFields,
    VendorQuery,
)
from printfleet.services.errors import Conflict
from printfleet.store.database import Database
from printfleet.store.materials.tables import FilamentRow, SpoolRow, VendorRow

_VENDOR = [field.name for field in fields(VendorFields)]
_FILAMENT = [field.name for field in fields(FilamentFields)]
_SPOOL = [field.name for field in fields(SpoolFields)]


def _values(record: object, names: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(record, name) for name in names}


def _vendor(row: VendorRow) -> Vendor:
    return Vendor(id=row.id, created_at=row.created_at, **_values(row, _VENDOR))


def _filament(row: FilamentRow, vendor: VendorRow | None) -> Filament:
    return Filament(
        id=row.id,
        created_at=row.created_at,
        vendor=_vendor(vendor) if vendor is not None else None,
        **_values(row, _FILAMENT),
    )


def _spool(row: SpoolRow, filament: FilamentRow, vendor: VendorRow | None) -> Spool:
    return Spool(
        id=row.id,
        created_at=row.created_at,
        filament=_filament(filament, vendor),
        first_used_at=row.first_used_at,
        last_used_at=row.last_used_at,
        **_values(row, _SPOOL),
    )


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    return func.lower(column).like(_like(text), escape="\\")


def _filament_select() -> Select[FilamentRow, VendorRow]:
    return select(FilamentRow, VendorRow).outerjoin(VendorRow, FilamentRow.vendor_id == VendorRow.id)


def _spool_select() -> Select[SpoolRow, FilamentRow, VendorRow]:
    return (
        select(SpoolRow, FilamentRow, VendorRow)
        .join(FilamentRow, SpoolRow.filament_id == FilamentRow.id)
        .outerjoin(VendorRow, FilamentRow.vendor_id == VendorRow.id)
    )


def _filament_conditions(query: FilamentQuery | SpoolQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.material:
        conditions.append(func.lower(FilamentRow.material) == query.material.strip().lower())
    if query.vendor_id is not None:
        conditions.append(FilamentRow.vendor_id == query.vendor_id)
    return conditions


def _spool_conditions(query: SpoolQuery) -> list[ColumnElement[bool]]:
    conditions = _filament_conditions(query)
    conditions.append(SpoolRow.archived == query.archived)
    if query.filament_id is not None:
        conditions.append(SpoolRow.filament_id == query.filament_id)
    if query.location:
        conditions.append(func.lower(SpoolRow.location) == query.location.strip().lower())
    if query.search:
        columns = (
            FilamentRow.name,
            FilamentRow.material,
            VendorRow.name,
            SpoolRow.location,
            SpoolRow.lot_nr,
            SpoolRow.comment,
        )
        conditions.append(or_(*(_contains(column, query.search) for column in columns)))
    return conditions


class SqlMaterialRepository:
    """Vendors, filaments and spools in the ``vendors``, ``filaments`` and ``spools`` tables."""

    def __init__(self, database: Database) -> None:
        self._database = database

    # Vendors

    async def add_vendor(self, vendor: VendorFields, *, at: datetime) -> Vendor:
        """Record ``vendor``; the stored record."""
        async with self._database.transaction() as session:
            row = VendorRow(created_at=at, updated_at=at, **_values(vendor, _VENDOR))
            session.add(row)
            await session.flush()
            return _vendor(row)

    async def get_vendor(self, vendor_id: int) -> Vendor | None:
        """The vendor with this id, or None."""
        async with self._database.transaction() as session:
            row = await session.get(VendorRow, vendor_id)
            return None if row is None else _vendor(row)

    async def list_vendors(self, query: VendorQuery) -> tuple[list[Vendor], int]:
        """A page of the vendors matching ``query`` by name, and how many match in all."""
        conditions = [_contains(VendorRow.name, query.search)] if query.search else []
        async with self._database.transaction() as session:
            total = await session.scalar(select(func.count()).select_from(VendorRow).where(*conditions))
            rows = await session.scalars(
                select(VendorRow)
                .where(*conditions)
                .order_by(func.lower(VendorRow.name), VendorRow.id)
                .limit(query.limit)
                .offset(query.offset)
            )
            return [_vendor(row) for row in rows], int(total or 0)

    async def update_vendor(self, vendor_id: int, vendor: VendorFields, *, at: datetime) -> Vendor | None:
        """Store ``vendor`` as the vendor's new fields; the record, or None for an unknown id."""
        async with self._database.transaction() as session:
            row = await session.get(VendorRow, vendor_id, with_for_update=True)
            if row is None:
                return None
            for name, value in _values(vendor, _VENDOR).items():
                setattr(row, name, value)
            row.updated_at = at
            return _vendor(row)

    async def delete_vendor(self, vendor_id: int) -> bool:
        """Remove the vendor; False for an unknown id. Raises Conflict when a filament still names it."""
        return await self._delete(VendorRow, vendor_id, "a filament still names this vendor")

    async def vendor_use(self, vendor_id: int) -> int:
        """How many filaments name the vendor."""
        async with self._database.transaction() as session:
            count = await session.scalar(
                select(func.count()).select_from(FilamentRow).where(FilamentRow.vendor_id == vendor_id)
            )
            return int(count or 0)

    # Filaments

    async def add_filament(self, filament: FilamentFields, *, at: datetime) -> Filament:
        """Record ``filament``; the stored record with its vendor. Raises Conflict when the vendor was removed."""
        try:
            async with self._database.transaction() as session:
                row = FilamentRow(created_at=at, updated_at=at, **_values(filament, _FILAMENT))
                session.add(row)
                await session.flush()
                filament_id = row.id
        except IntegrityError:
            raise Conflict("the vendor was removed meanwhile") from None
        found = await self.get_filament(filament_id)
        assert found is not None
        return found

    async def get_filament(self, filament_id: int) -> Filament | None:
        """The filament with this id and its vendor, or None."""
        async with self._database.transaction() as session:
            found = (await session.execute(_filament_select().where(FilamentRow.id == filament_id))).first()
            return None if found is None else _filament(*found)

    async def list_filaments(self, query: FilamentQuery) -> tuple[list[Filament], int]:
        """A page of the filaments matching ``query``, and how many match in all."""
        conditions = _filament_conditions(query)
        if query.search:
            columns = (FilamentRow.name, FilamentRow.material, VendorRow.name)
            conditions.append(or_(*(_contains(column, query.search) for column in columns)))
        base = _filament_select().where(*conditions)
        async with self._database.transaction() as session:
            total = await session.scalar(select(func.count()).select_from(base.subquery()))
            rows = await session.execute(
                base.order_by(
                    func.lower(func.coalesce(VendorRow.name, "")),
                    func.lower(FilamentRow.material),
                    func.lower(func.coalesce(FilamentRow.name, "")),
                    FilamentRow.id,
                )
                .limit(query.limit)
                .offset(query.offset)
            )
            return [_filament(*found) for found in rows], int(total or 0)

    async def update_filament(self, filament_id: int, filament: FilamentFields, *, at: datetime) -> Filament | None:
        """Store ``filament`` as the filament's new fields; the record, or None for an unknown id."""
        try:
            async with self._database.transaction() as session:
                row = await session.get(FilamentRow, filament_id, with_for_update=True)
                if row is None:
                    return None
                for name, value in _values(filament, _FILAMENT).items():
                    setattr(row, name, value)
                row.updated_at = at
        except IntegrityError:
            raise Conflict("the vendor was removed meanwhile") from None
        return await self.get_filament(filament_id)

    async def delete_filament(self, filament_id: int) -> bool:
        """Remove the filament; False for an unknown id. Raises Conflict when a spool still names it."""
        return await self._delete(FilamentRow, filament_id, "a spool still names this filament")

    async def filament_use(self, filament_id: int) -> int:
        """How many spools (archived or not) name the filament."""
        async with self._database.transaction() as session:
            count = await session.scalar(
                select(func.count()).select_from(SpoolRow).where(SpoolRow.filament_id == filament_id)
            )
            return int(count or 0)

    # Spools

    async def add_spool(self, spool: SpoolFields, *, at: datetime) -> Spool:
        """Record ``spool``; the stored record. Raises Conflict when its ``tray_uuid`` belongs to another spool or its
        filament was removed meanwhile."""
        try:
            async with self._database.transaction() as session:
                row = SpoolRow(created_at=at, updated_at=at, **_values(spool, _SPOOL))
                session.add(row)
                await session.flush()
                spool_id = row.id
        except IntegrityError:
            raise Conflict("another spool has this tray_uuid or spoolman_id, or the filament was removed") from None
        found = await self.get_spool(spool_id)
        assert found is not None
        return found

    async def get_spool(self, spool_id: int) -> Spool | None:
        """The spool with this id, its filament and vendor, or None."""
        async with self._database.transaction() as session:
            found = (await session.execute(_spool_select().where(SpoolRow.id == spool_id))).first()
            return None if found is None else _spool(*found)

    async def find_spool(self, tray_uuid: str) -> Spool | None:
        """The spool whose RFID id is ``tray_uuid`` (upper-case), or None."""
        async with self._database.transaction() as session:
            found = (await session.execute(_spool_select().where(SpoolRow.tray_uuid == tray_uuid))).first()
            return None if found is None else _spool(*found)

    async def find_spoolman_spool(self, spoolman_id: int) -> Spool | None:
        """The spool linked to Spoolman spool ``spoolman_id``, or None."""
        async with self._database.transaction() as session:
            found = (await session.execute(_spool_select().where(SpoolRow.spoolman_id == spoolman_id))).first()
            return None if found is None else _spool(*found)

    async def list_spools(self, query: SpoolQuery) -> tuple[list[Spool], int]:
        """A page of the spools matching ``query``, newest first, and how many match in all."""
        base = _spool_select().where(*_spool_conditions(query))
        async with self._database.transaction() as session:
            total = await session.scalar(select(func.count()).select_from(base.subquery()))
            rows = await session.execute(
                base.order_by(SpoolRow.created_at.desc(), SpoolRow.id.desc()).limit(query.limit).offset(query.offset)
            )
            return [_spool(*found) for found in rows], int(total or 0)

    async def modify_spool(self, spool_id: int, change: Callable[[Spool], Spool], *, at: datetime) -> Spool | None:
        """Apply ``change`` to the spool as stored, in one transaction holding its row, and store the result's
        fields and use times; the spool as stored after, or None for an unknown id. Errors ``change`` raises pass
        through (nothing is stored). Raises Conflict for a ``tray_uuid`` of another spool or a removed filament."""
        try:
            async with self._database.transaction() as session:
                found = (
                    await session.execute(_spool_select().where(SpoolRow.id == spool_id).with_for_update(of=SpoolRow))
                ).first()
                if found is None:
                    return None
                row = found[0]
                changed = change(_spool(*found))
                for name, value in _values(changed, _SPOOL).items():
                    setattr(row, name, value)
                row.first_used_at = changed.first_used_at
                row.last_used_at = changed.last_used_at
                row.updated_at = at
        except IntegrityError:
            raise Conflict("another spool has this tray_uuid or spoolman_id, or the filament was removed") from None
        return await self.get_spool(spool_id)

    async def delete_spool(self, spool_id: int) -> bool:
        """Remove the spool; False for an unknown id."""
        return await self._delete(SpoolRow, spool_id, "the spool is still in use")

    async def _delete(self, table: type[VendorRow | FilamentRow | SpoolRow], row_id: int, in_use: str) -> bool:
        try:
            async with self._database.transaction() as session:
                result = await session.execute(delete(table).where(table.id == row_id))
                return bool(getattr(result, "rowcount", 0))
        except IntegrityError:
            raise Conflict(in_use) from None
