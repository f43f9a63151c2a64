#!/usr/bin/env bash
# Runs the platform on http://127.0.0.1:8000 with the embedded defaults (SQLite, jobs without Redis),
# seeded with a demo tenant. Stays in the foreground; Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py collectstatic --noinput -v0
.venv/bin/python manage.py seed_demo
echo "Console: http://127.0.0.1:8000/console/   Issuer: http://127.0.0.1:8000/t/demo"
exec .venv/bin/python manage.py serve "$@"
