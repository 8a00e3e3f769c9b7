#!/usr/bin/env bash
# What `npm run setup` needs beyond `npm install`, so that the README's two commands pass on a clean machine:
#   1. the Python training requirements, pinned, in a project-local virtual environment (.venv/), reinstalled only
#      when training/requirements.txt changes;
#   2. the e2e browser (Debian's Chromium, never a test tool's own download): found, installed with apt-get when this
#      runs as root on Debian, otherwise one sentence saying what to install (the CLI and the app work without it).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
requirements=training/requirements.txt
stamp="$venv/.requirements.sha256"
python=${MEDREC_SYSTEM_PYTHON:-python3}

if ! command -v "$python" >/dev/null 2>&1; then
  echo "setup: no $python on PATH; install Python 3.11 (apt-get install -y python3 python3-venv) and run npm run setup again." >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating the project's Python environment in $venv/"
  if ! "$python" -m venv "$venv"; then
    echo "setup: $python cannot create a virtual environment; install python3-venv (apt-get install -y python3-venv) and run npm run setup again." >&2
    exit 1
  fi
fi
wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "setup: installing the pinned training requirements into $venv/ (several minutes the first time)"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$wanted" > "$stamp"
else
  echo "setup: Python training requirements already installed in $venv/"
fi

chromium=${MEDREC_CHROMIUM:-/usr/bin/chromium}
if [ -x "$chromium" ]; then
  echo "setup: e2e browser found at $chromium"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ -z "${MEDREC_CHROMIUM:-}" ]; then
  echo "setup: installing Debian's Chromium for the e2e tests (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
else
  echo "setup: no Chromium at $chromium; the e2e tests need it: run 'sudo apt-get install -y --no-install-recommends chromium' or set MEDREC_CHROMIUM to a Chromium binary." >&2
fi
