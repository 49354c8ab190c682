"""The Statistics figures, aggregated by the store on both databases: local days in the viewer's time zone, success
rate, printing hours, failure reasons, utilisation from the state transitions, actual against sliced duration."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from printfleet.domain.statistics import StatsRange
from printfleet.services.statistics import StatisticsService
from printfleet.store.database import Database
from printfleet.store.dispatch_tables import DispatchRow
from printfleet.store.file_tables import PrintFileRow
from printfleet.store.statistics import SqlStatisticsRepository
from printfleet.store.tables import JobRow, PrinterRow, PrinterStateTransitionRow

NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)


def printer(printer_id: str) -> PrinterRow:
    return PrinterRow(
        id=printer_id,
        name=printer_id,
        kind="bambu",
        tls_insecure=False,
        source="api",
        created_at=NOW,
        updated_at=NOW,
    )


def job(printer_id: str, created: datetime, status: str, **fields: Any) -> JobRow:
    ended = status in ("completed", "failed", "cancelled", "unknown")
    duration = fields.pop("duration", 3600 if ended else None)
    return JobRow(
        printer_id=printer_id,
        printer_type="bambu",
        job_name=fields.pop("name", "part"),
        status=status,
        created_at=created,
        start_time=created,
        end_time=created + timedelta(seconds=duration) if ended and duration is not None else None,
        duration_seconds=duration,
        is_business=False,
        customer_info={},
        auto_created=True,
        discovered_on_startup=False,
        updated_at=created,
        **fields,
    )


def transition(printer_id: str, at: datetime, state: str) -> PrinterStateTransitionRow:
    return PrinterStateTransitionRow(printer_id=printer_id, from_state=None, to_state=state, at=at)


@pytest.fixture
async def statistics(database: Database) -> StatisticsService:
    return StatisticsService(SqlStatisticsRepository(database), clock=lambda: NOW)


async def add(database: Database, *rows: Any) -> None:
    async with database.transaction() as session:
        session.add_all(rows)


async def test_prints_fall_on_the_local_day_of_the_viewers_time_zone(
    database: Database, statistics: StatisticsService
) -> None:
    await add(database, printer("p1"))
    # 2026-12-08 23:50 UTC is 12-08 in London and 12-09 in Tokyo (+9) and in Kolkata (+5:30, a half-hour zone);
    # 2026-12-09 18:40 UTC is 12-10 00:10 in Kolkata.
    await add(
        database,
        job("p1", datetime(2026, 12, 8, 23, 50, tzinfo=UTC), "completed"),
        job("p1", datetime(2026, 12, 9, 18, 40, tzinfo=UTC), "failed", end_reason="printer error (0300_4000)"),
        job("p1", datetime(2026, 12, 9, 18, 20, tzinfo=UTC), "cancelled"),
        job("p1", datetime(2026, 12, 9, 10, 0, tzinfo=UTC), "pending", duration=None),  # waiting: not a print
    )
    per_zone = {}
    for zone in ("Europe/London", "Asia/Tokyo", "Asia/Kolkata"):
        figures = await statistics.figures(StatsRange.of(date(2026, 12, 8), date(2026, 12, 10), zone))
        per_zone[zone] = {d.day.day: d.counts.total for d in figures.days}
    assert per_zone["Europe/London"] == {8: 1, 9: 2, 10: 0}
    assert per_zone["Asia/Tokyo"] == {8: 0, 9: 1, 10: 2}
    assert per_zone["Asia/Kolkata"] == {8: 0, 9: 2, 10: 1}


async def test_success_rate_hours_and_reasons_per_printer(database: Database, statistics: StatisticsService) -> None:
    await add(database, printer("p1"), printer("p2"))
    day = datetime(2026, 12, 9, 9, 0, tzinfo=UTC)
    await add(
        database,
        *[job("p1", day + timedelta(minutes=n), "completed", duration=1800) for n in range(6)],
        job("p1", day, "failed", duration=600, end_reason="printer error (0300_4000)"),
        job("p1", day, "failed", duration=900, end_reason="printer error (0300_4000)"),
        job("p2", day, "cancelled", duration=300),
        job("p2", day, "unknown", duration=None, end_reason="printer idle; the end of the print was not seen"),
        job("p2", day + timedelta(hours=1), "running"),
        job("p2", day, "completed", deleted_at=day),  # deleted: not counted
    )
    figures = await statistics.figures(StatsRange.of(date(2026, 12, 9), date(2026, 12, 9), "UTC"))
    by_printer = {p.printer_id: p for p in figures.printers}
    assert by_printer["p1"].counts.success_rate == pytest.approx(6 / 8)
    assert by_printer["p1"].print_seconds == 6 * 1800 + 600 + 900
    assert by_printer["p2"].counts.success_rate == 0.0  # one cancelled, the unknown one left out
    assert by_printer["p2"].counts["running"] == 1
    assert figures.counts.total == 11
    assert [(r.status, r.reason, r.count) for r in figures.reasons] == [
        ("failed", "printer error (0300_4000)", 2),
        ("cancelled", "", 1),
        ("unknown", "printer idle; the end of the print was not seen", 1),
    ]
    only_p2 = await statistics.figures(StatsRange.of(date(2026, 12, 9), date(2026, 12, 9), "UTC", ["p2"]))
    assert [p.printer_id for p in only_p2.printers] == ["p2"]
    assert only_p2.counts.total == 3


async def test_utilisation_is_printing_time_over_connected_time_clipped_to_the_range(
    database: Database, statistics: StatisticsService
) -> None:
    await add(database, printer("p1"), printer("p2"))
    start = datetime(2026, 12, 9, tzinfo=UTC)
    await add(
        database,
        # Each printer starts the range in the state of its own last change before it.
        transition("p2", start - timedelta(hours=3), "offline"),
        transition("p2", start + timedelta(hours=6), "printing"),
        transition("p2", start + timedelta(hours=9), "idle"),
        transition("p1", start - timedelta(hours=5), "idle"),  # the state the range starts in
        transition("p1", start + timedelta(hours=2), "printing"),
        transition("p1", start + timedelta(hours=8), "finished"),
        transition("p1", start + timedelta(hours=10), "offline"),
        transition("p1", start + timedelta(hours=14), "idle"),
        transition("p1", start + timedelta(hours=20), "printing"),  # until the end of the day (range end)
        transition("p1", start + timedelta(hours=30), "idle"),  # after the range: ignored
    )
    figures = await statistics.figures(StatsRange.of(date(2026, 12, 9), date(2026, 12, 9), "UTC"))
    p1, p2 = figures.printers
    assert p2.printing_seconds == pytest.approx(3 * 3600)
    assert p2.connected_seconds == pytest.approx(18 * 3600)  # offline until 06:00
    assert p1.printing_seconds == pytest.approx((6 + 4) * 3600)
    assert p1.connected_seconds == pytest.approx((24 - 4) * 3600)
    assert p1.utilisation == pytest.approx(10 / 20)
    # A range reaching past now stops at now (12:00 on the 10th): the printer has been idle since 06:00.
    today = await statistics.figures(StatsRange.of(date(2026, 12, 10), date(2026, 12, 11), "UTC", ["p1"]))
    assert today.printers[0].printing_seconds == pytest.approx(6 * 3600)
    assert today.printers[0].connected_seconds == pytest.approx(12 * 3600)


async def test_actual_against_sliced_duration_of_prints_sent_from_the_library(
    database: Database, statistics: StatisticsService
) -> None:
    await add(database, printer("p1"))
    plates = [{"index": 1, "print_time_s": 3000}, {"index": 2, "print_time_s": 6000}]
    await add(
        database,
        PrintFileRow(
            id=7,
            sha256="a" * 64,
            name="bracket.gcode.3mf",
            kind="bambu_3mf",
            size_bytes=10,
            materials="PLA",
            file_metadata={"plates": plates},
            created_at=NOW,
        ),
    )
    day = datetime(2026, 12, 9, 9, 0, tzinfo=UTC)
    dispatches = []
    for n, plate in enumerate((1, 2), start=1):
        dispatches.append(
            DispatchRow(
                id=n,
                printer_id="p1",
                file_id=7,
                plate=plate,
                job_name="bracket",
                remote_name="bracket.gcode.3mf",
                options={},
                state="confirmed",
                attempts=1,
                created_at=day,
                updated_at=day,
            )
        )
    await add(database, *dispatches)
    await add(
        database,
        job("p1", day, "completed", duration=3300, dispatch_id=1),
        job("p1", day, "completed", duration=6600, dispatch_id=2),
        job("p1", day, "completed", duration=100),  # not from the library: no estimate
    )
    figures = await statistics.figures(StatsRange.of(date(2026, 12, 9), date(2026, 12, 9), "UTC"))
    assert figures.durations.prints == 2
    assert figures.durations.ratio == pytest.approx((3300 + 6600) / (3000 + 6000))


async def test_the_csv_rows_are_the_prints_of_the_range_oldest_first(
    database: Database, statistics: StatisticsService
) -> None:
    await add(database, printer("p1"))
    await add(
        database,
        job("p1", datetime(2026, 12, 9, 12, tzinfo=UTC), "failed", name="second"),
        job("p1", datetime(2026, 12, 9, 8, tzinfo=UTC), "completed", name="first"),
        job("p1", datetime(2026, 12, 10, 8, tzinfo=UTC), "completed", name="outside"),
    )
    rows = await statistics.job_rows(StatsRange.of(date(2026, 12, 9), date(2026, 12, 9), "UTC"))
    assert [(row[2], row[3]) for row in rows] == [("first", "completed"), ("second", "failed")]
