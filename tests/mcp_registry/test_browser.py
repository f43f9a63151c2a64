"""Chromium drives the resources console: register a server, give a tool its scopes, read the PRM preview
and fetch the very document it shows from the URL in its curl line."""

import json

import httpx
import pytest

from mcp_registry.models import MCPResource

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_registers_a_resource_and_sees_the_prm_it_publishes(no_persistent_db_connections, live_public_url,
                                                                   page, two_tenants):
    from tests.factories import PASSWORD

    a, _ = two_tenants
    page.goto(f"{live_public_url}/login")
    page.fill("input[name=username]", a.admin.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_public_url}/console/**")
    page.goto(f"{live_public_url}/console/alpha/")
    page.click(".sidenav >> text=Resources")
    form = page.locator("#create-resource")
    form.locator("input[name=name]").fill("files")
    form.locator("input[name=uri]").fill("HTTPS://Files.Alpha.Example/mcp/")
    form.locator("input[name=scopes]").fill("files:read")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#resource-uri")
    assert page.locator("#resource-uri").inner_text() == "https://files.alpha.example/mcp"

    page.fill("#scope-form input[name=name]", "files:delete")
    page.uncheck("#scope-form input[name=granted_by_default]")
    page.click("#scope-form button[type=submit]")
    page.fill("#tool-form input[name=name]", "delete_file")
    page.fill("#tool-form input[name=scopes]", "files:delete")
    page.click("#tool-form button[type=submit]")
    assert "Tool delete_file saved." in page.locator(".messages").inner_text()
    assert page.locator("tr[data-tool='delete_file']").inner_text().count("files:delete") == 1

    shown = json.loads(page.locator("#prm-json").inner_text())
    assert shown["scopes_supported"] == ["files:read"]  # on-request scopes stay out of the PRM
    curl = page.locator("#prm-curl").inner_text()
    fetched = httpx.get(curl.split()[-1]).json()
    assert {k: v for k, v in fetched.items() if k != "mcp_tool_scopes"} == shown
    assert fetched["mcp_tool_scopes"] == {"delete_file": ["files:delete"]}
    assert "protect(mcp.streamable_http_app()" in page.locator("#guard-snippet").inner_text()
    resource = MCPResource.objects.unscoped().get(tenant=a.tenant, name="files")
    assert resource.verification_status == "unverified"
