"""Nothing the lean path (oauth/lean) issues is lost, crash included: the platform is served as in production
(granian, PostgreSQL, Redis), client_credentials tokens are requested from several connections at once, and
the whole server is killed (SIGKILL) mid-load. Every token a client received is then known to a restarted
server: introspection finds it active and revocation ends it. The row is committed before the answer is
sent (oauth/lean/endpoints.py), so no answer can outrun its row.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import free_port, serve_platform

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SETUP = """
import json
from tests.factories import make_agent, make_resource
from tenants.models import Tenant
tenant = Tenant.objects.get(slug="demo")
resource = make_resource(tenant, "https://crash.demo.example/mcp", name="crash")
agent, agent_secret = make_agent(tenant, resources=[resource], name="Crash agent")
rs, rs_secret = make_agent(tenant, resources=[resource], name="Crash resource server")
print(json.dumps({"resource": resource.uri, "agent": [agent.client_id, agent_secret], "rs": [rs.client_id, rs_secret]}))
"""


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.fixture
def crash_world(tmp_path):
    from django.conf import settings

    name = f"lean_crash_{os.getpid()}"
    server_url = settings.DATABASES["default"]
    admin = f"postgres://{server_url['USER']}@{server_url['HOST']}:{server_url['PORT'] or 5432}/postgres"
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}"')
        db.execute(f'CREATE DATABASE "{name}"')
    port = free_port()
    env = {**os.environ, "DATABASE_URL": admin.rsplit("/", 1)[0] + f"/{name}", "VAR_DIR": str(tmp_path / "var"),
           "PUBLIC_URL": f"http://127.0.0.1:{port}", "LEAN_PROTOCOL_PATH": "true",
           "TOKEN_RATE_PER_CLIENT": "1000000", "INTROSPECTION_RATE_PER_CALLER": "1000000"}
    env.pop("AUDIT_STRICT", None)
    servers = []

    def serve():
        servers.append(serve_platform(env, port, tmp_path / f"serve-{len(servers)}.log", "--no-jobs", web_workers=2))
        return f"http://127.0.0.1:{port}"

    base = serve()
    made = subprocess.run([sys.executable, "manage.py", "shell", "-c", SETUP], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True, timeout=120)
    yield base, json.loads(made.stdout.strip().splitlines()[-1]), serve, servers
    for proc in servers:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_every_token_answered_before_a_kill_is_known_after_it(crash_world):
    base, world, serve, servers = crash_world
    token_url = f"{base}/t/demo/token"
    form = {"grant_type": "client_credentials", "resource": world["resource"]}
    agent = {"Authorization": _basic(*world["agent"])}
    with httpx.Client() as warm:  # each web worker serves the tenant once through Django, then the lean path
        for _ in range(8):
            assert warm.post(token_url, data=form, headers=agent).status_code == 200
    received: list[str] = []
    stop = threading.Event()

    def load():
        with httpx.Client(timeout=5) as http:
            while not stop.is_set():
                try:
                    response = http.post(token_url, data=form, headers=agent)
                except httpx.HTTPError:
                    return  # the server is gone: what was answered before is what counts
                if response.status_code == 200:
                    received.append(response.json()["access_token"])

    workers = [threading.Thread(target=load) for _ in range(6)]
    for worker in workers:
        worker.start()
    time.sleep(3.0)
    os.killpg(servers[0].pid, signal.SIGKILL)  # the whole process group: granian and its workers
    servers[0].wait(timeout=20)
    stop.set()
    for worker in workers:
        worker.join(timeout=10)
    assert len(received) > 10, "the load did not get going before the kill"

    base = serve()  # the same database, new processes
    rs = {"Authorization": _basic(*world["rs"])}
    with httpx.Client(timeout=10) as http:
        for token in received:
            answer = http.post(f"{base}/t/demo/introspect", data={"token": token}, headers=rs)
            assert answer.status_code == 200 and answer.json()["active"] is True, answer.text
        last = received[-1]
        assert http.post(f"{base}/t/demo/revoke", data={"token": last}, headers=agent).status_code == 200
        assert http.post(f"{base}/t/demo/introspect", data={"token": last}, headers=rs).json() == {"active": False}
