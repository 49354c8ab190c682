"""``logging.format: json``: every line the server writes to stderr is one JSON object, whoever logged it (printfleet
itself, uvicorn, alembic, any standard-library logger, ``warnings``), tracebacks included."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import yaml

from bench import _printfleet_command
from printfleet.observability.logging import configure_logging
from tests.support import free_port


def json_lines(text: str) -> list[dict[str, Any]]:
    """Each line of ``text`` parsed; fails naming the first line that is not a JSON object."""
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"line {number} of {len(text.splitlines())} is not JSON: {line[:200]!r}")
        assert isinstance(record, dict), line
        records.append(record)
    return records


def write_config(workdir: Path, database: Path, port: int) -> Path:
    config = workdir / "printfleet.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database_url": f"sqlite+aiosqlite:///{database}",
                "http": {"host": "127.0.0.1", "port": port},
                "logging": {"level": "INFO", "format": "json"},
            }
        )
    )
    return config


def start_serve(workdir: Path, config: Path) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PRINTFLEET_")}
    return subprocess.Popen(
        [*_printfleet_command(), "serve", "--config", str(config)],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "stderr.log").open("wb"),
    )


def test_serve_with_json_logs_writes_only_json_lines(tmp_path: Path) -> None:
    port = free_port()
    server = start_serve(tmp_path, write_config(tmp_path, tmp_path / "printfleet.db", port))
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "stderr.log").read_text(errors="replace")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not answer /healthz"
            time.sleep(0.1)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:  # uvicorn logs a bad request
            raw.sendall(b"NOT HTTP AT ALL\r\n\x00\x01\r\n\r\n")
            raw.recv(1024)
        httpx.get(f"http://127.0.0.1:{port}/api/v1/jobs/9223372036854775808", timeout=5)  # too big for SQLite
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)

    records = json_lines((tmp_path / "stderr.log").read_text(errors="replace"))
    loggers = {record.get("logger") for record in records}
    assert {"alembic.runtime.migration", "uvicorn.error", "printfleet.app"} <= loggers, loggers
    assert any(r["event"] == "Invalid HTTP request received." for r in records)
    assert any(r["event"] == "cli.announce" and f":{port}" in r["message"] for r in records)
    assert all({"event", "level", "timestamp"} <= record.keys() for record in records)


def test_a_start_up_traceback_is_one_json_object(tmp_path: Path) -> None:
    database = tmp_path / "printfleet.db"
    database.write_bytes(b"this is not an SQLite database" * 100)

    server = start_serve(tmp_path, write_config(tmp_path, database, free_port()))
    assert server.wait(timeout=60) != 0

    records = json_lines((tmp_path / "stderr.log").read_text(errors="replace"))
    errors = [record for record in records if record["level"] == "error"]
    assert errors
    # uvicorn logs the lifespan's traceback as the message itself: a multi-line message, still one line here
    assert any("Traceback (most recent call last)" in r["event"] + r.get("exception", "") for r in errors)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)
    structlog.reset_defaults()


@pytest.mark.usefixtures("restore_logging")
def test_every_logger_renders_one_json_object_per_line() -> None:
    out = io.StringIO()
    configure_logging(level="INFO", json_format=True, stream=out)

    structlog.get_logger("printfleet.test").info("test.event", printer_id="x1c", api_key="hunter22")
    try:
        raise RuntimeError("line one\nline two")
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application\n")
        structlog.get_logger("printfleet.test").exception("test.crashed")
    logging.getLogger("discord.client").info("logging in using %s", "static token")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a warning from a library", DeprecationWarning, stacklevel=1)
    logging.getLogger("httpx").info("HTTP Request: GET ...")  # below WARNING for this noisy library: dropped

    records = json_lines(out.getvalue())

    assert [(r["logger"], r["level"]) for r in records] == [
        ("printfleet.test", "info"),
        ("uvicorn.error", "error"),
        ("printfleet.test", "error"),
        ("discord.client", "info"),
        ("py.warnings", "warning"),
    ]
    assert records[0]["printer_id"] == "x1c"
    assert records[0]["api_key"] == "**********"
    assert "RuntimeError: line one\nline two" in records[1]["exception"]
    assert "RuntimeError: line one\nline two" in records[2]["exception"]
    assert records[3]["event"] == "logging in using static token"
    assert "a warning from a library" in records[4]["event"]
    assert all(r["timestamp"].endswith("Z") for r in records)


@pytest.mark.usefixtures("restore_logging")
def test_console_format_renders_library_records_like_printfleet_events() -> None:
    out = io.StringIO()
    configure_logging(level="INFO", json_format=False, stream=out)

    structlog.get_logger("printfleet.test").info("test.event", printer_id="x1c")
    logging.getLogger("alembic.runtime.migration").info("Running upgrade 0001 -> 0002")

    first, second = out.getvalue().splitlines()
    assert "[info     ] test.event" in first
    assert "printer_id=x1c" in first
    assert "[info     ] Running upgrade 0001 -> 0002" in second
    assert "[alembic.runtime.migration]" in second
    assert first[:4] == second[:4] == time.strftime("%Y", time.gmtime())


@pytest.mark.usefixtures("restore_logging")
def test_a_console_traceback_shows_the_frames_never_their_local_variables() -> None:
    """A crash logged in console format names the exception and its frames; the frames' local variables, which may
    hold a printer's access code, are not printed."""
    out = io.StringIO()
    configure_logging(level="INFO", json_format=False, stream=out)

    def connect(access_code: str) -> None:
        raise ConnectionError("the printer refused the login")

    secret = str(31415926 * 3)  # not in the source lines a traceback quotes
    try:
        connect(secret)
    except ConnectionError:
        structlog.get_logger("printfleet.test").exception("printer.session_crashed")

    text = out.getvalue()
    assert "printer.session_crashed" in text
    assert "ConnectionError: the printer refused the login" in text
    assert "in connect" in text  # the frame
    assert secret not in text
