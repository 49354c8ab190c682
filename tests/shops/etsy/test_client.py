"""The Etsy client against the stand-in over real HTTP: polling receipts from a watermark, paging, token refresh and
rotation, rate limits, malformed receipts, tracking write-back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import structlog

from printfleet.domain.orders.model import IncomingOrder
from printfleet.domain.printer import Secret
from printfleet.shops.etsy import EtsyError, EtsyRateLimited, EtsyReconnectNeeded, EtsyTokens
from printfleet.shops.etsy.client import EtsyClient, MemoryTokenStore
from printfleet.shops.etsy.oauth import refresh_tokens
from printfleet.sim.etsy import EtsyStandIn
from printfleet.sim.etsy_receipts import transaction
from tests.shops.etsy.support import RecordingSleep, client_for, connected


async def poll(
    client: EtsyClient, etsy: EtsyStandIn, watermark: datetime | None, **options: object
) -> list[IncomingOrder]:
    return [order async for order in client.receipts_since(etsy.shop_id, watermark=watermark, **options)]  # type: ignore[arg-type]


def add_many(etsy: EtsyStandIn, count: int, *, start: int) -> None:
    for index in range(count):
        etsy.add_receipt(created=start + index, transactions=[transaction(title=f"Benchy #{index}")])


async def test_three_paid_receipts_are_listed_once(etsy: EtsyStandIn, http: httpx.AsyncClient) -> None:
    seeded = etsy.seed_demo(datetime.now(UTC))
    client = client_for(etsy, connected(etsy), http)

    orders = await poll(client, etsy, None)

    assert [order.external_id for order in orders] == [str(receipt["receipt_id"]) for receipt in seeded]
    keychain, name_tag, vase = orders
    assert keychain.lines[0].quantity == 7
    assert len(keychain.lines[0].variations) == 2
    assert keychain.lines[0].variations[1].value == "Gift & box"
    assert name_tag.lines[0].personalisation == "Ada & Byron"
    assert vase.lines[0].personalisation is None
    assert vase.ship_by == vase.created_at + timedelta(days=5)
    assert all(order.is_paid and not order.is_shipped for order in orders)
    [listing] = [entry for entry in etsy.request_log if entry.path.endswith("/receipts")]
    assert listing.query == {"sort_on": "updated", "sort_order": "asc", "limit": "100", "offset": "0"}


async def test_second_poll_from_the_watermark_returns_the_changed_receipt_once(
    etsy: EtsyStandIn, http: httpx.AsyncClient
) -> None:
    now = datetime.now(UTC)
    oldest, _middle, newest = etsy.seed_demo(now)
    client = client_for(etsy, connected(etsy), http)
    first = await poll(client, etsy, None)
    watermark = max(order.updated_at for order in first if order.updated_at is not None)

    etsy.change_receipt(oldest["receipt_id"], status="canceled")
    second = await poll(client, etsy, watermark, overlap=timedelta(minutes=10))

    # The newest receipt last changed at the watermark itself: the inclusive bound (and the overlap) reads it again;
    # the middle one changed two hours ago and is not read; the cancelled one comes last, once.
    assert [order.external_id for order in second] == [str(newest["receipt_id"]), str(oldest["receipt_id"])]
    assert second[-1].cancelled
    [listing] = [entry for entry in etsy.request_log if entry.path.endswith("/receipts")][1:]
    assert listing.query["min_last_modified"] == str(int((watermark - timedelta(minutes=10)).timestamp()))


async def test_polling_pages_through_250_receipts(etsy: EtsyStandIn, http: httpx.AsyncClient) -> None:
    add_many(etsy, 250, start=1_764_000_000)
    client = client_for(etsy, connected(etsy), http)

    orders = await poll(client, etsy, None)

    assert len(orders) == 250
    assert len({order.external_id for order in orders}) == 250
    pages = [entry.query["offset"] for entry in etsy.request_log if entry.path.endswith("/receipts")]
    assert pages == ["0", "100", "200"]


async def test_token_expiring_during_a_poll_is_refreshed_and_saved_before_use(
    etsy: EtsyStandIn, http: httpx.AsyncClient
) -> None:
    add_many(etsy, 150, start=1_764_000_000)
    store = connected(etsy)
    old = store.tokens
    saved_at: list[int] = []
    original_save = store.save

    async def save(tokens: EtsyTokens) -> None:
        saved_at.append(len(etsy.request_log))
        await original_save(tokens)

    store.save = save  # type: ignore[method-assign]
    client = client_for(etsy, store, http)

    orders: list[IncomingOrder] = []
    async for order in client.receipts_since(etsy.shop_id, watermark=None):
        orders.append(order)
        if len(orders) == 1:
            etsy.expire_access_tokens()

    assert len(orders) == 150
    [new] = store.saved
    assert old is not None
    assert new.refresh_token != old.refresh_token
    log = etsy.request_log
    uses_of_new = [i for i, entry in enumerate(log) if entry.bearer == new.access_token.reveal()]
    assert uses_of_new
    assert min(uses_of_new) >= saved_at[0]  # stored before the new access token went out
    assert [entry.status for entry in log[saved_at[0] - 2 : saved_at[0]]] == [401, 200]
    assert log[saved_at[0] - 1].path == "/v3/public/oauth/token"


async def test_access_token_about_to_expire_is_refreshed_before_the_request(
    etsy: EtsyStandIn, http: httpx.AsyncClient
) -> None:
    store = connected(etsy)
    assert store.tokens is not None
    late = store.tokens.expires_at - timedelta(minutes=4)
    client = client_for(etsy, store, http, clock=lambda: late)

    assert await client.me() == (etsy.user_id, etsy.shop_id)

    assert len(store.saved) == 1
    assert [entry.status for entry in etsy.request_log] == [200, 200]  # refresh, then getMe: no 401 on the way


async def test_reused_refresh_token_asks_for_a_reconnect(etsy: EtsyStandIn, http: httpx.AsyncClient) -> None:
    store = connected(etsy)
    assert store.tokens is not None
    # Someone else used the stored refresh token (and lost the answer): it is dead now.
    await refresh_tokens(
        http,
        token_url=etsy.token_url,
        keystring=etsy.keystring,
        shared_secret=Secret(etsy.shared_secret),
        tokens=store.tokens,
    )
    etsy.expire_access_tokens()
    client = client_for(etsy, store, http)

    with pytest.raises(EtsyReconnectNeeded) as caught:
        await poll(client, etsy, None)

    assert caught.value.error == "invalid_grant"
    assert caught.value.description == "refresh_token is revoked"
    assert store.saved == []


async def test_refresh_answered_500_is_retried_once(etsy: EtsyStandIn, http: httpx.AsyncClient) -> None:
    store = connected(etsy)
    etsy.expire_access_tokens()
    etsy.fail_next_refresh(1)
    client = client_for(etsy, store, http)

    assert await client.me() == (etsy.user_id, etsy.shop_id)

    statuses = [entry.status for entry in etsy.request_log if entry.path == "/v3/public/oauth/token"]
    assert statuses == [500, 200]
    assert len(store.saved) == 1


async def test_429_with_retry_after_waits_that_long_then_succeeds(etsy: EtsyStandIn, http: httpx.AsyncClient) -> None:
    etsy.fail_next(2, retry_after_s=1)
    sleep = RecordingSleep()
    client = client_for(etsy, connected(etsy), http, sleep=sleep)

    assert await client.me() == (etsy.user_id, etsy.shop_id)

    assert sleep.delays == [1.0, 1.0]
    assert client.rate_limits is not None
    assert client.rate_limits.per_second == etsy.limit_per_second
    assert client.rate_limits.remaining_today == etsy.limit_per_day - 3


async def test_429_without_retry_after_backs_off_exponentially_with_jitter(
    etsy: EtsyStandIn, http: httpx.AsyncClient
) -> None:
    etsy.fail_next(4)
    sleep = RecordingSleep()
    client = client_for(etsy, connected(etsy), http, sleep=sleep, backoff_initial_s=1.0, backoff_max_s=5.0)

    await client.me()

    ceilings = [1.0, 2.0, 4.0, 5.0]
    assert len(sleep.delays) == 4
    for delay, ceiling in zip(sleep.delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling


async def test_429_real_wait_is_honoured(etsy: EtsyStandIn, http: httpx.AsyncClient) -> None:
    etsy.fail_next(1)
    client = client_for(etsy, connected(etsy), http, backoff_initial_s=0.05, backoff_max_s=0.05)
    started = datetime.now(UTC)

    await client.me()

    assert datetime.now(UTC) - started >= timedelta(seconds=0.025)


async def test_endless_429_gives_up_with_rate_limited(etsy: EtsyStandIn, http: httpx.AsyncClient) -> None:
    etsy.fail_next(100, retry_after_s=1)
    sleep = RecordingSleep()
    client = client_for(etsy, connected(etsy), http, sleep=sleep, max_rate_limit_retries=3)

    with pytest.raises(EtsyRateLimited) as caught:
        await poll(client, etsy, None)

    assert sleep.delays == [1.0, 1.0, 1.0]
    assert caught.value.retry_after_s == 1.0


async def test_daily_limit_gives_up_at_once_when_the_wait_is_too_long(
    etsy: EtsyStandIn, http: httpx.AsyncClient
) -> None:
    etsy.exhaust_daily_limit(retry_after_s=3600)
    sleep = RecordingSleep()
    client = client_for(etsy, connected(etsy), http, sleep=sleep)

    with pytest.raises(EtsyRateLimited) as caught:
        await client.me()

    assert sleep.delays == []
    assert caught.value.retry_after_s == 3600.0


async def test_malformed_receipt_is_skipped_and_counted(etsy: EtsyStandIn, http: httpx.AsyncClient) -> None:
    etsy.add_receipt(created=1_764_000_000, transactions=[transaction(title="Vase")])
    broken = etsy.add_receipt(created=1_764_000_001, transactions=[{**transaction(title="Tag"), "quantity": "seven"}])
    etsy.add_receipt(created=1_764_000_002, transactions=[transaction(title="Hook")])
    client = client_for(etsy, connected(etsy), http)

    with structlog.testing.capture_logs() as logs:
        orders = await poll(client, etsy, None)

    assert [order.lines[0].title for order in orders] == ["Vase", "Hook"]
    assert client.skipped_receipts == 1
    [skipped] = [entry for entry in logs if entry["event"] == "etsy.receipt_skipped"]
    assert skipped["receipt_id"] == broken["receipt_id"]
    assert skipped["field"] == "transactions[0].quantity"


async def test_create_shipment_is_recorded_by_etsy(etsy: EtsyStandIn, http: httpx.AsyncClient) -> None:
    [receipt, *_] = etsy.seed_demo(datetime.now(UTC))
    client = client_for(etsy, connected(etsy), http)

    await client.create_shipment(etsy.shop_id, receipt["receipt_id"], tracking_code="1Z999AA10123456784", carrier="ups")

    stored = etsy.receipt(receipt["receipt_id"])
    assert stored["is_shipped"] is True
    assert [(s["tracking_code"], s["carrier_name"]) for s in stored["shipments"]] == [("1Z999AA10123456784", "ups")]
    assert (await client.receipt(etsy.shop_id, receipt["receipt_id"])).is_shipped
    with pytest.raises(EtsyError) as again:
        await client.create_shipment(
            etsy.shop_id, receipt["receipt_id"], tracking_code="1Z999AA10123456784", carrier="ups"
        )
    assert again.value.status == 409


async def test_token_without_the_write_scope_cannot_add_tracking(etsy: EtsyStandIn, http: httpx.AsyncClient) -> None:
    [receipt, *_] = etsy.seed_demo(datetime.now(UTC))
    client = client_for(etsy, connected(etsy, scopes=("transactions_r", "shops_r")), http)

    assert len(await poll(client, etsy, None)) == 3
    with pytest.raises(EtsyError) as refused:
        await client.create_shipment(etsy.shop_id, receipt["receipt_id"], tracking_code="X1", carrier="usps")
    assert refused.value.status == 403
    assert "transactions_w" in str(refused.value)


async def test_wrong_shared_secret_is_etsys_403(etsy: EtsyStandIn, http: httpx.AsyncClient) -> None:
    client = EtsyClient(
        base_url=etsy.url,
        token_url=etsy.token_url,
        keystring=etsy.keystring,
        shared_secret=Secret("wrong"),
        tokens=connected(etsy),
        http=http,
    )
    with pytest.raises(EtsyError) as refused:
        await client.ping()
    assert refused.value.status == 403


async def test_no_stored_tokens_asks_for_a_connection(etsy: EtsyStandIn, http: httpx.AsyncClient) -> None:
    client = client_for(etsy, MemoryTokenStore(), http)
    assert await client.ping() == etsy.application_id  # the key alone is enough for ping
    with pytest.raises(EtsyReconnectNeeded):
        await client.me()


async def test_secrets_stay_out_of_reprs_and_logs(etsy: EtsyStandIn, http: httpx.AsyncClient) -> None:
    store = connected(etsy)
    etsy.expire_access_tokens()
    client = client_for(etsy, store, http)

    with structlog.testing.capture_logs() as logs:
        await client.me()

    assert store.tokens is not None
    secrets = [etsy.shared_secret, store.tokens.access_token.reveal(), store.tokens.refresh_token.reveal()]
    shown = repr(logs) + repr(client) + repr(store.tokens) + str(store.tokens)
    assert not [secret for secret in secrets if secret in shown]
    assert any(entry["event"] == "etsy.tokens_refreshed" for entry in logs)
