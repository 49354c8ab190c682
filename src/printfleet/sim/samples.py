"""Sample sliced print files, generated in code: a Bambu Lab ``.gcode.3mf``, PrusaSlicer-style ``.gcode`` and a
Prusa binary ``.bgcode``, each small and valid, with a preview image.

``printfleet demo`` imports :func:`demo_samples` into the file library at start-up, and ``printfleet sim`` writes
them next to its configuration file (:func:`write_samples`), so a newcomer can print from the library at once.
The generators are also what the tests build their files with.

The layouts follow the formats as documented: Bambu Studio's ``Metadata/slice_info.config`` (``<plate>`` with
``prediction`` seconds, ``weight`` grams, ``<filament type color used_m used_g>``), ``Metadata/plate_N.gcode`` and
``Metadata/plate_N.png``; PrusaSlicer's head comments (``; thumbnail begin WxH LEN`` base64 blocks) and its
statistics and ``prusaslicer_config`` comments at the end; libbgcode's specification for ``.bgcode`` (file header
``GCDE``, version 1, CRC32 checksums; file, printer, thumbnail, print, slicer metadata and G-code blocks).

The demo's samples are predicted to take 70–115 minutes a plate; the simulated printers print a file for its
predicted time divided by their speed factor (60), so a demo print ends within two minutes while one watches.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

Rgb = tuple[int, int, int]
_ZIP_DATE = (2026, 12, 1, 10, 0, 0)


def png(width: int, height: int, pixel: Callable[[int, int], Rgb]) -> bytes:
    """A ``width`` × ``height`` 8-bit RGB PNG whose pixel at (x, y) is ``pixel(x, y)`` (0–255 per channel)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in pixel(x, y)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PNG = png(1, 1, lambda _x, _y: (0, 0, 0))
"""A 1×1 black PNG."""


def _hex_rgb(color: str) -> Rgb:
    value = color.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def preview_png(color: str, *, size: int = 64) -> bytes:
    """A ``size`` × ``size`` preview of a block in ``color`` (``#RRGGBB``) on a light grey plate: lit top, darker
    side."""
    red, green, blue = _hex_rgb(color)
    low, high = size // 4, size - size // 4

    def pixel(x: int, y: int) -> Rgb:
        if low <= x < high and low <= y < high:
            shade = 1.25 if y < low + size // 8 else (0.7 if x >= high - size // 10 else 1.0)
            return min(255, int(red * shade)), min(255, int(green * shade)), min(255, int(blue * shade))
        return (196, 199, 204) if (x // 8 + y // 8) % 2 else (214, 217, 221)

    return png(size, size, pixel)


@dataclass(frozen=True, slots=True)
class SampleFilament:
    """One filament a sample uses: ``type`` (PLA, PETG, ...), ``color`` ``#RRGGBB``, ``used_g`` grams and
    ``used_m`` metres."""

    type: str
    color: str
    used_g: float
    used_m: float


@dataclass(frozen=True, slots=True)
class SamplePlate:
    """One plate of a sample 3MF: its ``index`` (1-based), ``prediction_s`` seconds, the ``filaments`` it uses (slot
    = position + 1), ``layers`` and the object names on it."""

    index: int
    prediction_s: int
    filaments: tuple[SampleFilament, ...]
    layers: int
    objects: tuple[str, ...]

    @property
    def weight_g(self) -> float:
        """The plate's filament weight, grams."""
        return round(sum(filament.used_g for filament in self.filaments), 2)


def slice_info_config(
    plates: Sequence[SamplePlate], *, printer_model_id: str, nozzle_diameter: float, bed_type: str
) -> str:
    """``Metadata/slice_info.config`` for ``plates`` as Bambu Studio writes it (research dispatch-scheduling-orders.md
    and the file library's reader: ``prediction`` seconds, ``weight`` grams, per filament ``used_m``/``used_g``)."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<config>",
        "  <header>",
        '    <header_item key="X-BBL-Client-Type" value="slicer"/>',
        '    <header_item key="X-BBL-Client-Version" value="02.03.00.70"/>',
        "  </header>",
    ]
    for plate in plates:
        meta = {
            "index": str(plate.index),
            "printer_model_id": printer_model_id,
            "nozzle_diameters": str(nozzle_diameter),
            "prediction": str(plate.prediction_s),
            "weight": f"{plate.weight_g:.2f}",
            "curr_bed_type": bed_type,
        }
        lines.append("  <plate>")
        lines += [f"    <metadata key={quoteattr(k)} value={quoteattr(v)}/>" for k, v in meta.items()]
        for number, name in enumerate(plate.objects, start=1):
            identify = 100 * plate.index + number
            lines.append(f'    <object identify_id="{identify}" name={quoteattr(name)} skipped="false"/>')
        for slot, filament in enumerate(plate.filaments, start=1):
            lines.append(
                f'    <filament id="{slot}" type={quoteattr(filament.type)} color={quoteattr(filament.color)}'
                f' used_m="{filament.used_m:.2f}" used_g="{filament.used_g:.2f}"/>'
            )
        lines.append("  </plate>")
    lines.append("</config>")
    return "\n".join(lines) + "\n"


def toolpath(*, layers: int, layer_height: float = 0.2, side_mm: float = 20.0) -> str:
    """Small valid G-code: home, then ``layers`` square perimeters ``side_mm`` wide, centred at (110, 110), rising
    ``layer_height`` millimetres each; no heating commands (a simulator or virtual printer runs it at once)."""
    low, high = 110 - side_mm / 2, 110 + side_mm / 2
    corners = ((high, low), (high, high), (low, high), (low, low))
    extrude = round(side_mm * 0.033, 4)
    lines = ["G90", "M83", "G28", f"G1 X{low:.1f} Y{low:.1f} F6000"]
    for layer in range(1, layers + 1):
        lines += [";LAYER_CHANGE", f"G1 Z{layer * layer_height:.2f} F720"]
        lines += [f"G1 X{x:.1f} Y{y:.1f} E{extrude} F1800" for x, y in corners]
    lines += [f"G1 Z{layers * layer_height + 10:.2f} F720", "M84"]
    return "\n".join(lines) + "\n"


def bambu_plate_gcode(*, layers: int, prediction_s: int | None = None, body: str = "G28\n") -> bytes:
    """``Metadata/plate_N.gcode``: Bambu Studio's header block (``total layer number``, ``model printing time``)
    and ``body``."""
    head = ["; HEADER_BLOCK_START", f"; total layer number: {layers}"]
    if prediction_s is not None:
        head.append(f"; model printing time: {duration_text(prediction_s)}")
    head.append("; HEADER_BLOCK_END")
    return ("\n".join(head) + "\n" + body).encode()


def bambu_3mf(
    *,
    slice_info: str | None,
    plates: Mapping[int, bytes],
    thumbnails: Mapping[int, bytes],
    printer_model: str | None,
    nozzle_diameter: float = 0.4,
) -> bytes:
    """A sliced 3MF (zip): ``slice_info`` as ``Metadata/slice_info.config`` (None: left out), plate N's G-code
    ``plates[N]`` as ``Metadata/plate_N.gcode``, PNG ``thumbnails[N]`` as ``Metadata/plate_N.png``, and
    ``Metadata/project_settings.config`` naming ``printer_model`` (None: left out)."""
    members: dict[str, str | bytes] = {"3D/3dmodel.model": "<model/>"}
    if slice_info is not None:
        members["Metadata/slice_info.config"] = slice_info
    if printer_model is not None:
        members["Metadata/project_settings.config"] = json.dumps(
            {
                "printer_model": printer_model,
                "nozzle_diameter": [str(nozzle_diameter)],
                **PROJECT_TEMPERATURES,
            }
        )
    members |= {f"Metadata/plate_{plate}.gcode": gcode for plate, gcode in plates.items()}
    members |= {f"Metadata/plate_{plate}.png": image for plate, image in thumbnails.items()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():  # a fixed date: the same samples are the same bytes
            archive.writestr(zipfile.ZipInfo(name, date_time=_ZIP_DATE), content, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


PROJECT_TEMPERATURES = {
    "nozzle_temperature": ["220", "230", "250"],
    "textured_plate_temp": ["55", "60", "70"],
    "hot_plate_temp": ["65", "70", "80"],
}
"""The sample 3MF's temperatures per project filament (°C; Bambu Studio's keys): filament 1 is sliced for a 220 °C
nozzle and, on the textured PEI plate, a 55 °C bed."""

SLICED_TEMPERATURES = {"PLA": (215, 60), "PETG": (240, 85)}
"""The sample G-code's nozzle and bed temperatures per filament type (°C), as PrusaSlicer's profiles set them."""


def _temperatures(filament_type: str) -> tuple[int, int]:
    return SLICED_TEMPERATURES.get(filament_type.upper(), (215, 60))


def duration_text(seconds: int) -> str:
    """``seconds`` as PrusaSlicer writes a time: ``1d 2h 3m 4s``, leading zero units left out (``1m 35s``)."""
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m")]
    while parts and parts[0][0] == 0:
        parts.pop(0)
    return " ".join(f"{value}{unit}" for value, unit in [*parts, (secs, "s")])


def thumbnail_comment(image: bytes, width: int, height: int, tag: str = "thumbnail") -> str:
    """A PrusaSlicer preview block: ``; <tag> begin WxH LEN``, base64 in 78-character comment lines, ``; <tag> end``
    (``tag``: ``thumbnail`` for PNG, ``thumbnail_JPG`` for JPEG)."""
    encoded = base64.b64encode(image).decode()
    lines = [f"; {tag} begin {width}x{height} {len(encoded)}"]
    lines += [f"; {encoded[i : i + 78]}" for i in range(0, len(encoded), 78)]
    lines.append(f"; {tag} end")
    return "\n".join(lines) + "\n"


def _join(values: Iterable[object], separator: str = ", ") -> str:
    return separator.join(str(value) for value in values)


def prusa_gcode(
    *,
    filaments: Sequence[SampleFilament],
    print_time_s: int,
    printer_model: str,
    nozzle_diameter: float,
    layers: int,
    body: str,
    previews: Sequence[tuple[bytes, int, int, str]] = (),
    slicer: str = "PrusaSlicer 2.7.1+linux-x64",
) -> bytes:
    """PrusaSlicer-style G-code: the ``generated by`` line and ``previews`` (image, width, height, tag) at the head,
    then ``body``, then the statistics (``filament used [mm]/[cm3]/[g]``, ``estimated printing time``) and the
    ``prusaslicer_config`` block (``filament_colour``, ``filament_type``, ``nozzle_diameter`` per tool,
    ``printer_model``, ``total layers count``)."""
    head = f"; generated by {slicer} on 2026-12-01 at 10:00:00 UTC\n\n"
    head += "".join(thumbnail_comment(*preview) for preview in previews)
    tools = len(filaments)
    tail = (
        f"; filament used [mm] = {_join(round(f.used_m * 1000, 1) for f in filaments)}\n"
        f"; filament used [cm3] = {_join(round(f.used_g / 1.24, 2) for f in filaments)}\n"
        f"; filament used [g] = {_join(f.used_g for f in filaments)}\n"
        f"; total filament used [g] = {round(sum(f.used_g for f in filaments), 2)}\n"
        f"; estimated printing time (normal mode) = {duration_text(print_time_s)}\n"
        f"; estimated printing time (silent mode) = {duration_text(print_time_s * 26 // 25)}\n"
        "; prusaslicer_config = begin\n"
        f"; filament_colour = {_join((f.color for f in filaments), ';')}\n"
        f"; filament_type = {_join((f.type for f in filaments), ';')}\n"
        f"; nozzle_diameter = {_join([nozzle_diameter] * tools, ',')}\n"
        f"; printer_model = {printer_model}\n"
        f"; temperature = {_join((_temperatures(f.type)[0] for f in filaments), ',')}\n"
        f"; bed_temperature = {_join((_temperatures(f.type)[1] for f in filaments), ',')}\n"
        f"; total layers count = {layers}\n"
        "; prusaslicer_config = end\n"
    )
    return (head + body + tail).encode()


def _block(block_type: int, params: bytes, data: bytes, *, deflate: bool = False) -> bytes:
    if deflate:
        packed = zlib.compress(data)
        header = struct.pack("<HHII", block_type, 1, len(data), len(packed))
    else:
        packed = data
        header = struct.pack("<HHI", block_type, 0, len(data))
    body = header + params + packed
    return body + struct.pack("<I", zlib.crc32(body))


def prusa_bgcode(
    *,
    filament: SampleFilament,
    print_time_s: int,
    printer_model: str,
    nozzle_diameter: float,
    layers: int,
    gcode: str,
    thumbnail: tuple[bytes, int, int] | None,
    producer: str = "PrusaSlicer 2.8.0",
) -> bytes:
    """A binary G-code file (libbgcode format version 1, CRC32 checksums): file metadata (``Producer``), printer
    metadata (deflated), a PNG ``thumbnail`` (image, width, height), print metadata, slicer metadata and one
    G-code block with ``gcode``."""
    encoding = struct.pack("<H", 0)
    printer = (
        f"printer_model={printer_model}\nfilament_type={filament.type}\nnozzle_diameter={nozzle_diameter}\n"
        f"extruder_colour={filament.color}\ntemperature={_temperatures(filament.type)[0]}\n"
        f"bed_temperature={_temperatures(filament.type)[1]}\n"
    )
    print_meta = (
        f"filament used [mm]={filament.used_m * 1000:.1f}\nfilament used [g]={filament.used_g}\n"
        f"estimated printing time (normal mode)={duration_text(print_time_s)}\ntotal layers count={layers}\n"
    )
    out = b"GCDE" + struct.pack("<IH", 1, 1)
    out += _block(0, encoding, f"Producer={producer}\n".encode())
    out += _block(3, encoding, printer.encode(), deflate=True)
    if thumbnail is not None:
        image, width, height = thumbnail
        out += _block(5, struct.pack("<HHH", 0, width, height), image)
    out += _block(4, encoding, print_meta.encode())
    out += _block(2, encoding, b"layer_height=0.2\n")
    out += _block(1, encoding, gcode.encode())
    return out


# --- the demo's samples ---------------------------------------------------------------------------------------

DEMO_SPEED_FACTOR = 60
"""How much faster than predicted the demo's simulated printers print (their default ``speed_factor``)."""
DEMO_BAMBU_MODEL = "Bambu Lab X1 Carbon"
DEMO_BAMBU_MODEL_ID = "BL-P001"
DEMO_PRUSA_MODEL = "MK4S"
_ORANGE = "#FF6A13"
_BLACK = "#161616"
_GREY = "#8E9089"
_GREEN = "#2FA84F"


def _sample_3mf(plates: Sequence[SamplePlate]) -> bytes:
    info = slice_info_config(
        plates, printer_model_id=DEMO_BAMBU_MODEL_ID, nozzle_diameter=0.4, bed_type="Textured PEI Plate"
    )
    return bambu_3mf(
        slice_info=info,
        plates={
            plate.index: bambu_plate_gcode(
                layers=plate.layers, prediction_s=plate.prediction_s, body=toolpath(layers=plate.layers)
            )
            for plate in plates
        },
        thumbnails={plate.index: preview_png(plate.filaments[0].color) for plate in plates},
        printer_model=DEMO_BAMBU_MODEL,
    )


def demo_samples() -> list[tuple[str, bytes]]:
    """The demo's sample files, (name, content), always the same bytes: a one-plate and a two-plate Bambu Lab
    ``.gcode.3mf`` sliced for the X1 Carbon (the demo's Bambu printers), a PrusaSlicer ``.gcode`` and a ``.bgcode``
    for an MK4S (PrusaLink and OctoPrint printers). Predicted 70–115 minutes a plate: the simulators print
    :data:`DEMO_SPEED_FACTOR` times faster, so 70–115 seconds."""
    cube = SamplePlate(1, 95 * 60, (SampleFilament("PLA", _ORANGE, 28.4, 9.53),), 200, ("calibration_cube.stl",))
    bracket = SamplePlate(
        1,
        112 * 60,
        (SampleFilament("PLA", _BLACK, 41.2, 13.83), SampleFilament("PETG", _ORANGE, 6.5, 2.15)),
        240,
        ("shelf_bracket.stl",),
    )
    clips = SamplePlate(2, 72 * 60, (SampleFilament("PLA", _BLACK, 12.6, 4.23),), 60, ("cable_clip.stl",) * 4)
    clip = SampleFilament("PETG", _GREEN, 18.3, 6.04)
    hook = SampleFilament("PLA", _GREY, 33.4, 11.21)
    return [
        ("calibration_cube.gcode.3mf", _sample_3mf([cube])),
        ("shelf_bracket_and_clips.gcode.3mf", _sample_3mf([bracket, clips])),
        (
            "cable_clip_MK4S.gcode",
            prusa_gcode(
                filaments=[clip],
                print_time_s=84 * 60,
                printer_model=DEMO_PRUSA_MODEL,
                nozzle_diameter=0.4,
                layers=80,
                body=toolpath(layers=80),
                previews=[(preview_png(clip.color, size=32), 32, 32, "thumbnail")],
            ),
        ),
        (
            "wall_hook_MK4S.bgcode",
            prusa_bgcode(
                filament=hook,
                print_time_s=103 * 60,
                printer_model=DEMO_PRUSA_MODEL,
                nozzle_diameter=0.4,
                layers=150,
                gcode=toolpath(layers=150),
                thumbnail=(preview_png(hook.color, size=32), 32, 32),
            ),
        ),
    ]


def write_samples(directory: Path) -> list[Path]:
    """Write :func:`demo_samples` into ``directory`` (created when missing; existing samples are overwritten);
    their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in demo_samples():
        path = directory / name
        path.write_bytes(content)
        written.append(path)
    return written


SCREEN_PRINT_GRAMS_PER_MINUTE = 2.0
"""How much filament a simulated print from the printer's screen uses per minute of its predicted time (grams)."""


def screen_print_3mf(*, material: str, color: str, duration_s: float, layers: int) -> bytes:
    """The project file a simulated Bambu Lab printer prints from its screen: one plate of ``layers`` layers predicted
    at ``duration_s`` seconds using one filament (``material``, ``color`` ``#RRGGBB``) at
    :data:`SCREEN_PRINT_GRAMS_PER_MINUTE` (PLA's 2.98 g per metre for the length)."""
    grams = round(max(duration_s / 60.0 * SCREEN_PRINT_GRAMS_PER_MINUTE, 0.5), 2)
    plate = SamplePlate(
        1,
        max(int(duration_s), 1),
        (SampleFilament(material, color, grams, round(grams / 2.98, 2)),),
        layers,
        ("part.stl",),
    )
    return _sample_3mf([plate])
