"""Another tenant's resources do not exist for you: every API endpoint and console page answers 404 to
tenant B's admin holding tenant A's ids, and changes nothing."""

import pytest

from audit.models import AuditEvent
from mcp_registry.models import MCPResource

pytestmark = pytest.mark.django_db

API_CALLS = [
    ("get", "", None),
    ("patch", "", {"display_name": "pwned"}),
    ("delete", "", None),
    ("post", "/disable", None),
    ("post", "/enable", None),
    ("post", "/verify", None),
    ("get", "/prm", None),
    ("put", "/management-token", {"token": "x"}),
    ("put", "/gateway-identity-secret", {"secret": "x" * 40}),
    ("get", "/scopes", None),
    ("post", "/scopes", {"name": "evil"}),
    ("delete", "/scopes/files:read", None),
    ("get", "/tools", None),
    ("post", "/tools", {"name": "evil", "scopes": ["files:read"]}),
    ("delete", "/tools/read", None),
    ("post", "/tool-import", {}),
    ("post", "/tool-import/apply", {"tools": [], "remove": ["read"]}),
]

CONSOLE_VERBS = ["update", "disable", "enable", "delete", "verify", "scope-save", "scope-delete", "tool-save",
                 "tool-delete", "management-token", "gateway-identity-secret", "import-preview", "import-apply"]


@pytest.fixture
def a_resource(two_tenants, make_resource):
    a, _ = two_tenants
    return make_resource(a.tenant, tools={"read": ["files:read"]})


@pytest.mark.parametrize("method, suffix, payload", API_CALLS, ids=[f"{m} {s or '/'}" for m, s, _ in API_CALLS])
def test_other_tenants_admin_gets_404_for_every_resource_endpoint(two_tenants, signed_in, a_resource,
                                                                  method, suffix, payload):
    _, b = two_tenants
    client = signed_in(b.owner)
    kwargs = {"data": payload} if payload is not None else {}
    response = getattr(client, method)(f"/api/v1/resources/{a_resource.pk}{suffix}", content_type="application/json",
                                       HTTP_X_TENANT="bravo", **kwargs)
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"
    fresh = MCPResource.objects.unscoped().get(pk=a_resource.pk)
    assert (fresh.display_name, fresh.status, fresh.management_token_encrypted) == ("", "active", "")
    assert list(fresh.tools.values_list("name", flat=True)) == ["read"]
    assert not AuditEvent.objects.filter(tenant=two_tenants[1].tenant, action__startswith="resource.").exists()


def test_other_tenants_resources_are_not_listed(two_tenants, signed_in, a_resource):
    _, b = two_tenants
    assert signed_in(b.owner).get("/api/v1/resources", HTTP_X_TENANT="bravo").json()["results"] == []


def test_naming_another_tenant_in_x_tenant_is_refused(two_tenants, signed_in, a_resource):
    _, b = two_tenants
    response = signed_in(b.owner).get(f"/api/v1/resources/{a_resource.pk}", HTTP_X_TENANT="alpha")
    assert response.status_code == 404


def test_other_tenants_admin_gets_404_for_every_console_page(two_tenants, signed_in, a_resource):
    _, b = two_tenants
    client = signed_in(b.owner)
    assert client.get(f"/console/bravo/resources/{a_resource.pk}/").status_code == 404
    assert client.get(f"/console/alpha/resources/{a_resource.pk}/").status_code == 404
    assert client.get("/console/alpha/resources/").status_code == 404
    for verb in CONSOLE_VERBS:
        for slug in ("bravo", "alpha"):
            response = client.post(f"/console/{slug}/resources/{a_resource.pk}/{verb}",
                                   {"name": "read", "token": "x", "scopes": "files:read", "proposal": "{}"})
            assert response.status_code == 404, (slug, verb)
    fresh = MCPResource.objects.unscoped().get(pk=a_resource.pk)
    assert fresh.status == "active" and fresh.tools.count() == 1 and fresh.management_token_encrypted == ""


def test_management_tokens_reach_only_their_own_tenants_resources(two_tenants, client, a_resource, make_resource):
    """A tenant's client_credentials token for the platform API (admin:resources) sees its tenant only;
    a read-only token cannot change anything."""
    from oauth.models import api_audience
    from tests.factories import make_agent
    from tests.oauth.flows import client_credentials

    _, b = two_tenants
    make_resource(b.tenant, "theirs")
    writer, secret = make_agent(b.tenant, scopes=["admin:resources"], name="Bravo bot")
    token = client_credentials(client, b.tenant, writer, secret, resource=api_audience()).json()["access_token"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert [r["name"] for r in client.get("/api/v1/resources", **auth).json()["results"]] == ["theirs"]
    for method, suffix, payload in API_CALLS:
        kwargs = {"data": payload} if payload is not None else {}
        response = getattr(client, method)(f"/api/v1/resources/{a_resource.pk}{suffix}",
                                           content_type="application/json", **auth, **kwargs)
        assert response.status_code == 404, (method, suffix, response.content)

    reader, secret = make_agent(b.tenant, scopes=["admin:resources.read"], name="Bravo reader")
    token = client_credentials(client, b.tenant, reader, secret, resource=api_audience()).json()["access_token"]
    refused = client.post("/api/v1/resources", {"name": "x", "uri": "https://x.bravo.example/mcp"},
                          content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert refused.status_code == 403 and "admin:resources" in refused.json()["error"]["message"]
