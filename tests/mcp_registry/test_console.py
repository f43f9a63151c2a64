"""The console's resource pages: register, edit scopes and tools, PRM preview, snippet, read-only roles."""

import pytest

from mcp_registry.models import MCPResource

pytestmark = pytest.mark.django_db


def test_admin_registers_a_resource_and_edits_its_scopes_and_tools_in_the_console(two_tenants, signed_in, settings):
    a, _ = two_tenants
    client = signed_in(a.admin)
    page = client.get("/console/alpha/resources/")
    assert page.status_code == 200 and b"Register a resource" in page.content
    created = client.post("/console/alpha/resources/", {
        "name": "files", "hosting_mode": "external", "uri": "https://Files.Alpha.example/mcp/",
        "scopes": "files:read files:write"})
    resource = MCPResource.objects.unscoped().get(tenant=a.tenant, name="files")
    assert created.status_code == 302 and created["Location"] == f"/console/alpha/resources/{resource.pk}/"
    base = f"/console/alpha/resources/{resource.pk}"
    client.post(f"{base}/scope-save", {"name": "files:admin", "description": "Administer", "granted_by_default": ""})
    client.post(f"{base}/tool-save", {"name": "delete_file", "scopes": "files:write files:admin"})
    detail = client.get(f"{base}/").content.decode()
    assert 'data-tool="delete_file"' in detail and "files:admin" in detail
    assert "https://files.alpha.example/mcp" in detail
    assert f"curl -s {settings.PUBLIC_URL}/t/alpha/resources/{resource.pk}/protected-resource-metadata" in detail
    assert "from mcp_guard import protect" in detail
    scope = resource.scopes.get(name="files:admin")
    assert scope.granted_by_default is False
    assert sorted(s.name for s in resource.tools.get(name="delete_file").required_scopes.all()) == \
        ["files:admin", "files:write"]


def test_console_shows_the_reason_for_bad_input(two_tenants, signed_in, make_resource):
    a, b = two_tenants
    make_resource(b.tenant, uri="https://claimed.example/mcp")
    client = signed_in(a.admin)
    response = client.post("/console/alpha/resources/", {"name": "x", "hosting_mode": "external",
                                                         "uri": "https://claimed.example/mcp"})
    # The reason is shown, and it is the neutral one (issue 16 item 17): nothing says another tenant holds it.
    assert response.status_code == 400 and b"is not available" in response.content
    assert b"another tenant" not in response.content
    resource = make_resource(a.tenant)
    followed = client.post(f"/console/alpha/resources/{resource.pk}/tool-save", {"name": "t", "scopes": "nope"},
                           follow=True)
    assert b"has no scope nope" in followed.content


def test_auditor_sees_resources_but_no_forms_and_cannot_post(two_tenants, signed_in, make_resource):
    a, _ = two_tenants
    resource = make_resource(a.tenant)
    client = signed_in(a.auditor)
    page = client.get(f"/console/alpha/resources/{resource.pk}/")
    assert page.status_code == 200 and b'id="tool-form"' not in page.content and b"prm-json" in page.content
    assert client.post(f"/console/alpha/resources/{resource.pk}/disable").status_code == 403
    assert MCPResource.objects.unscoped().get(pk=resource.pk).status == "active"


def test_the_guard_snippet_installs_from_the_checkout_and_names_a_registered_tool_and_a_free_port(
        world, make_resource, settings):
    """The snippet's install command is the one that works today (the checkout's mcp_guard distribution),
    its tool is one the registry lists (a tool name that is no identifier gets a function name that is),
    and its port is the resource URI's, else one that is neither the platform's nor the demo server's."""
    from mcp_registry.views import SNIPPET_DEFAULT_PORT, guard_snippet

    settings.PUBLIC_URL = "http://127.0.0.1:8000"
    listed = make_resource(world.tenant, "files", uri="http://127.0.0.1:9123/mcp", scopes=["files:read"],
                           tools={"files.read-all": ["files:read"], "zeta": ["files:read"]})
    snippet = guard_snippet(listed)
    assert f'# pip install "{settings.BASE_DIR / "mcp_guard"}[mcp]"' in snippet
    assert "mcp-auth-platform" not in snippet
    assert "@mcp.tool(name='files.read-all')\ndef files_read_all() -> str:" in snippet
    assert "needs: files:read" in snippet
    assert snippet.endswith("# run: uvicorn server:app --port 9123\n")
    compile(snippet, "server.py", "exec")  # valid Python as shown

    bare = make_resource(world.tenant, "bare", uri="https://bare.acme.example/mcp", scopes=["files:read"])
    snippet = guard_snippet(bare)
    assert "Placeholder: the registry lists no tools for this resource yet" in snippet
    assert SNIPPET_DEFAULT_PORT not in (8000, 8765, 8080)
    assert snippet.endswith(f"# run: uvicorn server:app --port {SNIPPET_DEFAULT_PORT}\n")
    compile(snippet, "server.py", "exec")

    # A resource URI on the platform's own port never makes the snippet collide with the platform.
    settings.PUBLIC_URL = "http://127.0.0.1:9123"
    assert "--port 9123" not in guard_snippet(listed)
