#!/bin/sh
# Create .venv and install duban with the dependencies pinned in requirements.lock.
# Safe to run again: it reinstalls only when requirements.lock or pyproject.toml changed.
set -eu
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "bootstrap: duban needs Python 3.11 or newer; '$PYTHON' is $("$PYTHON" --version 2>&1 || echo missing)." >&2
    echo "bootstrap: install Python 3.11+ and run again, or point PYTHON=/path/to/python3.11 at one." >&2
    exit 2
fi
if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.duban-installed
wanted=$(.venv/bin/python -c 'import hashlib,sys; print(hashlib.sha256(b"".join(open(f,"rb").read() for f in sys.argv[1:])).hexdigest())' requirements.lock pyproject.toml)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]; then
    echo "bootstrap: installing locked dependencies into .venv (a few minutes the first time)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
    .venv/bin/python -m pip check >/dev/null || { .venv/bin/python -m pip check; echo "bootstrap: requirements.lock is incomplete; regenerate it (see README)" >&2; exit 1; }
    echo "$wanted" > "$stamp"
fi
