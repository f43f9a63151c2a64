"""Done-when of mcp_guard as its own distribution: the console's snippet, exactly as the resource page shows
it, protects a FastMCP server in a clean venv holding only what the snippet's own install command brings
(mcp_guard built from mcp_guard/pyproject.toml, with the ``mcp`` extra). A token the platform issued calls
the registered tool through it; a token without the tool's scope gets 403; a tool the registry does not list
is refused. scripts/guard_wheel.sh checks the wheel alone brings only PyJWT, cryptography and httpx."""

from __future__ import annotations

import html
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.urls import reverse

from tests.mcp_registry.conftest import free_port, run_async
from tests.mcp_registry.peers import REDIRECT_URI

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ACCEPT = "application/json, text/event-stream"


def _snippet_from_console(http, resource) -> str:
    page = http.get(reverse("console:resource", kwargs={"slug": resource.tenant.slug, "resource_id": resource.pk}))
    assert page.status_code == 200
    found = re.search(r'<pre id="guard-snippet">(.*?)</pre>', page.content.decode(), re.S)
    assert found, "the resource page shows no mcp_guard snippet"
    return html.unescape(found.group(1))


def _command(snippet: str, prefix: str) -> list[str]:
    lines = [line for line in snippet.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, f"the snippet has no single {prefix!r} line"
    return shlex.split(lines[0][len(prefix):].split("  (")[0])


def _wait_until_serving(url: str, process: subprocess.Popen, log: Path):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the snippet's server exited: {log.read_text()}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"the snippet's server did not start: {log.read_text()}")


async def _call_tool(url: str, token: str, name: str):
    import anyio
    import httpx2
    from mcp.client.client import Client
    from mcp.client.streamable_http import streamable_http_client

    with anyio.fail_after(60):
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                tools = [tool.name for tool in (await client.list_tools()).tools]
                result = await client.call_tool(name, {})
                return tools, result.is_error, result.content[0].text


def test_the_console_snippet_protects_a_fastmcp_server_from_the_installed_package(
        tmp_path, no_persistent_db_connections, live_public_url, make_world, make_resource, signed_in):
    from tests.factories import make_client
    from tests.oauth.flows import authorize, exchange

    world = make_world("wheel")
    port = free_port()
    resource = make_resource(world.tenant, "files", uri=f"http://127.0.0.1:{port}/mcp",
                             scopes=[{"name": "files:read"}, {"name": "notes:read"}],
                             tools={"read_file": ["files:read"]})
    snippet = _snippet_from_console(signed_in(world.admin), resource)
    assert "@mcp.tool(name='read_file')" in snippet  # the tool the registry lists, not an invented one

    # The install command as shown (pinned by constraints.txt so the versions are the ones the suite runs).
    install = _command(snippet, "# pip install ")
    assert install == [f"{settings.BASE_DIR / 'mcp_guard'}[mcp]"]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-qq", "--no-compile",
                    "--disable-pip-version-check", "-c", str(settings.BASE_DIR / "constraints.txt"), *install],
                   check=True, timeout=600)
    installed = subprocess.run([str(venv / "bin/python"), "-m", "pip", "list", "--format=freeze"], check=True,
                               capture_output=True, text=True).stdout.lower()
    assert "mcp-guard==" in installed and "django" not in installed and "mcp-auth-platform" not in installed

    # The server, written and started exactly as the snippet says, from a directory outside the checkout.
    (tmp_path / "server.py").write_text(snippet)
    run = _command(snippet, "# run: ")
    assert run[:2] == ["uvicorn", "server:app"] and run[run.index("--port") + 1] == str(port)
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen([str(venv / "bin" / run[0]), *run[1:]], cwd=tmp_path, stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        _wait_until_serving(f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp", server, log)
        client, _ = make_client(world.tenant, resources=[resource], redirect_uris=[REDIRECT_URI], name="wheel")
        http = signed_in(world.member)

        def token(scope: str) -> str:
            auth = authorize(http, world.tenant, client, resource=resource.uri, scope=scope)
            return exchange(http, world.tenant, client, auth, resource=resource.uri).json()["access_token"]

        allowed = token("files:read")
        tools, is_error, text = run_async(_call_tool, url, allowed, "read_file")
        assert tools == ["read_file"] and not is_error and text == "replace with what read_file does"

        def tools_call(bearer: str, name: str):
            return httpx.post(url, headers={"Authorization": f"Bearer {bearer}", "Accept": ACCEPT},
                              json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                    "params": {"name": name, "arguments": {}}})

        without_scope = tools_call(token("notes:read"), "read_file")
        assert without_scope.status_code == 403
        assert 'error="insufficient_scope"' in without_scope.headers["www-authenticate"]
        assert 'scope="files:read"' in without_scope.headers["www-authenticate"]
        unlisted = tools_call(allowed, "delete_everything")
        assert unlisted.status_code == 403 and unlisted.json()["error"] == "unknown_tool"
        assert httpx.post(url, headers={"Accept": ACCEPT}, json={}).status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=10)
