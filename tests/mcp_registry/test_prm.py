"""Protected Resource Metadata (RFC 9728) generated from the registry and served by the platform."""

import json

import pytest

from mcp_registry import prm, services
from tests.factories import ACTOR

pytestmark = pytest.mark.django_db


@pytest.fixture
def gateway(two_tenants, make_resource):
    a, _ = two_tenants
    return make_resource(
        a.tenant, "search", hosting_mode="gateway", upstream_url="http://127.0.0.1:9/mcp",
        documentation_url="https://docs.alpha.example/search", display_name="Search",
        scopes=[{"name": "search:read"}, {"name": "search:admin", "granted_by_default": False}],
        tools={"query": ["search:read"], "reindex": ["search:admin"]})


def test_gateway_prm_is_served_at_the_path_inserted_well_known_url(client, gateway, settings):
    response = client.get("/.well-known/oauth-protected-resource/t/alpha/mcp/search")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json() == {
        "resource": f"{settings.PUBLIC_URL}/t/alpha/mcp/search",
        "authorization_servers": [f"{settings.PUBLIC_URL}/t/alpha"],
        "scopes_supported": ["search:read"],  # minimal: on-request scopes come with a 403 step-up
        "bearer_methods_supported": ["header"],
        "resource_name": "Search",
        "resource_documentation": "https://docs.alpha.example/search",
    }
    assert prm.well_known_url(gateway.uri).endswith("/.well-known/oauth-protected-resource/t/alpha/mcp/search")


def test_prm_has_an_etag_a_short_cache_lifetime_and_answers_304(client, gateway):
    url = "/.well-known/oauth-protected-resource/t/alpha/mcp/search"
    first = client.get(url)
    assert first["Cache-Control"] == f"public, max-age={prm.CACHE_MAX_AGE}" and prm.CACHE_MAX_AGE <= 300
    etag = first["ETag"]
    again = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    services.scope_save(resource=gateway, actor=ACTOR, name="search:extra")
    changed = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert "search:extra" in changed.json()["scopes_supported"]


def test_prm_never_lists_offline_access(gateway):
    from mcp_registry.models import ResourceScope

    # Even a row written around the service's rule stays out of the document.
    ResourceScope.objects.create(resource=gateway, name="offline_access")
    assert "offline_access" not in prm.prm_document(gateway)["scopes_supported"]


def test_mirrored_prm_of_an_external_resource_carries_the_tool_scopes(client, two_tenants, make_resource, settings):
    a, _ = two_tenants
    resource = make_resource(a.tenant, uri="https://files.alpha.example/mcp", scopes=["files:read", "files:write"],
                             tools={"read": ["files:read"], "write": ["files:read", "files:write"]})
    url = prm.mirror_url(resource)
    assert url == f"{settings.PUBLIC_URL}/t/alpha/resources/{resource.pk}/protected-resource-metadata"
    document = client.get(url.removeprefix(settings.PUBLIC_URL)).json()
    assert document["resource"] == "https://files.alpha.example/mcp"
    assert document["authorization_servers"] == [a.tenant.issuer]
    assert document[prm.TOOL_SCOPES_MEMBER] == {"read": ["files:read"], "write": ["files:read", "files:write"]}


def test_disabled_and_unknown_resources_have_no_prm(client, gateway):
    services.resource_disable(resource=gateway, actor=ACTOR)
    for url in ["/.well-known/oauth-protected-resource/t/alpha/mcp/search",
                "/.well-known/oauth-protected-resource/t/alpha/mcp/nothing",
                f"/t/alpha/resources/{gateway.pk}/protected-resource-metadata"]:
        response = client.get(url)
        assert response.status_code == 404 and response.json()["error"] == "not_found", url


def test_another_tenants_path_does_not_serve_a_resource(client, gateway):
    assert client.get("/.well-known/oauth-protected-resource/t/bravo/mcp/search").status_code == 404
    assert client.get(f"/t/bravo/resources/{gateway.pk}/protected-resource-metadata").status_code == 404


def test_prm_preview_in_the_api_shows_the_exact_document_and_the_curl(two_tenants, signed_in, gateway):
    a, _ = two_tenants
    body = signed_in(a.auditor).get(f"/api/v1/resources/{gateway.pk}/prm", HTTP_X_TENANT="alpha").json()
    assert body["document"] == prm.prm_document(gateway)
    assert body["curl"] == f"curl -s {body['url']}" and body["url"] == prm.well_known_url(gateway.uri)
    assert "from mcp_guard import protect" in body["snippet"]


def test_prm_body_is_the_bytes_the_etag_names(gateway):
    body, etag = prm.render(prm.prm_document(gateway))
    assert json.loads(body) == prm.prm_document(gateway)
    assert prm.render(prm.prm_document(gateway))[1] == etag
