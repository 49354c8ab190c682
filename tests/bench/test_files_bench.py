"""Smoke test of the file-library benchmark (``bench/files.py``) with a small upload: the figures come out and make
sense. Whether the target is met at 200 MB is ``make bench``'s business (``python -m bench files``)."""

from __future__ import annotations

from pathlib import Path

from bench.__main__ import BENCHMARKS
from bench.files import measure, write_gcode


def test_files_benchmark_is_registered() -> None:
    assert BENCHMARKS["files"][0] == "bench.files:run"


def test_the_generated_gcode_has_the_size_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "x.gcode"
    write_gcode(path, 3_000_000)
    assert 2_990_000 <= path.stat().st_size <= 3_000_000


async def test_files_benchmark_measures_the_rss_growth_of_an_upload() -> None:
    figures = await measure(size_bytes=5_000_000)

    growth, upload = figures
    assert growth.name == "files: server RSS growth during a 5 MB upload"
    assert growth.measured.endswith(")")
    assert growth.target == "< 50 MB"
    assert growth.passed is not None
    assert "stored 4999" in upload.measured
    assert "print time 36123.0 s" in upload.measured  # the metadata was read from the streamed file
