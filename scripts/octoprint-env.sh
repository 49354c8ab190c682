#!/usr/bin/env bash
# Create (idempotently) a virtualenv holding a real OctoPrint for the end-to-end tests.
#
# Usage: scripts/octoprint-env.sh DIR        e.g. scripts/octoprint-env.sh .cache/octoprint/venv
#
# OctoPrint is AGPL and heavy (~150 packages), so it lives in its own venv, never in printfleet's.
# A second run is a no-op (< 1 s): it only checks the installed version against the pinned range.
# Env: PYTHON (interpreter used to create the venv; default python3), OCTOPRINT_SPEC (pip requirement).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi

venv_dir="$1"
python_bin="${PYTHON:-python3}"
spec="${OCTOPRINT_SPEC:-OctoPrint>=1.10,<2}"
stamp="$venv_dir/.printfleet-octoprint-spec"

# Quick path: the venv exists, was built for this exact spec and its octoprint entry point is there.
if [[ -x "$venv_dir/bin/octoprint" && -f "$stamp" && "$(cat "$stamp")" == "$spec" ]]; then
  exit 0
fi

if [[ ! -x "$venv_dir/bin/python" ]]; then
  echo "octoprint-env: creating virtualenv in $venv_dir" >&2
  "$python_bin" -m venv "$venv_dir"
fi

echo "octoprint-env: installing $spec into $venv_dir" >&2
"$venv_dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip wheel
"$venv_dir/bin/python" -m pip install --quiet --disable-pip-version-check "$spec"
"$venv_dir/bin/octoprint" --version >&2
printf '%s' "$spec" >"$stamp"
