"""The printer and settings repositories, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from printfleet.domain.printer import (
    OfflineReason,
    PrinterConfig,
    PrinterKind,
    PrinterState,
    PrinterStatus,
    Secret,
)
from printfleet.services.errors import PrinterAlreadyExists, PrinterNotFound
from printfleet.services.ports import PrinterRepository
from printfleet.store.database import Database
from printfleet.store.printers import SqlPrinterRepository, SqlSettingsRepository
from printfleet.store.tables import PrinterRow, PrinterStateTransitionRow

T0 = datetime(2026, 11, 21, 9, 0, 0, 250000, tzinfo=UTC)

BAMBU = PrinterConfig(
    id="x1c-01",
    name="X1C one",
    kind=PrinterKind.BAMBU,
    host="192.0.2.10",
    serial="00M09A350100001",
    access_code=Secret("12345678"),
    ca_file="certs/bambu.pem",
)
PRUSA = PrinterConfig(
    id="mk4-01",
    name="MK4 one",
    kind=PrinterKind.PRUSALINK,
    host="192.0.2.20",
    port=8080,
    username="maker",
    password=Secret("digest-pass"),
    poll_interval=2.5,
    auto_create_jobs=False,
)
OCTO = PrinterConfig(
    id="ender-01",
    name="Ender",
    kind=PrinterKind.OCTOPRINT,
    url="http://192.0.2.30/",
    api_key=Secret("octo-key"),
    tls_insecure=True,
    auto_create_jobs=True,
)


@pytest.fixture
def printers(database: Database) -> SqlPrinterRepository:
    """The printer repository on the test database."""
    return SqlPrinterRepository(database)


async def _source(database: Database, printer_id: str) -> str:
    async with database.transaction() as session:
        return str(await session.scalar(select(PrinterRow.source).where(PrinterRow.id == printer_id)))


async def _transition_count(database: Database) -> int:
    async with database.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(PrinterStateTransitionRow)) or 0)


def test_sql_printer_repository_implements_the_port(printers: SqlPrinterRepository) -> None:
    port: PrinterRepository = printers
    assert port is printers


async def test_added_printers_round_trip_with_secrets_wrapped(printers: SqlPrinterRepository) -> None:
    for config in (BAMBU, PRUSA, OCTO):
        await printers.add_printer(config)

    assert await printers.list_printers() == [OCTO, PRUSA, BAMBU]  # ordered by id
    fetched = await printers.get_printer("x1c-01")
    assert fetched == BAMBU
    assert fetched is not None
    assert isinstance(fetched.access_code, Secret)
    assert fetched.access_code.reveal() == "12345678"
    prusa = await printers.get_printer("mk4-01")
    assert prusa is not None
    assert isinstance(prusa.password, Secret)
    assert prusa.api_key is None


async def test_added_printer_is_marked_as_coming_from_the_api(
    printers: SqlPrinterRepository, database: Database
) -> None:
    await printers.add_printer(BAMBU)

    assert await _source(database, BAMBU.id) == "api"


async def test_adding_a_duplicate_id_raises_already_exists(printers: SqlPrinterRepository) -> None:
    await printers.add_printer(BAMBU)

    with pytest.raises(PrinterAlreadyExists) as raised:
        await printers.add_printer(BAMBU.replace(name="another"))
    assert raised.value.printer_id == BAMBU.id
    assert await printers.get_printer(BAMBU.id) == BAMBU


async def test_missing_printer_is_none_or_not_found(printers: SqlPrinterRepository) -> None:
    assert await printers.get_printer("nope") is None
    with pytest.raises(PrinterNotFound):
        await printers.update_printer(BAMBU.replace(id="nope"))
    with pytest.raises(PrinterNotFound):
        await printers.delete_printer("nope")
    with pytest.raises(PrinterNotFound):
        await printers.record_transition(
            printer_id="nope", from_state=None, status=PrinterStatus(state=PrinterState.IDLE), at=T0
        )


async def test_update_replaces_configuration_and_keeps_source(
    printers: SqlPrinterRepository, database: Database
) -> None:
    await printers.add_printer(PRUSA)
    changed = PRUSA.replace(
        name="MK4 renamed",
        password=None,
        api_key=Secret("new-key"),
        port=None,
        auto_create_jobs=None,
        poll_interval=None,  # back to following the global monitoring_interval: NULL
    )

    await printers.update_printer(changed)

    assert await printers.get_printer(PRUSA.id) == changed
    assert await _source(database, PRUSA.id) == "api"


async def test_delete_removes_the_printer_and_cascades_its_transitions(
    printers: SqlPrinterRepository, database: Database
) -> None:
    await printers.add_printer(BAMBU)
    await printers.add_printer(PRUSA)
    for printer_id in (BAMBU.id, PRUSA.id):
        await printers.record_transition(
            printer_id=printer_id, from_state=None, status=PrinterStatus(state=PrinterState.IDLE), at=T0
        )

    await printers.delete_printer(BAMBU.id)

    assert await printers.list_printers() == [PRUSA]
    assert await printers.list_transitions(BAMBU.id) == []
    assert await _transition_count(database) == 1


async def test_upsert_inserts_new_and_overwrites_existing_as_configuration_printers(
    printers: SqlPrinterRepository, database: Database
) -> None:
    await printers.add_printer(BAMBU)
    renamed = BAMBU.replace(name="from the file", access_code=Secret("87654321"))

    await printers.upsert_printers([renamed, OCTO])
    await printers.upsert_printers([renamed, OCTO])  # seeding again at the next start changes nothing

    assert await printers.list_printers() == [OCTO, renamed]
    assert await _source(database, BAMBU.id) == "config"
    assert await _source(database, OCTO.id) == "config"


async def test_transitions_come_back_newest_first_with_aware_utc_times(
    printers: SqlPrinterRepository,
) -> None:
    await printers.add_printer(BAMBU)
    plus_two = timezone(timedelta(hours=2))
    at_printing = (T0 + timedelta(minutes=1)).astimezone(plus_two)  # any zone in, UTC out
    await printers.record_transition(
        printer_id=BAMBU.id,
        from_state=PrinterState.IDLE,
        status=PrinterStatus(state=PrinterState.PRINTING, file_name="benchy.3mf"),
        at=at_printing,
    )
    await printers.record_transition(
        printer_id=BAMBU.id,
        from_state=None,
        status=PrinterStatus(state=PrinterState.IDLE),
        at=T0,
    )
    await printers.record_transition(
        printer_id=BAMBU.id,
        from_state=PrinterState.PRINTING,
        status=PrinterStatus.offline(OfflineReason.TIMEOUT, detail="silent for 60 s"),
        at=T0 + timedelta(minutes=2),
    )

    transitions = await printers.list_transitions(BAMBU.id)

    assert [t.to_state for t in transitions] == [PrinterState.OFFLINE, PrinterState.PRINTING, PrinterState.IDLE]
    assert [t.at for t in transitions] == [T0 + timedelta(minutes=2), at_printing, T0]
    assert all(t.at.tzinfo is UTC for t in transitions)
    offline, printing, idle = transitions
    assert offline.from_state is PrinterState.PRINTING
    assert offline.offline_reason == "timeout"
    assert offline.detail == "silent for 60 s"
    assert printing.file_name == "benchy.3mf"
    assert idle.from_state is None
    assert all(t.printer_id == BAMBU.id for t in transitions)
    assert [t.to_state for t in await printers.list_transitions(BAMBU.id, limit=1)] == [PrinterState.OFFLINE]


async def test_transitions_at_the_same_instant_are_ordered_by_insertion(printers: SqlPrinterRepository) -> None:
    await printers.add_printer(BAMBU)
    for state in (PrinterState.PREPARING, PrinterState.PRINTING):
        await printers.record_transition(printer_id=BAMBU.id, from_state=None, status=PrinterStatus(state=state), at=T0)

    assert [t.to_state for t in await printers.list_transitions(BAMBU.id)] == [
        PrinterState.PRINTING,
        PrinterState.PREPARING,
    ]
    assert await printers.last_transition_states() == {BAMBU.id: PrinterState.PRINTING}


async def test_last_transition_states_gives_each_printers_newest_state(printers: SqlPrinterRepository) -> None:
    for config in (BAMBU, PRUSA, OCTO):
        await printers.add_printer(config)
    writes = [
        (BAMBU.id, PrinterState.PRINTING, T0 + timedelta(minutes=5)),
        (BAMBU.id, PrinterState.IDLE, T0),  # recorded later, but older
        (PRUSA.id, PrinterState.IDLE, T0),
        (PRUSA.id, PrinterState.PAUSED, T0 + timedelta(seconds=1)),
    ]
    for printer_id, state, at in writes:
        await printers.record_transition(
            printer_id=printer_id, from_state=None, status=PrinterStatus(state=state), at=at
        )

    assert await printers.last_transition_states() == {
        BAMBU.id: PrinterState.PRINTING,
        PRUSA.id: PrinterState.PAUSED,
    }


async def test_concurrent_writes_neither_fail_nor_get_lost(printers: SqlPrinterRepository) -> None:
    await printers.add_printer(BAMBU)

    async def rename(index: int) -> None:
        await printers.update_printer(BAMBU.replace(name=f"name {index}"))

    async def record(index: int) -> None:
        await printers.record_transition(
            printer_id=BAMBU.id,
            from_state=None,
            status=PrinterStatus(state=PrinterState.PRINTING),
            at=T0 + timedelta(seconds=index),
        )

    await asyncio.gather(*(work(index) for index in range(20) for work in (rename, record)))

    assert len(await printers.list_transitions(BAMBU.id)) == 20


async def test_settings_round_trip_as_json(database: Database) -> None:
    settings = SqlSettingsRepository(database)
    assert await settings.get_all() == {}

    await settings.set("job_creation_auto_create", True)
    await settings.set("queue", {"claim_minutes": 10, "kinds": ["bambu"], "ratio": 0.5, "note": None})
    await settings.set("job_creation_auto_create", False)

    assert await settings.get_all() == {
        "job_creation_auto_create": False,
        "queue": {"claim_minutes": 10, "kinds": ["bambu"], "ratio": 0.5, "note": None},
    }


async def test_settings_refuse_values_that_are_not_json(database: Database) -> None:
    settings = SqlSettingsRepository(database)

    with pytest.raises(TypeError):
        await settings.set("when", T0)
    assert await settings.get_all() == {}
