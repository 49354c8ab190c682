"""What an adapter needs to send a print, and how sending fails: the contract between the dispatch service and the
printer adapters (``printfleet.printers.*``).

The service owns the order of the steps and stores the dispatch's state before each one (DESIGN.md invariant 8);
an adapter only performs one step when asked and says how it went. Protocol facts: research
dispatch-scheduling-orders.md section 1 (Bambu FTPS + MQTT ``project_file``; PrusaLink ``PUT`` with
``Print-After-Upload``; OctoPrint ``POST /api/files/local`` with ``select``/``print``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from printfleet.domain.files.model import FileKind
from printfleet.domain.printer import PrinterError


@dataclass(frozen=True, slots=True, kw_only=True)
class PrintOptions:
    """Start options. Bambu reads them all (MQTT ``project_file`` fields of the same names); PrusaLink and OctoPrint
    ignore them. ``use_ams`` None lets the adapter decide (Bambu: true when ``ams_mapping`` names a real AMS tray,
    0-253); ``ams_mapping`` one global tray id per filament slot of the file (``ams_id*4 + tray``, -1 unused);
    ``bed_type`` ``"auto"`` or a Bambu plate name; ``force`` sends a Bambu file sliced for another model."""

    use_ams: bool | None = None
    ams_mapping: tuple[int, ...] = ()
    bed_leveling: bool = True
    flow_cali: bool = False
    vibration_cali: bool = False
    timelapse: bool = False
    bed_type: str = "auto"
    force: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PrintRequest:
    """One attempt at sending one file to one printer.

    ``source`` is the library's copy on local disk; ``remote_name`` the bare file name to store it under on the
    printer (no directories; the adapter picks the storage: Bambu SD root, PrusaLink ``usb``/``local``,
    OctoPrint ``local``); ``kind`` its format; ``plate`` the 1-based plate (1 for G-code); ``job_name`` the name the
    printer shows (Bambu ``subtask_name``); ``attempt`` the 1-based attempt number (Bambu mints fresh task and
    subtask ids per attempt); ``size_bytes`` the file's size in bytes.
    """

    source: Path
    remote_name: str
    kind: FileKind
    plate: int
    job_name: str
    attempt: int
    size_bytes: int
    options: PrintOptions = field(default_factory=PrintOptions)


@dataclass(frozen=True, slots=True, kw_only=True)
class Uploaded:
    """An upload that completed: ``remote_path`` is where the file now is on the printer (as the printer will
    report it while printing, when it reports a path); ``started`` is True when the same request also started the
    print (PrusaLink ``Print-After-Upload``, OctoPrint ``print=true`` with ``effectivePrint: true``)."""

    remote_path: str
    started: bool = False


class UploadFailed(PrinterError):
    """The file did not arrive whole on the printer (network drop, FTP 5xx, HTTP error, timeout). Nothing was
    started; the dispatch may be retried."""


class PrinterBusy(PrinterError):
    """The printer refused to start because it is busy or not ready (PrusaLink 409, OctoPrint
    ``effectivePrint: false``). ``stored`` says the file was stored on the printer anyway."""

    def __init__(self, printer_id: str, message: str, *, stored: bool = False) -> None:
        super().__init__(printer_id, message)
        self.stored = stored


class StartRejected(PrinterError):
    """The printer answered the start with a refusal that waiting will not fix (unknown file, unsupported format,
    4xx other than busy)."""


class PrintSender(Protocol):
    """The send side of a printer connection (each adapter's client implements it).

    ``upload_starts_print`` is True for kinds whose upload request can start the print itself (PrusaLink,
    OctoPrint): the service then calls ``upload(request, start=True)`` and never ``start``. For Bambu it is False:
    ``upload(request, start=False)`` over FTPS, then ``start(request, remote_path)`` over MQTT.

    Errors: :class:`UploadFailed`, :class:`PrinterBusy`, :class:`StartRejected`, ``PrinterNotConnected``.
    Neither method waits for the print to show up; confirmation is the service's job (from the status reports).
    """

    upload_starts_print: bool

    async def upload(self, request: PrintRequest, *, start: bool) -> Uploaded:
        """Send ``request.source`` to the printer as ``request.remote_name``; with ``start``, also start it."""
        ...

    async def start(self, request: PrintRequest, remote_path: str) -> None:
        """Start printing ``remote_path`` (a file already on the printer), plate ``request.plate``."""
        ...
