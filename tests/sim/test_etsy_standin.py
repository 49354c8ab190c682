"""The Etsy stand-in answers as Etsy's Open API v3 does: key checks with Etsy's words, OAuth with rotating refresh
tokens, receipts filtered, sorted and paged, tracking, injected failures and rate-limit headers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from printfleet.sim.etsy import EtsyStandIn
from printfleet.sim.etsy_receipts import ReceiptQuery, transaction

LIMIT_HEADERS = ("x-limit-per-second", "x-remaining-this-second", "x-limit-per-day", "x-remaining-today")


@pytest.fixture
async def etsy() -> AsyncIterator[EtsyStandIn]:
    async with EtsyStandIn() as standin:
        yield standin


@pytest.fixture
async def api(etsy: EtsyStandIn) -> AsyncIterator[httpx.AsyncClient]:
    """A client with the key and a token holding every scope printfleet asks for."""
    token = etsy.issue_tokens()["access_token"]
    headers = {"x-api-key": etsy.api_key, "authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=etsy.url, headers=headers, timeout=5.0) as client:
        yield client


def receipts_path(etsy: EtsyStandIn) -> str:
    return f"/v3/application/shops/{etsy.shop_id}/receipts"


async def test_bare_keystring_is_refused_with_etsys_words(etsy: EtsyStandIn) -> None:
    async with httpx.AsyncClient(base_url=etsy.url) as client:
        answer = await client.get("/v3/application/openapi-ping", headers={"x-api-key": etsy.keystring})
    assert answer.status_code == 403
    assert answer.json() == {"error": "Shared secret is required in x-api-key header."}


@pytest.mark.parametrize("key", [":secret", "keystring:", "a:b:c"])
async def test_malformed_key_is_refused_with_etsys_words(etsy: EtsyStandIn, key: str) -> None:
    async with httpx.AsyncClient(base_url=etsy.url) as client:
        answer = await client.get("/v3/application/openapi-ping", headers={"x-api-key": key})
    assert answer.status_code == 403
    assert answer.json() == {"error": "Invalid API key: should be in the format 'keystring:shared_secret'."}


async def test_ping_answers_with_the_application_id_and_rate_limit_headers(etsy: EtsyStandIn) -> None:
    async with httpx.AsyncClient(base_url=etsy.url) as client:
        answer = await client.get("/v3/application/openapi-ping", headers={"x-api-key": etsy.api_key})
    assert answer.status_code == 200
    assert answer.json() == {"application_id": etsy.application_id}
    assert all(name in answer.headers for name in LIMIT_HEADERS)
    assert int(answer.headers["x-remaining-today"]) == etsy.limit_per_day - 1


async def test_refresh_rotates_and_the_used_refresh_token_is_revoked(etsy: EtsyStandIn) -> None:
    first = etsy.issue_tokens()
    form = {"grant_type": "refresh_token", "client_id": etsy.keystring, "refresh_token": first["refresh_token"]}
    async with httpx.AsyncClient(base_url=etsy.url, headers={"x-api-key": etsy.api_key}) as client:
        rotated = await client.post("/v3/public/oauth/token", data=form)
        reused = await client.post("/v3/public/oauth/token", data=form)
    assert rotated.status_code == 200
    body = rotated.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"].startswith(f"{etsy.user_id}.")
    assert reused.status_code == 400
    assert reused.json() == {"error": "invalid_grant", "error_description": "refresh_token is revoked"}


async def test_expired_access_token_is_401_invalid_token(etsy: EtsyStandIn, api: httpx.AsyncClient) -> None:
    assert (await api.get("/v3/application/users/me")).json() == {"user_id": etsy.user_id, "shop_id": etsy.shop_id}
    etsy.expire_access_tokens()
    answer = await api.get("/v3/application/users/me")
    assert answer.status_code == 401
    assert answer.json() == {"error": "invalid_token", "error_description": "access token is expired"}


async def test_token_without_the_scope_is_403(etsy: EtsyStandIn) -> None:
    token = etsy.issue_tokens(["shops_r"])["access_token"]
    headers = {"x-api-key": etsy.api_key, "authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=etsy.url, headers=headers) as client:
        answer = await client.get(receipts_path(etsy))
    assert answer.status_code == 403
    assert "transactions_r" in answer.json()["error"]


async def test_receipts_are_filtered_sorted_and_paged(etsy: EtsyStandIn, api: httpx.AsyncClient) -> None:
    for index in range(30):
        etsy.add_receipt(created=1_764_000_000 + index, transactions=[transaction(title=f"Part {index}")])
    changed = etsy.add_receipt(created=1_763_000_000, transactions=[transaction(title="Old order")])
    etsy.change_receipt(changed["receipt_id"], updated=1_765_000_000, is_shipped=True)

    default = (await api.get(receipts_path(etsy))).json()
    assert default["count"] == 31
    assert len(default["results"]) == 25  # the document's default limit
    assert default["results"][0]["create_timestamp"] == 1_764_000_029  # newest created first by default

    page = await api.get(
        receipts_path(etsy),
        params={"sort_on": "updated", "sort_order": "asc", "min_last_modified": 1_764_000_010, "limit": 100},
    )
    results = page.json()["results"]
    assert page.json()["count"] == 21
    assert results[-1]["receipt_id"] == changed["receipt_id"]
    assert [r["update_timestamp"] for r in results] == sorted(r["update_timestamp"] for r in results)

    unshipped = (await api.get(receipts_path(etsy), params={"was_shipped": "false", "limit": 100})).json()
    assert unshipped["count"] == 30
    second = (await api.get(receipts_path(etsy), params={"sort_on": "receipt_id", "limit": 10, "offset": 10})).json()
    assert len(second["results"]) == 10


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"sort_on": "price"}, {"min_created": 5}]
)
async def test_out_of_range_receipt_queries_are_400(
    etsy: EtsyStandIn, api: httpx.AsyncClient, params: dict[str, object]
) -> None:
    answer = await api.get(receipts_path(etsy), params=params)
    assert answer.status_code == 400
    assert set(answer.json()) == {"error"}


async def test_receipt_has_the_documented_shape(etsy: EtsyStandIn, api: httpx.AsyncClient) -> None:
    keychain, *_ = etsy.seed_demo(datetime.now(UTC))
    answer = await api.get(f"{receipts_path(etsy)}/{keychain['receipt_id']}")
    receipt = answer.json()
    assert receipt["status"] == "paid"
    assert receipt["grandtotal"] == {"amount": 7 * 650, "divisor": 100, "currency_code": "USD"}
    assert receipt["create_timestamp"] == receipt["created_timestamp"]
    [line] = receipt["transactions"]
    assert line["quantity"] == 7
    assert line["receipt_id"] == keychain["receipt_id"]
    assert {"property_id", "value_id", "formatted_name", "formatted_value"} == set(line["variations"][0])
    missing = await api.get(f"{receipts_path(etsy)}/1")
    assert missing.status_code == 404
    assert set(missing.json()) == {"error"}


async def test_tracking_marks_the_receipt_shipped_and_records_the_shipment(
    etsy: EtsyStandIn, api: httpx.AsyncClient
) -> None:
    receipt = etsy.add_receipt(
        created=1_764_000_000, transactions=[transaction(title="Vase", expected_ship_date=1_764_500_000)]
    )
    path = f"{receipts_path(etsy)}/{receipt['receipt_id']}/tracking"

    answer = await api.post(path, data={"tracking_code": "9400100000000000000000", "carrier_name": "usps"})

    assert answer.status_code == 200
    shipped = answer.json()
    assert shipped["is_shipped"] is True
    assert shipped["status"] == "completed"
    assert shipped["update_timestamp"] > receipt["update_timestamp"]
    assert shipped["transactions"][0]["expected_ship_date"] is None
    [shipment] = shipped["shipments"]
    assert (shipment["tracking_code"], shipment["carrier_name"]) == ("9400100000000000000000", "usps")
    again = await api.post(path, data={"tracking_code": "9400100000000000000000", "carrier_name": "usps"})
    assert again.status_code == 409


async def test_injected_429s_with_and_without_retry_after(etsy: EtsyStandIn, api: httpx.AsyncClient) -> None:
    etsy.fail_next(1, retry_after_s=2)
    limited = await api.get("/v3/application/users/me")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    assert "x-remaining-today" not in limited.headers
    etsy.fail_next(1)
    assert "retry-after" not in (await api.get("/v3/application/users/me")).headers
    assert (await api.get("/v3/application/users/me")).status_code == 200
    etsy.exhaust_daily_limit()
    assert (await api.get("/v3/application/users/me")).status_code == 429
    etsy.exhaust_daily_limit(exhausted=False)
    assert (await api.get("/v3/application/users/me")).status_code == 200


async def test_ten_thousand_receipts_page_fast(etsy: EtsyStandIn) -> None:
    for index in range(10_000):
        etsy.receipts.put(
            {
                "receipt_id": index + 1,
                "create_timestamp": 1_764_000_000 + index,
                "update_timestamp": 1_764_000_000 + (index * 7919) % 10_000,
                "status": "paid",
                "is_paid": True,
                "is_shipped": False,
            }
        )
    started = time.perf_counter()
    count, page = etsy.receipts.query(
        ReceiptQuery(sort_on="updated", descending=False, min_last_modified=1_764_009_900, limit=100)
    )
    one_page_s = time.perf_counter() - started
    assert count == 100
    assert [r["update_timestamp"] for r in page] == list(range(1_764_009_900, 1_764_010_000))
    assert one_page_s < 0.05
