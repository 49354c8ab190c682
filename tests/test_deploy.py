"""The deployment files: the systemd unit (``deploy/printfleet.service``), its example configuration and the
Raspberry Pi guide that quotes it.

The unit is checked by ``systemd-analyze verify`` when it is installed (on a copy whose ``ExecStart`` points at this
environment's ``printfleet`` script, since verify insists the program exists), and parsed here: restart policy,
target, hardening, and an ``ExecStart`` whose subcommand and options the real CLI has.
"""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from printfleet.cli import cli
from printfleet.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "printfleet.service"
CONFIG_EXAMPLE = ROOT / "deploy" / "config.example.yaml"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
GUIDE = ROOT / "docs" / "raspberry-pi.md"
INSTALLED_SCRIPT = "/opt/printfleet/venv/bin/printfleet"


def _unit() -> configparser.ConfigParser:
    # strict=False: systemd allows repeated keys; interpolation off: '%' is systemd's specifier, not Python's.
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive in systemd
    parser.read(UNIT, encoding="utf-8")
    return parser


def _exec_start() -> list[str]:
    return shlex.split(_unit()["Service"]["ExecStart"])


def test_unit_restarts_on_failure_and_starts_at_boot_after_the_network() -> None:
    unit = _unit()
    service = unit["Service"]
    assert service["Type"] in ("simple", "exec")
    assert service["Restart"] == "on-failure"
    assert float(service["RestartSec"]) > 0
    assert service["RestartPreventExitStatus"] == "2"  # the CLI's exit status for a configuration error
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert "network-online.target" in unit["Unit"]["After"].split()
    assert "network-online.target" in unit["Unit"]["Wants"].split()


def test_unit_runs_unprivileged_and_writes_only_its_state_directory() -> None:
    service = _unit()["Service"]
    assert service["User"] == "printfleet"
    assert service["NoNewPrivileges"] == "true"
    assert service["ProtectSystem"] == "strict"
    assert service["PrivateTmp"] == "true"
    assert service["StateDirectory"] == "printfleet"
    assert service["ReadWritePaths"].split() == ["/var/lib/printfleet"]
    assert service["WorkingDirectory"] == "/var/lib/printfleet"
    assert service["EnvironmentFile"] == "-/etc/printfleet/env"  # '-': a missing file is not an error
    assert "StandardOutput" not in service or service["StandardOutput"] == "journal"


def test_exec_start_is_the_venv_script_running_a_real_subcommand_with_real_options() -> None:
    program, subcommand, *arguments = _exec_start()
    assert program == INSTALLED_SCRIPT
    assert subcommand == "serve"
    options = [argument for argument in arguments if argument.startswith("-")]
    assert options == ["--config"]
    assert arguments[arguments.index("--config") + 1] == "/etc/printfleet/config.yaml"

    result = CliRunner().invoke(cli, [subcommand, "--help"], prog_name="printfleet", terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Usage: printfleet serve" in result.output
    for option in options:
        assert option in result.output

    group = typer.main.get_command(cli)
    serve = group.commands[subcommand]  # type: ignore[attr-defined]  # a group: the CLI has several commands
    known = {name for parameter in serve.params for name in parameter.opts}
    assert set(options) <= known


def _verified(unit: Path, name: str, tmp_path: Path) -> None:
    """Run ``systemd-analyze verify`` on a copy of ``unit`` named ``name`` whose ``ExecStart`` points at this
    environment's script; fail on any remark about it, skip where verify cannot run."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    script = Path(sys.executable).parent / "printfleet"
    if not script.is_file():
        pytest.skip(f"{script} is missing: verify needs ExecStart's program to exist")
    copy = tmp_path / name
    copy.write_text(unit.read_text(encoding="utf-8").replace(INSTALLED_SCRIPT, str(script)), encoding="utf-8")
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False)
    output = result.stdout + result.stderr
    if result.returncode != 0 and name not in output:
        pytest.skip(f"systemd-analyze verify does not work here: {output.strip()[:300]}")
    # verify exits 0 on unknown keys and bad values and only prints them: any remark about the unit is a failure.
    remarks = [line for line in output.splitlines() if name in line]
    assert result.returncode == 0, output
    assert remarks == [], output


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    _verified(UNIT, "printfleet.service", tmp_path)


def test_example_configuration_loads_and_keeps_the_database_in_the_state_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PRINTFLEET_CONFIG", raising=False)
    monkeypatch.setenv("PRINTFLEET_DISCORD__TOKEN", "token-from-the-env-file")
    settings = load_settings(CONFIG_EXAMPLE)
    assert settings.database_url == "sqlite+aiosqlite:////var/lib/printfleet/printfleet.db"
    assert settings.discord.enabled  # guild and channel from the file, the token from the environment
    assert settings.queue.policy().claim_window.total_seconds() == 600
    assert [printer.id for printer in settings.printers] == ["x1c-left", "mk4-1"]
    assert "PRINTFLEET_DISCORD__TOKEN=" in ENV_EXAMPLE.read_text(encoding="utf-8")


def test_guide_quotes_the_example_configuration_and_the_unit_paths() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    assert CONFIG_EXAMPLE.read_text(encoding="utf-8") in guide  # the guide's YAML is the tested file
    assert " ".join(_exec_start()) in guide
    for text in ("systemctl enable --now printfleet", "journalctl -u printfleet -f", "python3 -m venv"):
        assert text in guide


def test_unit_allows_enough_open_files_for_many_clients() -> None:
    # systemd's default soft limit (1,024) let about 1,100 slow connections take the server off the air.
    service = _unit()["Service"]
    assert int(service["LimitNOFILE"]) >= 65536


FARM_UNIT = ROOT / "deploy" / "printfleet@.service"


def _parsed(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path, encoding="utf-8")
    return parser


def test_the_farm_template_runs_each_instance_like_the_single_unit_with_its_own_settings() -> None:
    single, farm = _parsed(UNIT), _parsed(FARM_UNIT)
    # configparser keeps the last of repeated keys: read EnvironmentFile lines from the text itself
    environment_files = [
        line.split("=", 1)[1] for line in FARM_UNIT.read_text().splitlines() if line.startswith("EnvironmentFile=")
    ]
    assert environment_files == ["-/etc/printfleet/env", "/etc/printfleet/%i.env"]  # the instance's own: required
    assert farm["Service"]["SyslogIdentifier"] == "printfleet-%i"
    differing = {
        key
        for key in single["Service"].keys() | farm["Service"].keys()
        if single["Service"].get(key) != farm["Service"].get(key)
    }
    assert differing == {"EnvironmentFile", "SyslogIdentifier"}  # the same program, restarts and hardening
    assert farm["Install"]["WantedBy"] == "multi-user.target"


def test_the_farm_template_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    _verified(FARM_UNIT, "printfleet@a.service", tmp_path)
