"""Live slots stored and announced once per real change, on a real database (SQLite and PostgreSQL): the samples'
pushall and partial reports through the slot service, a restart (a fresh service on the same store), assignments,
and ``spool_low`` once per crossing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from printfleet.domain.events import MaterialSlotChanged
from printfleet.domain.materials import FilamentFields, SpoolQuery
from printfleet.domain.materials.ams import merge_material_report
from printfleet.domain.materials.slots import MaterialSlots, bambu_slots, tool_slots
from printfleet.services.events import EventBus
from printfleet.services.materials import MaterialsService
from printfleet.services.materials.slots import SlotService
from printfleet.store.database import Database
from printfleet.store.materials.repository import SqlMaterialRepository
from printfleet.store.materials.slots import SqlSlotRepository

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "bambu_ams"


def _report(name: str) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((SAMPLES / name).read_text())["payload"]["print"]
    return report


class _Farm:
    def __init__(self, database: Database, *, low_stock_grams: float = 100.0, auto: bool = True) -> None:
        self.bus = EventBus()
        self.heard = self.bus.subscribe()
        self.materials = MaterialsService(repository=SqlMaterialRepository(database))
        self.service = SlotService(
            repository=SqlSlotRepository(database),
            materials=self.materials,
            bus=self.bus,
            low_stock_grams=low_stock_grams,
            auto_create_rfid_spools=auto,
        )

    def events(self) -> list[tuple[str, str | None]]:
        found: list[tuple[str, str | None]] = []
        while not self.heard._queue.empty():
            event = self.heard._queue.get_nowait()
            if isinstance(event, MaterialSlotChanged):
                found.append((event.event, event.slot))
        return found


def _slots(state: dict[str, Any]) -> MaterialSlots:
    return bambu_slots(state)


async def test_a_pushall_is_stored_with_its_rfid_spools_and_repeats_announce_nothing(database: Database) -> None:
    farm = _Farm(database)
    state = merge_material_report(None, _report("ams_full_pushall_x1c.json"))
    records = await farm.service.sync("x1c", _slots(state))

    by_slot = {record.slot: record for record in records}
    assert set(by_slot) == {"AMS0-T0", "AMS0-T1", "AMS0-T2", "AMS0-T3", "EXT254"}
    assert by_slot["AMS0-T0"].spool_id is not None  # an RFID spool, made from its tag
    assert by_slot["AMS0-T1"].spool_id is None  # untagged: a person says which spool it is
    assert (by_slot["AMS0-T0"].material_type, by_slot["AMS0-T0"].remaining_pct) == ("PLA", 82)
    assert not by_slot["AMS0-T3"].present
    _, total = await farm.materials.list_spools(SpoolQuery(limit=50))
    assert total == 2  # the two tagged spools
    # the first reading is a baseline; the nearly empty spool (slot 2) is below 100 g: one spool_low
    assert farm.events() == [("spool_low", "AMS0-T2")]

    await farm.service.sync("x1c", _slots(merge_material_report(state, _report("ams_full_pushall_x1c.json"))))
    assert farm.events() == []

    restarted = _Farm(database)  # a restart: the same store, a fresh service
    await restarted.service.sync("x1c", _slots(state))
    assert restarted.events() == []
    assert (await restarted.materials.list_spools(SpoolQuery(limit=50)))[1] == 2


async def test_partial_reports_announce_each_change_once(database: Database) -> None:
    farm = _Farm(database, low_stock_grams=0)
    state = merge_material_report(None, _report("ams_full_pushall_x1c.json"))
    await farm.service.sync("p1s", _slots(state))
    sample = json.loads((SAMPLES / "ams_partial_updates_p1s.json").read_text())
    heard: list[str] = []
    for message in sample["messages"]:
        state = merge_material_report(state, message["payload"]["print"])
        await farm.service.sync("p1s", _slots(state))
        await farm.service.sync("p1s", _slots(state))  # the same reading again changes nothing
        heard.extend(kind for kind, _ in farm.events())
    assert heard == [event["event"] for event in sample["expected_slot_events"]]


async def test_removal_and_low_stock_fire_once_per_crossing(database: Database) -> None:
    farm = _Farm(database, low_stock_grams=500)
    report = _report("ams_full_pushall_x1c.json")
    state = merge_material_report(None, report)
    await farm.service.sync("x1c", _slots(state))
    assert ("spool_low", "AMS0-T2") in farm.events()

    lower = merge_material_report(state, {"ams": {"ams": [{"id": "0", "tray": [{"id": "2", "remain": 4}]}]}})
    await farm.service.sync("x1c", _slots(lower))
    assert farm.events() == [("remain_changed", "AMS0-T2")]  # already announced low: not again

    removed = merge_material_report(lower, {"ams": {"tray_exist_bits": "3"}})
    await farm.service.sync("x1c", _slots(removed))
    await farm.service.sync("x1c", _slots(removed))
    assert farm.events() == [("spool_removed", "AMS0-T2")]

    back = merge_material_report(removed, report)  # put back: the printer reads its tag again
    records = await farm.service.sync("x1c", _slots(back))
    events = farm.events()
    assert ("spool_inserted", "AMS0-T2") in events
    assert ("spool_low", "AMS0-T2") in events  # a spool put in again is a new crossing
    assert {r.slot: r.spool_id for r in records}["AMS0-T2"] is not None


async def test_a_person_assigns_a_spool_to_a_tool_and_its_grams_count(database: Database) -> None:
    farm = _Farm(database)
    await farm.service.sync("mk4", tool_slots(1))
    petg = FilamentFields(material="PETG", density_g_cm3=1.27, color_hex="112233")
    filament = await farm.materials.add_filament(petg)
    spool = await farm.materials.add_spool(filament.id, {"initial_weight_g": 1000, "used_weight_g": 950})
    loaded = await farm.service.assign("mk4", "t0", spool_id=spool.id)

    assert (loaded.record.slot, loaded.record.present, loaded.record.material_type) == ("T0", True, "PETG")
    assert loaded.record.color == "112233FF"
    assert loaded.grams_left == 50
    assert farm.events() == [("spool_inserted", "T0")]
    [again] = await farm.service.printer_slots("mk4")
    assert again.spool is not None
    assert again.spool.id == spool.id
    await farm.service.sync("mk4", tool_slots(1))  # the printer reconnects: a person's assignment stays
    [kept] = await farm.service.printer_slots("mk4")
    assert kept.record.spool_id == spool.id


async def test_without_auto_create_an_unknown_rfid_spool_waits_for_a_person(database: Database) -> None:
    farm = _Farm(database, auto=False)
    records = await farm.service.sync("x1c", _slots(merge_material_report(None, _report("ams_full_pushall_x1c.json"))))
    assert all(record.spool_id is None for record in records)
    assert (await farm.materials.list_spools(SpoolQuery(limit=50)))[1] == 0
    assert {record.slot: record.tray_uuid is not None for record in records}["AMS0-T0"]  # the tag is kept
