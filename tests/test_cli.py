"""The command line as an operator meets it: a bad option or an unreadable file is a configuration error (exit 2,
which the systemd unit does not restart), naming the option or the file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bench import _printfleet_command


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
