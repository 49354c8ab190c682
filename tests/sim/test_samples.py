"""The demo's sample files: each one is read by the file library's readers as a newcomer would expect (plates,
a predicted time the demo's simulators print in one to two minutes, filaments, a preview image) and is always the
same bytes."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

from printfleet.domain.files import FileKind, read_print_file, read_thumbnail
from printfleet.sim.bambu import BambuFarm
from printfleet.sim.bambu_start import Pacing
from printfleet.sim.samples import DEMO_SPEED_FACTOR, demo_samples, write_samples


def _png_size(image: bytes) -> tuple[int, int]:
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", image[8:16])
    assert kind == b"IHDR"
    data = image[16 : 16 + length]
    assert struct.unpack(">I", image[16 + length : 20 + length])[0] == zlib.crc32(kind + data)
    width, height = struct.unpack(">II", data[:8])
    return width, height


def test_every_sample_has_short_plates_with_filaments_and_a_preview() -> None:
    read = {name: read_print_file(name, io.BytesIO(content)) for name, content in demo_samples()}

    assert [result.kind for result in read.values()] == [
        FileKind.GCODE_3MF,
        FileKind.GCODE_3MF,
        FileKind.GCODE,
        FileKind.BGCODE,
    ]
    for name, result in read.items():
        meta = result.metadata
        assert meta.warnings == (), name
        assert meta.nozzle_diameter == 0.4
        for plate in meta.plates:
            assert plate.print_time_s is not None, name
            assert 60 <= Pacing(speed_factor=DEMO_SPEED_FACTOR).duration_s(plate.print_time_s) <= 120, name
            assert plate.filaments, name
            assert all(f.type and f.color and f.used_g for f in plate.filaments), name
            assert plate.layer_count, name
            assert plate.has_thumbnail, name
            content = dict(demo_samples())[name]
            image = read_thumbnail(result.kind, io.BytesIO(content), plate.index)
            assert image is not None
            assert image.media_type == "image/png"
            assert _png_size(image.data) in ((64, 64), (32, 32))


def test_the_bambu_samples_are_sliced_for_the_x1_carbon_with_per_plate_materials() -> None:
    samples = dict(demo_samples())
    meta = read_print_file("s.gcode.3mf", io.BytesIO(samples["shelf_bracket_and_clips.gcode.3mf"])).metadata

    assert meta.printer_model == "Bambu Lab X1 Carbon"
    assert [plate.index for plate in meta.plates] == [1, 2]
    assert [[f.type for f in plate.filaments] for plate in meta.plates] == [["PLA", "PETG"], ["PLA"]]
    assert meta.plates[0].filament_weight_g == 47.7
    assert meta.materials == ("PETG", "PLA")

    gcode = read_print_file("c.gcode", io.BytesIO(samples["cable_clip_MK4S.gcode"])).metadata
    assert (gcode.printer_model, gcode.plates[0].print_time_s, gcode.materials) == ("MK4S", 84 * 60, ("PETG",))


def test_samples_are_the_same_bytes_every_time_and_can_be_written_out(tmp_path: Path) -> None:
    first = demo_samples()
    time.sleep(2.1)  # zip entries carry a date with 2 s resolution
    assert demo_samples() == first  # so the demo imports them once, whenever it starts

    written = write_samples(tmp_path / "samples")

    assert [path.name for path in written] == [name for name, _ in demo_samples()]
    assert [path.read_bytes() for path in written] == [content for _, content in demo_samples()]


def test_the_demo_speed_factor_is_the_simulators_own() -> None:
    assert BambuFarm().speed_factor == DEMO_SPEED_FACTOR
