"""Connecting a shop: Authorization Code with PKCE against the Etsy stand-in, over real HTTP."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from printfleet.domain.printer import Secret
from printfleet.shops.etsy import EtsyReconnectNeeded, start_authorization
from printfleet.shops.etsy.client import MemoryTokenStore
from printfleet.shops.etsy.oauth import SCOPES, code_challenge, exchange_code, new_code_verifier
from printfleet.sim.etsy import EtsyStandIn
from tests.shops.etsy.support import client_for

REDIRECT = "https://farm.example/etsy/callback"


def test_code_challenge_is_unpadded_base64url_sha256_of_the_verifier() -> None:
    verifier = new_code_verifier()
    assert 43 <= len(verifier) <= 128
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    assert code_challenge(verifier) == expected
    assert len(expected) == 43


def test_authorization_request_keeps_its_verifier_out_of_repr() -> None:
    request = start_authorization(keystring="k3y", redirect_uri=REDIRECT)
    query = parse_qs(urlsplit(request.url).query)
    assert query["code_challenge"] == [code_challenge(request.code_verifier.reveal())]
    assert query["code_challenge_method"] == ["S256"]
    assert query["scope"] == [" ".join(SCOPES)]
    assert query["state"] == [request.state]
    assert request.code_verifier.reveal() not in repr(request)


async def approve(etsy: EtsyStandIn, http: httpx.AsyncClient, url: str) -> dict[str, list[str]]:
    """The seller's browser: open the authorize page, which the stand-in approves at once, and read the redirect."""
    answer = await http.get(url, follow_redirects=False)
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)


async def test_pkce_authorization_code_exchange_gives_working_tokens(
    etsy: EtsyStandIn, http: httpx.AsyncClient
) -> None:
    request = start_authorization(keystring=etsy.keystring, redirect_uri=REDIRECT, endpoint=etsy.authorize_url)
    redirect = await approve(etsy, http, request.url)
    assert redirect["state"] == [request.state]

    tokens = await exchange_code(
        http,
        token_url=etsy.token_url,
        keystring=etsy.keystring,
        shared_secret=Secret(etsy.shared_secret),
        redirect_uri=REDIRECT,
        code=redirect["code"][0],
        code_verifier=request.code_verifier,
    )

    assert tokens.user_id == etsy.user_id
    assert tokens.scopes == frozenset(SCOPES)
    assert tokens.access_token.reveal() not in repr(tokens)
    client = client_for(etsy, MemoryTokenStore(tokens), http)
    assert await client.me() == (etsy.user_id, etsy.shop_id)
    token_request = next(entry for entry in etsy.request_log if entry.path == "/v3/public/oauth/token")
    assert token_request.status == 200


async def test_wrong_verifier_is_refused_and_the_code_cannot_be_reused(
    etsy: EtsyStandIn, http: httpx.AsyncClient
) -> None:
    request = start_authorization(keystring=etsy.keystring, redirect_uri=REDIRECT, endpoint=etsy.authorize_url)
    code = (await approve(etsy, http, request.url))["code"][0]
    exchange = {
        "token_url": etsy.token_url,
        "keystring": etsy.keystring,
        "shared_secret": Secret(etsy.shared_secret),
        "redirect_uri": REDIRECT,
        "code": code,
    }

    with pytest.raises(EtsyReconnectNeeded) as refused:
        await exchange_code(http, code_verifier=Secret(new_code_verifier()), **exchange)
    assert refused.value.status == 400
    assert refused.value.error == "invalid_grant"
    with pytest.raises(EtsyReconnectNeeded):  # a code is good for one attempt
        await exchange_code(http, code_verifier=request.code_verifier, **exchange)


async def test_authorize_page_requires_s256_and_a_registered_https_redirect(
    etsy: EtsyStandIn, http: httpx.AsyncClient
) -> None:
    request = start_authorization(keystring=etsy.keystring, redirect_uri=REDIRECT, endpoint=etsy.authorize_url)
    plain = request.url.replace("code_challenge_method=S256", "code_challenge_method=plain")
    assert (await http.get(plain)).status_code == 400
    insecure = start_authorization(
        keystring=etsy.keystring, redirect_uri="http://farm.example/cb", endpoint=etsy.authorize_url
    )
    refused = await http.get(insecure.url)
    assert refused.status_code == 400
    assert "redirect URL is not permitted" in refused.json()["error_description"]
