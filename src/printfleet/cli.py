"""Command line: ``printfleet serve | demo | sim | migrate``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import webbrowser
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from rich.console import Console

from printfleet.config import ConfigError, Settings, load_settings
from printfleet.observability.logging import configure_logging

cli = typer.Typer(add_completion=False, no_args_is_help=True, help="printfleet: a self-hosted print-farm manager.")
err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML configuration file (or PRINTFLEET_CONFIG).", show_default=False),
]


def _settings(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **overrides)
    except ConfigError as exc:
        err.print(f"[bold red]printfleet: configuration error[/]\n{exc}", highlight=False, markup=True)
        raise typer.Exit(code=2) from None


def _http_overrides(settings_source: Settings, host: str | None, port: int | None) -> dict[str, Any]:
    http = settings_source.http.model_copy()
    if host is not None:
        http.host = host
    if port is not None:
        http.port = port
    return {"http": http}


def _serve(settings: Settings) -> None:
    from printfleet.app import build_app
    from printfleet.serving import uvicorn_options

    configure_logging(level=settings.logging.level, json_format=settings.logging.format == "json")
    # Header deadline, keep-alive and connection limits from the http settings (slow clients).
    uvicorn.run(build_app(settings), **uvicorn_options(settings.http))


@cli.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Listen address (overrides http.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (overrides http.port).")] = None,
) -> None:
    """Run the server: web UI, API, WebSocket and one connection per configured printer."""
    base = _settings(config)
    settings = _settings(config, **_http_overrides(base, host, port))
    err.print(f"printfleet listening on http://{settings.http.host}:{settings.http.port}", highlight=False)
    _serve(settings)


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


@cli.command()
def demo(
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.")] = 8000,
    database_url: Annotated[str, typer.Option(help="Database URL.")] = "sqlite+aiosqlite:///data/printfleet.db",
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the live printers page in the desktop's browser.")
    ] = True,
) -> None:
    """Run printfleet on SQLite with a simulated farm (2 Bambu Lab, 1 PrusaLink, 1 OctoPrint) that keeps printing,
    and open the live printers page."""
    # The simulated PrusaLink and OctoPrint printers follow the global poll interval (2 s here; Settings page).
    settings = _settings(None, database_url=database_url, http={"host": host, "port": port}, monitoring_interval=2.0)
    configure_logging(level=settings.logging.level, json_format=settings.logging.format == "json")
    from printfleet.sim.mqtt_broker import BrokerError

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_run_demo(settings, open_browser=open_browser and _has_screen()))
    except BrokerError as exc:
        err.print(
            f"[bold red]printfleet demo: the simulated Bambu Lab printers need mosquitto[/]\n{exc}\n"
            "Install it with: apt-get install mosquitto",
            highlight=False,
        )
        raise typer.Exit(code=2) from None


async def _run_demo(settings: Settings, *, open_browser: bool) -> None:
    from printfleet.app import build_app
    from printfleet.sim.farm import SimulatedFarm

    async with SimulatedFarm(workdir=Path("data") / "sim") as farm:
        printers = [config.replace(poll_interval=None) for config in farm.printer_configs()]
        app = build_app(settings, extra_printers=printers)
        server = uvicorn.Server(
            uvicorn.Config(
                app, host=settings.http.host, port=settings.http.port, log_level="warning", ws="websockets-sansio"
            )
        )
        url = f"http://{settings.http.host}:{settings.http.port}"
        err.print(
            f"\n[bold]printfleet demo[/] — {len(farm.printers)} simulated printers\n"
            f"  open      {url}/   (live printers; jobs at {url}/jobs, settings at {url}/settings)\n"
            f"  API docs  {url}/docs\n  events    ws://{settings.http.host}:{settings.http.port}/ws\n"
            "Press Ctrl+C to stop.\n",
            highlight=False,
        )
        opener = asyncio.create_task(_open_when_ready(server, url + "/")) if open_browser else None
        try:
            await server.serve()
        finally:
            if opener is not None:
                opener.cancel()


@cli.command()
def sim(
    config: Annotated[Path, typer.Option("--config", "-c", help="Simulator file (see docs/sim.md).")],
) -> None:
    """Run simulated printers on their own and print the printer entries to paste into a printfleet config."""
    from printfleet.sim.farm import SimConfigError, load_sim_options, run_simulators

    configure_logging(level="INFO")
    try:
        options = load_sim_options(config)
    except SimConfigError as exc:
        err.print(f"[bold red]printfleet sim: configuration error[/]\n{exc}", highlight=False)
        raise typer.Exit(code=2) from None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_simulators(options, workdir=config.absolute().parent / ".printfleet-sim"))


def main() -> None:
    """Entry point of the ``printfleet`` script."""
    cli(prog_name="printfleet")


if __name__ == "__main__":  # pragma: no cover
    main()
