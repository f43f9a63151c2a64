"""The README's tour on a fresh embedded platform (SQLite, no Redis) started as run.sh starts it (migrate,
seed_demo, ``serve --demo-mcp``): the seeded Notes resource verifies against the demo MCP server that serve
runs, gateway resources verify on the same server, and the README's connect command (the MCP Python SDK
client) goes 401 -> discovery -> sign-in -> consent -> tool call against it.

The person at the browser is played over HTTP by ``UserAgent`` (tests/oauth/admin/peers.py): it signs in at
the tenant's sign-in page, follows the authorization URL the command prints (``MCP_CONNECT_NO_BROWSER``), allows
on the consent page and follows the redirect to the command's loopback listener, as a browser would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mcp_platform.demo import notes
from mcp_platform.management.commands.seed_demo import DEMO_EMAIL, DEMO_PASSWORD
from tests.conftest import ROOT, free_port, serve_platform
from tests.oauth.admin.peers import UserAgent

pytestmark = pytest.mark.slow

CONNECT = ".venv/bin/python -m mcp_platform.demo.connect"  # as the README writes it


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tour")
    port, demo_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_QUEUE")}
    env.update(VAR_DIR=str(tmp / "var"), PUBLIC_URL=f"http://127.0.0.1:{port}", DEMO_MCP_PORT=str(demo_port))
    proc = serve_platform(env, port, tmp / "serve.log", "--demo-mcp")
    demo_url = notes.resource_uri(demo_port)
    deadline = time.time() + 30
    while True:  # the demo server answers a token-less request with its challenge once it is up
        try:
            if httpx.post(demo_url, json={}, timeout=2).status_code == 401:
                break
        except httpx.HTTPError:
            pass
        if time.time() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"the demo MCP server did not start: {(tmp / 'serve.log').read_text()[-2000:]}")
        time.sleep(0.3)
    yield f"http://127.0.0.1:{port}", demo_url, env
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def _admin(base: str) -> UserAgent:
    return UserAgent(base, "demo").sign_in(DEMO_EMAIL, DEMO_PASSWORD, console=True)


def _resources(admin: UserAgent) -> dict[str, dict]:
    listed = admin.http.get("/api/v1/resources", headers={"X-Tenant": "demo"})
    assert listed.status_code == 200, listed.text[:300]
    return {r["name"]: r for r in listed.json()["results"]}


def _verify(admin: UserAgent, resource_id: str) -> dict:
    page = f"/console/demo/resources/{resource_id}/"
    answer = admin.submit(page, {}, action=f"/console/demo/resources/{resource_id}/verify")
    assert answer.status_code == 302, answer.text[:300]
    return admin.http.get(f"/api/v1/resources/{resource_id}", headers={"X-Tenant": "demo"}).json()


def test_the_seeded_notes_resource_is_what_the_demo_server_serves_and_verifies(tour):
    base, demo_url, _ = tour
    admin = _admin(base)
    seeded = _resources(admin)[notes.NAME]
    assert seeded["uri"] == demo_url  # DEMO_MCP_PORT moves the resource with the server
    assert sorted((s["name"], s["granted_by_default"]) for s in seeded["scopes"]) == sorted(
        (s["name"], s.get("granted_by_default", True)) for s in notes.SCOPES)
    assert {t["name"]: sorted(t["scopes"]) for t in seeded["tools"]} == notes.TOOLS
    assert seeded["verification_status"] == "unverified"

    checked = _verify(admin, seeded["id"])
    assert checked["verification_status"] == "verified", checked["verification_error"]
    challenge = httpx.post(demo_url, json={}).headers["www-authenticate"]
    assert 'resource_metadata="' in challenge and "notes:read" in challenge  # scopes mirrored from the registry


def test_a_gateway_resource_verifies_on_the_embedded_server(tour):
    """serve runs the ASGI app, so the platform answers at the gateway path in the embedded mode too."""
    base, demo_url, _ = tour
    admin = _admin(base)
    csrf = admin.http.cookies.get("csrftoken")
    created = admin.http.post("/api/v1/resources", json={"name": "notes-gw", "hosting_mode": "gateway",
                                                         "upstream_url": demo_url, "scopes": [{"name": "gw:read"}]},
                              headers={"X-Tenant": "demo", "X-CSRFToken": csrf, "Referer": f"{base}/console/"})
    assert created.status_code == 201, created.text[:300]
    assert created.json()["uri"] == f"{base}/t/demo/mcp/notes-gw"
    checked = _verify(admin, created.json()["id"])
    assert checked["verification_status"] == "verified", checked["verification_error"]


def test_the_readme_connect_command_reaches_the_demo_tool(tour):
    base, demo_url, env = tour
    assert CONNECT in (ROOT / "README.md").read_text()
    person = UserAgent(base, "demo").sign_in(DEMO_EMAIL, DEMO_PASSWORD)
    command = [sys.executable, *CONNECT.split()[1:], "--add", "bring the tour notes", "--timeout", "60"]
    proc = subprocess.Popen(command, cwd=ROOT, env={**env, "MCP_CONNECT_NO_BROWSER": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    output, callbacks = [], []
    try:
        for line in proc.stdout:
            output.append(line.rstrip())
            url = line.strip()
            if url.startswith(f"{base}/t/demo/authorize?"):
                back = person.authorize(url)  # sign-in session, consent page, redirect to the command
                assert back.startswith("http://127.0.0.1:") and "code=" in back, back
                callbacks.append(httpx.get(back, timeout=10).status_code)
        assert proc.wait(timeout=60) == 0, "\n".join(output)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "\n".join(output)
    assert f"Connected to {demo_url}; tools: list_notes, add_note" in text
    assert "add_note: Saved. You have 1 note(s)." in text and "list_notes: 1. bring the tour notes" in text
    # notes:read first (granted by default); add_note needs notes:write, which the server's 403 made the client
    # ask for: two authorizations, each with the person's consent.
    assert callbacks == [200, 200] and person.consent_pages == 2


def test_connect_without_the_sign_in_says_so(tour):
    _, demo_url, env = tour
    answer = subprocess.run([sys.executable, "-m", "mcp_platform.demo.connect", "--no-browser", "--timeout", "1"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert answer.returncode == 1
    assert "/t/demo/authorize?" in answer.stdout and "no sign-in came back" in answer.stderr


def test_serve_refuses_a_demo_server_the_seed_did_not_register(tour):
    _, _, env = tour
    other = free_port()
    answer = subprocess.run([sys.executable, "manage.py", "serve", "--demo-mcp", "--bind", f"127.0.0.1:{free_port()}"],
                            cwd=ROOT, env={**env, "DEMO_MCP_PORT": str(other)}, capture_output=True, text=True,
                            timeout=60)
    assert answer.returncode != 0
    assert f"no resource http://127.0.0.1:{other}/mcp is registered: run `manage.py seed_demo` first" in answer.stderr


def test_serve_no_jobs_is_the_web_server_deploy_runs(tour):
    """deploy/Procfile's and deploy/Containerfile's web process: serve --no-jobs becomes granian itself (exec),
    with the gateway paths routed, and stops on SIGTERM."""
    _, _, env = tour
    for deploy_file in ("Procfile", "Containerfile"):
        assert "manage.py serve --no-jobs --bind 0.0.0.0:${PORT" in (ROOT / "deploy" / deploy_file).read_text()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "manage.py", "serve", "--no-jobs", "--bind", f"127.0.0.1:{port}",
                             "--web-workers", "2"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < deadline and proc.poll() is None, "serve --no-jobs did not start"
            time.sleep(0.3)
        assert "granian" in Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode().replace("\0", " ")
        missing = httpx.post(f"http://127.0.0.1:{port}/t/demo/mcp/nothing", json={})
        assert missing.status_code == 404 and "no active gateway resource" in missing.json()["error_description"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.django_db
def test_seed_demo_registers_what_the_demo_server_declares_and_follows_its_port(settings):
    from django.core.management import call_command

    from audit.models import AuditEvent
    from mcp_registry.models import MCPResource

    call_command("seed_demo", stdout=open(os.devnull, "w"))
    resource = MCPResource.objects.unscoped().get(name=notes.NAME)
    assert resource.uri == notes.resource_uri(settings.DEMO_MCP_PORT)
    assert {t.name: sorted(s.name for s in t.required_scopes.all()) for t in resource.tools.all()} == notes.TOOLS
    events = AuditEvent.objects.count()
    call_command("seed_demo", stdout=open(os.devnull, "w"))
    assert AuditEvent.objects.count() == events  # idempotent: nothing changed, nothing recorded

    settings.DEMO_MCP_PORT = 18765
    call_command("seed_demo", stdout=open(os.devnull, "w"))
    resource.refresh_from_db()
    assert resource.uri == "http://127.0.0.1:18765/mcp"
    assert AuditEvent.objects.count() == events + 1
    assert AuditEvent.objects.filter(action="resource.updated").count() == 1
