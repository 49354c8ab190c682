"""Request and response bodies of ``/api/v1/files``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from printfleet.domain.files import FileKind
from printfleet.domain.files.library import PrintFile


class FilamentOut(BaseModel):
    """One filament a plate uses: ``slot`` is its 1-based number in the project (Bambu: the index into the AMS
    mapping); ``color`` ``#RRGGBB``; ``used_g`` grams; ``used_m`` metres. Unknown values are null."""

    slot: int
    type: str | None
    color: str | None
    used_g: float | None
    used_m: float | None


class PlateOut(BaseModel):
    """One sliced plate (G-code files have one, index 1): ``print_time_s`` predicted seconds,
    ``filament_weight_g`` grams, ``has_thumbnail``: ``GET /api/v1/files/{id}/thumbnail?plate=N`` answers;
    ``nozzle_temp``/``bed_temp``: the °C the plate is sliced for (its first filament; null: the file does not say)."""

    index: int
    print_time_s: float | None
    filament_weight_g: float | None
    layer_count: int | None
    has_thumbnail: bool
    filaments: list[FilamentOut]
    nozzle_temp: float | None = None
    bed_temp: float | None = None


class FilePublic(BaseModel):
    """A print file in the library and what its slicer says about it. ``sha256`` names the content (the same file
    uploaded twice is one entry); ``size_bytes`` bytes; ``print_time_s`` and ``filament_weight_g`` are the plates'
    sums; ``nozzle_diameter`` millimetres; unknown values are null and ``warnings`` says why."""

    id: int
    name: str
    kind: FileKind
    sha256: str
    size_bytes: int
    uploaded_by: int | None
    created_at: datetime
    slicer: str | None
    printer_model: str | None
    nozzle_diameter: float | None
    bed_type: str | None
    print_time_s: float | None
    filament_weight_g: float | None
    materials: list[str]
    plates: list[PlateOut]
    warnings: list[str]

    @classmethod
    def from_domain(cls, stored: PrintFile) -> FilePublic:
        """The API view of ``stored``."""
        meta = stored.metadata
        return cls(
            id=stored.id,
            name=stored.name,
            kind=stored.kind,
            sha256=stored.sha256,
            size_bytes=stored.size_bytes,
            uploaded_by=stored.uploaded_by,
            created_at=stored.created_at,
            slicer=meta.slicer,
            printer_model=meta.printer_model,
            nozzle_diameter=meta.nozzle_diameter,
            bed_type=meta.bed_type,
            print_time_s=meta.print_time_s,
            filament_weight_g=meta.filament_weight_g,
            materials=list(meta.materials),
            plates=[
                PlateOut(
                    index=plate.index,
                    print_time_s=plate.print_time_s,
                    filament_weight_g=plate.filament_weight_g,
                    layer_count=plate.layer_count,
                    has_thumbnail=plate.has_thumbnail,
                    nozzle_temp=plate.nozzle_temp,
                    bed_temp=plate.bed_temp,
                    filaments=[
                        FilamentOut(slot=f.slot, type=f.type, color=f.color, used_g=f.used_g, used_m=f.used_m)
                        for f in plate.filaments
                    ],
                )
                for plate in meta.plates
            ],
            warnings=list(meta.warnings),
        )


class FileList(BaseModel):
    """A page of files, newest first, and how many match the filters in all."""

    files: list[FilePublic]
    total: int
