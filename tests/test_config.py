"""Configuration: YAML plus environment, and errors that name the file, the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from printfleet.config import ConfigError, load_settings
from printfleet.domain.printer import PrinterKind, Secret

GOOD = """
database_url: sqlite+aiosqlite:///data/test.db
http: {host: 0.0.0.0, port: 8100}
job_creation: {auto_create: false}
printers:
  - id: x1c-left
    name: X1C Left
    type: bambu
    host: 192.168.1.50
    serial: 01S00C123456789
    access_code: "12345678"
    tls_insecure: true
  - id: mk4-1
    type: prusalink
    host: 192.168.1.60
    username: maker
    password: "pw"
    poll_interval: 2
  - id: octo-1
    type: octoprint
    url: http://192.168.1.70:5000/
    api_key: "KEY"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "printfleet.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_file_printers_become_domain_configs_with_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD))
    bambu, prusa, octo = settings.printer_configs()
    assert (bambu.kind, bambu.port, bambu.access_code) == (PrinterKind.BAMBU, 8883, Secret("12345678"))
    assert (bambu.ftp_port, bambu.effective_ftp_port) == (None, 990)  # uploads go to the printers' FTPS port
    assert (prusa.port, prusa.poll_interval, prusa.name) == (80, 2.0, "mk4-1")
    assert octo.url == "http://192.168.1.70:5000"
    assert octo.poll_interval is None  # not given: follows the global monitoring_interval
    assert bambu.poll_interval is None
    assert settings.monitoring_interval == 5.0
    assert settings.http.port == 8100
    assert settings.job_creation.auto_create is False


def test_a_bambu_printer_may_name_its_ftps_port(tmp_path: Path) -> None:
    text = GOOD.replace("    tls_insecure: true\n", "    tls_insecure: true\n    ftp_port: 2990\n", 1)
    [bambu, *_] = load_settings(write(tmp_path, text)).printer_configs()
    assert bambu.effective_ftp_port == 2990
    with pytest.raises(ConfigError, match="ftp_port"):
        load_settings(write(tmp_path, GOOD.replace("    tls_insecure: true\n", "    ftp_port: 0\n", 1)))


def test_a_klipper_printer_is_a_moonraker_url_with_an_optional_api_key(tmp_path: Path) -> None:
    text = (
        "printers:\n"
        "  - {id: voron, type: moonraker, url: 'http://voron.local:7125/'}\n"
        "  - {id: k1, type: moonraker, url: 'http://10.0.0.9:7125', api_key: KEY}\n"
    )
    voron, k1 = load_settings(write(tmp_path, text)).printer_configs()
    assert (voron.kind, voron.url, voron.api_key) == (PrinterKind.MOONRAKER, "http://voron.local:7125", None)
    assert (k1.api_key, k1.problems()) == (Secret("KEY"), [])
    with pytest.raises(ConfigError, match="url"):
        load_settings(write(tmp_path, "printers:\n  - {id: v, type: moonraker, url: voron.local}\n"))


def test_printer_tags_from_the_file_are_a_list_or_one_comma_separated_string(tmp_path: Path) -> None:
    text = (
        "printers:\n"
        "  - {id: a, type: octoprint, url: http://x, api_key: k, tags: [room-a, ' PETG ', room-a]}\n"
        "  - {id: b, type: octoprint, url: http://y, api_key: k, tags: 'room-b, enclosure'}\n"
        "  - {id: c, type: octoprint, url: http://z, api_key: k}\n"
    )
    a, b, c = load_settings(write(tmp_path, text)).printer_configs()
    assert a.tags == ("room-a", "PETG")
    assert b.tags == ("room-b", "enclosure")
    assert c.tags == ()


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRINTFLEET_HTTP__PORT", "9001")
    monkeypatch.setenv("PRINTFLEET_DATABASE_URL", "postgresql+asyncpg://u@h/db")
    monkeypatch.setenv("JOB_CREATION_AUTO_CREATE", "true")
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.http.port == 9001
    assert settings.http.host == "0.0.0.0"
    assert settings.database_url == "postgresql+asyncpg://u@h/db"
    assert settings.job_creation.auto_create is True


def test_config_file_from_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRINTFLEET_CONFIG", str(write(tmp_path, GOOD)))
    assert [p.id for p in load_settings().printer_configs()] == ["x1c-left", "mk4-1", "octo-1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("printers:\n  - {id: a, type: bambu, host: h, serial: s}\n", "printers[0] (id a).access_code: Field required"),
        ("printers:\n  - {id: a, type: klipper, host: h}\n", "printers[0] (id a): type must be one of"),
        ("http: {port: 99999}\n", "http.port: Input should be less than or equal to 65535"),
        ("htp: {port: 80}\n", "htp: unknown key"),
        ('http: {host: "bad host!"}\n', "http.host: Value error, must be an IP address or a host name"),
        ("http: {host: -x.example}\n", "http.host: Value error, must be an IP address or a host name"),
        ("printers:\n  - {id: a, type: prusalink, host: h}\n", "printers[0] (id a).password: give username"),
        (
            "printers:\n  - {id: a, type: bambu, host: h, serial: s, access_code: c}\n",
            "printers[0] (id a).ca_file: set ca_file to verify",
        ),
        (
            "printers:\n  - {id: a, type: octoprint, url: http://x, api_key: k}\n"
            "  - {id: a, type: octoprint, url: http://y, api_key: k}\n",
            "printer id 'a' is used twice",
        ),
        (
            "printers:\n  - {id: a, type: prusalink, host: h, api_key: k, poll_interval: 0.1}\n",
            "printers[0] (id a).poll_interval: Input should be greater than or equal to 0.5",
        ),
        (
            "printers:\n  - {id: a, type: octoprint, url: http://x, api_key: k, poll_interval: 7200}\n",
            "printers[0] (id a).poll_interval: Input should be less than or equal to 3600",
        ),
        ("monitoring_interval: 0\n", "monitoring_interval: Input should be greater than or equal to 0.5"),
        (
            "printers:\n  - {id: a, type: octoprint, url: http://x, api_key: k, tags: [" + "x" * 41 + "]}\n",
            "printers[0] (id a).tags: Value error, each tag must be 1 to 40 characters",
        ),
        ("printers: [1, 2\n", "not valid YAML at line"),
        ("- a\n- b\n", "the top level must be a mapping"),
    ],
)
def test_bad_config_names_file_key_and_problem(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert str(path) in message
    assert expected in message


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "127.0.0.1", "localhost", "printfleet.local", "fe80::1"])
def test_listen_hosts_that_work_are_accepted(tmp_path: Path, host: str) -> None:
    assert load_settings(write(tmp_path, f'http: {{host: "{host}"}}\n')).http.host == host


def test_a_file_that_is_not_utf8_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"printers: [\xff\xfe]\n")
    with pytest.raises(ConfigError, match=rf"{path.name}: not UTF-8 text \(byte 11: 0xff\)"):
        load_settings(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_secret_values_never_appear_in_errors(tmp_path: Path) -> None:
    path = write(tmp_path, 'printers:\n  - {id: a, type: bambu, host: h, access_code: "hunter22", colour: 1}\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "hunter22" not in str(caught.value)
