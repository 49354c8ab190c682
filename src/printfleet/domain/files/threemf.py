"""Bambu Studio / OrcaSlicer sliced 3MF (``.gcode.3mf``): a ZIP whose ``Metadata/slice_info.config`` (XML) lists
each sliced plate.

Per ``<plate>``: ``<metadata key=… value=…>`` items ``index`` (plate number), ``prediction`` (seconds),
``weight`` (grams), ``printer_model_id``, ``nozzle_diameters``, ``curr_bed_type``; ``<filament id type color
used_m used_g>`` per filament used. ``Metadata/project_settings.config`` (JSON) gives ``printer_model``; the plate
G-code header gives ``; total layer number: N``; ``Metadata/plate_N.png`` is the plate's thumbnail. A 3MF without
any ``Metadata/plate_N.gcode`` was never sliced. Read with the standard library only.
"""

from __future__ import annotations

import json
import re
import zipfile
from typing import IO, Any
from xml.etree import ElementTree

from printfleet.domain.files.model import (
    FilamentUse,
    FileMetadata,
    NotPrintable,
    PlateInfo,
    Thumbnail,
    to_float,
    to_int,
)

_PLATE_GCODE = re.compile(r"^Metadata/plate_(\d+)\.gcode$")
_LAYERS = re.compile(rb"; total layer number: (\d+)")
_MAX_XML_BYTES = 16 * 1024 * 1024
_HEAD_BYTES = 16 * 1024

NOT_SLICED = "this 3MF has no sliced plate: slice it first (Bambu Studio or OrcaSlicer: export the sliced file)"


def sliced_plates(archive: zipfile.ZipFile) -> list[int]:
    """The plate numbers that have G-code in ``archive``, ascending."""
    return sorted(int(match.group(1)) for name in archive.namelist() if (match := _PLATE_GCODE.match(name)))


def _read_small(archive: zipfile.ZipFile, name: str) -> bytes | None:
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.file_size > _MAX_XML_BYTES:
        return None
    return archive.read(info)


def _project_settings(archive: zipfile.ZipFile) -> dict[str, Any]:
    raw = _read_small(archive, "Metadata/project_settings.config")
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _first(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value is not None else None


_BED_TEMP_KEYS = {
    "cool plate": "cool_plate_temp",
    "engineering plate": "eng_plate_temp",
    "high temp plate": "hot_plate_temp",
    "textured pei plate": "textured_plate_temp",
    "supertack plate": "supertack_plate_temp",
}
"""Bambu Studio's ``curr_bed_type`` → the filament setting holding the bed temperature for it (per project
filament; Bambu Studio / OrcaSlicer filament profiles)."""


def _per_filament(settings: dict[str, Any], key: str, slot: int) -> float | None:
    """Project setting ``key`` (a list of strings, one per project filament) for the 1-based filament ``slot``."""
    values = settings.get(key)
    if not isinstance(values, list) or not 1 <= slot <= len(values):
        return None
    return to_float(str(values[slot - 1]))


def _temperatures(settings: dict[str, Any], bed_type: str | None, slot: int) -> tuple[float | None, float | None]:
    """The nozzle and bed temperatures (°C) the project sets for filament ``slot`` on ``bed_type``."""
    nozzle = _per_filament(settings, "nozzle_temperature", slot)
    bed_key = _BED_TEMP_KEYS.get((bed_type or "").strip().lower())
    return nozzle, _per_filament(settings, bed_key, slot) if bed_key else None


def _layer_count(archive: zipfile.ZipFile, index: int) -> int | None:
    try:
        with archive.open(f"Metadata/plate_{index}.gcode") as gcode:
            head = gcode.read(_HEAD_BYTES)
    except KeyError:
        return None
    match = _LAYERS.search(head)
    return int(match.group(1)) if match else None


def _filament(element: ElementTree.Element) -> FilamentUse | None:
    slot = to_int(element.get("id"))
    if slot is None:
        return None
    return FilamentUse(
        slot=slot,
        type=element.get("type") or None,
        color=element.get("color") or None,
        used_g=to_float(element.get("used_g")),
        used_m=to_float(element.get("used_m")),
    )


def read_3mf(file: IO[bytes]) -> FileMetadata:
    """The metadata of a sliced 3MF read from the seekable binary ``file``.

    Raises NotPrintable when the ZIP has no plate G-code (an unsliced project). A file that is not a readable ZIP,
    or whose XML is broken, gives empty metadata with a warning.
    """
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return FileMetadata(warnings=(f"not a readable 3MF (ZIP) file: {exc}",))
    with archive:
        try:
            return _read_archive(archive)
        except NotPrintable:
            raise
        except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as exc:
            return FileMetadata(warnings=(f"the 3MF could not be read: {exc}",))


def _read_archive(archive: zipfile.ZipFile) -> FileMetadata:
    plates_with_gcode = sliced_plates(archive)
    if not plates_with_gcode:
        raise NotPrintable(NOT_SLICED)
    names = set(archive.namelist())
    settings = _project_settings(archive)
    warnings: list[str] = []
    raw = _read_small(archive, "Metadata/slice_info.config")
    root: ElementTree.Element | None = None
    if raw is None:
        warnings.append("Metadata/slice_info.config is missing: no per-plate times or filament")
    elif b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        warnings.append("Metadata/slice_info.config declares a DTD or entities: not read")
    else:
        try:
            # No DTD (refused above), so no entity expansion; ElementTree never fetches external resources.
            root = ElementTree.fromstring(raw)  # noqa: S314
        except ElementTree.ParseError as exc:
            warnings.append(f"Metadata/slice_info.config is not valid XML: {exc}")
    slicer: str | None = None
    model_id: str | None = None
    nozzle: float | None = None
    bed_type: str | None = None
    plates: dict[int, PlateInfo] = {}
    if root is not None:
        for item in root.iterfind("header/header_item"):
            if item.get("key") == "X-BBL-Client-Version" and item.get("value"):
                slicer = f"BambuStudio {item.get('value')}"
        for element in root.iterfind("plate"):
            meta = {item.get("key"): item.get("value") for item in element.iterfind("metadata")}
            index = to_int(meta.get("index"))
            if index is None:
                continue
            model_id = model_id or meta.get("printer_model_id") or None
            nozzle = nozzle if nozzle is not None else to_float((meta.get("nozzle_diameters") or "").split(",")[0])
            bed_type = bed_type or meta.get("curr_bed_type") or None
            filaments = tuple(f for f in map(_filament, element.iterfind("filament")) if f is not None)
            nozzle_temp, bed_temp = _temperatures(
                settings,
                meta.get("curr_bed_type") or _first(settings.get("curr_bed_type")),
                filaments[0].slot if filaments else 1,
            )
            plates[index] = PlateInfo(
                index=index,
                print_time_s=to_float(meta.get("prediction")),
                filament_weight_g=to_float(meta.get("weight")),
                layer_count=_layer_count(archive, index),
                filaments=filaments,
                has_thumbnail=f"Metadata/plate_{index}.png" in names,
                nozzle_temp=nozzle_temp,
                bed_temp=bed_temp,
            )
    for index in plates_with_gcode:
        if index not in plates:
            plates[index] = PlateInfo(
                index=index,
                layer_count=_layer_count(archive, index),
                has_thumbnail=f"Metadata/plate_{index}.png" in names,
            )
    return FileMetadata(
        slicer=slicer,
        printer_model=_first(settings.get("printer_model")) or model_id,
        nozzle_diameter=nozzle if nozzle is not None else to_float(_first(settings.get("nozzle_diameter"))),
        bed_type=bed_type or _first(settings.get("curr_bed_type")),
        plates=tuple(plates[index] for index in sorted(plates)),
        warnings=tuple(warnings),
    )


def thumbnail_3mf(file: IO[bytes], plate: int) -> Thumbnail | None:
    """Plate ``plate``'s thumbnail (``Metadata/plate_N.png``) from the sliced 3MF ``file``, or None."""
    try:
        with zipfile.ZipFile(file) as archive:
            data = _read_small(archive, f"Metadata/plate_{plate}.png")
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
    return Thumbnail(data, "image/png") if data is not None else None
