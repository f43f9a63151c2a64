"""The registry: canonical resource URIs, platform-wide ownership, scopes and tools, verification, audit,
and the API's refusals of bad input."""

import json

import pytest

from audit.models import AuditEvent
from mcp_registry import services
from mcp_registry.models import MCPResource
from mcp_registry.uris import InvalidResourceURI, canonical_resource_uri
from tests.factories import ACTOR

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("given, canonical", [
    ("HTTPS://MCP.Example.COM/mcp/", "https://mcp.example.com/mcp"),
    ("https://mcp.example.com:443/a/./b/../mcp", "https://mcp.example.com/a/mcp"),
    ("https://mcp.example.com", "https://mcp.example.com"),
    ("https://mcp.example.com:8443/x%7Ey", "https://mcp.example.com:8443/x~y"),
    ("http://127.0.0.1:9000/mcp", "http://127.0.0.1:9000/mcp"),
    ("http://[::1]/mcp", "http://[::1]/mcp"),
])
def test_resource_uris_are_stored_in_one_canonical_spelling(given, canonical):
    assert canonical_resource_uri(given) == canonical


@pytest.mark.parametrize("bad, says", [
    ("", "required"),
    ("mcp.example.com/mcp", "no host"),
    ("http://mcp.example.com/mcp", "https"),
    ("ftp://mcp.example.com/mcp", "https"),
    ("https://mcp.example.com/mcp#frag", "fragment"),
    ("https://mcp.example.com/mcp?x=1", "query"),
    ("https://user:pw@mcp.example.com/mcp", "user information"),
    ("https://mcp.example.com:99999/mcp", "not a valid URI"),
])
def test_malformed_resource_uris_are_refused_with_the_reason(bad, says):
    with pytest.raises(InvalidResourceURI, match=says):
        canonical_resource_uri(bad)


def test_admin_creates_lists_updates_and_deletes_a_resource_through_the_api(two_tenants, signed_in):
    a, _ = two_tenants
    client = signed_in(a.admin)
    created = client.post("/api/v1/resources", {
        "name": "files", "uri": "HTTPS://Files.Alpha.Example/mcp/", "display_name": "Files",
        "scopes": [{"name": "files:read", "description": "Read files"},
                   {"name": "files:write", "description": "Write files", "granted_by_default": False}],
    }, content_type="application/json", HTTP_X_TENANT="alpha")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["uri"] == "https://files.alpha.example/mcp"
    assert body["verification_status"] == "unverified" and body["has_management_token"] is False
    rid = body["id"]
    tool = client.post(f"/api/v1/resources/{rid}/tools", {"name": "write_file", "scopes": ["files:write"]},
                       content_type="application/json", HTTP_X_TENANT="alpha")
    assert tool.status_code == 200 and tool.json()["scopes"] == ["files:write"]
    listed = client.get("/api/v1/resources", HTTP_X_TENANT="alpha").json()["results"]
    assert [r["name"] for r in listed] == ["files"] and listed[0]["tools"][0]["name"] == "write_file"
    patched = client.patch(f"/api/v1/resources/{rid}", {"uri": "https://files2.alpha.example/mcp"},
                           content_type="application/json", HTTP_X_TENANT="alpha")
    assert patched.status_code == 200 and patched.json()["uri"] == "https://files2.alpha.example/mcp"
    assert client.post(f"/api/v1/resources/{rid}/disable", HTTP_X_TENANT="alpha").json()["status"] == "disabled"
    assert client.delete(f"/api/v1/resources/{rid}", HTTP_X_TENANT="alpha").status_code == 204
    actions = list(AuditEvent.objects.filter(tenant=a.tenant, action__startswith="resource.")
                   .order_by("seq").values_list("action", flat=True))
    assert actions == ["resource.created", "resource.tools_changed", "resource.updated", "resource.disabled",
                       "resource.deleted"]


def test_auditor_reads_resources_but_cannot_change_them(two_tenants, signed_in, make_resource):
    a, _ = two_tenants
    resource = make_resource(a.tenant)
    client = signed_in(a.auditor)
    assert client.get(f"/api/v1/resources/{resource.pk}", HTTP_X_TENANT="alpha").status_code == 200
    response = client.post(f"/api/v1/resources/{resource.pk}/disable", HTTP_X_TENANT="alpha")
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"


def test_a_uri_claimed_by_another_tenant_is_a_neutral_409(two_tenants, signed_in, make_resource):
    a, b = two_tenants
    make_resource(a.tenant, uri="https://shared.example/mcp")
    response = signed_in(b.admin).post("/api/v1/resources", {"name": "mine", "uri": "https://SHARED.example/mcp/"},
                                       content_type="application/json", HTTP_X_TENANT="bravo")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "duplicate" and "not available" in error["message"] and "uri" in error["fields"]
    assert "another tenant" not in error["message"]  # that another tenant holds it is not bravo's to know
    assert MCPResource.objects.unscoped().filter(uri="https://shared.example/mcp").count() == 1


def test_moving_a_resource_onto_another_tenants_uri_is_refused(two_tenants, make_resource):
    a, b = two_tenants
    make_resource(a.tenant, uri="https://taken.example/mcp")
    mine = make_resource(b.tenant, uri="https://mine.example/mcp")
    with pytest.raises(services.RegistryError, match="not available"):
        services.resource_update(resource=mine, actor=ACTOR, uri="https://taken.example/mcp")


@pytest.mark.parametrize("payload, field, says", [
    ({"name": "x", "uri": "http://mcp.example.com/mcp"}, "uri", "https"),
    ({"name": "x", "uri": "https://mcp.example.com/mcp#a"}, "uri", "fragment"),
    ({"name": "x", "uri": ""}, "uri", "required"),
    ({"name": "x", "hosting_mode": "gateway"}, "upstream_url", "upstream"),
    ({"name": "Bad Name!", "uri": "https://mcp.example.com/mcp"}, "name", "slug"),
    ({"name": "x", "uri": "https://mcp.example.com/mcp", "scopes": [{"name": "has space"}]}, "scopes", "spaces"),
    ({"name": "x", "uri": "https://mcp.example.com/mcp", "scopes": [{"name": "offline_access"}]}, "scopes",
     "authorization-server scope"),
])
def test_bad_resource_input_gets_a_field_error_that_says_what_to_fix(two_tenants, signed_in, payload, field, says):
    a, _ = two_tenants
    response = signed_in(a.admin).post("/api/v1/resources", payload, content_type="application/json",
                                       HTTP_X_TENANT="alpha")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert field in error["fields"], error
    assert says.lower() in " ".join(error["fields"][field]).lower(), error


def test_tools_without_scopes_or_with_unknown_scopes_are_refused(two_tenants, signed_in, make_resource):
    a, _ = two_tenants
    resource = make_resource(a.tenant)
    client = signed_in(a.admin)
    url = f"/api/v1/resources/{resource.pk}/tools"
    none = client.post(url, {"name": "t", "scopes": []}, content_type="application/json", HTTP_X_TENANT="alpha")
    assert none.status_code == 400 and "needs at least one scope" in none.json()["error"]["message"]
    unknown = client.post(url, {"name": "t", "scopes": ["nope"]}, content_type="application/json",
                          HTTP_X_TENANT="alpha")
    assert unknown.status_code == 400 and "has no scope nope" in unknown.json()["error"]["message"]


def test_a_scope_that_is_a_tools_only_scope_cannot_be_deleted(two_tenants, signed_in, make_resource):
    a, _ = two_tenants
    resource = make_resource(a.tenant, scopes=["files:read", "files:write"], tools={"write": ["files:write"]})
    client = signed_in(a.admin)
    refused = client.delete(f"/api/v1/resources/{resource.pk}/scopes/files:write", HTTP_X_TENANT="alpha")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "scope_in_use"
    assert "write" in refused.json()["error"]["message"]
    assert client.delete(f"/api/v1/resources/{resource.pk}/scopes/files:read",
                         HTTP_X_TENANT="alpha").status_code == 204
    assert list(resource.scopes.values_list("name", flat=True)) == ["files:write"]


def test_gateway_resources_get_the_platform_path_as_their_uri(two_tenants, make_resource, settings):
    a, _ = two_tenants
    resource = make_resource(a.tenant, "search", hosting_mode="gateway", upstream_url="http://127.0.0.1:9/mcp")
    assert resource.uri == f"{settings.PUBLIC_URL}/t/alpha/mcp/search"
    assert resource.verification_status == "unverified"  # until a check finds its path answering
    with pytest.raises(services.RegistryError, match="cannot be changed"):
        services.resource_update(resource=resource, actor=ACTOR, uri="https://elsewhere.example/mcp")


def test_management_token_is_encrypted_at_rest_and_bound_to_its_row(two_tenants, make_resource):
    a, _ = two_tenants
    one, two = make_resource(a.tenant, "one"), make_resource(a.tenant, "two")
    services.resource_set_management_token(resource=one, actor=ACTOR, token="s3cret-management-token")
    stored = MCPResource.objects.unscoped().get(pk=one.pk).management_token_encrypted
    assert "s3cret" not in stored and services.management_token(one) == "s3cret-management-token"
    two.management_token_encrypted = stored  # a ciphertext copied to another row does not decrypt
    from kit.crypto import DecryptionError
    with pytest.raises(DecryptionError):
        services.management_token(two)


# --- Verification of external resources -----------------------------------------------------------

def _published(resource, issuer=None):
    return {"resource": resource.uri, "authorization_servers": [issuer or resource.tenant.issuer]}


def _serve(document_server, resource):
    """The document server plays a correctly set-up MCP server: its PRM, and 401 at the resource's URL."""
    document_server.put("/.well-known/oauth-protected-resource/mcp", _published(resource))
    document_server.protect("/mcp")


def test_verification_succeeds_when_the_server_publishes_this_resource_and_issuer(two_tenants, make_resource,
                                                                                   document_server):
    a, _ = two_tenants
    resource = make_resource(a.tenant, uri=f"{document_server.url}/mcp")
    _serve(document_server, resource)
    resource = services.resource_verify(resource=resource, actor=ACTOR)
    assert resource.verification_status == "verified" and resource.verified_at is not None
    assert AuditEvent.objects.filter(tenant=a.tenant, action="resource.verified").count() == 1


@pytest.mark.parametrize("status, headers, expected", [
    (404, {}, "HTTP 404 to an MCP request without a token, expected 401"),
    (200, {}, "without a token (HTTP 200): it is not protected"),
    (401, {"WWW-Authenticate": 'Basic realm="x"'}, "without a Bearer challenge naming its resource_metadata"),
])
def test_a_published_prm_is_not_enough_the_resource_url_must_answer_as_a_protected_server(
        two_tenants, make_resource, document_server, status, headers, expected):
    """The PRM may be served from elsewhere (a static file, an old deployment): the URL clients call must
    itself refuse a token-less MCP request with 401 and a Bearer challenge."""
    a, _ = two_tenants
    resource = make_resource(a.tenant, uri=f"{document_server.url}/mcp")
    document_server.put("/.well-known/oauth-protected-resource/mcp", _published(resource))
    document_server.put("/mcp", {"jsonrpc": "2.0"}, status=status, headers=headers)
    resource = services.resource_verify(resource=resource, actor=ACTOR)
    assert resource.verification_status == "failed" and resource.verified_at is None
    assert expected in resource.verification_error
    assert json.loads(document_server.posted[-1])["method"] == "initialize"  # what an MCP client sends first


@pytest.mark.django_db(transaction=True)
def test_a_gateway_resource_is_not_verified_where_its_path_is_not_served(two_tenants, make_resource, live_server,
                                                                          settings):
    """Under a server that does not route the gateway paths (Django's WSGI live server here, as gunicorn's
    sync workers were), the gateway PRM is served by Django but the resource's URL answers 404: failed, never
    verified. tests/mcp_registry/test_gateway.py and tests/mcp_platform/test_demo_tour.py verify it where the
    path is served."""
    a, _ = two_tenants
    settings.PUBLIC_URL = live_server.url
    resource = make_resource(a.tenant, "search", hosting_mode="gateway", upstream_url="http://127.0.0.1:9/mcp")
    assert resource.verification_status == "unverified"
    resource = services.resource_verify(resource=resource, actor=ACTOR)
    assert resource.verification_status == "failed"
    assert "HTTP 404 to an MCP request without a token" in resource.verification_error


def test_verification_fails_when_the_prm_names_another_issuer(two_tenants, make_resource, document_server):
    a, b = two_tenants
    resource = make_resource(a.tenant, uri=f"{document_server.url}/mcp")
    document_server.put("/.well-known/oauth-protected-resource/mcp", _published(resource, b.tenant.issuer))
    resource = services.resource_verify(resource=resource, actor=ACTOR)
    assert resource.verification_status == "failed"
    assert a.tenant.issuer in resource.verification_error and "authorization_servers" in resource.verification_error
    event = AuditEvent.objects.get(tenant=a.tenant, action="resource.verification_failed")
    assert event.severity == "warning"


def test_verification_of_an_unreachable_server_records_why(two_tenants, make_resource):
    from .conftest import free_port

    a, _ = two_tenants
    resource = make_resource(a.tenant, uri=f"http://127.0.0.1:{free_port()}/mcp")
    resource = services.resource_verify(resource=resource, actor=ACTOR, timeout=2)
    assert resource.verification_status == "failed" and "could not fetch" in resource.verification_error


def test_verification_through_the_api_reports_a_missing_document(two_tenants, signed_in, make_resource,
                                                                 document_server):
    a, _ = two_tenants
    resource = make_resource(a.tenant, uri=f"{document_server.url}/mcp")
    response = signed_in(a.admin).post(f"/api/v1/resources/{resource.pk}/verify", HTTP_X_TENANT="alpha")
    assert response.status_code == 200
    assert response.json()["verification_status"] == "failed"
    assert "HTTP 404" in response.json()["verification_error"]


def test_periodic_reverification_checks_external_resources_and_audits_only_changes(two_tenants, make_resource,
                                                                                  document_server):
    from jobs.models import JobRun
    from mcp_registry.tasks import REVERIFY_JOB, reverify_resources

    a, _ = two_tenants
    resource = make_resource(a.tenant, uri=f"{document_server.url}/mcp")
    _serve(document_server, resource)
    events = AuditEvent.objects.filter(tenant=a.tenant, action__startswith="resource.verif")

    reverify_resources()
    reverify_resources()  # unchanged outcome: checked again, not audited again
    assert list(events.values_list("action", flat=True)) == ["resource.verified"]
    document_server.put("/.well-known/oauth-protected-resource/mcp", {}, status=404)  # the server lost it
    reverify_resources()
    resource.refresh_from_db()
    assert resource.verification_status == "failed" and "HTTP 404" in resource.verification_error
    assert list(events.order_by("seq").values_list("action", flat=True)) == ["resource.verified",
                                                                             "resource.verification_failed"]
    run = JobRun.objects.filter(name=REVERIFY_JOB).order_by("-created_at").first()
    assert run.status == "succeeded" and run.result == {"checked": 1, "failing": 1} and run.done == 1


def test_periodic_reverification_checks_gateway_resources_too(two_tenants, make_resource, settings):
    """A gateway resource whose path does not answer (here: nothing listens at PUBLIC_URL) shows failing."""
    from mcp_registry.tasks import reverify_resources

    from .conftest import free_port

    a, _ = two_tenants
    settings.PUBLIC_URL = f"http://127.0.0.1:{free_port()}"
    hosted = make_resource(a.tenant, "hosted", hosting_mode="gateway", upstream_url="http://127.0.0.1:9/mcp")
    reverify_resources()
    hosted.refresh_from_db()
    assert hosted.verification_status == "failed" and "could not fetch" in hosted.verification_error


def test_gateway_identity_secret_is_long_encrypted_and_for_gateway_resources_only(two_tenants, make_resource):
    a, _ = two_tenants
    external = make_resource(a.tenant)
    gateway = make_resource(a.tenant, "hosted", hosting_mode="gateway", upstream_url="http://127.0.0.1:9/mcp")
    with pytest.raises(services.RegistryError, match="only gateway resources"):
        services.resource_set_gateway_identity_secret(resource=external, actor=ACTOR, secret="s" * 40)
    with pytest.raises(services.RegistryError, match="at least 32"):
        services.resource_set_gateway_identity_secret(resource=gateway, actor=ACTOR, secret="short")
    services.resource_set_gateway_identity_secret(resource=gateway, actor=ACTOR, secret="s" * 40)
    stored = MCPResource.objects.unscoped().get(pk=gateway.pk).gateway_identity_secret_encrypted
    assert "ssss" not in stored and services.gateway_identity_secret(gateway) == "s" * 40
    event = AuditEvent.objects.filter(tenant=a.tenant, action="resource.updated").latest("seq")
    assert event.data == {"changed": ["gateway_identity_secret"], "gateway_identity_secret": "set"}


# --- issue 16 item 13: the platform's own URL space is not a resource URI ----------------------------

@pytest.mark.parametrize("path", ["/api/v1", "/api/v1/members", "/t/bravo/mcp/notes", "/t/alpha/mcp/notes",
                                  "/t/bravo", "", "/console/"])
def test_an_external_resource_cannot_take_a_uri_inside_the_platform(two_tenants, signed_in, settings, path):
    a, _ = two_tenants
    settings.PUBLIC_URL = "https://auth.platform.example"
    created = signed_in(a.admin).post("/api/v1/resources", {"name": "sneaky", "uri": f"{settings.PUBLIC_URL}{path}"},
                                      content_type="application/json", HTTP_X_TENANT="alpha")
    assert created.status_code == 400, created.content
    assert created.json()["error"]["code"] == "reserved" and "uri" in created.json()["error"]["fields"]
    assert not MCPResource.objects.unscoped().filter(name="sneaky").exists()


@pytest.mark.parametrize("uri", ["http://localhost:8000/api/v1", "http://127.0.0.1:8000/api/v1",
                                 "http://[::1]:8000/t/bravo/mcp/x"])
def test_every_loopback_spelling_of_a_loopback_public_url_is_the_platform(two_tenants, make_resource, settings, uri):
    a, _ = two_tenants
    settings.PUBLIC_URL = "http://127.0.0.1:8000"
    with pytest.raises(services.RegistryError, match="platform's own URL space"):
        make_resource(a.tenant, "sneaky", uri=uri)
    make_resource(a.tenant, "local", uri="http://127.0.0.1:9000/mcp")  # another port is another server


def test_a_public_url_with_a_path_reserves_only_that_path(two_tenants, make_resource, settings):
    a, _ = two_tenants
    settings.PUBLIC_URL = "https://example.com/auth"
    with pytest.raises(services.RegistryError, match="platform's own URL space"):
        make_resource(a.tenant, "sneaky", uri="https://example.com/auth/api/v1")
    assert make_resource(a.tenant, "shop", uri="https://example.com/mcp").uri == "https://example.com/mcp"
    assert make_resource(a.tenant, "authx", uri="https://example.com/authx").uri == "https://example.com/authx"


def test_moving_a_resource_onto_the_admin_api_is_refused(two_tenants, make_resource, signed_in, settings):
    """The review's attack: an admin:resources token moved a resource to PUBLIC_URL/api/v1 and so turned
    a client of that resource into an admin-API token holder."""
    from tests.factories import make_agent
    from tests.oauth.flows import client_credentials

    a, _ = two_tenants
    resource = make_resource(a.tenant, "files")
    moved = signed_in(a.admin).patch(f"/api/v1/resources/{resource.pk}", {"uri": f"{settings.PUBLIC_URL}/api/v1"},
                                     content_type="application/json", HTTP_X_TENANT="alpha")
    assert moved.status_code == 400 and moved.json()["error"]["code"] == "reserved"
    # A row that got there anyway (before this rule) yields no token.
    MCPResource.objects.unscoped().filter(pk=resource.pk).update(uri=f"{settings.PUBLIC_URL}/api/v1/x")
    agent, secret = make_agent(a.tenant, resources=[resource])
    from django.test import Client

    answer = client_credentials(Client(), a.tenant, agent, secret, resource=f"{settings.PUBLIC_URL}/api/v1/x")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_target"


def test_resource_scopes_cannot_be_named_like_admin_scopes(two_tenants, make_resource):
    a, _ = two_tenants
    with pytest.raises(services.RegistryError, match="admin:"):
        make_resource(a.tenant, "files", scopes=("admin:members",))
    resource = make_resource(a.tenant, "files")
    with pytest.raises(services.RegistryError, match="admin:"):
        services.scope_save(resource=resource, actor=ACTOR, name="admin:clients")


def test_a_tenant_cannot_squat_another_tenants_gateway_name(two_tenants, make_resource, settings):
    a, b = two_tenants
    with pytest.raises(services.RegistryError):
        make_resource(a.tenant, "notes", uri=f"{settings.PUBLIC_URL}/t/bravo/mcp/notes")
    gateway = make_resource(b.tenant, "notes", hosting_mode="gateway", upstream_url="http://127.0.0.1:9/mcp")
    assert gateway.uri == f"{settings.PUBLIC_URL}/t/bravo/mcp/notes"
    # Alpha's own gateway of the same name lives under alpha's path: names are per tenant.
    own = make_resource(a.tenant, "notes", hosting_mode="gateway", upstream_url="http://127.0.0.1:9/mcp")
    assert own.uri == f"{settings.PUBLIC_URL}/t/alpha/mcp/notes"


def test_a_verified_custom_domain_is_the_platform_too(two_tenants, make_resource):
    a, b = two_tenants
    b.tenant.custom_domain, b.tenant.custom_domain_verified = "login.bravo.example", True
    b.tenant.save()
    with pytest.raises(services.RegistryError, match="sign-in domain"):
        make_resource(a.tenant, "sneaky", uri="https://login.bravo.example/mcp")
