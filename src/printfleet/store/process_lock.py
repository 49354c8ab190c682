"""One printfleet process per SQLite file: :func:`hold_sqlite`.

SQLite is printfleet's store for one process (several processes share PostgreSQL): two servers on one SQLite file
would each connect to every printer and fight over the file's single writer. A process that opens a SQLite file
takes an exclusive lock on ``<file>.lock`` beside it (``flock``: the kernel releases it when the process ends, even
killed), and writes its pid there for the message another process gets. Within one process the lock is shared (the
CLI and the app it runs, or tests with several servers in one process) and counted. An in-memory database needs no
lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url


class SqliteInUse(Exception):
    """Another process holds the SQLite file; ``str()`` says which file, which pid, and what to do."""

    def __init__(self, path: Path, pid: str | None) -> None:
        who = f"printfleet process {pid}" if pid else "another printfleet process"
        super().__init__(
            f"the SQLite database {path} is in use by {who}: SQLite serves one printfleet process; stop the other "
            "one, or give this one its own database_url (several processes share PostgreSQL)"
        )
        self.path = path
        self.pid = pid


@dataclass
class _Held:
    fd: int
    count: int


_held: dict[Path, _Held] = {}
_lock = threading.Lock()


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL (resolved), or None for another database or an in-memory one."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).expanduser().resolve()


class SqliteLock:
    """This process's hold on one SQLite file (see :func:`hold_sqlite`); :meth:`release` once done."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._released = False

    def release(self) -> None:
        """Give the hold back (the file is free once every hold of this process is released)."""
        if self.path is None or self._released:
            return
        self._released = True
        with _lock:
            held = _held[self.path]
            held.count -= 1
            if held.count == 0:
                del _held[self.path]
                with contextlib.suppress(OSError):
                    fcntl.flock(held.fd, fcntl.LOCK_UN)
                os.close(held.fd)


def hold_sqlite(database_url: str) -> SqliteLock:
    """Hold the SQLite file of ``database_url`` for this process (nothing to hold for other databases). Raises
    SqliteInUse when another process holds it, OSError when the lock file cannot be made."""
    path = sqlite_path(database_url)
    if path is None:
        return SqliteLock(None)
    with _lock:
        held = _held.get(path)
        if held is not None:
            held.count += 1
            return SqliteLock(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_file = path.with_name(path.name + ".lock")
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or None
            os.close(fd)
            raise SqliteInUse(path, pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _held[path] = _Held(fd=fd, count=1)
        return SqliteLock(path)
