"""Reading a print's project file back from a Bambu printer over implicit FTPS, against the simulator's FTPS server:
where it is looked for, which plate is printed, and what a missing file or a wrong access code gives."""

from __future__ import annotations

import dataclasses

import pytest

from printfleet.domain.printer import Secret
from printfleet.printers.bambu.ftps import FtpsUploadError
from printfleet.printers.bambu.project_files import fetch_project, printed_plate, project_candidates
from tests.printers.bambu.test_ftps import ACCESS_CODE, Printer, printer  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(60)


def test_the_paths_tried_follow_the_subtask_then_the_file_name_cache_first() -> None:
    assert project_candidates("Widget", "Metadata/plate_2.gcode") == [
        "/cache/Widget.3mf",
        "/Widget.3mf",
        "/cache/Widget.gcode.3mf",
        "/Widget.gcode.3mf",
    ]
    assert project_candidates(None, "/sdcard/Bracket v2.gcode.3mf")[-2:] == [
        "/cache/Bracket v2.gcode.3mf",
        "/Bracket v2.gcode.3mf",
    ]
    assert project_candidates("../etc/passwd", None) == []  # never a path out of the card


def test_the_printed_plate_comes_from_the_gcode_file_name() -> None:
    assert printed_plate("/data/Metadata/plate_3.gcode") == 3
    assert printed_plate("Widget.gcode.3mf") == 1
    assert printed_plate(None) == 1


async def test_the_first_file_the_printer_has_is_read_whole_and_none_when_it_has_none(printer: Printer) -> None:  # noqa: F811
    (printer.sd / "cache").mkdir(parents=True, exist_ok=True)
    content = bytes(range(256)) * 4000  # larger than one transfer chunk
    (printer.sd / "cache" / "Widget.gcode.3mf").write_bytes(content)
    candidates = project_candidates("Widget", None)

    found = await fetch_project(printer.config, candidates, port=printer.server.port)

    assert found == ("/cache/Widget.gcode.3mf", content)
    assert await fetch_project(printer.config, ["/cache/Nothing.3mf"], port=printer.server.port) is None


async def test_a_wrong_access_code_is_auth_failed_without_either_code(printer: Printer) -> None:  # noqa: F811
    config = dataclasses.replace(printer.config, access_code=Secret("00000000"))
    with pytest.raises(FtpsUploadError) as failed:
        await fetch_project(config, ["/cache/Widget.3mf"], port=printer.server.port)
    assert failed.value.reason == "auth_failed"
    assert ACCESS_CODE not in str(failed.value)
    assert "00000000" not in str(failed.value)
