"""What the owner of a printer tells the other processes of a farm about its status: a change of state is announced
as one (``status``: every process reads it at once), telemetry only as telemetry (``telemetry``: read while someone
watches). A printer just taken over, or whose state change could not be shared, announces its state, so no other
process is left showing a state its former owner shared last."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import pytest

from printfleet.domain.announcements import Hint, HintKind
from printfleet.domain.events import PrinterStatusUpdated
from printfleet.domain.printer import PrinterConfig, PrinterKind, PrinterState, PrinterStatus, Secret
from printfleet.services.errors import StoreUnavailable
from printfleet.services.events import EventBus
from printfleet.services.farm.status_sharing import StatusSharing

PRINTER = PrinterConfig(
    id="x1c-1", name="X1C 1", kind=PrinterKind.BAMBU, host="127.0.0.1", serial="00M00A000000001",
    access_code=Secret("12345678"), tls_insecure=True,
)  # fmt: skip
PRINTING = PrinterStatus(state=PrinterState.PRINTING, progress=10.0)


@dataclass
class Row:
    status: str


class Store:
    """``printer_live`` in memory; ``refuse`` makes the next share fail as a database that went away would."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.refuse = False

    async def share(self, owner: str, statuses: Mapping[str, tuple[int, str]]) -> set[str]:
        if self.refuse:
            self.refuse = False
            raise StoreUnavailable("OperationalError", "the server closed the connection")
        for printer_id, (_epoch, text) in statuses.items():
            self.rows[printer_id] = Row(text)
        return set(statuses)

    async def shared(self, printer_ids: Collection[str]) -> Mapping[str, Row]:
        return {printer_id: self.rows[printer_id] for printer_id in printer_ids if printer_id in self.rows}


class View:
    def known_ids(self) -> list[str]:
        return []

    def show_shared(self, printer_id: str, status: PrinterStatus) -> None:
        raise AssertionError("nothing is owned elsewhere here")


@dataclass
class World:
    store: Store = field(default_factory=Store)
    bus: EventBus = field(default_factory=EventBus)
    owned: dict[str, int] = field(default_factory=lambda: {PRINTER.id: 1})  # printer id -> lease epoch
    announced: list[Hint] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sharing = StatusSharing(
            store=self.store, bus=self.bus, view=View(), owner="a", owned=lambda: self.owned,
            announce=self.announced.append,
        )  # fmt: skip

    @property
    def kinds(self) -> list[HintKind]:
        return [hint.kind for hint in self.announced]


@pytest.fixture
def world() -> World:
    return World()


async def share(sharing: StatusSharing, progress: float, *, telemetry: bool) -> None:
    sharing._pending[PRINTER.id] = (PrinterStatus(state=PrinterState.PRINTING, progress=progress), telemetry)
    await sharing.flush()


async def test_state_changes_and_telemetry_are_announced_as_such(world: World) -> None:
    await share(world.sharing, 10.0, telemetry=False)
    await share(world.sharing, 11.0, telemetry=True)
    await share(world.sharing, 12.0, telemetry=True)
    assert world.kinds == [HintKind.STATUS, HintKind.TELEMETRY, HintKind.TELEMETRY]


async def test_a_printer_taken_over_announces_its_state_before_any_telemetry(world: World) -> None:
    await share(world.sharing, 10.0, telemetry=True)  # the first report after a take-over: "telemetry" to monitoring
    await share(world.sharing, 11.0, telemetry=True)
    world.owned[PRINTER.id] = 2  # let go and claimed again (a new epoch)
    await share(world.sharing, 12.0, telemetry=True)
    assert world.kinds == [HintKind.STATUS, HintKind.TELEMETRY, HintKind.STATUS]


async def test_a_state_change_the_store_refused_is_announced_with_the_next_share(world: World) -> None:
    await share(world.sharing, 10.0, telemetry=False)
    world.store.refuse = True
    with pytest.raises(StoreUnavailable):
        await share(world.sharing, 0.0, telemetry=False)  # paused, say: not shared
    await share(world.sharing, 11.0, telemetry=True)
    assert world.kinds == [HintKind.STATUS, HintKind.STATUS]


async def test_the_gathered_statuses_of_a_printer_are_a_state_change_if_any_was(world: World) -> None:
    async with world.sharing:
        world.bus.publish(PrinterStatusUpdated(printer=PRINTER, status=PRINTING))
        await _announced(world, 1)
        world.bus.publish(PrinterStatusUpdated(printer=PRINTER, status=PRINTING, telemetry=True))
        world.bus.publish(PrinterStatusUpdated(printer=PRINTER, status=PrinterStatus(state=PrinterState.PAUSED)))
        world.bus.publish(PrinterStatusUpdated(printer=PRINTER, status=PRINTING, telemetry=True))
        await _announced(world, 2)
    assert world.kinds == [HintKind.STATUS, HintKind.STATUS]


async def _announced(world: World, count: int) -> None:
    for _ in range(200):
        if len(world.announced) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} announcements expected, got {world.announced}")
