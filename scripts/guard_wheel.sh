#!/usr/bin/env bash
# CI step (test.sh runs it before pytest): mcp_guard is its own distribution. Its wheel, built from
# mcp_guard/pyproject.toml, installed alone in a clean venv (pinned by constraints.txt), must bring at most
# PyJWT, cryptography, httpx and what they need (no Django, nothing of the platform) and import. As with
# scripts/runtime_imports.sh, the venv is rebuilt when its inputs change and on every CI run; pip's cache
# keeps that quick.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
venv=.venv-guard
stamp=$venv/.installed-$(cat mcp_guard/pyproject.toml mcp_guard/README.md mcp_guard/*.py constraints.txt | sha256sum | cut -c1-16)
if [ "${CI:-}" = true ] || [ ! -f "$stamp" ]; then
  "$PYTHON" -m venv --clear "$venv"
  # Built from a copy, so the checkout gets no build/ directory inside the package.
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  cp -r mcp_guard/. "$src/mcp_guard"
  rm -rf "$src/mcp_guard/__pycache__"
  "$venv/bin/python" -m pip wheel -qq --disable-pip-version-check --no-deps -w "$venv/wheels" "$src/mcp_guard"
  "$venv/bin/python" -m pip install -qq --disable-pip-version-check -c constraints.txt "$venv"/wheels/mcp_guard-*.whl
  touch "$stamp"
fi
# Run from the venv's own directory: the checkout's mcp_guard must not shadow the installed one.
(cd "$venv" && bin/python ../scripts/guard_dist_check.py && bin/mcp-guard --help >/dev/null)
