"""An RFID spool seen in an AMS slot becomes inventory once, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from printfleet.domain.materials import FilamentQuery, SpoolQuery, VendorQuery
from printfleet.domain.materials.ams import merge_material_report
from printfleet.domain.materials.slots import MaterialSlots, bambu_slots
from printfleet.services.materials import MaterialsService
from printfleet.store.database import Database
from printfleet.store.materials.repository import SqlMaterialRepository

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "bambu_ams"


def _slots(name: str) -> MaterialSlots:
    report = json.loads((SAMPLES / name).read_text())["payload"]["print"]
    return bambu_slots(merge_material_report(None, report))


async def test_rfid_spools_are_created_from_their_tags_once_and_matched_after(database: Database) -> None:
    service = MaterialsService(repository=SqlMaterialRepository(database))
    slots = _slots("ams_h2d_dual_nozzle.json").slots

    made = [await service.spool_for_rfid(slot) for slot in slots]
    tagged = [spool for spool in made if spool is not None]
    # AMS 0 (4 tagged), AMS 1 (trays 0 and 3 tagged), the AMS HT; untagged and empty slots get nothing
    assert len(tagged) == 7
    first = tagged[0]
    assert (first.tray_uuid, first.initial_weight_g, first.remaining_weight_g) == (
        "AB0D00112233445566778899AABBCCDD",
        1000,
        640,  # remain 64 % of the 1000 g label
    )
    assert (first.filament.material, first.filament.name, first.filament.color_hex) == ("PLA", "PLA Basic", "FFFFFFFF")
    assert first.filament.density_g_cm3 == 1.24
    assert (first.filament.nozzle_temp_min_c, first.filament.nozzle_temp_max_c) == (190, 230)
    assert first.filament.vendor is not None
    assert first.filament.vendor.name == "Bambu Lab"

    # one vendor; a filament per product line and colour
    assert (await service.list_vendors(VendorQuery()))[1] == 1
    assert (await service.list_filaments(FilamentQuery()))[1] == 7

    # seen again (a pushall, a restart): the same spools, nothing new
    again = [await service.spool_for_rfid(slot) for slot in slots]
    assert [spool.id for spool in again if spool is not None] == [spool.id for spool in tagged]
    assert (await service.list_spools(SpoolQuery(limit=100)))[1] == 7

    # another spool of a known filament (PLA Basic black, as in AMS 0 tray 1) reuses it; a new product line does not
    x1c = _slots("ams_full_pushall_x1c.json").slots
    black = await service.spool_for_rfid(x1c[0])
    assert black is not None
    assert black.id not in {spool.id for spool in tagged}
    assert black.filament.id == tagged[1].filament.id
    matte = await service.spool_for_rfid(x1c[2])
    assert matte is not None
    assert (matte.filament.name, matte.remaining_weight_g) == ("PLA Matte", 60)
    assert (await service.list_filaments(FilamentQuery()))[1] == 8
    assert await service.spool_for_rfid(x1c[1]) is None  # untagged: a person assigns it


async def test_without_auto_create_only_known_spools_are_matched(database: Database) -> None:
    service = MaterialsService(repository=SqlMaterialRepository(database))
    slot = _slots("ams_full_pushall_x1c.json").slots[0]
    assert await service.spool_for_rfid(slot, create=False) is None
    created = await service.spool_for_rfid(slot)
    assert created is not None
    matched = await service.spool_for_rfid(slot, create=False)
    assert matched is not None
    assert matched.id == created.id
    assert (await service.list_spools(SpoolQuery()))[1] == 1


async def test_tags_read_at_the_same_moment_make_their_vendor_and_filaments_once(database: Database) -> None:
    # Two printers' slot syncs and Spoolman's feed run side by side and may each meet a new vendor at once.
    service = MaterialsService(repository=SqlMaterialRepository(database))
    h2d = [slot for slot in _slots("ams_h2d_dual_nozzle.json").slots if slot.tray_uuid is not None]
    x1c = [slot for slot in _slots("ams_full_pushall_x1c.json").slots if slot.tray_uuid is not None]

    made = await asyncio.gather(*(service.spool_for_rfid(slot) for slot in [*h2d, *x1c]))

    assert all(spool is not None for spool in made)
    assert (await service.list_vendors(VendorQuery()))[1] == 1
    filaments, _ = await service.list_filaments(FilamentQuery(limit=100))
    kinds = [(f.material, f.name, f.color_hex) for f in filaments]
    assert len(kinds) == len(set(kinds))  # no filament twice
