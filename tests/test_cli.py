"""The command line as an operator meets it: a bad option or an unreadable file is a configuration error (exit 2,
which the systemd unit does not restart), naming the option or the file; SIGTERM stops ``demo`` and ``sim`` with
their mosquitto brokers."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from bench import _printfleet_command
from printfleet.cli_demo import DEMO_HISTORY_DAYS, demo_files, demo_history, demo_orders, demo_schedule
from printfleet.config import load_settings
from printfleet.domain.orders.model import OrderQuery, OrderStatus
from printfleet.domain.schedule.model import ScheduleQuery
from printfleet.sim.samples import demo_samples
from printfleet.store.database import Database, migrate
from printfleet.store.orders.repository import SqlOrderRepository
from printfleet.store.schedule import SqlScheduleRepository
from tests.support import free_port


def run_printfleet(*args: str, cwd: Path, timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
    """``printfleet *args`` in ``cwd`` without the caller's PRINTFLEET_* environment (a server that starts instead of
    refusing is killed after ``timeout_s`` seconds and fails the test)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PRINTFLEET_")}
    env["COLUMNS"] = "200"  # one problem per line in rich's output
    return subprocess.run(
        [*_printfleet_command(), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--port", "99999"), "--port (http.port): Input should be less than or equal to 65535"),
        (("--port", "0"), "--port (http.port): Input should be greater than or equal to 1"),
        (("--host", "not a host!"), "--host (http.host): must be an IP address or a host name"),
        (("--host", ""), "--host (http.host): must be an IP address or a host name"),
    ],
)
def test_serve_refuses_a_bad_listen_option(tmp_path: Path, args: tuple[str, ...], expected: str) -> None:
    result = run_printfleet("serve", *args, cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    assert "configuration error" in result.stderr
    assert expected in result.stderr
    assert "listening on" not in result.stderr
    assert not (tmp_path / "data").exists()  # nothing started: no database created


def test_demo_refuses_a_bad_port_before_starting_anything(tmp_path: Path) -> None:
    result = run_printfleet("demo", "--no-open", "--port", "70000", cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    assert "--port (http.port): Input should be less than or equal to 65535" in result.stderr
    assert not (tmp_path / "data").exists()


def test_a_config_file_that_is_not_utf8_exits_2_naming_the_file(tmp_path: Path) -> None:
    config = tmp_path / "printfleet.yaml"
    config.write_bytes(b"printers: [\xff\xfe]\n")

    result = run_printfleet("serve", "--config", str(config), cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    assert f"config file {config}: not UTF-8 text" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_simulator_file_that_is_not_utf8_exits_2_naming_the_file(tmp_path: Path) -> None:
    config = tmp_path / "sim.yaml"
    config.write_bytes(b"bambu: \xff\n")

    result = run_printfleet("sim", "--config", str(config), cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    assert f"simulator file {config}: not UTF-8 text" in result.stderr


def child_pids(pid: int, name: str) -> list[int]:
    """Live processes called ``name`` whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        if comm == name and int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def start_printfleet(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PRINTFLEET_")}
    return subprocess.Popen(
        [*_printfleet_command(), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=(cwd / "stderr.log").open("w"),
        text=True,
    )


def wait_healthy(process: subprocess.Popen[str], port: int, cwd: Path, *, timeout_s: float = 60.0) -> None:
    """Wait until the server ``process`` answers ``/healthz`` on ``port``; fails with its stderr if it exits."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert process.poll() is None, (cwd / "stderr.log").read_text(errors="replace")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"nothing answered /healthz on port {port}"
        time.sleep(0.1)


def terminate_and_check_brokers(process: subprocess.Popen[str], brokers: list[int], cwd: Path) -> None:
    """SIGTERM ``process``: it exits within 20 s with status 0 and none of its ``brokers`` is left running (those
    left running are killed, and the test fails)."""
    try:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=20)
        time.sleep(0.2)  # an orphan would be re-parented and go on running; a stopped broker is gone
        left = [pid for pid in brokers if alive(pid)]
        assert left == [], f"mosquitto left running: {left}"
        assert returncode == 0, (cwd / "stderr.log").read_text(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
        for pid in brokers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.usefixtures("mosquitto_binary")
def test_sigterm_to_sim_stops_its_mosquitto_brokers(tmp_path: Path) -> None:
    config = tmp_path / "sim.yaml"
    config.write_text("bambu: 2\nprusalink: 1\noctoprint: 0\nkeep_printing: false\n")
    process = start_printfleet("sim", "--config", str(config), cwd=tmp_path)
    assert process.stdout is not None
    assert process.stdout.readline().startswith("# printers:")  # printed once every simulator runs
    brokers = child_pids(process.pid, "mosquitto")
    assert len(brokers) == 2
    written = sorted(path.name for path in (tmp_path / ".printfleet-sim" / "samples").iterdir())
    assert written == sorted(name for name, _ in demo_samples())  # sample files to upload, beside the config

    terminate_and_check_brokers(process, brokers, tmp_path)


@pytest.mark.usefixtures("mosquitto_binary")
def test_sigterm_to_demo_stops_the_server_and_its_mosquitto_brokers(tmp_path: Path) -> None:
    port = free_port()
    process = start_printfleet(
        "demo",
        "--no-open",
        "--port",
        str(port),
        "--database-url",
        f"sqlite+aiosqlite:///{tmp_path}/demo.db",
        cwd=tmp_path,
    )
    wait_healthy(process, port, tmp_path)
    brokers = child_pids(process.pid, "mosquitto")
    assert len(brokers) == 3  # 2 Bambu printers that keep printing, 1 left idle for prints sent from printfleet
    library = sorted(path.name for path in (tmp_path / "data" / "files").iterdir())
    assert library == sorted(hashlib.sha256(content).hexdigest() for _, content in demo_samples())

    terminate_and_check_brokers(process, brokers, tmp_path)
    assert "printfleet.stopped" in (tmp_path / "stderr.log").read_text()  # the server shut down cleanly too


async def test_the_demo_imports_its_sample_files_once(tmp_path: Path) -> None:
    settings = load_settings(
        None, database_url=f"sqlite+aiosqlite:///{tmp_path}/demo.db", files={"directory": str(tmp_path / "files")}
    )

    assert await demo_files(settings) == len(demo_samples())
    assert await demo_files(settings) == 0  # the next start finds them there: stored by SHA-256, one file each
    assert len(list((tmp_path / "files").iterdir())) == len(demo_samples())


async def test_the_demo_schedules_a_chain_of_three_once(tmp_path: Path) -> None:
    settings = load_settings(
        None, database_url=f"sqlite+aiosqlite:///{tmp_path}/demo.db", files={"directory": str(tmp_path / "files")}
    )
    await demo_files(settings)

    assert await demo_schedule(settings) == 3
    assert await demo_schedule(settings) == 0  # the next start keeps the chain it has

    async with Database(settings.database_url) as database:
        chain, total = await SqlScheduleRepository(database).list_prints(ScheduleQuery())
    assert total == 3
    assert [p.depends_on for p in chain] == [None, chain[0].id, chain[1].id]
    assert {p.printer_id for p in chain} == {"x1c-3"}


async def test_the_demo_adds_a_product_profile_and_three_orders_once(tmp_path: Path) -> None:
    settings = load_settings(
        None, database_url=f"sqlite+aiosqlite:///{tmp_path}/demo.db", files={"directory": str(tmp_path / "files")}
    )
    await demo_files(settings)

    assert await demo_orders(settings) == 3
    assert await demo_orders(settings) == 0  # the next start keeps the orders it has

    async with Database(settings.database_url) as database:
        orders, _ = await SqlOrderRepository(database).list_orders(OrderQuery())
    by_number = {order.external_id: order for order in orders}
    assert by_number["DEMO-1001"].status is OrderStatus.NEW
    assert by_number["DEMO-1001"].lines[0].profile_id is not None
    attention = by_number["DEMO-1003"]
    assert attention.status is OrderStatus.NEEDS_ATTENTION
    assert attention.problem == (
        "Calibration cube: personalisation requested; the profile 'Calibration cube' does not allow it"
    )


async def test_the_demo_starts_with_a_week_of_history_once(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from printfleet.domain.statistics import StatsRange
    from printfleet.services.statistics import StatisticsService
    from printfleet.store.statistics import SqlStatisticsRepository
    from tests.store.test_statistics_store import add, job, printer

    settings = load_settings(None, database_url=f"sqlite+aiosqlite:///{tmp_path}/demo.db")
    await migrate(settings.database_url)
    async with Database(settings.database_url) as database:
        await add(database, printer("x1c-1"), printer("mk4-1"))
        await add(database, job("x1c-1", datetime.now(UTC), "running"))  # the farm prints already

    added = await demo_history(settings, [("x1c-1", "bambu"), ("mk4-1", "prusalink")])
    assert added > 2 * DEMO_HISTORY_DAYS  # more than a print a day on each
    assert await demo_history(settings, [("x1c-1", "bambu"), ("mk4-1", "prusalink")]) == 0  # kept on restart

    today = datetime.now(UTC).date()
    async with Database(settings.database_url) as database:
        figures = await StatisticsService(SqlStatisticsRepository(database)).figures(
            StatsRange.of(today - timedelta(days=DEMO_HISTORY_DAYS + 1), today, "UTC")  # a week back from now
        )
    assert figures.counts.total == added + 1  # and the print running now
    assert figures.counts["completed"] > figures.counts["failed"] > 0  # a past with some failures
    assert {p.printer_id for p in figures.printers} == {"x1c-1", "mk4-1"}
    for figures_of_printer in figures.printers:
        assert figures_of_printer.utilisation is not None
        assert 0.2 < figures_of_printer.utilisation < 0.95  # printing most of the time, not all of it
    assert sum(day.counts.total > 0 for day in figures.days) >= DEMO_HISTORY_DAYS


def test_a_second_server_on_the_same_sqlite_file_refuses_to_start_and_says_why(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path}/farm.db"
    (tmp_path / "printfleet.yaml").write_text(f"database_url: {database}\n")
    port = free_port()
    first = start_printfleet("serve", "--config", "printfleet.yaml", "--port", str(port), cwd=tmp_path)
    try:
        wait_healthy(first, port, tmp_path)

        second = run_printfleet("serve", "--config", "printfleet.yaml", "--port", str(free_port()), cwd=tmp_path)

        assert second.returncode == 2
        message = " ".join(second.stderr.split())
        assert f"is in use by printfleet process {first.pid}" in message
        assert "SQLite serves one printfleet process" in message
        assert "PostgreSQL" in message
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200  # the first one goes on
    finally:
        first.terminate()
        first.wait(timeout=30)
    again = start_printfleet("serve", "--config", "printfleet.yaml", "--port", str(port), cwd=tmp_path)
    try:  # the file is free once the first process has ended
        wait_healthy(again, port, tmp_path)
    finally:
        again.terminate()
        again.wait(timeout=30)
