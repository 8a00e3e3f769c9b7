#!/usr/bin/env bash
# Checks the training package's dependency rules (training/.importlinter) with import-linter.
set -euo pipefail
cd "$(dirname "$0")/../training"
exec bash ../scripts/python.sh -c "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
