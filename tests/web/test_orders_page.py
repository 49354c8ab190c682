"""The Orders page as each role meets it: an operator adds a product profile from a library file, imports orders from
a CSV file, sees each order's status, problem and plates, schedules one and marks it shipped; a member is not shown
orders (they hold buyers' names); German."""

from __future__ import annotations

from printfleet.domain.accounts.roles import Role
from tests.e2e.harness import Server
from tests.files_samples import bambu_3mf
from tests.support_accounts import bearer_headers

CSV = (
    "order_id,buyer_name,ship_by,title,quantity,listing_id,personalisation\n"
    "E-7,Grace Hopper,2030-03-01,Keychain,7,555,\n"
    "E-8,Alan Turing,2030-03-02,Keychain,1,555,Alan\n"
)


async def test_an_operator_imports_orders_adds_a_profile_schedules_and_ships(server: Server) -> None:
    operator = await bearer_headers(server.runtime.accounts, username="olga", role=Role.OPERATOR)
    file_id = await server.upload("keychain.gcode.3mf", bambu_3mf())

    imported = await server.client.post(
        "/ui/orders/import", files={"file": ("etsy.csv", CSV.encode(), "text/csv")}, headers=operator
    )
    assert imported.status_code == 200, imported.text
    assert "2 order(s) added, 0 updated" in imported.text
    assert imported.text.count("no product profile matches this line") == 4  # per line and per order
    assert "Grace Hopper" in imported.text

    added = await server.client.post(
        "/ui/product-profiles",
        data={"name": "Keychain", "listing_id": "555", "file_id": str(file_id), "units_per_plate": "4"},
        headers=operator,
    )
    assert added.status_code == 200, added.text
    assert "Added Keychain" in added.text
    assert "4 per plate" in added.text
    [seven, eight] = sorted((await server.runtime.orders.list_orders_all()), key=lambda order: order.external_id or "")
    assert seven.status.value == "new"
    assert (eight.status.value, eight.problem) == (
        "needs_attention",
        "Keychain: personalisation requested; the profile 'Keychain' does not allow it",
    )

    scheduled = await server.client.post(f"/ui/orders/{seven.id}/schedule", headers=operator)
    assert scheduled.status_code == 200, scheduled.text
    assert "2 print(s) scheduled" in scheduled.text
    assert "Order E-7: Keychain (1/2)" in scheduled.text
    assert f'<tr class="order-scheduled" id="order-{seven.id}">' in scheduled.text
    assert '<span class="figures">0 / 2</span>' in scheduled.text
    # The page reads its orders' plates in one batch; each order shows what its own page would.
    orders = server.runtime.orders
    listed = await orders.list_orders_all()
    assert await orders.views(listed) == [await orders.get(order.id) for order in listed]
    assert f'<a href="/orders/{seven.id}" title="Open">' in scheduled.text

    detail = await server.client.get(f"/orders/{seven.id}", headers=operator)
    assert detail.status_code == 200, detail.text
    assert "Order E-7" in detail.text
    assert "7 × Keychain" in detail.text
    assert detail.text.count('<tr id="plate-') == 2
    assert "part 1, plate 1" in detail.text
    assert "part 1, plate 2" in detail.text
    assert "Grace Hopper" in detail.text
    missing = await server.client.get("/orders/999999", headers=operator)
    assert missing.status_code == 404

    shipped = await server.client.post(
        f"/ui/orders/{seven.id}/ship", data={"tracking_code": "1Z42", "carrier": "UPS"}, headers=operator
    )
    assert "Marked shipped" in shipped.text
    assert "UPS 1Z42" in shipped.text
    refused = await server.client.post(f"/ui/orders/{eight.id}/schedule", headers=operator)
    assert refused.status_code == 409
    assert "needs attention" in refused.text


async def test_members_are_not_shown_orders_and_operators_read_them_in_german(server: Server) -> None:
    member = await bearer_headers(server.runtime.accounts, username="mo", role=Role.MEMBER)
    page = await server.client.get("/orders", headers=member)
    assert page.status_code == 403
    assert (await server.client.get("/orders/1", headers=member)).status_code == 403
    assert 'href="/orders"' not in (await server.client.get("/", headers=member)).text
    operator = await bearer_headers(server.runtime.accounts, username="olga", role=Role.OPERATOR)
    body = (await server.client.get("/orders", headers={**operator, "Accept-Language": "de"})).text
    assert "<h1>Bestellungen</h1>" in body
    assert "Produktprofile" in body


TRIAL_CSV = (
    "order_id,buyer_name,ship_by,title,quantity,listing_id,sku\n"
    "T-1,Ada Lovelace,2030-04-01,Gear,2,777,GEAR-RED\n"
    "T-2,Edsger Dijkstra,2030-04-02,Gear,1,777,GEAR-BLUE\n"
    "T-3,Barbara Liskov,2030-04-03,Lamp,1,888,\n"
)


async def test_an_operator_tries_a_rule_on_recent_orders_before_saving_it_and_deletes_a_profile(
    server: Server,
) -> None:
    operator = await bearer_headers(server.runtime.accounts, username="olga", role=Role.OPERATOR)
    file_id = await server.upload("gear.gcode.3mf", bambu_3mf())
    imported = await server.client.post(
        "/ui/orders/import", files={"file": ("shop.csv", TRIAL_CSV.encode(), "text/csv")}, headers=operator
    )
    assert "3 order(s) added" in imported.text
    red = await server.client.post(
        "/ui/product-profiles",
        data={"name": "Red gear", "listing_id": "777", "sku": "GEAR-RED", "file_id": str(file_id)},
        headers=operator,
    )
    assert "Added Red gear" in red.text
    assert "gear.gcode.3mf · 1 per plate" in red.text  # the file by its name

    form = {"name": "Any gear", "listing_id": "777", "file_id": str(file_id), "units_per_plate": "2"}
    tried = await server.client.post("/ui/product-profiles/test", data=form, headers=operator)
    assert tried.status_code == 200, tried.text
    assert "The rule covers 2 lines of the recent orders:" in tried.text
    assert "Gear × 2, SKU GEAR-RED — Red gear, more specific, would print it" in tried.text
    assert "Gear × 1, SKU GEAR-BLUE — this profile would print it" in tried.text
    assert "Lamp" not in tried.text.split('id="profile-trial"')[1]
    assert 'value="Any gear"' in tried.text  # the form keeps what was typed
    assert [p.name for p in await server.runtime.orders.profiles()] == ["Red gear"]  # nothing saved

    nothing = await server.client.post(
        "/ui/product-profiles/test", data={**form, "listing_id": "999"}, headers=operator
    )
    assert "The rule covers none of the recent orders' lines" in nothing.text

    [profile] = await server.runtime.orders.profiles()
    deleted = await server.client.post(f"/ui/product-profiles/{profile.id}/delete", headers=operator)
    assert deleted.status_code == 200, deleted.text
    assert "Profile deleted" in deleted.text
    assert await server.runtime.orders.profiles() == []
    again = await server.client.post(f"/ui/product-profiles/{profile.id}/delete", headers=operator)
    assert again.status_code == 404

    member = await bearer_headers(server.runtime.accounts, username="mo", role=Role.MEMBER)
    refused = await server.client.post("/ui/product-profiles/test", data=form, headers=member)
    assert refused.status_code == 403
