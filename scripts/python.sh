#!/usr/bin/env bash
# Runs the project's Python (the .venv that `npm run setup` fills from training/requirements.txt, or $MEDREC_PYTHON).
root="$(cd "$(dirname "$0")/.." && pwd)"
python=${MEDREC_PYTHON:-$root/.venv/bin/python}
if [ ! -x "$python" ] && ! command -v "$python" >/dev/null 2>&1; then
  echo "No project Python at $python: run 'npm run setup' first (it installs training/requirements.txt into .venv/)." >&2
  exit 1
fi
exec "$python" "$@"
