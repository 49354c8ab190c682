"""Bambu ingest with notifications on, side by side with notifications off (issue 14: "with every printer subscribed
by 3 channels, Bambu ingest stays ≥ 0.9 of its rate without notifications").

Setup: ``BambuFarm(100, shared_broker=True, report_interval_s=0.25)`` in this process — 100 simulated printers on a
long print, each sending a partial report four times a second (about 400 reports/s offered). printfleet runs as a
separate process (``printfleet serve``, logging at WARNING so the log does not weigh on either side) on the same farm,
on SQLite in a temporary directory and, when ``PRINTFLEET_TEST_POSTGRES_URL`` names a server, on a fresh PostgreSQL
database per run, each store in two ways:

- **off**: ``notifications.enabled: false``;
- **on**: notifications on, and the bench user has three signed webhook channels (to a loopback receiver answering
  200), each with a rule for every event on every printer: every print start, end and error is written to the
  outbox three times and sent three times, and every printer status passes through the printer-alert watch.

Each run waits for the 100 printers, settles 5 s, then measures 20 s; there are two runs a side, alternated (off,
on, off, on) so that a drift of the machine's load weighs on both alike, and their sums are compared. In each window
the same 5 printers start a print of 8 s, so both sides carry the same prints starting and finishing (on: 5 × 3
events (started, first layer done, finished) × 3 channels = 45 deliveries a run, counted at the receiver). The
figure is the server's CPU per ingested report (``utime + stime`` of ``/proc/<pid>/stat`` over
``printfleet_printer_reports_total``): the ingest capacity of one core is its inverse, and the ratio on / off is the
share of its rate ingest keeps with notifications on.

Run alone with ``python -m bench.notify_ingest``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from bench import Figure, ServerProcess, free_port, printer_entry
from bench.farm import cpu_seconds
from bench.store_jobs import POSTGRES_URL_VARIABLE, scratch_postgres
from printfleet.sim.bambu import BambuFarm

PRINTERS = 100
REPORT_INTERVAL_S = 0.25
SETTLE_S = 5.0
MEASURE_S = 20.0
SHORT_PRINTS = 5
"""Prints started and finished in each window: 15 events, 45 webhooks in 20 s, on 100 printers. A farm of 100 printers
on prints of an hour or more sees a start or an end a minute or so; this is some forty times that, so the sending is
in the figure without burying the ingest it is about (the sending at 100 events/s is ``bench notifications``)."""
SHORT_PRINT_S = 8.0
CHANNELS = 3
ROUNDS = 2
"""Each side is measured this many times, off and on alternated."""
TARGET_RATIO = 0.9
SECRET = "whsec_YmVuY2htYXJrLXNpZ25pbmcta2V5LTMyLWJ5dGVzISE="  # noqa: S105 - the benchmark's own signing key
EVENTS = [
    "print_started",
    "print_finished",
    "print_failed",
    "print_cancelled",
    "print_paused",
    "first_layer_done",
    "filament_runout",
    "hms_error",
    "material_changed",
    "printer_offline",
]


class Receiver:
    """A loopback HTTP server answering 200 and counting the webhooks it gets."""

    def __init__(self) -> None:
        self.port = free_port()
        self.count = 0
        self.events: dict[str, int] = {}
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.count += 1
        self.events[body["type"]] = self.events.get(body["type"], 0) + 1
        return web.Response(text="ok")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def _subscribe(server: ServerProcess, receiver: Receiver) -> None:
    """Three signed webhook channels of the bench user, each with a rule for every event on every printer."""
    async with httpx.AsyncClient(base_url=server.base_url, headers=server.headers, timeout=10) as client:
        for n in range(CHANNELS):
            body = {"kind": "webhook", "name": f"hook {n}", "url": f"http://127.0.0.1:{receiver.port}/{n}"}
            channel = await client.post("/api/v1/notifications/channels", json=body | {"secret": SECRET})
            channel.raise_for_status()
            rule = {"channel_id": channel.json()["id"], "events": EVENTS}
            (await client.post("/api/v1/notifications/rules", json=rule)).raise_for_status()


@dataclass
class Side:
    """What the runs of one side (notifications off or on) measured, summed."""

    cpu_s: float = 0.0
    wall_s: float = 0.0
    reports: float = 0.0
    delivered: float = 0.0

    def add(self, cpu_s: float, wall_s: float, reports: float, delivered: float) -> float:
        """Add one run; its reports ingested per second."""
        self.cpu_s, self.wall_s = self.cpu_s + cpu_s, self.wall_s + wall_s
        self.reports, self.delivered = self.reports + reports, self.delivered + delivered
        return reports / wall_s

    @property
    def per_core(self) -> float:
        """Reports one core ingests per second at this side's CPU cost."""
        return self.reports / self.cpu_s if self.cpu_s else 0.0


@dataclass
class StoreRuns:
    """Both sides on one store, and each run's side and ingest rate in the order they ran."""

    off: Side = field(default_factory=Side)
    on: Side = field(default_factory=Side)
    order: list[str] = field(default_factory=list)


async def _run(
    farm: BambuFarm, workdir: Path, *, side: Side, database_url: str | None, receiver: Receiver, round_no: int
) -> float:
    entries = [printer_entry(printer.printer_config()) for printer in farm.printers]
    notifications = round_no % 2 == 1
    settings: dict[str, Any] = {"notifications": {"enabled": notifications}}
    if database_url is not None:
        settings["database_url"] = database_url
    async with ServerProcess(workdir, entries, log_level="WARNING", settings=settings) as server:
        await server.wait_connected(PRINTERS, timeout_s=90)
        await asyncio.sleep(SETTLE_S)  # every printer's first report in: the long prints' jobs are made by now
        if notifications:
            await _subscribe(server, receiver)
            await asyncio.sleep(1.0)
        received_before = receiver.count
        reports_before = await server.metric("printfleet_printer_reports_total", 'kind="bambu"')
        cpu_before = cpu_seconds(server.pid)
        began = time.monotonic()
        await asyncio.gather(
            *(
                printer.start_print(f"short_{workdir.name}_{n}.gcode.3mf", duration_s=SHORT_PRINT_S, prepare_s=0.5)
                for n, printer in enumerate(farm.printers[:SHORT_PRINTS])
            )
        )
        await asyncio.sleep(MEASURE_S - (time.monotonic() - began))
        cpu = cpu_seconds(server.pid) - cpu_before
        wall = time.monotonic() - began
        reports = await server.metric("printfleet_printer_reports_total", 'kind="bambu"') - reports_before
        await asyncio.sleep(2.0)  # the last deliveries of the window's prints
        delivered = receiver.count - received_before
    return side.add(cpu, wall, reports, delivered)


async def _store_runs(farm: BambuFarm, workdir: Path, receiver: Receiver, postgres_server: str | None) -> StoreRuns:
    """Off and on, alternated (so a drift of the machine's load weighs on both alike), on SQLite (``postgres_server``
    None) or on a fresh PostgreSQL database per run beside ``postgres_server``'s."""
    runs = StoreRuns()
    for round_no in range(2 * ROUNDS):
        side, name = (runs.on, "on") if round_no % 2 else (runs.off, "off")
        run_dir = workdir / f"{'pg' if postgres_server else 'sqlite'}{round_no}"
        if postgres_server is None:
            rate = await _run(farm, run_dir, side=side, database_url=None, receiver=receiver, round_no=round_no)
        else:
            async with scratch_postgres(postgres_server) as url:
                rate = await _run(farm, run_dir, side=side, database_url=url, receiver=receiver, round_no=round_no)
        runs.order.append(f"{name} {rate:,.0f}")
    return runs


async def _measure(workdir: Path, postgres_server: str | None) -> tuple[dict[str, StoreRuns], dict[str, int]]:
    """The runs on each store, and the count of each event type the receiver got."""
    async with (
        BambuFarm(
            PRINTERS,
            workdir=workdir / "bambu",
            shared_broker=True,
            report_interval_s=REPORT_INTERVAL_S,
            id_prefix="notify",
        ) as farm,
        Receiver() as receiver,
    ):
        await asyncio.gather(
            *(
                printer.start_print(f"long_{n}.gcode.3mf", duration_s=4 * 3600, total_layers=800, prepare_s=1.0)
                for n, printer in enumerate(farm.printers[SHORT_PRINTS:], start=1)
            )
        )
        stores = {"sqlite": await _store_runs(farm, workdir, receiver, None)}
        if postgres_server is not None:
            stores["postgresql"] = await _store_runs(farm, workdir, receiver, postgres_server)
        return stores, dict(receiver.events)


def run() -> list[Figure]:
    """Measure and return the side-by-side figures, on SQLite and (with PRINTFLEET_TEST_POSTGRES_URL) PostgreSQL."""
    postgres_server = os.environ.get(POSTGRES_URL_VARIABLE) or None
    with tempfile.TemporaryDirectory(prefix="printfleet-bench-notify-") as tmp:
        for store in ("sqlite", "pg"):
            for round_no in range(2 * ROUNDS):
                (Path(tmp) / f"{store}{round_no}").mkdir()
        stores, events = asyncio.run(_measure(Path(tmp), postgres_server))
    figures: list[Figure] = []
    expected = ROUNDS * SHORT_PRINTS * 3 * CHANNELS  # started, first layer done, finished
    for store, runs in stores.items():
        off, on = runs.off, runs.on
        ratio = on.per_core / off.per_core
        figures += [
            Figure(
                f"ingest with notifications on ({store})",
                f"{ratio:.2f} of the rate without  ({on.per_core:,.0f} vs {off.per_core:,.0f} reports/s per core)",
                f">= {TARGET_RATIO}",
                ratio >= TARGET_RATIO,
            ),
            Figure(
                "  load",
                f"{PRINTERS} Bambu printers, {ROUNDS} × {MEASURE_S:.0f} s a side; off / on: "
                f"{off.reports / off.wall_s:,.0f} / {on.reports / on.wall_s:,.0f} reports/s ingested, server CPU "
                f"{100 * off.cpu_s / off.wall_s:.0f} % / {100 * on.cpu_s / on.wall_s:.0f} % of one core; runs in "
                f"order: {', '.join(runs.order)} reports/s",
            ),
            Figure(
                "  notifications sent",
                f"{on.delivered:.0f} webhooks for {ROUNDS * SHORT_PRINTS} prints (started, first layer done, "
                f"finished) on {CHANNELS} channels each; off: {off.delivered:.0f}",
                f">= {expected}",
                on.delivered >= expected and off.delivered == 0,
            ),
        ]
    if postgres_server is None:
        figures.append(
            Figure("ingest with notifications on (postgresql)", f"skipped: {POSTGRES_URL_VARIABLE} is not set")
        )
    figures.append(Figure("  events delivered", ", ".join(f"{name} {count}" for name, count in sorted(events.items()))))
    return figures


if __name__ == "__main__":
    for figure in run():
        print(figure)
