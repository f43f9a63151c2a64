#!/usr/bin/env bash
# Runs the whole test suite against PostgreSQL and Redis (defaults: the local services), a real Celery
# worker and Debian's Chromium. Extra arguments go to pytest (e.g. ./test.sh -k audit).
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
scripts/runtime_imports.sh  # the runtime dependencies alone import every module (a clean venv, pyproject.toml)
exec .venv/bin/python -m pytest "$@"
