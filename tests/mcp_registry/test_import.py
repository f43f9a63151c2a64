"""Tool import from a live MCP server (official SDK client over streamable HTTP): a proposal with a scope
per tool group, confirmed by the admin; re-sync shows what was added, changed and removed."""

from __future__ import annotations

import json
import sys

import pytest

from audit.models import AuditEvent
from mcp_registry.models import MCPResource

from .conftest import free_port

pytestmark = pytest.mark.django_db  # the peers are plain HTTP servers; only the test thread uses the database


def tool_server(tools: dict[str, str]):
    """An unprotected MCP server offering the given tools (name -> description)."""
    from mcp.server.mcpserver import MCPServer

    mcp = MCPServer("tools")
    for name, description in tools.items():
        mcp.tool(name=name, description=description)(lambda: "ok")
    return mcp.streamable_http_app()


class RequiresBearer:
    def __init__(self, app, token):
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and (b"authorization", f"Bearer {self.token}".encode()) not in scope["headers"]:
            await send({"type": "http.response.start", "status": 401, "headers": [(b"www-authenticate", b"Bearer")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


def api(client, method, url, payload=None):
    kwargs = {"data": payload} if payload is not None else {}
    return getattr(client, method)(url, content_type="application/json", HTTP_X_TENANT="alpha", **kwargs)


def test_import_proposes_scopes_per_tool_group_and_resync_shows_the_diff(make_world, make_resource, signed_in,
                                                                        serve_asgi):
    world = make_world("alpha")
    first = serve_asgi(tool_server({"files.read": "Read a file", "files.write": "Write a file", "search": "Search"}))
    resource = make_resource(world.tenant, "tools", hosting_mode="gateway", upstream_url=f"{first.url}/mcp",
                             scopes=[])
    http = signed_in(world.admin)
    base = f"/api/v1/resources/{resource.pk}"

    proposal = api(http, "post", f"{base}/tool-import", {"strategy": "group"}).json()
    assert proposal["summary"] == {"added": 3, "changed": 0, "unchanged": 0, "removed": 0}
    assert {t["name"]: t["scopes"] for t in proposal["tools"]} == {
        "files.read": ["files"], "files.write": ["files"], "search": ["search"]}
    assert [s["name"] for s in proposal["new_scopes"]] == ["files", "search"]
    assert MCPResource.objects.unscoped().get(pk=resource.pk).tools.count() == 0  # nothing until confirmed

    applied = api(http, "post", f"{base}/tool-import/apply", proposal["apply"]).json()
    assert sorted(applied["added"]) == ["files.read", "files.write", "search"]
    assert applied["scopes_added"] == ["files", "search"]
    tools = {t["name"]: t["scopes"] for t in api(http, "get", f"{base}/tools").json()}
    assert tools == {"files.read": ["files"], "files.write": ["files"], "search": ["search"]}

    # The server changed: one description, one new tool, one gone.
    second = serve_asgi(tool_server({"files.read": "Read a file, faster", "files.write": "Write a file",
                                     "files.delete": "Delete a file"}))
    api(http, "patch", base, {"upstream_url": f"{second.url}/mcp"})
    resync = api(http, "post", f"{base}/tool-import", {"strategy": "tool"}).json()
    status = {t["name"]: t["status"] for t in resync["tools"]}
    assert status == {"files.read": "changed", "files.write": "unchanged", "files.delete": "added",
                      "search": "removed"}
    assert next(t for t in resync["tools"] if t["name"] == "files.delete")["scopes"] == ["files.delete"]
    applied = api(http, "post", f"{base}/tool-import/apply", resync["apply"]).json()
    assert (applied["added"], applied["changed"], applied["removed"]) == (["files.delete"], ["files.read"],
                                                                          ["search"])
    changes = AuditEvent.objects.filter(tenant=world.tenant, action="resource.tools_changed")
    assert [e.data.get("source") for e in changes.order_by("seq")] == ["import", "import"]


def test_import_uses_the_management_token_and_says_when_it_is_missing(make_world, make_resource, signed_in,
                                                                     serve_asgi):
    world = make_world("alpha")
    server = serve_asgi(RequiresBearer(tool_server({"ping": "Ping"}), "mgmt-token-123"))
    resource = make_resource(world.tenant, "guarded", uri=f"{server.url}/mcp", scopes=[])
    http = signed_in(world.admin)
    base = f"/api/v1/resources/{resource.pk}"

    refused = api(http, "post", f"{base}/tool-import", {})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "server_unreachable" and "management token" in error["message"]

    assert api(http, "put", f"{base}/management-token", {"token": "mgmt-token-123"}).status_code == 204
    proposal = api(http, "post", f"{base}/tool-import", {}).json()
    assert [t["name"] for t in proposal["tools"]] == ["ping"]


def test_import_from_an_unreachable_server_is_a_clear_error(make_world, make_resource, signed_in):
    world = make_world("alpha")
    resource = make_resource(world.tenant, "gone", uri=f"http://127.0.0.1:{free_port()}/mcp", scopes=[])
    response = api(signed_in(world.admin), "post", f"/api/v1/resources/{resource.pk}/tool-import", {})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "server_unreachable" and "could not list the tools" in error["message"]
    assert "uri" in error["fields"]


def test_import_without_the_mcp_sdk_blames_the_installation_not_the_url(make_world, make_resource, signed_in,
                                                                          monkeypatch):
    # What an image built without the "mcp" extra sees: the SDK's modules cannot be imported.
    monkeypatch.setitem(sys.modules, "httpx2", None)
    world = make_world("alpha")
    resource = make_resource(world.tenant, "files", uri="http://127.0.0.1:9/mcp", scopes=[])
    http = signed_in(world.admin)
    response = api(http, "post", f"/api/v1/resources/{resource.pk}/tool-import", {})
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "unavailable" and "fields" not in error
    assert "MCP Python SDK" in error["message"] and "'.[mcp]'" in error["message"]
    assert "127.0.0.1:9" not in error["message"]
    page = http.post(f"/console/alpha/resources/{resource.pk}/import-preview", {"strategy": "group"}, follow=True)
    assert "MCP Python SDK" in page.content.decode()


def test_console_import_shows_the_diff_and_applies_only_the_checked_tools(make_world, make_resource, signed_in,
                                                                          serve_asgi):
    world = make_world("alpha")
    server = serve_asgi(tool_server({"notes.read": "Read notes", "notes.wipe": "Wipe all notes"}))
    resource = make_resource(world.tenant, "notes", uri=f"{server.url}/mcp", scopes=[])
    http = signed_in(world.admin)
    page = http.post(f"/console/alpha/resources/{resource.pk}/import-preview", {"strategy": "tool"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-proposed="notes.read"' in html and 'data-proposed="notes.wipe"' in html
    proposal = json.loads(page.context["proposal_json"])
    done = http.post(f"/console/alpha/resources/{resource.pk}/import-apply",
                     {"proposal": json.dumps(proposal), "accept": ["notes.read"]}, follow=True)
    assert b"Imported: 1 added" in done.content
    fresh = MCPResource.objects.unscoped().get(pk=resource.pk)
    assert list(fresh.tools.values_list("name", flat=True)) == ["notes.read"]
    assert list(fresh.scopes.values_list("name", flat=True)) == ["notes.read"]
