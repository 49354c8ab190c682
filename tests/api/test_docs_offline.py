"""``/docs`` works on a network without internet: every script and style it loads comes from printfleet itself."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from tests.api.conftest import RunningServer


async def test_the_api_docs_page_loads_nothing_from_another_host(server: RunningServer) -> None:
    page = await server.client.get("/docs")
    assert page.status_code == 200
    assert "SwaggerUIBundle" in page.text
    references = re.findall(r"""(?:src|href)=["']([^"']+)["']|url:\s*["']([^"']+)["']""", page.text)
    addresses = [address for pair in references for address in pair if address]
    assert addresses, "the page names its script, styles and schema"
    for address in addresses:
        parts = urlsplit(address)
        assert not parts.scheme, f"{address} is on another host"
        assert not parts.netloc, f"{address} is on another host"
        assert address.startswith("/"), address
        asset = await server.client.get(address)
        assert asset.status_code == 200, f"{address}: HTTP {asset.status_code}"
    assert "cdn" not in page.text.lower()
    script = await server.client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert len(script.content) > 100_000
