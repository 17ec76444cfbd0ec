#!/usr/bin/env bash
# Build (or reuse) a Python 3.10 virtualenv holding cairo-lang, for `cairo-run`.
#
# Why a second venv: cairo-lang 0.14's `cairo-compile` works on the project's
# Python 3.11, but its `cairo-run` crashes there; it runs on Python 3.10. The
# Cairo program test (tests/provers/test_cairo_program.py) and the Stone
# backend (ZKP_STONE_CAIRO_RUN=<venv>/bin/cairo-run) use this venv.
#
# Usage: scripts/setup_cairo_venv.sh [VENV_DIR]      (default: <repo>/.cairo-venv)
#        scripts/setup_cairo_venv.sh --check          (only: is there a Python 3.10? exit 0 or 3)
# Interpreter: $CAIRO_PYTHON if set, else python3.10 on PATH, else a pyenv 3.10.
# Exit status: 0 ready (prints the cairo-run path), 3 no Python 3.10 found,
# anything else: venv creation or pip failed (pip's output is on stderr).
#
# Idempotent and cheap when cached: a stamp file records the cairo-lang
# requirement the venv was built for; a matching stamp plus a working
# `cairo-run --version` means nothing is reinstalled.
set -euo pipefail

CAIRO_LANG_REQUIREMENT="cairo-lang==0.14.0.1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CHECK_ONLY=0
if [[ "${1:-}" == "--check" ]]; then CHECK_ONLY=1; shift; fi
VENV="${1:-$ROOT/.cairo-venv}"
STAMP="$VENV/.zkp-cairo-lang"

# One builder at a time: `make test` builds in the background while test processes that need
# cairo-run call this script too; they wait here for the build instead of racing it.
if [[ $CHECK_ONLY == 0 ]]; then
    mkdir -p "$(dirname "$VENV")"
    exec 9>"$VENV.lock"
    flock 9
fi

if [[ $CHECK_ONLY == 0 && -f "$STAMP" && "$(cat "$STAMP")" == "$CAIRO_LANG_REQUIREMENT" ]] \
    && "$VENV/bin/cairo-run" --version >/dev/null 2>&1; then
    echo "$VENV/bin/cairo-run"
    exit 0
fi

find_python310() {
    local candidates=()
    [[ -n "${CAIRO_PYTHON:-}" ]] && candidates+=("$CAIRO_PYTHON")
    candidates+=(python3.10)
    for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10.*/bin/python; do
        [[ -x "$p" ]] && candidates+=("$p")
    done
    for c in "${candidates[@]}"; do
        # A pyenv shim exists on PATH even when the version is not installed: ask the interpreter itself.
        if "$c" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' >/dev/null 2>&1; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

if ! PY="$(find_python310)"; then
    echo "setup_cairo_venv: no Python 3.10 interpreter found (tried \$CAIRO_PYTHON, python3.10," \
         "pyenv 3.10.x); cairo-run from cairo-lang 0.14 needs Python 3.10" >&2
    exit 3
fi

if [[ $CHECK_ONLY == 1 ]]; then
    echo "$PY"
    exit 0
fi

rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$CAIRO_LANG_REQUIREMENT" >&2
"$VENV/bin/cairo-run" --version >/dev/null
echo "$CAIRO_LANG_REQUIREMENT" > "$STAMP"
echo "$VENV/bin/cairo-run"
