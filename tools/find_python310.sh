#!/usr/bin/env bash
# Prints the path of a working Python 3.10 (TFX 1.16 needs <3.11), or explains how to get one.
# A pyenv shim named python3.10 can exist without a selected 3.10, so each candidate is run.
set -u
for candidate in "${PYTHON310:-}" python3.10 "$HOME"/.pyenv/versions/3.10*/bin/python3.10 \
                 /usr/local/bin/python3.10 /usr/bin/python3.10; do
  [ -n "$candidate" ] || continue
  if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then
    command -v "$candidate" 2>/dev/null || echo "$candidate"
    exit 0
  fi
done
cat >&2 <<'MSG'
recfusion needs Python 3.10 (TFX 1.16 does not support 3.11+), and none was found.
Install it (for example `pyenv install 3.10.13` or `apt-get install python3.10 python3.10-venv`),
or point PYTHON310 at its interpreter: `make install PYTHON310=/path/to/python3.10`.
MSG
exit 1
