"""The Costs page as an operator, a member and a German reader meet it: the groups with their totals and failure
share, the weekly chart, the CSV link for the same range; each print's cost as fixed when it ended."""

from __future__ import annotations

from datetime import UTC, datetime

from printfleet.domain.accounts.roles import Role
from printfleet.domain.materials.costs import JobCost
from printfleet.domain.materials.tracking import UsageTracking
from printfleet.domain.materials.usage import UsageLine
from printfleet.store.materials.usage import SqlUsageRepository
from tests.e2e.harness import Server
from tests.support_accounts import bearer_headers

MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
NEXT_WEEK = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


async def _ended_job(
    server: Server,
    *,
    outcome: str,
    ended_at: datetime,
    grams: float,
    total: float,
    energy: float | None = None,
    machine: float | None = None,
    customer: str | None = None,
) -> int:
    """A job whose print ended with ``outcome``, its usage and cost stored as the usage service stores them."""
    printer = sorted(config.id for config, _ in server.runtime.monitoring.watched())[0]
    job = await server.runtime.jobs.create_manual(
        printer_id=printer,
        printer_type="bambu",
        job_name=f"{outcome} print",
        filename=None,
        customer_info={"name": customer} if customer else None,
    )
    repository = SqlUsageRepository(server.runtime.database)
    assert await repository.start_tracking(job.id, printer, UsageTracking(), at=ended_at)
    line = UsageLine(slot="AMS0-T0", spool_id=None, grams=grams, material="PLA")
    material = total - (energy or 0.0) - (machine or 0.0)
    cost = JobCost(
        currency="EUR",
        material_grams=grams,
        material_cost=material,
        printing_hours=1.0,
        energy_cost=energy,
        machine_cost=machine,
    )
    assert await repository.settle(
        job.id, [line], cost, printer_id=printer, outcome=outcome, ended_at=ended_at, customer=customer, at=ended_at
    )
    return job.id


async def test_an_operator_sees_the_costs_by_outcome_per_week_with_the_failure_share(server: Server) -> None:
    await _ended_job(server, outcome="completed", ended_at=MONDAY, grams=30.0, total=3.0)
    await _ended_job(server, outcome="failed", ended_at=NEXT_WEEK, grams=10.0, total=1.0)
    operator = await bearer_headers(server.runtime.accounts, username="olga", role=Role.OPERATOR)

    response = await server.client.get(
        "/costs", params={"from": "2026-11-01", "to": "2026-12-03", "group_by": "outcome"}, headers=operator
    )

    assert response.status_code == 200, response.text
    body = response.text
    assert '<a href="/costs" aria-current="page">Costs</a>' in body
    assert '<th scope="row">Completed</th>' in body
    assert '<th scope="row">Failed</th>' in body
    assert "€4.00" in body  # the total of both
    assert "25 %" in body  # the failed print's share of the total
    assert body.count('<rect class="part-material"') == 2  # two weeks: 23 November and 30 November
    assert "<title>2026-11-23: €3.00</title>" in body
    assert "<title>2026-11-30: €1.00</title>" in body
    assert "format=csv" in body
    assert "group_by=outcome" in body

    narrower = await server.client.get(
        "/costs", params={"from": "2026-11-30", "to": "2026-12-03", "group_by": "outcome"}, headers=operator
    )
    assert "Completed" not in narrower.text.split("<tbody>", 1)[1]


async def test_a_member_may_not_see_costs_and_a_german_reader_reads_german(server: Server) -> None:
    await _ended_job(server, outcome="completed", ended_at=MONDAY, grams=30.0, total=3.0)
    member = await bearer_headers(server.runtime.accounts, username="mia", role=Role.MEMBER)
    refused = await server.client.get("/costs", headers=member)
    assert refused.status_code == 403
    operator = await bearer_headers(server.runtime.accounts, username="olga", role=Role.OPERATOR)

    german = await server.client.get(
        "/costs",
        params={"from": "2026-11-01", "to": "2026-11-30", "lang": "de"},
        headers={**operator, "Accept-Language": "de"},
    )

    assert "<h1>Kosten</h1>" in german.text
    assert "3,00" in german.text
    assert "Pro Woche" in german.text


async def test_costs_by_customer_follow_a_customer_named_after_the_print_ended(server: Server) -> None:
    await _ended_job(server, outcome="completed", ended_at=MONDAY, grams=30.0, total=3.0, customer="Ada's Shop")
    later = await _ended_job(server, outcome="completed", ended_at=NEXT_WEEK, grams=10.0, total=1.0)
    operator = await bearer_headers(server.runtime.accounts, username="olga", role=Role.OPERATOR)
    edited = await server.client.patch(
        f"/api/v1/jobs/{later}", json={"customer_info": {"name": "Ada's Shop"}, "is_business": True}, headers=operator
    )
    assert edited.status_code == 200, edited.text

    report = await server.client.get("/api/v1/reports/costs", params={"group_by": "customer"}, headers=operator)
    assert [(row["key"], row["jobs"], row["total"]) for row in report.json()["rows"]] == [("Ada's Shop", 2, 4.0)]
    by_flag = await server.client.get("/api/v1/reports/costs", params={"group_by": "business"}, headers=operator)
    assert [(row["key"], row["jobs"]) for row in by_flag.json()["rows"]] == [("business", 1), ("personal", 1)]
    deleted = await server.client.delete(f"/api/v1/jobs/{later}", headers=operator)
    assert deleted.status_code == 204
    report = await server.client.get("/api/v1/reports/costs", params={"group_by": "customer"}, headers=operator)
    assert [(row["key"], row["jobs"]) for row in report.json()["rows"]] == [("Ada's Shop", 1)]  # deleted: left out
