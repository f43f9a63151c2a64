"""Requests without ``resource`` (RFC 8707 §2 lets the authorization server choose): the documented rule of
oauth/protocol/targets.py, the same at /authorize, for client_credentials, and kept by the code and refresh grants;
and self-registered clients whose MCP servers are a per-request policy, not a list frozen at registration.
All through the real endpoints (Django test client), tokens decoded, audit events read back."""

from __future__ import annotations

import jwt
import pytest

from audit.models import AuditEvent
from oauth.clients import services as client_services
from oauth.config import services as config_services
from oauth.models import Application
from tests.factories import ACTOR, make_agent, make_client, make_resource
from tests.oauth.flows import authorize as authorize_flow
from tests.oauth.flows import authorize_url, client_credentials, exchange, pkce_pair, query_of, refresh

pytestmark = pytest.mark.django_db


def events(tenant, action):
    return list(AuditEvent.objects.filter(tenant=tenant, action=action).order_by("occurred_at", "seq"))


def aud_of(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["aud"]


@pytest.fixture
def session_api_for(signed_in, world):
    """/api/v1 as a console session of ``user`` at acme."""
    from tests.oauth.admin.conftest import Api

    return lambda user: Api(signed_in(user), tenant_slug=world.slug)


@pytest.fixture
def two_servers(world):
    """Two MCP servers of acme with scopes of their own."""
    notes = make_resource(world.tenant, "https://notes.acme.example/mcp", name="notes",
                          scopes=(("notes:read", "Read your notes", True),))
    calendar = make_resource(world.tenant, "https://calendar.acme.example/mcp", name="calendar",
                             scopes=(("calendar:read", "Read your calendar", True),))
    return notes, calendar


def _redirect_error(response) -> dict:
    assert response.status_code == 302, response.content[:300]
    return query_of(response["Location"])


def test_the_one_resource_that_owns_the_requested_scopes_is_chosen_and_said_so(world, two_servers, signed_in):
    notes, calendar = two_servers
    client, _ = make_client(world.tenant, resources=[notes, calendar], name="Agent Desktop")
    http = signed_in(world.member)
    verifier, challenge = pkce_pair()
    url = authorize_url(world.tenant, client, resource=None, challenge=challenge, scope="calendar:read")
    page = http.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert calendar.uri in html and "chose this one for it" in html  # the consent page names it

    answer = http.post(url, {"decision": "allow"})
    code = query_of(answer["Location"])["code"]
    token = http.post(f"/t/{world.tenant.slug}/token", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:33418/callback",
        "client_id": client.client_id, "code_verifier": verifier}).json()
    assert aud_of(token["access_token"]) == calendar.uri and token["scope"] == "calendar:read"

    consent = events(world.tenant, "consent.granted")[-1]
    assert consent.data["audience"] == calendar.uri and consent.data["resource_chosen_by"] == "scopes"
    assert consent.data["resource_by_default"] is True
    issued = events(world.tenant, "token.issued")[-1]
    assert issued.data["grant_type"] == "authorization_code" and issued.data["resource_chosen_by"] == "scopes"

    # Refresh without resource keeps the audience, and its audit event still says it was chosen by default.
    again = refresh(http, world.tenant, client, token["refresh_token"]).json()
    assert aud_of(again["access_token"]) == calendar.uri
    issued = events(world.tenant, "token.issued")[-1]
    assert issued.data["grant_type"] == "refresh_token" and issued.data["resource_by_default"] is True


def test_a_named_resource_is_not_by_default(world, two_servers, signed_in):
    notes, calendar = two_servers
    client, _ = make_client(world.tenant, resources=[notes, calendar])
    http = signed_in(world.member)
    auth = authorize_flow(http, world.tenant, client, resource=notes.uri)
    token = exchange(http, world.tenant, client, auth).json()
    assert aud_of(token["access_token"]) == notes.uri
    assert events(world.tenant, "token.issued")[-1].data["resource_chosen_by"] == "request"
    assert events(world.tenant, "consent.granted")[-1].data["resource_by_default"] is False


def test_the_clients_only_resource_is_chosen(world, two_servers, signed_in):
    notes, _ = two_servers
    client, _ = make_client(world.tenant, resources=[notes])
    http = signed_in(world.member)
    auth = authorize_flow(http, world.tenant, client, resource=None)  # no scope, no resource: an MCP SDK
    token = exchange(http, world.tenant, client, auth).json()
    assert aud_of(token["access_token"]) == notes.uri and token["scope"] == "notes:read"
    assert events(world.tenant, "token.issued")[-1].data["resource_chosen_by"] == "only_resource"


def test_without_a_rule_the_error_says_how_to_fix_it_then_the_tenant_default_decides(world, two_servers,
                                                                                     signed_in):
    notes, calendar = two_servers
    app, _ = make_client(world.tenant, resources=[notes, calendar])
    http = signed_in(world.member)
    _, challenge = pkce_pair()
    error = _redirect_error(http.get(authorize_url(world.tenant, app, resource=None, challenge=challenge)))
    assert error["error"] == "invalid_target" and error["state"] == "st4te"
    description = error["error_description"]
    assert notes.uri in description and calendar.uri in description  # what the client may name
    assert "no default resource" in description and "/api/v1/authorization-settings" in description

    config_services.tenant_auth_settings_update(tenant=world.tenant, actor=ACTOR, default_resource=calendar.uri)
    setting = events(world.tenant, "oauth_settings.updated")[-1]
    assert setting.data["default_resource"] == calendar.uri  # audited, by URI

    auth = authorize_flow(http, world.tenant, app, resource=None)
    token = exchange(http, world.tenant, app, auth).json()
    assert aud_of(token["access_token"]) == calendar.uri
    assert events(world.tenant, "token.issued")[-1].data["resource_chosen_by"] == "tenant_default"

    # A default the client may not use is not used, and the description says so.
    only_notes, _ = make_client(world.tenant, resources=[notes, make_resource(
        world.tenant, "https://wiki.acme.example/mcp", name="wiki", scopes=())], name="Notes only")
    error = _redirect_error(http.get(authorize_url(world.tenant, only_notes, resource=None, challenge=challenge)))
    assert error["error"] == "invalid_target" and "default resource is not one this client may use" in \
        error["error_description"]

    # Deleting the default resource clears the setting, and its cached copy.
    from oauth.config.selectors import tenant_settings

    assert tenant_settings(world.tenant).default_resource_id == calendar.pk
    calendar.delete()
    assert tenant_settings(world.tenant).default_resource_id is None


def test_sign_in_scopes_only_still_get_a_userinfo_token(world, two_servers, signed_in):
    notes, calendar = two_servers
    app, _ = make_client(world.tenant, resources=[notes, calendar])
    config_services.tenant_auth_settings_update(tenant=world.tenant, actor=ACTOR, default_resource=notes)
    http = signed_in(world.member)
    auth = authorize_flow(http, world.tenant, app, resource=None, scope="openid email")
    token = exchange(http, world.tenant, app, auth).json()
    assert aud_of(token["access_token"]) == f"{world.tenant.issuer}/userinfo"


def test_client_credentials_follow_the_same_rule(world, two_servers, client):
    notes, calendar = two_servers
    agent, secret = make_agent(world.tenant, resources=[notes, calendar])
    by_scope = client_credentials(client, world.tenant, agent, secret, scope="notes:read")
    assert by_scope.status_code == 200 and aud_of(by_scope.json()["access_token"]) == notes.uri
    refused = client_credentials(client, world.tenant, agent, secret)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_target"
    assert "resource is required" in refused.json()["error_description"]
    config_services.tenant_auth_settings_update(tenant=world.tenant, actor=ACTOR, default_resource=calendar.uri)
    by_default = client_credentials(client, world.tenant, agent, secret)
    assert by_default.status_code == 200 and aud_of(by_default.json()["access_token"]) == calendar.uri


def test_default_resource_setting_is_tenant_scoped_and_validated(two_tenants):
    from oauth.errors import OAuthServiceError

    a, b = two_tenants
    theirs = make_resource(b.tenant, "https://mcp.bravo.example/mcp", name="files")
    with pytest.raises(OAuthServiceError, match="another tenant"):
        config_services.tenant_auth_settings_update(tenant=a.tenant, actor=ACTOR, default_resource=theirs)
    with pytest.raises(OAuthServiceError, match="no resource"):  # by URI: looked up in A only
        config_services.tenant_auth_settings_update(tenant=a.tenant, actor=ACTOR, default_resource=theirs.uri)


def test_default_resource_over_the_api_and_console(world, two_servers, session_api_for, signed_in):
    notes, _ = two_servers
    api = session_api_for(world.admin)
    answer = api.patch("authorization-settings", {"default_resource": notes.uri})
    assert answer.status_code == 200, answer.content
    assert api.get("authorization-settings").json()["default_resource"] == notes.uri
    bad = api.patch("authorization-settings", {"default_resource": "https://nowhere.example/mcp"})
    assert bad.status_code == 400 and bad.json()["error"]["fields"].get("default_resource")
    cleared = api.patch("authorization-settings", {"default_resource": None})
    assert cleared.status_code == 200 and cleared.json()["default_resource"] is None

    http = signed_in(world.admin)
    page = http.get(f"/console/{world.slug}/authorization/")
    assert notes.uri in page.content.decode()
    form = {"access_token_lifetime": 600, "refresh_token_lifetime": 30 * 24 * 3600, "signing_alg": "RS256",
            "default_resource": str(notes.pk)}
    saved = http.post(f"/console/{world.slug}/authorization/", form)
    assert saved.status_code == 302, saved.content[:500]
    assert config_services.tenant_auth_settings(world.tenant).default_resource_id == notes.pk
    auditor_page = signed_in(world.auditor).get(f"/console/{world.slug}/authorization/").content.decode()
    assert f"<td>{notes.uri}</td>" in auditor_page  # read-only: the resource, not its row id


# --- Build 4: self-registered clients ask for resources that exist when they ask --------------------

def _self_registered(tenant, source="dcr"):
    client, _ = make_client(tenant, name="SDK client", registration_source=source)
    return client


def test_a_client_registered_before_a_resource_existed_gets_a_token_for_it_after_consent(world, signed_in):
    from mcp_registry import services as registry

    client = _self_registered(world.tenant)  # registered first: the tenant has no MCP server yet
    later = registry.resource_create(tenant=world.tenant, actor=ACTOR, name="later",
                                     uri="https://later.acme.example/mcp", scopes=[{"name": "later:read"}])
    http = signed_in(world.member)
    _, challenge = pkce_pair()
    url = authorize_url(world.tenant, client, resource=later.uri, challenge=challenge)
    assert http.get(url).status_code == 200  # the consent page, for this server
    auth = authorize_flow(http, world.tenant, client, resource=later.uri)
    token = exchange(http, world.tenant, client, auth, resource=later.uri).json()
    assert aud_of(token["access_token"]) == later.uri and token["scope"] == "later:read"


def test_consent_is_per_resource_for_a_self_registered_client(world, two_servers, signed_in):
    notes, calendar = two_servers
    client = _self_registered(world.tenant, source="cimd")
    http = signed_in(world.member)
    authorize_flow(http, world.tenant, client, resource=notes.uri)
    _, challenge = pkce_pair()
    # Consent to notes does not cover calendar: the user is asked again.
    assert http.get(authorize_url(world.tenant, client, resource=calendar.uri, challenge=challenge)).status_code == 200
    assert http.get(authorize_url(world.tenant, client, resource=notes.uri, challenge=challenge)).status_code == 302


def test_a_resource_that_does_not_admit_self_registered_clients_refuses_them(world, two_servers, signed_in):
    from mcp_registry import services as registry

    notes, calendar = two_servers
    client = _self_registered(world.tenant)
    pre_registered, _ = make_client(world.tenant, resources=[calendar], name="Pre-registered")
    registry.resource_update(resource=calendar, actor=ACTOR, admits_self_registered=False)
    event = events(world.tenant, "resource.updated")[-1]
    assert event.data["changed"] == ["admits_self_registered"] and event.data["admits_self_registered"] is False

    http = signed_in(world.member)
    _, challenge = pkce_pair()
    error = _redirect_error(http.get(authorize_url(world.tenant, client, resource=calendar.uri, challenge=challenge)))
    assert error["error"] == "invalid_target" and "not allowed" in error["error_description"]
    # With one admitting server left, it is also this client's default.
    auth = authorize_flow(http, world.tenant, client, resource=None)
    assert aud_of(exchange(http, world.tenant, client, auth).json()["access_token"]) == notes.uri
    # Pre-registered clients keep their explicit list, switch or not.
    auth = authorize_flow(http, world.tenant, pre_registered, resource=calendar.uri)
    assert aud_of(exchange(http, world.tenant, pre_registered, auth).json()["access_token"]) == calendar.uri
    # An admin may still allow the self-registered client explicitly.
    client_services.client_update(client=client, actor=ACTOR, allowed_resources=[calendar])
    auth = authorize_flow(http, world.tenant, client, resource=calendar.uri)
    assert aud_of(exchange(http, world.tenant, client, auth).json()["access_token"]) == calendar.uri
    # The console says what it may reach, not an empty list.
    console = signed_in(world.admin)
    page = console.get(f"/console/{world.slug}/clients/{client.pk}/").content.decode()
    assert "every active server that admits self-registered clients" in page and calendar.uri in page
    http = signed_in(world.member)
    # A disabled resource admits nobody.
    registry.resource_disable(resource=notes, actor=ACTOR)
    error = _redirect_error(http.get(authorize_url(world.tenant, client, resource=notes.uri, challenge=challenge)))
    assert error["error"] == "invalid_target"


def test_pre_registered_clients_do_not_get_admitting_resources(world, two_servers, signed_in):
    notes, calendar = two_servers
    client, _ = make_client(world.tenant, resources=[notes])
    assert not Application.objects.get(pk=client.pk).is_self_registered
    http = signed_in(world.member)
    _, challenge = pkce_pair()
    error = _redirect_error(http.get(authorize_url(world.tenant, client, resource=calendar.uri, challenge=challenge)))
    assert error["error"] == "invalid_target"


def test_another_tenants_resource_is_never_admitted(two_tenants, signed_in):
    a, b = two_tenants
    make_resource(a.tenant, "https://mcp.alpha.example/mcp", name="files")
    theirs = make_resource(b.tenant, "https://mcp.bravo.example/mcp", name="files")
    client = _self_registered(a.tenant)
    http = signed_in(a.member)
    _, challenge = pkce_pair()
    error = _redirect_error(http.get(authorize_url(a.tenant, client, resource=theirs.uri, challenge=challenge)))
    assert error["error"] == "invalid_target" and "not registered for tenant 'alpha'" in error["error_description"]


def test_admits_self_registered_over_the_api_and_console(world, resource, session_api_for, signed_in):
    api = session_api_for(world.admin)
    assert api.get(f"resources/{resource.pk}").json()["admits_self_registered"] is True
    answer = api.patch(f"resources/{resource.pk}", {"admits_self_registered": False})
    assert answer.status_code == 200 and answer.json()["admits_self_registered"] is False
    http = signed_in(world.admin)
    page = http.get(f"/console/{world.slug}/resources/{resource.pk}/").content.decode()
    assert "self-registered clients are not admitted" in page and "resources/clients/" in page
    docs = http.get(f"/console/{world.slug}/resources/clients/")
    assert docs.status_code == 200 and "Google ADK" in docs.content.decode()
    saved = http.post(f"/console/{world.slug}/resources/{resource.pk}/update", {
        "display_name": "Files", "uri": resource.uri, "admits_self_registered": "on"})
    assert saved.status_code == 302
    resource.refresh_from_db()
    assert resource.admits_self_registered is True
