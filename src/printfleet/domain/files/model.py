"""What printfleet knows about a print file: its kind and the metadata the slicer wrote into it.

Pure data: the readers in this package fill it from a binary file object; the service stores it as JSON
(:meth:`FileMetadata.to_json` / :meth:`FileMetadata.from_json`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class FileKind(StrEnum):
    """The print-file formats printfleet accepts.

    ``gcode_3mf``: a Bambu Studio / OrcaSlicer sliced 3MF (ZIP with ``Metadata/plate_N.gcode``); ``gcode``: text
    G-code (PrusaSlicer, SuperSlicer, OrcaSlicer, Cura, others); ``bgcode``: Prusa binary G-code.
    """

    GCODE_3MF = "gcode_3mf"
    GCODE = "gcode"
    BGCODE = "bgcode"


class NotPrintable(Exception):
    """The file is not something a printer can run: an unsliced project or model (``.3mf`` without plate G-code,
    ``.stl``, ...) or an unknown format. ``message`` says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True, kw_only=True)
class FilamentUse:
    """One filament a plate uses: ``slot`` is the 1-based filament number in the project (Bambu: the index into
    ``ams_mapping``; G-code: the tool number + 1); ``color`` as ``#RRGGBB``; ``used_g`` grams, ``used_m``
    metres. Unknown values are None."""

    slot: int
    type: str | None = None
    color: str | None = None
    used_g: float | None = None
    used_m: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlateInfo:
    """One sliced plate (a G-code file has one, index 1): predicted ``print_time_s`` (seconds), total
    ``filament_weight_g`` (grams), ``layer_count``, the filaments used, whether it carries a thumbnail, and the
    temperatures it was sliced for (°C, of its first filament: ``nozzle_temp`` after the first layer, ``bed_temp``
    for its bed type)."""

    index: int
    print_time_s: float | None = None
    filament_weight_g: float | None = None
    layer_count: int | None = None
    filaments: tuple[FilamentUse, ...] = ()
    has_thumbnail: bool = False
    nozzle_temp: float | None = None
    bed_temp: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FileMetadata:
    """What the slicer says about a print file. Every field may be None (not written, or unreadable);
    ``warnings`` says why a reader gave up on part of the file. ``nozzle_diameter`` in millimetres."""

    slicer: str | None = None
    printer_model: str | None = None
    nozzle_diameter: float | None = None
    bed_type: str | None = None
    plates: tuple[PlateInfo, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def print_time_s(self) -> float | None:
        """The plates' predicted time added up (seconds); None when no plate gives one."""
        times = [plate.print_time_s for plate in self.plates if plate.print_time_s is not None]
        return sum(times) if times else None

    @property
    def filament_weight_g(self) -> float | None:
        """The plates' filament weight added up (grams); None when no plate gives one."""
        weights = [plate.filament_weight_g for plate in self.plates if plate.filament_weight_g is not None]
        return round(sum(weights), 3) if weights else None

    @property
    def materials(self) -> tuple[str, ...]:
        """The filament types used on any plate, upper case, sorted, each once (``("PETG", "PLA")``)."""
        return tuple(sorted({f.type.upper() for plate in self.plates for f in plate.filaments if f.type is not None}))

    def with_warning(self, warning: str) -> FileMetadata:
        """A copy with ``warning`` added."""
        return FileMetadata(
            slicer=self.slicer,
            printer_model=self.printer_model,
            nozzle_diameter=self.nozzle_diameter,
            bed_type=self.bed_type,
            plates=self.plates,
            warnings=(*self.warnings, warning),
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the stored form)."""
        return {
            "slicer": self.slicer,
            "printer_model": self.printer_model,
            "nozzle_diameter": self.nozzle_diameter,
            "bed_type": self.bed_type,
            "plates": [
                {
                    "index": plate.index,
                    "print_time_s": plate.print_time_s,
                    "filament_weight_g": plate.filament_weight_g,
                    "layer_count": plate.layer_count,
                    "has_thumbnail": plate.has_thumbnail,
                    "nozzle_temp": plate.nozzle_temp,
                    "bed_temp": plate.bed_temp,
                    "filaments": [
                        {"slot": f.slot, "type": f.type, "color": f.color, "used_g": f.used_g, "used_m": f.used_m}
                        for f in plate.filaments
                    ],
                }
                for plate in self.plates
            ],
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileMetadata:
        """The metadata stored by :meth:`to_json`."""
        return cls(
            slicer=data.get("slicer"),
            printer_model=data.get("printer_model"),
            nozzle_diameter=data.get("nozzle_diameter"),
            bed_type=data.get("bed_type"),
            plates=tuple(
                PlateInfo(
                    index=int(plate["index"]),
                    print_time_s=plate.get("print_time_s"),
                    filament_weight_g=plate.get("filament_weight_g"),
                    layer_count=plate.get("layer_count"),
                    has_thumbnail=bool(plate.get("has_thumbnail", False)),
                    nozzle_temp=plate.get("nozzle_temp"),
                    bed_temp=plate.get("bed_temp"),
                    filaments=tuple(
                        FilamentUse(
                            slot=int(f["slot"]),
                            type=f.get("type"),
                            color=f.get("color"),
                            used_g=f.get("used_g"),
                            used_m=f.get("used_m"),
                        )
                        for f in plate.get("filaments", ())
                    ),
                )
                for plate in data.get("plates", ())
            ),
            warnings=tuple(data.get("warnings", ())),
        )


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """A preview image: its bytes and media type (``image/png`` or ``image/jpeg``)."""

    data: bytes
    media_type: str


def image_media_type(data: bytes) -> str | None:
    """``image/png`` or ``image/jpeg`` by the bytes' signature, else None (not an image printfleet serves)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadResult:
    """What reading a file gave: its kind and metadata."""

    kind: FileKind
    metadata: FileMetadata = field(default_factory=FileMetadata)


def to_float(value: str | None) -> float | None:
    """``value`` as a float, or None when it is missing or not a finite number."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def to_int(value: str | None) -> int | None:
    """``value`` as an int (``"12"`` or ``"12.0"``), or None."""
    number = to_float(value)
    return int(number) if number is not None else None
