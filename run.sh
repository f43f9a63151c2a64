#!/usr/bin/env bash
# Runs the platform on http://127.0.0.1:8000 with the embedded defaults (SQLite, jobs without Redis),
# seeded with a demo tenant, and the tour's Notes MCP server on http://127.0.0.1:${DEMO_MCP_PORT:-8765}/mcp.
# Stays in the foreground; Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py collectstatic --noinput -v0
.venv/bin/python manage.py seed_demo
echo "Console: http://127.0.0.1:8000/console/   Issuer: http://127.0.0.1:8000/t/demo"
echo "Connect an MCP client to the demo server: .venv/bin/python -m mcp_platform.demo.connect"
exec .venv/bin/python manage.py serve --demo-mcp "$@"
