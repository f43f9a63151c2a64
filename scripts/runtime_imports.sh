#!/usr/bin/env bash
# CI step (test.sh runs it before pytest): a clean venv with only the runtime dependencies of pyproject.toml
# (no extras, pinned by constraints.txt) must import every module of every app. The venv is rebuilt from
# scratch whenever pyproject.toml or constraints.txt change, and on every CI run; pip's cache keeps that quick.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
venv=.venv-runtime
stamp=$venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ "${CI:-}" = true ] || [ ! -f "$stamp" ]; then
  "$PYTHON" -m venv --clear "$venv"
  "$venv/bin/python" -m pip install -qq --disable-pip-version-check -c constraints.txt -e .
  touch "$stamp"
fi
"$venv/bin/python" scripts/import_all.py
