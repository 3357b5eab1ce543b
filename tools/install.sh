#!/usr/bin/env bash
# Creates .venv with Python 3.10 and installs the development lock plus this project (editable).
# requirements-dev.lock is the runtime lock (requirements.lock, what the image installs) at the
# same versions plus test, bench and browser tooling, so one lock covers the dev venv.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
UV_VERSION=0.13.9

python310=$(bash tools/find_python310.sh)
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
  echo "==> creating $VENV with $python310"
  rm -rf "$VENV"
  "$python310" -m venv "$VENV"
fi
if ! "$VENV/bin/uv" --version 2>/dev/null | grep -q "$UV_VERSION"; then
  echo "==> installing uv $UV_VERSION"
  "$VENV/bin/python" -m pip install --quiet "uv==$UV_VERSION"
fi
echo "==> installing the locked stack (requirements-dev.lock: runtime + dev tools)"
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" -r requirements-dev.lock
echo "==> installing recfusion (editable)"
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps -e .
# Byte-compiled once here: uv does not compile what it installs, and where Python may not
# write bytecode (PYTHONDONTWRITEBYTECODE, a read-only venv) every process would compile
# TensorFlow, TFX and Beam again as it imports them: 19 s instead of 8 s on these machines,
# paid by every run, CLI command and serving check.
echo "==> byte-compiling $VENV"
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$VENV/bin/python" -m compileall -q -j 0 "$site" >/dev/null \
  || echo "note: some files in $site did not byte-compile (they are compiled when imported)"
echo "==> done: $VENV"
