"""A simulated Bambu printer's implicit-FTPS server (the upload half of "send a print").

Like the firmware's vsftpd (research: dispatch-scheduling-orders.md §1a; OpenBambuAPI ``ftp.md``): TLS from the first
byte (implicit, no ``AUTH TLS``), the printer's certificate (CN = serial), user ``bblp`` with the LAN access code,
passive data connections (``PASV``/``EPSV``) that must be TLS-protected (``PROT P``) **and must resume the control
connection's TLS session**, else ``522 SSL connection failed: session reuse required``. TLS is capped at 1.2, as on
an X1C or H2D. Uploads land in ``root`` (a directory per printer, with a ``cache`` folder as on the SD card).

Written on the standard library (blocking sockets, one thread per connection) rather than pyftpdlib: pyftpdlib speaks
explicit ``AUTH TLS`` and has no way to require session reuse, which is the behaviour under test. A thread per
connection also keeps a 50 MB upload as fast as loopback allows (the FTPS benchmark measures the client, not us).

:meth:`SimulatedBambuFtps.go_offline` and :meth:`drop_during_upload` model the printer leaving the network: every
open connection is cut and new ones are refused until it comes back.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import structlog

from printfleet.sim.tls import CertificateFiles

__all__ = ["SimulatedBambuFtps"]

log = structlog.get_logger("printfleet.sim.bambu_ftps")

_CHUNK = 256 * 1024
_REUSE_REQUIRED = "522 SSL connection failed: session reuse required"


class _Dropped(Exception):
    """The printer went off the network while serving this connection."""


class SimulatedBambuFtps:
    """Implicit FTPS on ``host``:``port`` (0 = pick a free port) for one simulated printer.

    ``cert`` is the printer's certificate and key; ``access_code`` the password of user ``bblp``; files are stored
    under ``root`` (``STOR``, ``RETR``, ``SIZE``, ``DELE``, ``CWD``). :attr:`refused_data_connections` counts data
    connections refused for not reusing the session; :attr:`uploads_completed` and :attr:`downloads_completed` the
    transfers done.
    Start with :meth:`start` (returns once listening), stop with :meth:`stop`; both are blocking and quick.
    """

    def __init__(
        self, *, cert: CertificateFiles, access_code: str, root: Path, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.access_code = access_code
        self.root = root
        self.host = host
        self.port = port
        self.refused_data_connections = 0
        self.uploads_completed = 0
        self.downloads_completed = 0
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.maximum_version = ssl.TLSVersion.TLSv1_2
        self._context.load_cert_chain(cert.cert_file, cert.key_file)
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._drop_after: int | None = None
        self._drop_offline_s = 0.0
        self._generation = 0  # bumped each time the printer leaves the network
        self._return: threading.Timer | None = None  # brings the server back after go_offline

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Listen (on the same port as before when restarted) and serve in background threads."""
        (self.root / "cache").mkdir(parents=True, exist_ok=True)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name=f"sim-ftps-{self.port}", daemon=True).start()

    def stop(self) -> None:
        """Close the listener and every open connection; a pending return from :meth:`go_offline` is cancelled."""
        self._leave()
        if self._return is not None:
            self._return.cancel()
            self._return = None

    def _leave(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
            self._generation += 1
        for sock in (listener, *sockets):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def go_offline(self, seconds: float) -> None:
        """Leave the network now: cut every connection, refuse new ones, come back after ``seconds`` (non-blocking)."""
        self.stop()
        log.info("sim.ftps.offline", port=self.port, seconds=seconds)
        self._return = threading.Timer(seconds, self.start)
        self._return.daemon = True
        self._return.start()

    def drop_during_upload(self, after_bytes: int, offline_s: float) -> None:
        """Arm a network loss: once an upload has received ``after_bytes`` bytes, go offline for ``offline_s``."""
        self._drop_after = after_bytes
        self._drop_offline_s = offline_s

    @property
    def online(self) -> bool:
        """Whether the server is listening."""
        return self._listener is not None

    def _track(self, sock: socket.socket) -> int:
        with self._lock:
            self._sockets.add(sock)
            return self._generation

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # listener closed: stopped or off the network
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    # -- one control connection ------------------------------------------------------------------------------

    def _serve(self, raw: socket.socket) -> None:
        generation = self._track(raw)
        control: ssl.SSLSocket | None = None
        try:
            raw.settimeout(30.0)
            control = self._context.wrap_socket(raw, server_side=True)
            self._track(control)
            _Session(self, control, generation).run()
        except (OSError, _Dropped, UnicodeDecodeError):
            pass  # client gone, TLS refused, or we left the network
        finally:
            if control is not None:
                self._untrack(control)
            self._untrack(raw)

    def _check_drop(self, received: int, generation: int) -> None:
        if generation != self._generation:
            raise _Dropped
        if self._drop_after is not None and received >= self._drop_after:
            self._drop_after = None
            self.go_offline(self._drop_offline_s)
            raise _Dropped


class _Session:
    """The command loop of one logged-in-or-not control connection."""

    def __init__(self, server: SimulatedBambuFtps, control: ssl.SSLSocket, generation: int) -> None:
        self.server = server
        self.control = control
        self.generation = generation
        self.reader = control.makefile("rb")
        self.user = ""
        self.logged_in = False
        self.protected = False
        self.cwd = PurePosixPath("/")
        self.passive: socket.socket | None = None

    def reply(self, line: str) -> None:
        self.control.sendall(line.encode() + b"\r\n")

    def run(self) -> None:
        self.reply("220 Welcome to the simulated Bambu FTP server")
        try:
            while True:
                line = self.reader.readline(4096)
                if not line:
                    return
                verb, _, arg = line.decode("utf-8").rstrip("\r\n").partition(" ")
                if not self.handle(verb.upper(), arg):
                    return
        finally:
            if self.passive is not None:
                self.passive.close()

    def local(self, arg: str) -> Path | None:
        """The file under the printer's root that ``arg`` names, or None when it escapes the root."""
        remote = PurePosixPath(self.cwd, arg)
        parts = [part for part in remote.parts if part not in ("/", ".")]
        if ".." in parts:
            return None
        return self.server.root.joinpath(*parts)

    def handle(self, verb: str, arg: str) -> bool:
        """Answer one command; False ends the session."""
        if verb == "QUIT":
            self.reply("221 Goodbye.")
            return False
        if verb == "USER":
            self.user = arg
            self.reply("331 Please specify the password.")
        elif verb == "PASS":
            self.logged_in = self.user == "bblp" and arg == self.server.access_code
            self.reply("230 Login successful." if self.logged_in else "530 Login incorrect.")
        elif not self.logged_in:
            self.reply("530 Please login with USER and PASS.")
        elif verb == "PBSZ":
            self.reply("200 PBSZ set to 0.")
        elif verb == "PROT":
            self.protected = arg.upper() == "P"
            self.reply("200 PROT now Private." if self.protected else "200 PROT now Clear.")
        elif verb in ("TYPE", "NOOP"):
            self.reply("200 OK.")
        elif verb == "PWD":
            self.reply(f'257 "{self.cwd}" is the current directory')
        elif verb == "CWD":
            target = self.local(arg)
            if target is not None and target.is_dir():
                self.cwd = PurePosixPath(self.cwd, arg)
                self.reply("250 Directory successfully changed.")
            else:
                self.reply("550 Failed to change directory.")
        elif verb in ("PASV", "EPSV"):
            self.open_passive(extended=verb == "EPSV")
        elif verb == "STOR":
            self.store(arg)
        elif verb == "RETR":
            self.retrieve(arg)
        elif verb == "SIZE":
            target = self.local(arg)
            if target is not None and target.is_file():
                self.reply(f"213 {target.stat().st_size}")
            else:
                self.reply("550 Could not get file size.")
        elif verb == "DELE":
            target = self.local(arg)
            if target is not None and target.is_file():
                target.unlink()
                self.reply("250 Delete operation successful.")
            else:
                self.reply("550 Delete operation failed.")
        else:
            self.reply("502 Command not implemented.")
        return True

    def open_passive(self, *, extended: bool) -> None:
        if self.passive is not None:
            self.passive.close()
        self.passive = socket.create_server((self.server.host, 0))
        self.passive.settimeout(10.0)
        port = self.passive.getsockname()[1]
        if extended:
            self.reply(f"229 Entering Extended Passive Mode (|||{port}|)")
        else:
            address = self.server.host.replace(".", ",")
            self.reply(f"227 Entering Passive Mode ({address},{port >> 8},{port & 0xFF}).")

    def store(self, arg: str) -> None:
        """Receive a file (``STOR``)."""
        target = self.local(arg)
        problem = "553 Could not create file." if target is None or not target.parent.is_dir() else None
        self.transfer(target, problem, "150 Ok to send data.", self.receive)

    def retrieve(self, arg: str) -> None:
        """Send a file (``RETR``)."""
        target = self.local(arg)
        if target is None or not target.is_file():
            self.transfer(target, "550 Failed to open file.", "", self.send)
            return
        opening = f"150 Opening BINARY mode data connection for {target.name} ({target.stat().st_size} bytes)."
        self.transfer(target, None, opening, self.send)

    def transfer(
        self,
        target: Path | None,
        problem: str | None,
        opening: str,
        move: Callable[[ssl.SSLSocket, Path], None],
    ) -> None:
        """One transfer over the passive data connection: refused with ``problem`` (a reply) when given, or when the
        data connection is not protected, or does not resume the control connection's TLS session (what vsftpd's
        ``require_ssl_reuse`` checks: ``SSL_session_reused``, as the firmware's server does); else ``move`` carries
        the bytes."""
        if self.passive is None:
            self.reply("425 Use PORT or PASV first.")
            return
        passive, self.passive = self.passive, None
        try:
            if problem is not None or target is None:
                self.reply(problem or "550 No such file.")
                return
            if not self.protected:
                self.reply("522 Data connections must be encrypted.")
                return
            try:
                raw, _ = passive.accept()
            except OSError:
                self.reply("425 Failed to establish connection.")
                return
            self._over_tls(raw, target, opening, move)
        finally:
            passive.close()

    def _over_tls(
        self, raw: socket.socket, target: Path, opening: str, move: Callable[[ssl.SSLSocket, Path], None]
    ) -> None:
        server = self.server
        server._track(raw)
        data: ssl.SSLSocket | None = None
        try:
            raw.settimeout(30.0)
            self.reply(opening)
            try:
                data = server._context.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                self.reply("522 SSL connection failed.")
                return
            server._track(data)
            if not data.session_reused:
                server.refused_data_connections += 1
                log.info("sim.ftps.session_not_reused", port=server.port)
                self.reply(_REUSE_REQUIRED)
                return
            move(data, target)
        finally:
            if data is not None:
                server._untrack(data)
            server._untrack(raw)

    def send(self, data: ssl.SSLSocket, target: Path) -> None:
        """Send ``target``'s bytes, then ``226``."""
        with target.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                data.sendall(chunk)
        with contextlib.suppress(OSError, ssl.SSLError):
            data.unwrap()
        self.server.downloads_completed += 1
        self.reply("226 Transfer complete.")

    def receive(self, data: ssl.SSLSocket, target: Path) -> None:
        """Store what comes as ``target`` (written beside it first, so a cut upload leaves no partial file), then
        ``226``; a scripted drop (:meth:`SimulatedBambuFtps.drop_during_upload`) cuts it."""
        server = self.server
        received = 0
        partial = target.with_name(target.name + ".part")
        with partial.open("wb") as handle:
            while chunk := data.recv(_CHUNK):
                handle.write(chunk)
                received += len(chunk)
                server._check_drop(received, self.generation)
        with contextlib.suppress(OSError, ssl.SSLError):
            data.unwrap()  # answer the client's close_notify, as ftplib waits for ours
        partial.replace(target)
        server.uploads_completed += 1
        self.reply("226 Transfer complete.")

    def __repr__(self) -> str:
        return f"_Session(port={self.server.port}, user={self.user!r})"


def wait_listening(server: SimulatedBambuFtps, timeout_s: float = 10.0) -> None:
    """Block until ``server`` is listening again (after :meth:`SimulatedBambuFtps.go_offline`); TimeoutError if not."""
    deadline = time.monotonic() + timeout_s
    while not server.online:
        if time.monotonic() > deadline:
            raise TimeoutError("simulated FTPS server did not come back")
        time.sleep(0.01)
