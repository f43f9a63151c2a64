#!/usr/bin/env bash
# Runs the whole test suite against PostgreSQL and Redis (defaults: the local services), a real Celery
# worker and Debian's Chromium, then the embedded lane (SQLite, no Redis) on the tests marked `embedded`.
# Extra arguments go to pytest in both lanes (e.g. ./test.sh -k audit). Non-zero if either lane failed.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
# Third-party peers (MCP TypeScript SDK, conformance suite, node-oidc-provider, Node 22) from npm.
peers_stamp=tests/peers/node_modules/.installed-$(sha256sum tests/peers/package-lock.json | cut -c1-16)
if [ ! -f "$peers_stamp" ]; then
  npm ci --prefix tests/peers --no-audit --no-fund --loglevel=error
  touch "$peers_stamp"
fi
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/15}
export VAR_DIR=${VAR_DIR:-$PWD/var/test}
export CELERY_QUEUE=${CELERY_QUEUE:-test-$$}
.venv/bin/python manage.py collectstatic --noinput -v0
# The import rules in .importlinter (one-way apps, no cycles, function bodies included): quiet unless broken.
if ! contracts=$(.venv/bin/lint-imports --no-logo --no-cache 2>&1); then echo "$contracts"; exit 1; fi
scripts/runtime_imports.sh  # the runtime dependencies alone import every module (a clean venv, pyproject.toml)
scripts/guard_wheel.sh  # mcp_guard alone: its wheel in a clean venv brings only its three dependencies and imports
status=0
.venv/bin/python -m pytest "$@" || status=$?
# The embedded lane: the tests marked `embedded` (jobs, admin actions, the embedded server) once more on
# SQLite without Redis, as ./run.sh runs. Exit 5 (nothing selected, e.g. ./test.sh tests/identity) is no failure.
embedded_var="$VAR_DIR/embedded"
mkdir -p "$embedded_var"
lane=0
env -u REDIS_URL EMBEDDED_LANE=1 VAR_DIR="$embedded_var" DATABASE_URL="sqlite:///$embedded_var/platform.sqlite3" \
  .venv/bin/python manage.py collectstatic --noinput -v0
env -u REDIS_URL EMBEDDED_LANE=1 VAR_DIR="$embedded_var" DATABASE_URL="sqlite:///$embedded_var/platform.sqlite3" \
  .venv/bin/python -m pytest "$@" || lane=$?  # tests/conftest.py keeps the tests marked embedded
if [ "$lane" -ne 0 ] && [ "$lane" -ne 5 ]; then
  status=$lane
fi
exit "$status"
