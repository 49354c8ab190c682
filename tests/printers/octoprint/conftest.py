"""A real OctoPrint (its virtual printer plugin, no hardware) for the adapter's end-to-end tests.

Where it comes from: ``PRINTFLEET_OCTOPRINT_BIN`` (the ``octoprint`` executable), else
``.cache/octoprint/venv/bin/octoprint`` under the repository root, made by ``scripts/octoprint-env.sh``
(``make octoprint``). Absent: the tests skip, or fail under ``PRINTFLEET_REQUIRE_SERVICES=1``.

Set-up, once per session: a template base directory with ``config.yaml`` (first-run wizard, online checks,
plugin blacklist, tracking and the rate limiter off; bundled plugins the tests do not need disabled; the virtual
printer on and quick to connect) and a user made with ``octoprint user add``, whose ``apikey`` is then written
into ``users.yaml`` (OctoPrint 1.11 reads a user's key from there; no appkeys round trip is needed). Each server
copies the template, runs ``octoprint --basedir DIR serve --host 127.0.0.1 --port N --iknowwhatimdoing``, waits
for ``/api/version`` and connects the virtual printer with ``POST /api/connection``. Measured on 1.11.8: the user
takes 0.6 s; spawn to operational printer takes 0.9 s with this config against 3.0 s with only the first-run and
online checks off (the disabled plugins and the skipped web-asset bundling make the difference); SIGTERM to exit
0.1 s.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support import free_port, need_service

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "octoprint"
USER = "printfleet"

# The bundled plugins that only slow start-up down or reach for the internet.
_DISABLED_PLUGINS = [
    "achievements",
    "announcements",
    "backup",
    "classicwebcam",
    "discovery",
    "errortracking",
    "gcodeviewer",
    "health_check",
    "pluginmanager",
    "softwareupdate",
    "tracking",
]


def octoprint_binary() -> Path | None:
    """The ``octoprint`` executable to test against, or None when not installed."""
    configured = os.environ.get("PRINTFLEET_OCTOPRINT_BIN")
    candidate = Path(configured) if configured else REPO_ROOT / ".cache" / "octoprint" / "venv" / "bin" / "octoprint"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def _config() -> dict[str, object]:
    return {
        "server": {
            "firstRun": False,
            "onlineCheck": {"enabled": False},
            "pluginBlacklist": {"enabled": False},
        },
        "devel": {
            # A test run logs in and reconnects far more often than a person; the limiter would answer 429.
            "enableRateLimiter": False,
            # No web asset bundling: the tests never load the UI.
            "webassets": {"bundle": False, "clean_on_startup": False, "minify": False},
        },
        "plugins": {
            "_disabled": _DISABLED_PLUGINS,
            "tracking": {"enabled": False},
            "errortracking": {"enabled": False},
            # No reset banner wait on connect; temperatures settle quickly.
            "virtual_printer": {"enabled": True, "simulateReset": False, "waitInterval": 0.1},
        },
        "serial": {"port": "VIRTUAL", "baudrate": 115200, "autoconnect": False, "autorefresh": False},
    }


@dataclass
class OctoPrintServer:
    """One running OctoPrint: ``url``, ``api_key``, and helpers driving it through its REST API (sync)."""

    binary: Path
    basedir: Path
    api_key: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One REST call with the API key."""
        return httpx.request(method, self.url + path, headers={"X-Api-Key": self.api_key}, timeout=10.0, **kwargs)

    def start(self, *, timeout_s: float = 60.0) -> None:
        """Spawn the server and wait until it answers; then connect the virtual printer."""
        log = (self.basedir / "serve.log").open("ab")
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "--basedir",
                str(self.basedir),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--iknowwhatimdoing",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"octoprint exited with {self.process.returncode}: {self.log_tail()}")
            try:
                if self.request("GET", "/api/version").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"octoprint did not answer within {timeout_s} s: {self.log_tail()}")
            time.sleep(0.05)
        self.connect_printer()

    def stop(self) -> None:
        """SIGTERM the server (its whole process group), SIGKILL after 15 s."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def connect_printer(self, *, timeout_s: float = 20.0) -> None:
        """Connect the virtual printer and wait until ``/api/printer`` answers 200 (operational)."""
        response = self.request("POST", "/api/connection", json={"command": "connect", "port": "VIRTUAL"})
        assert response.status_code == 204, response.text
        self.wait_until(lambda: self.request("GET", "/api/printer").status_code == 200, timeout_s=timeout_s)

    def disconnect_printer(self) -> None:
        """Drop the serial link to the virtual printer (the server stays up)."""
        response = self.request("POST", "/api/connection", json={"command": "disconnect"})
        assert response.status_code == 204, response.text

    def flags(self) -> dict[str, bool]:
        """``state.flags`` of ``/api/printer`` (empty when not operational)."""
        response = self.request("GET", "/api/printer")
        return response.json()["state"]["flags"] if response.status_code == 200 else {}

    def upload(self, fixture: str, *, as_name: str, print_it: bool = True) -> None:
        """Upload ``tests/fixtures/octoprint/<fixture>`` as ``as_name`` and (by default) print it at once."""
        content = (FIXTURES / fixture).read_bytes()
        response = self.request(
            "POST",
            "/api/files/local",
            files={"file": (as_name, content, "application/octet-stream")},
            data={"print": "true" if print_it else "false"},
        )
        assert response.status_code == 201, response.text

    def job_command(self, body: dict[str, str]) -> int:
        """``POST /api/job``; return the HTTP status."""
        return self.request("POST", "/api/job", json=body).status_code

    def make_idle(self) -> None:
        """Cancel whatever prints and wait until the printer is operational and idle."""
        if not self.flags():
            self.connect_printer()
        if any(self.flags().get(flag) for flag in ("printing", "paused", "pausing", "cancelling")):
            self.job_command({"command": "cancel"})
        self.wait_until(lambda: self.flags().get("ready") is True, timeout_s=20.0)

    @staticmethod
    def wait_until(check: Callable[[], bool], *, timeout_s: float) -> None:
        """Poll ``check`` every 50 ms until true; AssertionError after ``timeout_s`` seconds."""
        deadline = time.monotonic() + timeout_s
        while not check():
            assert time.monotonic() < deadline, f"condition not met within {timeout_s} s"
            time.sleep(0.05)

    def log_tail(self, lines: int = 30) -> str:
        """The end of OctoPrint's own log, for failure messages."""
        path = self.basedir / "logs" / "octoprint.log"
        if not path.exists():
            path = self.basedir / "serve.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def octoprint_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """``(binary, template basedir, api_key)``: config and user made once per session."""
    binary = octoprint_binary()
    need_service(
        binary is not None,
        "OctoPrint is not installed: run scripts/octoprint-env.sh .cache/octoprint/venv (make octoprint) "
        "or set PRINTFLEET_OCTOPRINT_BIN",
    )
    assert binary is not None
    basedir = tmp_path_factory.mktemp("octoprint-template")
    (basedir / "config.yaml").write_text(yaml.safe_dump(_config()))
    subprocess.run(
        [str(binary), "--basedir", str(basedir), "user", "add", "--password", secrets.token_hex(8), "--admin", USER],
        check=True,
        capture_output=True,
        timeout=60,
    )
    api_key = secrets.token_hex(16)
    users_file = basedir / "users.yaml"
    users = yaml.safe_load(users_file.read_text())
    users[USER]["apikey"] = api_key
    users_file.write_text(yaml.safe_dump(users))
    return binary, basedir, api_key


@pytest.fixture(scope="session")
def octoprint_factory(
    octoprint_template: tuple[Path, Path, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], OctoPrintServer]]:
    """``make()`` starts one more OctoPrint from the template (about 1 s); all are stopped at session end."""
    binary, template, api_key = octoprint_template
    servers: list[OctoPrintServer] = []

    def make() -> OctoPrintServer:
        basedir = tmp_path_factory.mktemp("octoprint")
        shutil.copytree(template, basedir, dirs_exist_ok=True)
        server = OctoPrintServer(binary=binary, basedir=basedir, api_key=api_key)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def octoprint_session(octoprint_factory: Callable[[], OctoPrintServer]) -> OctoPrintServer:
    """The OctoPrint most tests share."""
    return octoprint_factory()


@pytest.fixture
def octoprint(octoprint_session: OctoPrintServer) -> OctoPrintServer:
    """The shared OctoPrint, running, its virtual printer connected and idle."""
    if octoprint_session.process is None:
        octoprint_session.start()
    octoprint_session.make_idle()
    return octoprint_session
