"""The Settings page's printer form in people's words: the id made from the name when left empty, every problem a
sentence naming the field as the form labels it (in English and German), what was typed kept."""

from __future__ import annotations

import html
from pathlib import Path

from printfleet.sim.tls import SimCertificateAuthority
from tests.api.conftest import RunningServer
from tests.support import free_port

HTMX = {"HX-Request": "true"}


def errors_of(page: str) -> list[str]:
    start = page.index('<ul class="errors">')
    items = page[start : page.index("</ul>", start)]
    return [html.unescape(item.split("</li>")[0]) for item in items.split("<li>")[1:]]


async def test_an_empty_id_is_made_from_the_name_and_never_clashes(bare_server: RunningServer) -> None:
    client = bare_server.client
    form = {"name": "Voron 2.4 (Küche)", "type": "moonraker", "url": f"http://127.0.0.1:{free_port()}"}
    assert (await client.post("/ui/printers", data=form, headers=HTMX)).status_code == 200
    assert (await client.post("/ui/printers", data=form, headers=HTMX)).status_code == 200
    ids = [p["id"] for p in (await client.get("/api/v1/printers")).json()["printers"]]
    assert ids == ["voron-2.4-kuche", "voron-2.4-kuche-2"]


async def test_each_problem_is_a_sentence_naming_the_field_as_labelled(bare_server: RunningServer) -> None:
    client = bare_server.client
    refused = await client.post(
        "/ui/printers", data={"name": "X1C", "type": "bambu", "host": "192.168.1.50", "port": "99999"}, headers=HTMX
    )
    assert refused.status_code == 422
    assert errors_of(refused.text) == ["Port: The number is too large."]
    assert 'value="192.168.1.50"' in refused.text  # what was typed is kept

    missing = await client.post("/ui/printers", data={"name": "X1C", "type": "bambu"}, headers=HTMX)
    assert missing.status_code == 422
    assert errors_of(missing.text) == [
        "Host: The printer's address on your network is needed (an IP address such as 192.168.1.50).",
        "Serial number: A Bambu Lab printer's serial number is needed (on the printer: Settings → Device).",
        "Access code: A Bambu Lab printer's access code is needed (on the printer: Settings → Network → LAN).",
        "CA certificate file: Give a CA certificate file to check the printer's certificate, or tick “Do not "
        "verify the printer's certificate”.",
    ]
    bad_id = await client.post(
        "/ui/printers", data={"id": "-x", "name": "X", "type": "moonraker", "url": "http://a"}, headers=HTMX
    )
    assert errors_of(bad_id.text) == [
        "ID: Use letters, digits, dots, dashes and underscores, starting with a letter or a digit."
    ]
    nameless = await client.post("/ui/printers", data={"type": "moonraker", "url": "http://a"}, headers=HTMX)
    assert errors_of(nameless.text) == ["Name: Give the printer a name."]

    taken_form = {"id": "v1", "name": "V", "type": "moonraker", "url": f"http://127.0.0.1:{free_port()}"}
    assert (await client.post("/ui/printers", data=taken_form, headers=HTMX)).status_code == 200
    taken = await client.post("/ui/printers", data=taken_form, headers=HTMX)
    assert taken.status_code == 409
    assert errors_of(taken.text) == ["ID: a printer with this ID exists already; choose another."]


async def test_the_sentences_in_german(bare_server: RunningServer) -> None:
    refused = await bare_server.client.post(
        "/ui/printers",
        data={"name": "Mini", "type": "octoprint"},
        headers={**HTMX, "Accept-Language": "de"},
    )
    assert refused.status_code == 422
    errors = errors_of(refused.text)
    assert errors[0].startswith("URL: ")
    assert errors[1].startswith("API-Schlüssel: ")
    assert "needed" not in " ".join(errors)


async def test_a_bambu_ca_certificate_can_be_uploaded_instead_of_typing_a_path(
    bare_server: RunningServer,
) -> None:
    client = bare_server.client
    authority = SimCertificateAuthority.create("Test printer CA")
    form = {"name": "X1C Left", "type": "bambu", "host": "127.0.0.1", "serial": "01S00A000000001", "access_code": "1"}
    files = {"ca_upload": ("bambu-ca.pem", authority.ca_pem, "application/x-pem-file")}
    added = await client.post("/ui/printers", data=form, files=files, headers=HTMX)
    assert added.status_code == 200, errors_of(added.text)

    stored = bare_server.runtime.monitoring.config("x1c-left")
    assert stored is not None
    assert stored.ca_file is not None
    assert not stored.tls_insecure
    assert Path(stored.ca_file).read_bytes() == authority.ca_pem  # the printer's certificate is checked with it

    not_pem = {"ca_upload": ("notes.txt", b"the printer's code is 1234", "text/plain")}
    refused = await client.post("/ui/printers/x1c-left", data={"name": "X1C Left"}, files=not_pem, headers=HTMX)
    assert refused.status_code == 422
    assert errors_of(refused.text) == [
        "CA certificate: the uploaded file was not taken (no PEM certificate in it); upload the PEM file."
    ]
    assert bare_server.runtime.monitoring.config("x1c-left").ca_file == stored.ca_file  # nothing changed
