"""A simulated farm that keeps printing: Bambu Lab (MQTT over TLS), PrusaLink, OctoPrint and Klipper (Moonraker)
simulators together. About one print in twelve (:data:`FAILING_SHARE`) fails part way, as a printer error.

Used by ``printfleet demo`` (inside the server's process) and ``printfleet sim --config FILE`` (on their own,
printing the ``printers:`` entries to paste into a printfleet configuration).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog
import yaml

from printfleet.domain.printer import PrinterConfig, PrinterKind
from printfleet.sim.bambu import BambuFarm
from printfleet.sim.base import SimPrint, SimulatedPrinter
from printfleet.sim.moonraker import SimulatedMoonrakerPrinter
from printfleet.sim.octoprint import SimulatedOctoPrintPrinter
from printfleet.sim.prusalink import SimulatedPrusaLinkPrinter

log = structlog.get_logger("printfleet.sim")

DEMO_FILES = (
    "benchy.gcode.3mf",
    "gridfinity_bin_2x3.gcode.3mf",
    "cable_clip_x20.gcode.3mf",
    "lamp_shade.gcode.3mf",
    "phone_stand.gcode.3mf",
    "raspberry_pi_case.gcode.3mf",
)

FAILING_SHARE = 0.08
"""The share of the farm's prints that fail part way (a printer error), as real farms see now and then."""


class SimConfigError(Exception):
    """The simulator file cannot be used; the message names the file and the key."""


def _current_print(printer: SimulatedPrinter) -> SimPrint | None:
    current = getattr(printer, "current", None) or getattr(printer, "print", None)
    return current if isinstance(current, SimPrint) else None


class SimulatedFarm:
    """``bambu`` + ``prusalink`` + ``octoprint`` + ``moonraker`` (Klipper) simulated printers, plus ``spare`` more of
    each kind; with ``keep_printing`` each of the first ones starts a new print (``min_print_s``–``max_print_s``
    seconds long) after ``idle_s`` seconds idle, and now and then pauses one. The spare printers are left alone:
    they stay idle until someone sends them a print from printfleet (the Files page), which they print like the real
    ones would.
    A file sent to a simulated printer prints for its predicted time divided by ``speed_factor``.

    Async context manager. Raises ``printfleet.sim.mqtt_broker.BrokerError`` when the Bambu brokers cannot start.
    """

    def __init__(
        self,
        *,
        bambu: int = 2,
        prusalink: int = 1,
        octoprint: int = 1,
        moonraker: int = 1,
        keep_printing: bool = True,
        min_print_s: float = 90.0,
        max_print_s: float = 240.0,
        idle_s: float = 15.0,
        poll_interval: float = 2.0,
        speed_factor: float = 60.0,
        workdir: Path | None = None,
        seed: int | None = None,
        spare: int = 0,
    ) -> None:
        self._bambu = (
            BambuFarm(bambu + spare, workdir=workdir, id_prefix="x1c", speed_factor=speed_factor)
            if bambu + spare
            else None
        )
        self.prusalink = [
            SimulatedPrusaLinkPrinter(
                f"mk4-{n}", name=f"MK4 #{n}", poll_interval=poll_interval, speed_factor=speed_factor
            )
            for n in range(1, prusalink + spare + 1)
        ]
        self.octoprint = [
            SimulatedOctoPrintPrinter(
                f"ender-{n}", name=f"Ender 3 #{n} (OctoPrint)", poll_interval=poll_interval, speed_factor=speed_factor
            )
            for n in range(1, octoprint + spare + 1)
        ]
        self.moonraker = [
            SimulatedMoonrakerPrinter(f"voron-{n}", name=f"Voron 2.4 #{n} (Klipper)", speed_factor=speed_factor)
            for n in range(1, moonraker + spare + 1)
        ]
        bambu_ids = [f"x1c-{n}" for n in range(bambu + 1, bambu + spare + 1)]
        self.spare_ids = frozenset(
            [
                *bambu_ids,
                *(p.printer_id for p in self.prusalink[prusalink:]),
                *(p.printer_id for p in self.octoprint[octoprint:]),
                *(p.printer_id for p in self.moonraker[moonraker:]),
            ]
        )
        """The printers the scenario leaves idle."""
        self.keep_printing = keep_printing
        self.min_print_s = min_print_s
        self.max_print_s = max_print_s
        self.idle_s = idle_s
        self._rng = random.Random(seed)
        self._fails_at: dict[str, float] = {}  # printer id → the progress (%) its current print fails at
        self._task: asyncio.Task[None] | None = None
        self._stack = contextlib.AsyncExitStack()

    @property
    def printers(self) -> list[SimulatedPrinter]:
        """Every simulated printer."""
        bambu: list[SimulatedPrinter] = list(self._bambu.printers) if self._bambu else []
        return [*bambu, *self.prusalink, *self.octoprint, *self.moonraker]

    def printer_configs(self) -> list[PrinterConfig]:
        """How printfleet reaches each simulated printer."""
        return [printer.printer_config() for printer in self.printers]

    async def __aenter__(self) -> SimulatedFarm:
        try:
            if self._bambu is not None:
                await self._stack.enter_async_context(self._bambu)
            for prusalink in self.prusalink:
                await self._stack.enter_async_context(prusalink)
            for octoprint in self.octoprint:
                await self._stack.enter_async_context(octoprint)
            for moonraker in self.moonraker:
                await self._stack.enter_async_context(moonraker)
        except BaseException:
            await self._stack.aclose()
            raise
        if self.keep_printing:
            self._task = asyncio.create_task(self._keep_printing(), name="sim-farm-keep-printing")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._stack.aclose()

    async def _keep_printing(self) -> None:
        idle_since: dict[str, float] = {}
        loop = asyncio.get_running_loop()
        for index, printer in enumerate(self.printers):  # stagger the first prints over the first minute
            idle_since[printer.printer_id] = loop.time() - self.idle_s + 3 + 12 * index
        while True:
            await asyncio.sleep(1.0)
            now = loop.time()
            for printer in self.printers:
                if printer.printer_id in self.spare_ids:
                    continue
                try:
                    await self._step(printer, now, idle_since)
                except Exception:  # a scenario step must never stop the farm
                    log.exception("sim.farm_step_failed", printer_id=printer.printer_id)

    async def _step(self, printer: SimulatedPrinter, now: float, idle_since: dict[str, float]) -> None:
        current = _current_print(printer)
        if current is not None:
            current.tick()
        if current is not None and current.active:
            idle_since.pop(printer.printer_id, None)
            fails_at = self._fails_at.get(printer.printer_id)
            if current.paused_at is None and fails_at is not None and current.progress() >= fails_at:
                del self._fails_at[printer.printer_id]
                log.info("sim.print_failed", printer_id=printer.printer_id, progress=round(fails_at))
                await printer.fail()
            elif current.paused_at is not None and now - current.paused_at > 20:
                await printer.resume()
            elif current.paused_at is None and self._rng.random() < 0.002:
                await printer.pause()
            return
        since = idle_since.setdefault(printer.printer_id, now)
        if now - since < self.idle_s:
            return
        idle_since.pop(printer.printer_id, None)
        file_name = self._rng.choice(DEMO_FILES)
        if isinstance(printer, SimulatedOctoPrintPrinter | SimulatedMoonrakerPrinter):
            file_name = file_name.removesuffix(".gcode.3mf") + ".gcode"
        elif isinstance(printer, SimulatedPrusaLinkPrinter):
            file_name = file_name.removesuffix(".gcode.3mf") + ".bgcode"
        duration = self._rng.uniform(self.min_print_s, self.max_print_s)
        if self._rng.random() < FAILING_SHARE:
            self._fails_at[printer.printer_id] = self._rng.uniform(5.0, 80.0)  # % of the print
        else:
            self._fails_at.pop(printer.printer_id, None)
        log.info("sim.print_started", printer_id=printer.printer_id, file=file_name, duration_s=round(duration))
        await printer.start_print(file_name, duration_s=duration, total_layers=self._rng.randint(40, 300))


def _read_sim_config(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise SimConfigError(f"simulator file {path}: does not exist") from None
    except OSError as exc:
        raise SimConfigError(f"simulator file {path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise SimConfigError(
            f"simulator file {path}: not UTF-8 text (byte {exc.start}: 0x{exc.object[exc.start]:02x})"
        ) from None
    except yaml.YAMLError as exc:
        raise SimConfigError(f"simulator file {path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SimConfigError(f"simulator file {path}: the top level must be a mapping")
    allowed = {
        "bambu",
        "prusalink",
        "octoprint",
        "moonraker",
        "keep_printing",
        "min_print_s",
        "max_print_s",
        "idle_s",
        "speed_factor",
    }
    for key, value in data.items():
        if key not in allowed:
            raise SimConfigError(f"simulator file {path}: {key}: unknown key (allowed: {', '.join(sorted(allowed))})")
        if key in ("bambu", "prusalink", "octoprint", "moonraker") and (
            not isinstance(value, int) or not 0 <= value <= 500
        ):
            raise SimConfigError(f"simulator file {path}: {key}: must be a whole number from 0 to 500")
        if key.endswith("_s") and (not isinstance(value, int | float) or value < 0):
            raise SimConfigError(f"simulator file {path}: {key}: must be a number of seconds, 0 or more")
        if key == "speed_factor" and (isinstance(value, bool) or not isinstance(value, int | float) or value <= 0):
            raise SimConfigError(f"simulator file {path}: {key}: must be a number above 0")
    return data


def printer_entries(configs: list[PrinterConfig]) -> list[dict[str, Any]]:
    """``printers:`` entries for a printfleet configuration file (secrets included: this is the operator's own
    simulator, and the entries are meant to be pasted into a config file)."""
    entries: list[dict[str, Any]] = []
    for config in configs:
        entry: dict[str, Any] = {"id": config.id, "name": config.name, "type": config.kind.value}
        if config.kind is PrinterKind.BAMBU:
            entry |= {
                "host": config.host,
                "port": config.port,
                "serial": config.serial,
                "access_code": config.access_code.reveal() if config.access_code else None,
                "ca_file": config.ca_file,
                "ftp_port": config.ftp_port,
            }
        elif config.kind is PrinterKind.PRUSALINK:
            entry |= {"host": config.host, "port": config.port, "username": config.username}
            entry["password"] = config.password.reveal() if config.password else None
            if config.api_key:
                entry["api_key"] = config.api_key.reveal()
        else:
            entry |= {"url": config.url, "api_key": config.api_key.reveal() if config.api_key else None}
        entries.append({k: v for k, v in entry.items() if v is not None})
    return entries


def load_sim_options(config_file: Path) -> dict[str, Any]:
    """Read and check a simulator file (keys: bambu, prusalink, octoprint, moonraker counts; keep_printing; min_print_s,
    max_print_s, idle_s in seconds; speed_factor). Raises :class:`SimConfigError` naming the file and the key."""
    return _read_sim_config(config_file)


async def run_simulators(options: dict[str, Any], *, workdir: Path, stop: asyncio.Event | None = None) -> None:
    """Run the simulators ``options`` describe, after printing their printfleet config entries, until ``stop`` is
    set or the task is cancelled; either way every simulator and its broker is stopped before returning."""
    async with SimulatedFarm(workdir=workdir, **options) as farm:
        print("# printers: entries for your printfleet configuration file")
        print(yaml.safe_dump({"printers": printer_entries(farm.printer_configs())}, sort_keys=False), flush=True)
        await (stop or asyncio.Event()).wait()
