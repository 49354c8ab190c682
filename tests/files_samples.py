"""Print files made by the tests: sliced Bambu 3MFs, PrusaSlicer and Cura G-code, Prusa binary G-code.

Built with the generators the demo's samples use (``printfleet.sim.samples``); the values here are the tests' own.
"""

from __future__ import annotations

import io
import zipfile

from printfleet.sim import samples
from printfleet.sim.samples import PNG, SampleFilament

__all__ = ["JPEG", "PNG", "SLICE_INFO", "bambu_3mf", "cura_gcode", "prusa_bgcode", "prusa_gcode", "unsliced_3mf"]

JPEG = b"\xff\xd8\xff\xe0" + b"JFIF-test" + b"\xff\xd9"

SLICE_INFO = """<?xml version="1.0" encoding="UTF-8"?>
<config>
  <header>
    <header_item key="X-BBL-Client-Type" value="slicer"/>
    <header_item key="X-BBL-Client-Version" value="02.03.00.70"/>
  </header>
  <plate>
    <metadata key="index" value="1"/>
    <metadata key="printer_model_id" value="C12"/>
    <metadata key="nozzle_diameters" value="0.4"/>
    <metadata key="prediction" value="5935"/>
    <metadata key="weight" value="26.35"/>
    <metadata key="curr_bed_type" value="Textured PEI Plate"/>
    <object identify_id="139" name="bracket.stl" skipped="false"/>
    <filament id="1" tray_info_idx="GFA00" type="PLA" color="#000000" used_m="7.41" used_g="22.10"/>
    <filament id="3" tray_info_idx="GFG99" type="PETG" color="#FF6A13" used_m="1.33" used_g="4.25"/>
  </plate>
  <plate>
    <metadata key="index" value="2"/>
    <metadata key="prediction" value="1210"/>
    <metadata key="weight" value="3.02"/>
    <object identify_id="412" name="clip.stl" skipped="false"/>
    <filament id="1" tray_info_idx="GFA00" type="PLA" color="#000000" used_m="1.01" used_g="3.02"/>
  </plate>
</config>
"""


def bambu_3mf(
    *,
    slice_info: str | None = SLICE_INFO,
    plates: tuple[int, ...] = (1, 2),
    thumbnails: tuple[int, ...] = (1,),
    printer_model: str | None = "Bambu Lab P1S",
    padding: bytes = b"",
) -> bytes:
    """A sliced 3MF with G-code for ``plates``, ``slice_info`` as ``Metadata/slice_info.config`` (None: left out),
    PNG thumbnails for ``thumbnails``; ``padding`` is added to plate 1's G-code (to make distinct or big files)."""
    gcode = {
        plate: samples.bambu_plate_gcode(layers=100 * plate) + (padding if plate == 1 else b"") for plate in plates
    }
    return samples.bambu_3mf(
        slice_info=slice_info,
        plates=gcode,
        thumbnails=dict.fromkeys(thumbnails, PNG),
        printer_model=printer_model,
    )


def unsliced_3mf() -> bytes:
    """A 3MF project saved but never sliced: a header-only ``slice_info.config`` and no plate G-code."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("3D/3dmodel.model", "<model/>")
        archive.writestr(
            "Metadata/slice_info.config",
            '<config><header><header_item key="X-BBL-Client-Type" value="slicer"/></header></config>',
        )
    return buffer.getvalue()


def prusa_gcode(*, moves: int = 10, thumbnail: bool = True) -> bytes:
    """PrusaSlicer-style G-code for two tools (PLA and PETG, 0.6 mm nozzle, MK4S, 1d 2h 3m 4s), with a PNG and a
    JPEG preview at the head and the statistics and config block after ``moves`` moves at the end."""
    return samples.prusa_gcode(
        filaments=[SampleFilament("PLA", "#FF8000", 3.68, 1.2345), SampleFilament("PETG", "#00FF00", 0.61, 0.2)],
        print_time_s=86_400 + 2 * 3600 + 3 * 60 + 4,
        printer_model="MK4S",
        nozzle_diameter=0.6,
        layers=250,
        body="".join(f"G1 X{i % 200} Y{i % 200} E0.1\n" for i in range(moves)),
        previews=[(PNG, 16, 16, "thumbnail"), (JPEG, 220, 124, "thumbnail_JPG")] if thumbnail else [],
    )


def cura_gcode() -> bytes:
    """Cura-style G-code: ``;TIME:``, ``;Filament used:``, ``;LAYER_COUNT:``."""
    return (
        b";FLAVOR:Marlin\n;TIME:3723\n;Filament used: 2.5m\n;Layer height: 0.2\n"
        b";Generated with Cura_SteamEngine 5.6.0\n;LAYER_COUNT:88\nG28\nG1 X10 Y10\n"
    )


def prusa_bgcode(*, with_thumbnail: bool = True) -> bytes:
    """A binary G-code file (version 1, CRC32 checksums): printer metadata (deflated), a 16×16 PNG thumbnail, print
    metadata (PETG #112233, 15.25 g, 5.12 m, 2h 5m 10s, 120 layers, MK4S, 0.4 mm), slicer metadata and one G-code
    block."""
    return samples.prusa_bgcode(
        filament=SampleFilament("PETG", "#112233", 15.25, 5.12),
        print_time_s=2 * 3600 + 5 * 60 + 10,
        printer_model="MK4S",
        nozzle_diameter=0.4,
        layers=120,
        gcode="G28\nG1 X1\n",
        thumbnail=(PNG, 16, 16) if with_thumbnail else None,
    )
