"""Text G-code (PrusaSlicer, SuperSlicer, OrcaSlicer, Bambu Studio, Cura, others): the slicer's comments.

PrusaSlicer and its forks write ``; key = value`` comments, partly at the head and partly in the config block at
the end of the file (``; estimated printing time (normal mode) = 1h 2m 3s``, ``; filament used [g] = 12.3, 4.5``
per tool, ``; filament used [mm] = …``, ``; filament_type = PLA;PETG``, ``; filament_colour = #RRGGBB;…``,
``; nozzle_diameter = 0.4,0.4``, ``; printer_model = MK4S``, ``; total layers count = N``), and base64 previews
between ``; thumbnail begin WxH LEN`` and ``; thumbnail end``. Cura writes ``;TIME:<s>``, ``;Filament used: <m>m``,
``;LAYER_COUNT:<n>``. Only the head and the tail of the file are read.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
from collections.abc import Mapping
from typing import IO

from printfleet.domain.files.model import FilamentUse, FileMetadata, PlateInfo, Thumbnail, to_float, to_int

HEAD_BYTES = 512 * 1024
TAIL_BYTES = 512 * 1024

_KEY_VALUE = re.compile(r"^;\s*([^=:;][^=]*?)\s*=\s*(.*?)\s*$")
_CURA = re.compile(r"^;(TIME|LAYER_COUNT|Filament used|FLAVOR|Layer height):\s*(.*?)\s*$")
_GENERATED = re.compile(r"^;\s*generated (?:by|with)\s+(.+?)\s*(?:on \d{4}-.*)?$", re.IGNORECASE)
_DURATION = re.compile(r"(\d+)\s*([dhms])")
_THUMB_BEGIN = re.compile(r"^;\s*(thumbnail(?:_JPG|_QOI)?) begin (\d+)x(\d+) (\d+)")
_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_MEDIA_TYPES = {"thumbnail": "image/png", "thumbnail_JPG": "image/jpeg"}


def duration_s(text: str | None) -> float | None:
    """``"1d 2h 3m 4s"`` (any subset) as seconds; None when nothing matches."""
    if not text:
        return None
    parts = _DURATION.findall(text)
    if not parts:
        return None
    return float(sum(int(number) * _SECONDS[unit] for number, unit in parts))


def _numbers(text: str | None) -> list[float | None]:
    if not text:
        return []
    return [to_float(part) for part in re.split(r"[,;]", text)]


def _words(text: str | None) -> list[str]:
    if not text:
        return []
    return [part.strip().strip('"') for part in re.split(r"[;,]", text)]


def _nth(values: list[float | None], index: int) -> float | None:
    return values[index] if 0 <= index < len(values) else None


def metadata_from_keys(keys: Mapping[str, str], *, slicer: str | None = None) -> FileMetadata:
    """Metadata from PrusaSlicer-style ``key → value`` pairs (text G-code comments or ``.bgcode`` metadata
    blocks) and Cura's keys (``TIME``, ``LAYER_COUNT``, ``Filament used``). Temperatures: PrusaSlicer's
    ``temperature`` and ``bed_temperature`` (one per tool, comma-separated), of the first tool the print uses."""
    weights = _numbers(keys.get("filament used [g]"))
    lengths_mm = _numbers(keys.get("filament used [mm]"))
    types = _words(keys.get("filament_type"))
    colours = _words(keys.get("filament_colour") or keys.get("extruder_colour"))
    if not lengths_mm and keys.get("Filament used"):  # Cura: metres per extruder, "1.23m, 0.5m"
        lengths_mm = [None if m is None else m * 1000 for m in _numbers(keys["Filament used"].replace("m", ""))]
    count = max(len(weights), len(lengths_mm))
    if count == 0 and types:
        count = 1
    filaments: list[FilamentUse] = []
    for tool in range(count):
        grams = weights[tool] if tool < len(weights) else None
        length = lengths_mm[tool] if tool < len(lengths_mm) else None
        if count > 1 and not grams and not length:
            continue  # a tool the print does not use
        colour = colours[tool] if tool < len(colours) else None
        filaments.append(
            FilamentUse(
                slot=tool + 1,
                type=(types[tool] if tool < len(types) else None) or None,
                color=colour if colour and colour.startswith("#") else None,
                used_g=grams,
                used_m=None if length is None else round(length / 1000, 3),
            )
        )
    total_g = to_float(keys.get("total filament used [g]"))
    if total_g is None and any(w is not None for w in weights):
        total_g = round(sum(w for w in weights if w is not None), 3)
    time_s = duration_s(keys.get("estimated printing time (normal mode)"))
    if time_s is None:
        time_s = to_float(keys.get("TIME")) or to_float(keys.get("estimated_print_time"))
    layers = to_int(keys.get("total layers count") or keys.get("total layer number") or keys.get("LAYER_COUNT"))
    nozzles = _numbers(keys.get("nozzle_diameter"))
    tool = filaments[0].slot - 1 if filaments else 0  # the temperatures of the first tool the print uses
    plate = PlateInfo(
        index=1,
        print_time_s=time_s,
        filament_weight_g=total_g,
        layer_count=layers,
        filaments=tuple(filaments),
        nozzle_temp=_nth(_numbers(keys.get("temperature")), tool),
        bed_temp=_nth(_numbers(keys.get("bed_temperature")), tool),
    )
    return FileMetadata(
        slicer=slicer,
        printer_model=(keys.get("printer_model") or "").strip('"') or None,
        nozzle_diameter=nozzles[0] if nozzles else None,
        bed_type=keys.get("curr_bed_type") or None,
        plates=(plate,),
    )


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8", errors="replace").splitlines()


def _read_head_tail(file: IO[bytes]) -> tuple[bytes, bytes]:
    file.seek(0, 2)
    size = file.tell()
    file.seek(0)
    head = file.read(HEAD_BYTES)
    if size <= HEAD_BYTES:
        return head, b""
    file.seek(max(HEAD_BYTES, size - TAIL_BYTES))
    tail = file.read()
    # Drop the partial first line of the tail.
    newline = tail.find(b"\n")
    return head, tail[newline + 1 :] if newline >= 0 else b""


def _thumbnails(lines: list[str]) -> list[tuple[int, Thumbnail]]:
    """(pixel count, thumbnail) of each PNG or JPEG preview in ``lines``."""
    found: list[tuple[int, Thumbnail]] = []
    current: tuple[str, int] | None = None
    chunks: list[str] = []
    for line in lines:
        if current is None:
            match = _THUMB_BEGIN.match(line)
            if match:
                current = (match.group(1), int(match.group(2)) * int(match.group(3)))
                chunks = []
            continue
        if re.match(r"^;\s*thumbnail(?:_JPG|_QOI)? end", line):
            media_type = _MEDIA_TYPES.get(current[0])
            if media_type is not None:
                with contextlib.suppress(binascii.Error, ValueError):
                    found.append((current[1], Thumbnail(base64.b64decode("".join(chunks)), media_type)))
            current = None
            continue
        chunks.append(line.lstrip(";").strip())
    return found


def read_gcode(file: IO[bytes]) -> FileMetadata:
    """The metadata of the text G-code in the seekable binary ``file`` (its first and last 512 KiB). Fields the
    slicer did not write are None; a file with no slicer comments at all gives a warning."""
    head, tail = _read_head_tail(file)
    keys: dict[str, str] = {}
    slicer: str | None = None
    head_lines = _lines(head)
    for line in [*head_lines, *_lines(tail)]:
        if not line.startswith(";"):
            continue
        if slicer is None and (generated := _GENERATED.match(line)):
            slicer = generated.group(1)
            continue
        if cura := _CURA.match(line):
            keys.setdefault(cura.group(1), cura.group(2))
            continue
        if pair := _KEY_VALUE.match(line):
            keys.setdefault(pair.group(1), pair.group(2))
    if slicer is None and keys.get("FLAVOR"):
        slicer = "Cura"
    metadata = single_plate(keys, slicer=slicer, has_thumbnail=bool(_thumbnails(head_lines)))
    if not keys:
        metadata = metadata.with_warning("no slicer comments found: time and filament are unknown")
    return metadata


def single_plate(
    keys: Mapping[str, str], *, slicer: str | None, has_thumbnail: bool, warnings: tuple[str, ...] = ()
) -> FileMetadata:
    """The metadata of a one-plate G-code file (text or binary) from its slicer ``keys``: plate 1, with
    ``has_thumbnail`` and ``warnings``."""
    metadata = metadata_from_keys(keys, slicer=slicer)
    plate = metadata.plates[0]
    return FileMetadata(
        slicer=metadata.slicer,
        printer_model=metadata.printer_model,
        nozzle_diameter=metadata.nozzle_diameter,
        bed_type=metadata.bed_type,
        plates=(
            PlateInfo(
                index=1,
                print_time_s=plate.print_time_s,
                filament_weight_g=plate.filament_weight_g,
                layer_count=plate.layer_count,
                filaments=plate.filaments,
                has_thumbnail=has_thumbnail,
                nozzle_temp=plate.nozzle_temp,
                bed_temp=plate.bed_temp,
            ),
        ),
        warnings=warnings,
    )


def thumbnail_gcode(file: IO[bytes]) -> Thumbnail | None:
    """The largest PNG or JPEG preview in the head of the text G-code ``file``, or None."""
    file.seek(0)
    found = _thumbnails(_lines(file.read(HEAD_BYTES)))
    return max(found, key=lambda item: item[0])[1] if found else None
