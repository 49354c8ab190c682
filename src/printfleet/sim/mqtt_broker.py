"""Run the real ``mosquitto`` broker as the MQTT side of simulated Bambu printers.

A real Bambu printer *is* its own MQTT broker (TLS on 8883, user ``bblp``, password = access code), so the
faithful simulation is one broker per printer: its own port, certificate (CN = serial) and access code. Stopping
that broker is what a printer dropping off the network looks like to a client. For the 200-printer benchmark a
shared broker carries many printers (one access code, one certificate naming every serial).

mosquitto 2.x is started from a generated config on a loopback port with ``allow_anonymous false`` and a password
file in mosquitto's PBKDF2-SHA512 format (``$7$``), written here so ``mosquitto_passwd`` is not needed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import pwd
import re
import secrets
import shutil
import socket
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import structlog

from printfleet.aio import within

log = structlog.get_logger("printfleet.sim.mqtt_broker")

_READY_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 5.0
# mosquitto_passwd (2.0) writes 101 iterations; a higher count only slows every CONNECT in the simulator.
_PBKDF2_ITERATIONS = 101


_JOINED = re.compile(r"New client connected from \S+ as (\S+) \(")
_LEFT = re.compile(r"Client (\S+) (?:disconnected|closed its connection|has exceeded timeout|already connected)")
"""mosquitto 2's connection messages (``connection_messages true``)."""


class BrokerError(RuntimeError):
    """mosquitto is missing, or did not start; the message carries the tail of its log."""


def mosquitto_path() -> str | None:
    """Path of the ``mosquitto`` binary (PATH, then /usr/sbin, /usr/local/sbin), or None."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def password_line(username: str, password: str, *, salt: bytes | None = None) -> str:
    """One mosquitto 2 password-file line: ``user:$7$<iterations>$<b64 salt>$<b64 PBKDF2-SHA512 hash>``."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _PBKDF2_ITERATIONS, dklen=64)
    return f"{username}:$7${_PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def pick_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class MosquittoBroker:
    """One mosquitto process with a single TLS listener on ``host:port``.

    Use as an async context manager, or call :meth:`start` / :meth:`stop`; :meth:`restart` brings it back on the
    same port (for "broker restart" and "offline for N seconds" scenarios). ``users`` maps user name to password.
    Raises :class:`BrokerError` when mosquitto is absent or does not accept connections within 10 s.
    """

    def __init__(
        self,
        *,
        workdir: Path,
        cert_file: Path,
        key_file: Path,
        users: Mapping[str, str],
        port: int | None = None,
        host: str = "127.0.0.1",
        binary: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.host = host
        self.port = port if port is not None else pick_free_port(host)
        self._binary = binary or mosquitto_path()
        self._cert_file = cert_file
        self._key_file = key_file
        self._users = dict(users)
        self._process: asyncio.subprocess.Process | None = None
        self._config_file = self._write_config()

    @property
    def running(self) -> bool:
        """True while the mosquitto process is alive."""
        return self._process is not None and self._process.returncode is None

    @property
    def log_file(self) -> Path:
        """mosquitto's own log (connections, auth failures, TLS errors)."""
        return self.workdir / "mosquitto.log"

    def _write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        password_file = self.workdir / "passwords"
        password_file.write_text("".join(f"{password_line(u, p)}\n" for u, p in self._users.items()))
        password_file.chmod(0o600)
        # Started as root, mosquitto would switch to the "mosquitto" user, which cannot read a private temp dir.
        user = pwd.getpwuid(os.geteuid()).pw_name
        lines = [
            f"user {user}",
            "per_listener_settings false",
            "allow_anonymous false",
            f"password_file {password_file}",
            "persistence false",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            f"listener {self.port} {self.host}",
            f"certfile {self._cert_file}",
            f"keyfile {self._key_file}",
            "tls_version tlsv1.2",
        ]
        config = self.workdir / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def client_sessions(self, prefix: str = "") -> tuple[set[str], int]:
        """From mosquitto's log (``connection_messages``): the clients whose id starts with ``prefix`` connected now,
        and the most of them ever connected at once. A test of a farm's printer ownership counts printfleet's
        clients (``pf-``) this way: never two at once on one printer."""
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return set(), 0
        connected: set[str] = set()
        peak = 0
        for line in lines:
            if (joined := _JOINED.search(line)) is not None and joined.group(1).startswith(prefix):
                connected.add(joined.group(1))
                peak = max(peak, len(connected))
            elif (left := _LEFT.search(line)) is not None:
                connected.discard(left.group(1))
        return connected, peak

    def _log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:])

    async def start(self) -> None:
        """Start mosquitto and wait until its listener accepts TCP connections."""
        if self.running:
            return
        if self._binary is None:
            raise BrokerError("mosquitto is not installed (apt-get install mosquitto)")
        self._process = await asyncio.create_subprocess_exec(
            self._binary,
            "-c",
            str(self._config_file),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _READY_TIMEOUT_S
        while True:
            if self._process.returncode is not None:
                raise BrokerError(
                    f"mosquitto exited with {self._process.returncode} on port {self.port}: {self._log_tail()}"
                )
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                if loop.time() > deadline:
                    await self.stop()
                    raise BrokerError(f"mosquitto did not listen on port {self.port}: {self._log_tail()}") from None
                await asyncio.sleep(0.02)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            break
        log.debug("sim.broker_started", port=self.port, pid=self._process.pid)

    async def stop(self) -> None:
        """Stop mosquitto (SIGTERM, then SIGKILL after 5 s); every client connection drops."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await within(process.wait(), _STOP_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            # Bounded too: once in a while asyncio's child watcher never reports an exit (seen as a 2-minute hang of a
            # test's teardown); a killed broker is gone whether or not its exit status arrives.
            try:
                await within(process.wait(), _STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("sim.broker_exit_unconfirmed", port=self.port, pid=process.pid)
        log.debug("sim.broker_stopped", port=self.port)

    async def restart(self, *, down_s: float = 0.0) -> None:
        """Stop, stay down ``down_s`` seconds (new connections refused), and start again on the same port."""
        await self.stop()
        if down_s > 0:
            await asyncio.sleep(down_s)
        await self.start()

    async def __aenter__(self) -> MosquittoBroker:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
