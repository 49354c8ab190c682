"""Command line: ``printfleet serve | demo | sim | migrate``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import webbrowser
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from printfleet.cli_demo import (
    DEMO_ETSY_KEYSTRING,
    DEMO_ETSY_SECRET,
    DEMO_SCHEDULED,
    demo_accounts,
    demo_etsy,
    demo_files,
    demo_history,
    demo_maintenance,
    demo_orders,
    demo_schedule,
)
from printfleet.config import ConfigError, HttpSettings, Settings, load_settings
from printfleet.observability.logging import configure_logging
from printfleet.store.process_lock import SqliteInUse, SqliteLock, hold_sqlite

cli = typer.Typer(add_completion=False, no_args_is_help=True, help="printfleet: a self-hosted print-farm manager.")
err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML configuration file (or PRINTFLEET_CONFIG).", show_default=False),
]


def load_or_exit(config: Path | None, **overrides: Any) -> Settings:
    """The settings, or exit 2 with the configuration error (naming the file, the key and the problem)."""
    return _settings(config, **overrides)


def _config_error(exc: ConfigError) -> typer.Exit:
    """Print ``exc`` for the operator; the exit (status 2) to raise."""
    err.print(f"[bold red]printfleet: configuration error[/]\n{exc}", highlight=False, markup=True)
    return typer.Exit(code=2)


def _settings(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **overrides)
    except ConfigError as exc:
        raise _config_error(exc) from None


def _http_overrides(settings_source: Settings, host: str | None, port: int | None) -> dict[str, Any]:
    """``http`` of ``settings_source`` with the ``--host`` / ``--port`` options applied, validated like the file's
    keys: a bad one is a configuration error naming the option (exit 2)."""
    changes = {key: value for key, value in (("host", host), ("port", port)) if value is not None}
    try:
        http = HttpSettings.model_validate({**settings_source.http.model_dump(), **changes})
    except ValidationError as exc:
        problems = [
            f"  --{error['loc'][0]} (http.{error['loc'][0]}): {error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        ]
        raise _config_error(ConfigError("\n".join([f"command line: {len(problems)} problem(s)", *problems]))) from None
    return {"http": http}


def _serve(settings: Settings) -> None:
    from printfleet.app import build_app
    from printfleet.serving import uvicorn_options

    # Header deadline, keep-alive and connection limits from the http settings (slow clients); uvicorn's own
    # records go through configure_logging's handler (JSON lines when asked).
    uvicorn.run(build_app(settings), log_config=None, **uvicorn_options(settings.http))


def _announce(settings: Settings, text: str) -> None:
    """``text`` (rich markup) for the operator: on stderr, or a log event ``cli.announce`` (its plain text on one line)
    when the log format is JSON."""
    if settings.logging.format == "json":
        structlog.get_logger("printfleet.cli").info(
            "cli.announce", message=" ".join(Text.from_markup(text).plain.split())
        )
    else:
        err.print(text, highlight=False)


@cli.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Listen address (overrides http.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (overrides http.port).")] = None,
) -> None:
    """Run the server: web UI, API, WebSocket and one connection per configured printer."""
    base = _settings(config)
    settings = _settings(config, **_http_overrides(base, host, port))
    configure_logging(level=settings.logging.level, json_format=settings.logging.format == "json")
    held = _hold_database(settings)
    try:
        _announce(settings, f"printfleet listening on http://{settings.http.host}:{settings.http.port}")
        _serve(settings)
    finally:
        held.release()


def _hold_database(settings: Settings) -> SqliteLock:
    """This process's hold on a SQLite database (none for PostgreSQL); exit 2 with the reason when another printfleet
    process has the file."""
    try:
        return hold_sqlite(settings.database_url)
    except SqliteInUse as exc:
        err.print(f"[bold red]printfleet: {exc}[/]", highlight=False)
        raise typer.Exit(code=2) from None


@cli.command("migrate")
def migrate_command(config: ConfigOption = None) -> None:
    """Bring the database schema up to date (``serve`` also does this at start-up)."""
    from printfleet.store.database import migrate

    settings = _settings(config)
    asyncio.run(migrate(settings.database_url))
    err.print(f"database at {settings.database_url} is up to date", highlight=False)


def _has_screen() -> bool:
    """Whether a graphical browser can open here (a desktop session, macOS or Windows); never a text browser."""
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


async def _open_when_ready(server: uvicorn.Server, url: str) -> None:
    """Open ``url`` in the desktop's browser once ``server`` accepts connections (given up after 60 s)."""
    for _ in range(600):
        if server.started:
            await asyncio.to_thread(webbrowser.open, url)
            return
        await asyncio.sleep(0.1)


async def _history_when_ready(server: uvicorn.Server, settings: Settings, printers: list[tuple[str, str]]) -> None:
    """Seed the demo's week of history once ``server`` has started (its printers are in the store then; given up
    after 60 s)."""
    log = structlog.get_logger("printfleet.demo")
    for _ in range(600):
        if server.started:
            break
        await asyncio.sleep(0.1)
    else:
        return
    try:
        added = await demo_history(settings, printers)
    except Exception:  # the demo runs on without its past
        log.exception("demo.history_failed")
        return
    if added:
        log.info("demo.history_added", jobs=added)


@cli.command()
def demo(
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.")] = 8000,
    database_url: Annotated[str, typer.Option(help="Database URL.")] = "sqlite+aiosqlite:///data/printfleet.db",
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the live printers page in the desktop's browser.")
    ] = True,
) -> None:
    """Run printfleet on SQLite with a simulated farm (2 Bambu Lab, 1 PrusaLink, 1 OctoPrint, 1 Klipper)
    that keeps printing, and open the live printers page."""
    # The simulated PrusaLink and OctoPrint printers follow the global poll interval (2 s here; Settings page).
    http = _http_overrides(_settings(None), host, port)
    settings = _settings(None, database_url=database_url, monitoring_interval=2.0, **http)
    configure_logging(level=settings.logging.level, json_format=settings.logging.format == "json")
    from printfleet.sim.mqtt_broker import BrokerError

    held = _hold_database(settings)
    try:
        _run_until_stopped(lambda stop: _run_demo(settings, open_browser=open_browser and _has_screen(), stop=stop))
    except BrokerError as exc:
        err.print(
            f"[bold red]printfleet demo: the simulated Bambu Lab printers need mosquitto[/]\n{exc}\n"
            "Install it with: apt-get install mosquitto",
            highlight=False,
        )
        raise typer.Exit(code=2) from None
    finally:
        held.release()


def _run_until_stopped(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)`` on a new event loop until it returns. SIGTERM (systemd, ``kill``, a container's stop) sets
    ``stop`` so that ``main`` shuts down as cleanly as on Ctrl+C, which cancels it: the simulators' mosquitto
    brokers are stopped, never left running after this process."""

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):  # no add_signal_handler on Windows: SIGTERM ends the process
            loop.add_signal_handler(signal.SIGTERM, stop.set)
        try:
            await main(stop)
        finally:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(signal.SIGTERM)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


async def _run_demo(settings: Settings, *, open_browser: bool, stop: asyncio.Event) -> None:
    from printfleet.app import build_app
    from printfleet.sim.etsy import EtsyStandIn
    from printfleet.sim.farm import SimulatedFarm

    credentials = await demo_accounts(settings)
    await demo_files(settings)
    await demo_schedule(settings)
    await demo_orders(settings)
    etsy = EtsyStandIn(keystring=DEMO_ETSY_KEYSTRING, shared_secret=DEMO_ETSY_SECRET)
    async with etsy, SimulatedFarm(workdir=Path("data") / "sim", spare=1) as farm:
        etsy.seed_demo(datetime.now(UTC))
        settings = await demo_etsy(settings, etsy)
        printers = [
            config.replace(poll_interval=None, queue_mode=DEMO_SCHEDULED.get(config.id, config.queue_mode))
            for config in farm.printer_configs()
        ]
        await demo_maintenance(settings, [config.id for config in printers])
        app = build_app(settings, extra_printers=printers)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=settings.http.host,
                port=settings.http.port,
                log_config=None,  # through configure_logging's handler
                log_level="warning",
                ws="websockets-sansio",
            )
        )
        url = f"http://{settings.http.host}:{settings.http.port}"
        _announce(
            settings,
            f"\n[bold]printfleet demo[/] — {len(farm.printers)} simulated printers\n"
            f"  open      {url}/   (live printers; jobs at {url}/jobs, settings at {url}/settings)\n"
            f"  idle for your prints from the Files page: {', '.join(sorted(farm.spare_ids))}\n"
            f"  scheduled prints at {url}/schedule: a chain of three on {', '.join(DEMO_SCHEDULED)} "
            "(mark its plate cleared on its card between prints)\n"
            f"  shop orders at {url}/orders: the Etsy stand-in's paid orders are scheduled as they arrive; "
            "schedule a typed-in one yourself\n"
            f"  API docs  {url}/docs\n  events    ws://{settings.http.host}:{settings.http.port}/ws\n"
            "Press Ctrl+C to stop.\n",
        )
        _print_demo_accounts(settings, credentials)
        opener = asyncio.create_task(_open_when_ready(server, url + "/")) if open_browser else None
        stopper = asyncio.create_task(_exit_on(stop, server))
        history = asyncio.create_task(
            _history_when_ready(server, settings, [(config.id, config.kind.value) for config in printers])
        )
        try:
            # uvicorn handles SIGTERM and SIGINT itself while it serves (a graceful shutdown), then raises the signal
            # again: SIGTERM then only sets ``stop``, and the farm's brokers are stopped below.
            if not stop.is_set():
                await server.serve()
        finally:
            stopper.cancel()
            history.cancel()
            if opener is not None:
                opener.cancel()


def _print_demo_accounts(settings: Settings, credentials: list[tuple[str, str, str]]) -> None:
    """The demo's accounts for the person at the terminal: written straight to stderr (one JSON object with JSON
    logs), never through the logging pipeline."""
    if settings.logging.format == "json":
        accounts = [{"username": name, "password": password, "role": role} for name, password, role in credentials]
        print(json.dumps({"event": "demo.accounts", "level": "info", "accounts": accounts}), file=sys.stderr)
        return
    lines = "".join(f"  sign in   {name:<6} {password}   ({role})\n" for name, password, role in credentials)
    err.print(lines, highlight=False)


async def _exit_on(stop: asyncio.Event, server: uvicorn.Server) -> None:
    """Ask ``server`` to shut down once ``stop`` is set."""
    await stop.wait()
    server.should_exit = True


@cli.command()
def sim(
    config: Annotated[Path, typer.Option("--config", "-c", help="Simulator file (see docs/sim.md).")],
) -> None:
    """Run simulated printers on their own and print the printer entries to paste into a printfleet config; the
    sample sliced files are written to ``.printfleet-sim/samples/`` beside the simulator file."""
    from printfleet.sim.farm import SimConfigError, load_sim_options, run_simulators

    configure_logging(level="INFO")
    try:
        options = load_sim_options(config)
    except SimConfigError as exc:
        err.print(f"[bold red]printfleet sim: configuration error[/]\n{exc}", highlight=False)
        raise typer.Exit(code=2) from None
    workdir = config.absolute().parent / ".printfleet-sim"
    from printfleet.sim.samples import write_samples

    samples = write_samples(workdir / "samples")
    err.print(f"sample sliced files to upload on the Files page: {samples[0].parent}", highlight=False)
    _run_until_stopped(lambda stop: run_simulators(options, workdir=workdir, stop=stop))


def _add_users_commands() -> None:
    from printfleet.cli_users import users_cli

    cli.add_typer(users_cli, name="users")


_add_users_commands()


def main() -> None:
    """Entry point of the ``printfleet`` script."""
    cli(prog_name="printfleet")


if __name__ == "__main__":  # pragma: no cover
    main()
