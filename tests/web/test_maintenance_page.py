"""The Maintenance page as each role meets it: every task's standing per printer as a progress bar, the add form that
keeps what was typed after an error, marking a task done; members and viewers only read; German."""

from __future__ import annotations

from printfleet.domain.accounts.roles import Role
from tests.e2e.harness import Server
from tests.support_accounts import bearer_headers


async def test_an_operator_adds_a_task_sees_it_per_printer_and_marks_it_done(server: Server) -> None:
    operator = await bearer_headers(server.runtime.accounts, username="olga", role=Role.OPERATOR)
    added = await server.client.post(
        "/ui/maintenance/tasks",
        data={
            "name": "Clean the nozzle",
            "interval": "20",
            "unit": "print_hours",
            "printer_id": "",
            "printer_model": "",
        },
        headers=operator,
    )
    assert added.status_code == 200, added.text
    assert "Added Clean the nozzle" in added.text
    [task] = await server.runtime.maintenance.tasks()
    printer = sorted(config.id for config, _ in server.runtime.monitoring.watched())[0]
    await server.runtime.maintenance.set_offset(task.id, printer, 19.0)

    body = (await server.client.get("/maintenance", headers=operator)).text
    assert body.count("Clean the nozzle") >= 3  # one row per printer, and the task list
    assert f'<tr class="level-due_soon" id="task-{task.id}-{printer}">' in body
    assert '<progress max="100" value="95.0"' in body
    assert "19.0 / 20.0 print hours" in body
    assert f'action="/ui/maintenance/tasks/{task.id}/printers/{printer}/done"' in body

    done = await server.client.post(
        f"/ui/maintenance/tasks/{task.id}/printers/{printer}/done", data={"notes": "wiped"}, headers=operator
    )
    assert done.status_code == 200
    assert f"Clean the nozzle done on {printer}" in done.text
    assert f'<tr class="level-ok" id="task-{task.id}-{printer}">' in done.text
    assert "wiped" in done.text  # the log


async def test_a_refused_task_keeps_what_was_typed_and_says_why(server: Server) -> None:
    response = await server.client.post(
        "/ui/maintenance/tasks",
        data={"name": "Belts", "interval": "soon", "unit": "days", "printer_id": "", "printer_model": "X1C"},
    )
    assert response.status_code == 422
    assert "Interval: give a number and a unit." in response.text
    assert 'value="Belts"' in response.text
    assert 'value="X1C"' in response.text
    assert await server.runtime.maintenance.tasks() == []


async def test_members_read_without_forms_and_the_page_speaks_german(server: Server) -> None:
    await server.client.post(
        "/api/v1/maintenance/tasks", json={"name": "Riemen prüfen", "interval": 30, "unit": "days"}
    )
    member = await bearer_headers(server.runtime.accounts, username="mo", role=Role.MEMBER)
    body = (await server.client.get("/maintenance", headers={**member, "Accept-Language": "de"})).text
    assert "<h1>Wartung</h1>" in body
    assert "Riemen prüfen" in body
    assert "/ui/maintenance/" not in body
    refused = await server.client.post(
        "/ui/maintenance/tasks", data={"name": "x", "interval": "1", "unit": "days"}, headers=member
    )
    assert refused.status_code == 403
