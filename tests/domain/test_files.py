"""The print-file readers: kinds, the unsliced refusal, Bambu 3MF, PrusaSlicer/Cura G-code and binary G-code
metadata, thumbnails, and damaged files accepted with unknown fields."""

from __future__ import annotations

import io

import pytest

from printfleet.domain.files import (
    FileKind,
    FileMetadata,
    NotPrintable,
    read_print_file,
    read_thumbnail,
)
from tests.files_samples import (
    JPEG,
    PNG,
    SLICE_INFO,
    bambu_3mf,
    cura_gcode,
    prusa_bgcode,
    prusa_gcode,
    unsliced_3mf,
)


def test_bambu_3mf_gives_each_plate_its_time_weight_layers_and_filaments() -> None:
    result = read_print_file("bracket.gcode.3mf", io.BytesIO(bambu_3mf()))

    meta = result.metadata
    assert result.kind is FileKind.GCODE_3MF
    assert meta.slicer == "BambuStudio 02.03.00.70"
    assert meta.printer_model == "Bambu Lab P1S"
    assert meta.nozzle_diameter == 0.4
    assert meta.bed_type == "Textured PEI Plate"
    assert [plate.index for plate in meta.plates] == [1, 2]
    first, second = meta.plates
    assert (first.print_time_s, first.filament_weight_g, first.layer_count) == (5935, 26.35, 100)
    assert [(f.slot, f.type, f.color, f.used_g, f.used_m) for f in first.filaments] == [
        (1, "PLA", "#000000", 22.10, 7.41),
        (3, "PETG", "#FF6A13", 4.25, 1.33),
    ]
    assert (second.print_time_s, second.filament_weight_g, second.layer_count) == (1210, 3.02, 200)
    assert first.has_thumbnail
    assert not second.has_thumbnail
    assert meta.print_time_s == 5935 + 1210
    assert meta.filament_weight_g == 29.37
    assert meta.materials == ("PETG", "PLA")
    assert meta.warnings == ()


def test_bambu_3mf_without_slice_info_keeps_its_plates_with_unknown_times() -> None:
    meta = read_print_file("x.gcode.3mf", io.BytesIO(bambu_3mf(slice_info=None, printer_model=None))).metadata

    assert [(p.index, p.print_time_s, p.filament_weight_g) for p in meta.plates] == [(1, None, None), (2, None, None)]
    assert meta.printer_model is None
    assert any("slice_info.config is missing" in warning for warning in meta.warnings)


def test_bambu_3mf_with_broken_xml_is_read_with_a_warning() -> None:
    meta = read_print_file("x.gcode.3mf", io.BytesIO(bambu_3mf(slice_info="<config><plate>"))).metadata

    assert meta.print_time_s is None
    assert any("not valid XML" in warning for warning in meta.warnings)


def test_bambu_3mf_with_an_entity_declaration_is_not_expanded() -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><config>&a;</config>'
    meta = read_print_file("x.gcode.3mf", io.BytesIO(bambu_3mf(slice_info=bomb))).metadata

    assert any("DTD" in warning for warning in meta.warnings)


def test_a_corrupt_gcode_3mf_is_accepted_with_unknown_fields_and_a_warning() -> None:
    result = read_print_file("broken.gcode.3mf", io.BytesIO(b"PK\x03\x04 this is not really a zip"))

    assert result.kind is FileKind.GCODE_3MF
    assert result.metadata.plates == ()
    assert result.metadata.print_time_s is None
    assert result.metadata.warnings
    assert "not a readable 3MF" in result.metadata.warnings[0]


@pytest.mark.parametrize("name", ["project.3mf", "project.gcode.3mf"])
def test_an_unsliced_3mf_must_be_sliced_first(name: str) -> None:
    with pytest.raises(NotPrintable, match="slice it first"):
        read_print_file(name, io.BytesIO(unsliced_3mf()))


def test_a_plain_3mf_with_sliced_plates_is_accepted() -> None:
    assert read_print_file("renamed.3mf", io.BytesIO(bambu_3mf())).kind is FileKind.GCODE_3MF


@pytest.mark.parametrize("name", ["part.stl", "PART.STL", "part.step", "part.obj"])
def test_a_model_must_be_sliced_first(name: str) -> None:
    with pytest.raises(NotPrintable, match="slice it first"):
        read_print_file(name, io.BytesIO(b"solid part\nendsolid part\n"))


def test_an_unknown_extension_is_refused() -> None:
    with pytest.raises(NotPrintable, match="unknown file type"):
        read_print_file("notes.txt", io.BytesIO(b"hello"))


def test_prusaslicer_gcode_reads_head_and_tail_comments_per_tool() -> None:
    # Enough moves that the statistics sit beyond the head the reader looks at first.
    result = read_print_file("part.gcode", io.BytesIO(prusa_gcode(moves=60_000)))

    meta = result.metadata
    assert result.kind is FileKind.GCODE
    assert meta.slicer == "PrusaSlicer 2.7.1+linux-x64"
    assert meta.printer_model == "MK4S"
    assert meta.nozzle_diameter == 0.6
    (plate,) = meta.plates
    assert plate.print_time_s == 86400 + 2 * 3600 + 3 * 60 + 4
    assert plate.filament_weight_g == 4.29
    assert plate.layer_count == 250
    assert plate.has_thumbnail
    assert [(f.slot, f.type, f.color, f.used_g, f.used_m) for f in plate.filaments] == [
        (1, "PLA", "#FF8000", 3.68, 1.234),
        (2, "PETG", "#00FF00", 0.61, 0.2),
    ]
    assert meta.warnings == ()


def test_gcode_thumbnail_is_the_largest_preview() -> None:
    image = read_thumbnail(FileKind.GCODE, io.BytesIO(prusa_gcode()), 1)

    assert image is not None
    assert image.data == JPEG
    assert image.media_type == "image/jpeg"
    assert read_thumbnail(FileKind.GCODE, io.BytesIO(prusa_gcode()), 2) is None
    assert read_thumbnail(FileKind.GCODE, io.BytesIO(prusa_gcode(thumbnail=False)), 1) is None


def test_cura_gcode_gives_time_length_and_layers() -> None:
    meta = read_print_file("cura.gcode", io.BytesIO(cura_gcode())).metadata

    (plate,) = meta.plates
    assert meta.slicer == "Cura_SteamEngine 5.6.0"
    assert (plate.print_time_s, plate.layer_count) == (3723, 88)
    assert [(f.used_m, f.used_g) for f in plate.filaments] == [(2.5, None)]


def test_gcode_without_slicer_comments_is_accepted_with_a_warning() -> None:
    meta = read_print_file("hand.gcode", io.BytesIO(b"G28\nG1 X10\n")).metadata

    assert meta.plates[0].print_time_s is None
    assert meta.plates[0].filaments == ()
    assert meta.warnings == ("no slicer comments found: time and filament are unknown",)


def test_bgcode_metadata_blocks_plain_and_deflated() -> None:
    result = read_print_file("part.bgcode", io.BytesIO(prusa_bgcode()))

    meta = result.metadata
    assert result.kind is FileKind.BGCODE
    assert meta.slicer == "PrusaSlicer 2.8.0"
    assert meta.printer_model == "MK4S"  # from the deflated printer block
    assert meta.nozzle_diameter == 0.4
    (plate,) = meta.plates
    assert plate.print_time_s == 2 * 3600 + 5 * 60 + 10
    assert plate.layer_count == 120
    assert plate.has_thumbnail
    assert [(f.type, f.color, f.used_g, f.used_m) for f in plate.filaments] == [("PETG", "#112233", 15.25, 5.12)]
    image = read_thumbnail(FileKind.BGCODE, io.BytesIO(prusa_bgcode()), 1)
    assert image is not None
    assert image.data == PNG
    assert image.media_type == "image/png"


def test_a_truncated_bgcode_is_accepted_with_a_warning() -> None:
    meta = read_print_file("cut.bgcode", io.BytesIO(prusa_bgcode()[:30])).metadata

    assert meta.plates == ()
    assert meta.warnings
    assert "could not be read" in meta.warnings[0]
    assert read_thumbnail(FileKind.BGCODE, io.BytesIO(b"nope"), 1) is None


def test_metadata_survives_its_json_form() -> None:
    meta = read_print_file("a.gcode.3mf", io.BytesIO(bambu_3mf())).metadata

    assert FileMetadata.from_json(meta.to_json()) == meta
    assert "prediction" in SLICE_INFO  # the sample is the documented layout


def test_each_format_gives_the_temperatures_its_plate_is_sliced_for() -> None:
    # 3MF: the project's per-filament settings, the bed's for the plate's bed type (textured PEI here)
    three_mf = read_print_file("cube.gcode.3mf", io.BytesIO(bambu_3mf())).metadata.plates
    assert (three_mf[0].nozzle_temp, three_mf[0].bed_temp) == (220.0, 55.0)
    # PrusaSlicer G-code and bgcode: ``temperature`` / ``bed_temperature`` of the first tool used
    gcode = read_print_file("part.gcode", io.BytesIO(prusa_gcode())).metadata.plates[0]
    assert (gcode.nozzle_temp, gcode.bed_temp) == (215.0, 60.0)
    binary = read_print_file("part.bgcode", io.BytesIO(prusa_bgcode())).metadata.plates[0]
    assert (binary.nozzle_temp, binary.bed_temp) == (240.0, 85.0)
    # Cura writes none of them: unknown, never a guess
    cura = read_print_file("part.gcode", io.BytesIO(cura_gcode())).metadata.plates[0]
    assert (cura.nozzle_temp, cura.bed_temp) == (None, None)
    # and the stored form keeps them
    stored = FileMetadata.from_json(read_print_file("cube.gcode.3mf", io.BytesIO(bambu_3mf())).metadata.to_json())
    assert (stored.plates[0].nozzle_temp, stored.plates[0].bed_temp) == (220.0, 55.0)
