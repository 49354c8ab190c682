"""Etsy orders: importing 10,000 receipts from the Etsy stand-in, and polling the same receipts again.

Setup: the Etsy stand-in (``printfleet.sim.etsy``, Etsy's Open API v3 on a loopback port) in this process with
``receipts`` paid receipts of one transaction each (quantity 1-9, two variations, every fifth personalised); no
product profiles, so nothing is scheduled and every order needs attention (the store work is what is measured).
``printfleet serve`` runs as its own process (:class:`bench.ServerProcess`, SQLite) with ``etsy.*`` pointing at the
stand-in and a poll interval of an hour; the bench admin connects the shop through the real OAuth flow (PKCE), which
starts the first poll.

- **Import**: from the callback until ``GET /api/v1/shops/etsy`` counts every receipt received. Target ≤ 60 s.
- **Re-poll**: ``POST /api/v1/shops/etsy/poll`` again; with every receipt changed within the overlap (10 minutes),
  it reads all of them again and stores nothing new. Target ≤ 10 s.
- **Duplicates**: Etsy orders listed minus receipts. Target 0.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from bench import Figure, ServerProcess
from printfleet.sim.etsy import EtsyStandIn
from printfleet.sim.etsy_receipts import personalisation, transaction, variation

RECEIPTS = 10_000
IMPORT_TARGET_S = 60.0
REPOLL_TARGET_S = 10.0
REDIRECT = "https://farm.example/ui/shops/etsy/callback"


def _seed(etsy: EtsyStandIn, count: int) -> None:
    colours = ("Galaxy Black", "Signal Red", "Jade White", "Cobalt Blue")
    for index in range(count):
        chosen = [variation("Color", colours[index % 4]), variation("Size", ("S", "M", "L")[index % 3])]
        if index % 5 == 0:
            chosen.append(personalisation(f"Name {index}"))
        etsy.add_receipt(
            name=f"Buyer {index}",
            transactions=[
                transaction(title="Star keychain", quantity=1 + index % 9, listing_id=1_462_850_311, variations=chosen)
            ],
        )


async def _connect(server: ServerProcess, client: httpx.AsyncClient) -> None:
    start = (await client.post("/api/v1/shops/etsy/connect")).json()
    async with httpx.AsyncClient() as browser:
        approved = await browser.get(start["authorize_url"])
    query = {key: values[0] for key, values in parse_qs(urlsplit(approved.headers["location"]).query).items()}
    callback = await client.get("/ui/shops/etsy/callback", params=query)
    if callback.status_code != 200:
        raise RuntimeError(f"the Etsy connection failed ({callback.status_code}):\n{server.log_tail()}")


async def _measure(receipts: int) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="pf-bench-orders-") as tmp:
        workdir = Path(tmp)
        async with EtsyStandIn(redirect_uris=[REDIRECT]) as etsy:
            _seed(etsy, receipts)
            settings = {
                "etsy": {
                    "keystring": etsy.keystring,
                    "shared_secret": etsy.shared_secret,
                    "redirect_url": REDIRECT,
                    "api_url": etsy.url,
                    "token_url": etsy.token_url,
                    "authorize_url": etsy.authorize_url,
                    "poll_interval": 3600,
                },
                "secrets": {"key_file": str(workdir / "secrets.key")},
            }
            async with (
                ServerProcess(workdir, [], log_level="WARNING", settings=settings) as server,
                httpx.AsyncClient(base_url=server.base_url, headers=server.headers, timeout=120.0) as client,
            ):
                started = time.perf_counter()
                await _connect(server, client)
                while (await client.get("/api/v1/shops/etsy")).json()["orders_seen"] < receipts:
                    if time.perf_counter() - started > 20 * IMPORT_TARGET_S:
                        raise RuntimeError(f"the import did not finish:\n{server.log_tail()}")
                    await asyncio.sleep(0.2)
                imported_s = time.perf_counter() - started
                started = time.perf_counter()
                again = (await client.post("/api/v1/shops/etsy/poll")).json()["received"]
                repoll_s = time.perf_counter() - started
                listed = (await client.get("/api/v1/orders", params={"source": "etsy", "limit": 1})).json()
    duplicates = listed["total"] - receipts
    return [
        Figure(
            f"Etsy import of {receipts:,} receipts",
            f"{imported_s:.1f} s ({receipts / imported_s:,.0f} orders/s)",
            f"≤ {IMPORT_TARGET_S:.0f} s",
            imported_s <= IMPORT_TARGET_S,
        ),
        Figure(
            f"Etsy re-poll of the same ({again:,} read again)",
            f"{repoll_s:.1f} s",
            f"≤ {REPOLL_TARGET_S:.0f} s",
            repoll_s <= REPOLL_TARGET_S,
        ),
        Figure("Etsy orders duplicated", f"{duplicates}", "0", duplicates == 0),
    ]


def run(receipts: int = RECEIPTS) -> list[Figure]:
    """The import, re-poll and duplicate figures for ``receipts`` receipts."""
    return asyncio.run(_measure(receipts))
