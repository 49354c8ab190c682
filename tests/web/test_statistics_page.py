"""The Statistics page and ``GET /api/v1/statistics`` as an operator, a member and a German reader meet them: the
counts and success rate, the per-day chart, the printers' hours, the failure reasons in words, the CSV of the prints
behind the figures, and clear refusals."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from printfleet.domain.accounts.roles import Role
from tests.e2e.harness import Server
from tests.store.test_statistics_store import add, job
from tests.support_accounts import bearer_headers

DAY = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


async def seed(server: Server) -> str:
    printer = sorted(config.id for config, _ in server.runtime.monitoring.watched())[0]
    database = server.runtime.database
    await add(
        database,
        *[job(printer, DAY + timedelta(hours=n), "completed", duration=5400, name=f"part {n}") for n in range(3)],
        job(printer, DAY + timedelta(days=1), "failed", duration=1800, end_reason="printer error (0300_4000)"),
        job(
            printer,
            DAY + timedelta(days=1, hours=2),
            "unknown",
            duration=None,
            end_reason="printer idle; the end of the print was not seen",
        ),
        job(printer, DAY + timedelta(days=2), "cancelled", duration=600, name="=HYPERLINK(evil)"),
    )
    return printer


async def test_an_operator_sees_the_range_in_figures_words_and_bars(server: Server) -> None:
    printer = await seed(server)
    operator = await bearer_headers(server.runtime.accounts, username="olga", role=Role.OPERATOR)

    response = await server.client.get(
        "/statistics", params={"from": "2026-11-15", "to": "2026-11-24", "tz": "Europe/Berlin"}, headers=operator
    )

    assert response.status_code == 200, response.text
    body = response.text
    assert '<a href="/statistics" aria-current="page">Statistics</a>' in body
    assert "<dt>Prints</dt><dd>6</dd>" in body
    assert "<dt>Success rate</dt><dd>60 %</dd>" in body  # 3 completed of 5 ended; the unknown one left out
    assert "<dt>Printing hours</dt><dd>5.2</dd>" in body  # 3 × 1.5 h + 0.5 h + 10 min
    assert body.count("<g><title>") == 10  # a bar per day of the range
    assert "<title>2026-11-20: 3, Completed 3</title>" in body
    assert "The printer reported an error: 0300_4000." in body
    assert "The printer became idle; the end of the print was not seen." in body
    assert "Days in the time zone Europe/Berlin." in body
    assert f"printer_id={printer}" not in body  # all printers
    assert "tz=Europe%2FBerlin" in body
    assert "format=csv" in body


async def test_the_api_gives_the_figures_and_the_csv_of_the_prints_behind_them(server: Server) -> None:
    printer = await seed(server)
    params = {"from": "2026-11-20", "to": "2026-11-22", "tz": "UTC", "printer_id": printer}

    figures = (await server.client.get("/api/v1/statistics", params=params)).json()
    assert figures["totals"]["total"] == 6
    assert figures["totals"]["success_rate"] == 0.6
    assert [day["total"] for day in figures["days"]] == [3, 2, 1]
    assert figures["since"] == "2026-11-20T00:00:00Z"
    (row,) = figures["printers"]
    assert row["printer_id"] == printer
    assert row["printing_hours"] == 5.17
    assert figures["reasons"] == [
        {"status": "cancelled", "reason": "", "count": 1},
        {"status": "failed", "reason": "printer error (0300_4000)", "count": 1},
        {"status": "unknown", "reason": "printer idle; the end of the print was not seen", "count": 1},
    ]

    exported = await server.client.get("/api/v1/statistics", params={**params, "format": "csv"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert 'filename="printfleet-prints-2026-11-20-2026-11-22.csv"' in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][:4] == ["job_id", "printer_id", "job_name", "status"]
    assert [r[3] for r in rows[1:]] == ["completed", "completed", "completed", "failed", "unknown", "cancelled"]
    assert rows[-1][2] == "'=HYPERLINK(evil)"  # never a formula in a spreadsheet


async def test_bad_ranges_are_refused_with_the_parameter_named(server: Server) -> None:
    for params, named in (
        ({"tz": "Mars/Olympus"}, "tz: unknown time zone"),
        ({"from": "2026-11-22", "to": "2026-11-20"}, "to: the last day is before the first"),
        ({"from": "2020-01-01", "to": "2026-11-20"}, "from: a range is at most 400 days"),
    ):
        response = await server.client.get("/api/v1/statistics", params=params)
        assert response.status_code == 422, response.text
        assert named in response.text
    page = await server.client.get("/statistics", params={"from": "2026-11-22", "to": "2026-11-20"})
    assert page.status_code == 200
    assert "That range cannot be shown" in page.text


async def test_a_member_may_not_see_the_farms_statistics(server: Server) -> None:
    member = await bearer_headers(server.runtime.accounts, username="mia", role=Role.MEMBER)
    assert (await server.client.get("/api/v1/statistics", headers=member)).status_code == 403
    page = await server.client.get("/", headers=member)
    assert 'href="/statistics"' not in page.text


async def test_the_page_in_german(server: Server) -> None:
    await seed(server)
    response = await server.client.get(
        "/statistics", params={"from": "2026-11-15", "to": "2026-11-24"}, headers={"Accept-Language": "de"}
    )
    assert response.status_code == 200
    assert "<h1>Statistik</h1>" in response.text
    assert "Erfolgsquote" in response.text
