#!/usr/bin/env bash
# Runs the whole test suite against PostgreSQL and Redis (defaults: the local services), a real Celery
# worker and Debian's Chromium, then the embedded lane (SQLite, no Redis) on the tests marked `embedded`.
# Extra arguments go to pytest in both lanes (e.g. ./test.sh -k audit). Non-zero if either lane or a check
# failed.
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
# Two checks in clean venvs run beside the tests (they mostly wait on pip); their output comes at the end.
#   scripts/runtime_imports.sh: the runtime dependencies alone import every module (pyproject.toml)
#   scripts/guard_wheel.sh: mcp_guard alone, its wheel in a clean venv, brings only its three dependencies
checks=$(mktemp -d)
trap 'rm -rf "$checks"' EXIT
scripts/runtime_imports.sh >"$checks/runtime_imports" 2>&1 &
runtime_imports=$!
scripts/guard_wheel.sh >"$checks/guard_wheel" 2>&1 &
guard_wheel=$!
# The embedded lane: the tests marked `embedded` (jobs, admin actions, the embedded server) once more on
# SQLite without Redis, as ./run.sh runs. It shares nothing with the PostgreSQL lane (its own database file,
# VAR_DIR, no Redis), so it runs beside it in one process, and its output follows the PostgreSQL lane's.
embedded_var="$VAR_DIR/embedded"
mkdir -p "$embedded_var"
(
  env -u REDIS_URL EMBEDDED_LANE=1 VAR_DIR="$embedded_var" DATABASE_URL="sqlite:///$embedded_var/platform.sqlite3" \
    .venv/bin/python manage.py collectstatic --noinput -v0
  env -u REDIS_URL EMBEDDED_LANE=1 VAR_DIR="$embedded_var" DATABASE_URL="sqlite:///$embedded_var/platform.sqlite3" \
    .venv/bin/python -m pytest -n 1 "$@"  # tests/conftest.py keeps the tests marked embedded
) >"$checks/embedded_lane" 2>&1 &
embedded_lane=$!
status=0
# Two pytest-xdist workers by default (tests/xdist_isolation.py gives each its own database, Redis database,
# Celery queue and VAR_DIR); a later -n in the arguments wins (./test.sh -n 0: one process).
.venv/bin/python -m pytest -n 2 "$@" || status=$?
lane=0
wait "$embedded_lane" || lane=$?
echo "--- the embedded lane (SQLite, no Redis) ---"
cat "$checks/embedded_lane"
# Exit 5 (nothing selected, e.g. ./test.sh tests/identity) is no failure.
if [ "$lane" -ne 0 ] && [ "$lane" -ne 5 ]; then
  status=$lane
fi
for check in runtime_imports guard_wheel; do
  if ! wait "${!check}"; then
    echo "scripts/$check.sh failed:"
    status=1
  fi
  cat "$checks/$check"
done
exit "$status"
