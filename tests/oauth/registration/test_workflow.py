"""The approval workflow through the real pages and API: the awaiting-approval page and justification,
approve/reject with a reason, suspend (tokens revoked) and re-approve, consent trust signals; and tenant
isolation of every registration endpoint, page and API."""

from __future__ import annotations

import pytest
from django.test import Client as DjangoClient

from oauth.models import AccessToken, Application, RefreshToken
from oauth.registration.models import ClientRegistration
from tests.factories import add_member
from tests.oauth.flows import authorize, authorize_url, exchange, pkce_pair

from .conftest import ACTOR, events_of, metadata, set_policy

pytestmark = pytest.mark.django_db


def _registered(registrar, tenant, **overrides):
    body = registrar.register(tenant, metadata(**overrides)).json()
    return Application.objects.unscoped().get(client_id=body["client_id"]), body


def _api(user, slug):
    http = DjangoClient()
    http.force_login(user, backend="identity.backends.EmailBackend")

    def call(method, path, data=None):
        kwargs = {"content_type": "application/json"} if method != "get" else {}
        return getattr(http, method)(f"/api/v1/{path}", data, HTTP_X_TENANT=slug, **kwargs)

    return call


def _authorize_page(http, tenant, client, resource):
    _, challenge = pkce_pair()
    return http.get(authorize_url(tenant, client, resource=resource.uri, challenge=challenge))


def test_pending_client_shows_the_awaiting_approval_page_and_takes_a_justification(world, resource, registrar,
                                                                                    signed_in):
    client, _ = _registered(registrar, world.tenant)
    http = signed_in(world.member)
    page = _authorize_page(http, world.tenant, client, resource)
    assert page.status_code == 403
    assert b"Claude Code is awaiting approval" in page.content and b"justification-form" in page.content
    registration = client.registration
    sent = http.post(f"/t/{world.slug}/registration/{registration.pk}/justification",
                     {"justification": "I need it for the quarterly report", "next": page.wsgi_request.get_full_path()})
    assert sent.status_code == 302 and sent["Location"].startswith(f"/t/{world.slug}/authorize?")
    registration.refresh_from_db()
    assert registration.justification == "I need it for the quarterly report"
    assert registration.justified_by == world.member
    assert events_of(world.tenant, "registration.justified")
    assert b"quarterly report" in _authorize_page(http, world.tenant, client, resource).content


def test_rejection_reason_is_shown_to_the_requester(world, resource, registrar, signed_in):
    client, _ = _registered(registrar, world.tenant)
    api = _api(world.admin, world.slug)
    registration_id = client.registration.pk
    missing = api("post", f"registrations/{registration_id}/reject", {"reason": ""})
    assert missing.status_code == 400 and missing.json()["error"]["fields"]["reason"]
    rejected = api("post", f"registrations/{registration_id}/reject", {"reason": "Use the approved Desktop app"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    page = _authorize_page(signed_in(world.member), world.tenant, client, resource)
    assert page.status_code == 403 and b"Use the approved Desktop app" in page.content
    assert events_of(world.tenant, "registration.rejected")[0].data["reason"] == "Use the approved Desktop app"
    again = api("post", f"registrations/{registration_id}/reject", {"reason": "twice"})
    assert again.status_code == 400 and again.json()["error"]["code"] == "conflict"
    assert "rejected" in again.json()["error"]["message"]


def test_suspending_revokes_tokens_and_reapproving_restores_access(world, resource, registrar, signed_in, client):
    set_policy(world.tenant, dcr_mode="open")
    app, _ = _registered(registrar, world.tenant)
    auth = authorize(signed_in(world.member), world.tenant, app, resource=resource.uri)
    tokens = exchange(client, world.tenant, app, auth, resource=resource.uri).json()
    assert AccessToken.objects.unscoped().filter(application=app).count() == 1

    api = _api(world.admin, world.slug)
    suspended = api("post", f"registrations/{app.registration.pk}/suspend", {"reason": "leaked secret"})
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    assert not AccessToken.objects.unscoped().filter(application=app).exists()
    assert not RefreshToken.objects.unscoped().filter(application=app, revoked__isnull=True).exists()
    refreshed = client.post(f"/t/{world.slug}/token", {"grant_type": "refresh_token", "client_id": app.client_id,
                                                        "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code in (400, 401)
    page = _authorize_page(signed_in(world.member), world.tenant, app, resource)
    assert page.status_code == 403 and b"suspended" in page.content and b"leaked secret" in page.content

    assert api("post", f"registrations/{app.registration.pk}/reapprove", {}).json()["status"] == "approved"
    auth = authorize(signed_in(world.member), world.tenant, app, resource=resource.uri)
    assert exchange(client, world.tenant, app, auth, resource=resource.uri).status_code == 200
    actions = [e.action for e in events_of(world.tenant, "registration.suspended") +
               events_of(world.tenant, "registration.reapproved")]
    assert actions == ["registration.suspended", "registration.reapproved"]


def test_pending_clients_get_no_tokens_even_with_their_real_secret(world, resource, registrar, client):
    from oauth.registration.services import initial_access_token_create
    from tests.oauth.flows import basic

    # client_credentials only through an explicit rule: here an administrator's initial access token.
    _, iat = initial_access_token_create(tenant=world.tenant, actor=ACTOR, label="batch job")
    body = registrar.register(world.tenant, metadata(
        token_endpoint_auth_method="client_secret_basic", grant_types=["client_credentials"], response_types=[],
        redirect_uris=None, application_type="web"), token=iat).json()
    app = Application.objects.unscoped().get(client_id=body["client_id"])
    assert app.status == "pending" and body["client_secret"] and body["grant_types"] == ["client_credentials"]
    request = {"grant_type": "client_credentials", "resource": resource.uri}
    answer = client.post(f"/t/{world.slug}/token", request, HTTP_AUTHORIZATION=basic(app.client_id,
                                                                                     body["client_secret"]))
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    app.registration.application = app
    from oauth.registration.services import registration_approve

    registration_approve(registration=app.registration, actor=ACTOR)
    answer = client.post(f"/t/{world.slug}/token", request, HTTP_AUTHORIZATION=basic(app.client_id,
                                                                                     body["client_secret"]))
    assert answer.status_code == 200, answer.content


def test_consent_page_shows_trust_signals(world, resource, registrar, signed_in):
    set_policy(world.tenant, dcr_mode="open")
    app, _ = _registered(registrar, world.tenant)
    page = _authorize_page(signed_in(world.member), world.tenant, app, resource)
    assert page.status_code == 200
    assert b"registered itself" in page.content and b"unverified" in page.content
    assert b"localhost-only" in page.content  # every redirect goes to 127.0.0.1
    web, _ = _registered(registrar, world.tenant, client_name="Web", application_type="web",
                         redirect_uris=["https://app.example.com/cb"])
    _, challenge = pkce_pair()
    page = signed_in(world.member).get(authorize_url(world.tenant, web, resource=resource.uri, challenge=challenge,
                                                     redirect_uri="https://app.example.com/cb"))
    assert b"app.example.com" in page.content and b"localhost-only" not in page.content


# --- tenant isolation -------------------------------------------------------------------------------

def test_a_client_registered_at_a_is_unknown_at_b(two_tenants, registrar, signed_in):
    from tests.factories import make_resource

    a, b = two_tenants
    set_policy(a.tenant, dcr_mode="open")
    make_resource(a.tenant, "https://mcp.alpha.example/mcp")
    resource_b = make_resource(b.tenant, "https://mcp.bravo.example/mcp")
    app, body = _registered(registrar, a.tenant)
    page = _authorize_page(signed_in(b.member), b.tenant, app, resource_b)
    assert page.status_code == 400 and b"awaiting approval" not in page.content
    # A's registration access token, at B's configuration endpoint, for A's client: unknown there.
    assert registrar.configuration(b.tenant, app.client_id, body["registration_access_token"]).status_code == 401


def test_a_registration_access_token_of_a_cannot_read_b_clients(two_tenants, registrar):
    a, b = two_tenants
    set_policy(a.tenant, dcr_mode="open")
    set_policy(b.tenant, dcr_mode="open")
    _, body_a = _registered(registrar, a.tenant)
    app_b, body_b = _registered(registrar, b.tenant, client_name="Bravo tool")
    token_a = body_a["registration_access_token"]
    for tenant in (a.tenant, b.tenant):
        for method in ("get", "delete"):
            answer = registrar.configuration(tenant, app_b.client_id, token_a, method)
            assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"
    assert Application.objects.unscoped().filter(pk=app_b.pk).exists()
    assert registrar.configuration(b.tenant, app_b.client_id, body_b["registration_access_token"]).status_code == 200


def test_b_admin_cannot_see_or_decide_a_queue_entries(two_tenants, registrar, signed_in):
    a, b = two_tenants
    app, _ = _registered(registrar, a.tenant)
    registration_id = app.registration.pk
    api_b = _api(b.admin, b.slug)
    assert api_b("get", "registrations").json()["results"] == []
    assert api_b("get", f"registrations/{registration_id}").status_code == 404
    assert api_b("post", f"registrations/{registration_id}/approve", {}).status_code == 404
    api_b_at_a = _api(b.admin, a.slug)  # naming A's slug does not help
    assert api_b_at_a("get", "registrations").status_code == 404
    console = signed_in(b.admin)
    assert console.get(f"/console/{b.slug}/approvals/{registration_id}").status_code == 404
    assert console.post(f"/console/{b.slug}/approvals/{registration_id}", {"decision": "approve"}).status_code == 404
    assert console.get(f"/console/{a.slug}/approvals").status_code == 404
    assert b.member.pk and console.get(f"/console/{b.slug}/approvals").status_code == 200
    app.refresh_from_db()
    assert app.status == "pending"
    # A member of A cannot justify through B's URL either.
    other = signed_in(b.member)
    assert other.post(f"/t/{b.slug}/registration/{registration_id}/justification",
                      {"justification": "x"}).status_code == 404
    assert not ClientRegistration.objects.unscoped().get(pk=registration_id).justification


def test_api_token_with_read_scope_lists_but_cannot_decide(world, registrar, client):
    from oauth.models import api_audience
    from tests.factories import make_agent
    from tests.oauth.flows import client_credentials

    app, _ = _registered(registrar, world.tenant)
    agent, secret = make_agent(world.tenant, scopes=["admin:clients.read"], name="reader")
    token = client_credentials(client, world.tenant, agent, secret, resource=api_audience()).json()["access_token"]
    http = DjangoClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    listed = http.get("/api/v1/registrations?status=pending")
    assert listed.status_code == 200 and [r["platform_client_id"] for r in listed.json()["results"]] == [app.client_id]
    refused = http.post(f"/api/v1/registrations/{app.registration.pk}/approve", {}, content_type="application/json")
    assert refused.status_code == 403


def test_settings_api_policy_rules_tokens_and_publishers(world, registrar):
    import json as _json

    import jwt as pyjwt
    from cryptography.hazmat.primitives.asymmetric import ec

    api = _api(world.admin, world.slug)
    assert api("get", "registration-policy").json()["dcr_mode"] == "approval"
    changed = api("patch", "registration-policy", {"dcr_mode": "open", "pending_cap": 5})
    assert changed.status_code == 200 and changed.json()["dcr_mode"] == "open"
    assert api("patch", "registration-policy", {"dcr_mode": "sometimes"}).status_code == 400
    rule = api("post", "registration-rules", {"kind": "cimd_url", "pattern": "https://apps.example.com/"})
    assert rule.status_code == 201 and api("get", "registration-rules").json()["results"][0]["kind"] == "cimd_url"
    assert api("post", "registration-rules", {"kind": "cimd_url", "pattern": ""}).status_code == 400
    iat = api("post", "initial-access-tokens", {"label": "CI pipeline", "days": 1, "max_uses": 2})
    assert iat.status_code == 201 and iat.json()["token"]
    assert "token" not in api("get", f"initial-access-tokens/{iat.json()['id']}").json()  # shown once
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = _json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    publisher = api("post", "trusted-publishers", {"name": "Acme", "issuer": "https://acme.dev",
                                                   "jwks": {"keys": [jwk]}})
    assert publisher.status_code == 201, publisher.content
    private = _json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(key))
    refused = api("post", "trusted-publishers", {"name": "Leaky", "issuer": "https://leaky.dev",
                                                 "jwks": {"keys": [private]}})
    assert refused.status_code == 400
    assert api("delete", f"trusted-publishers/{publisher.json()['id']}").status_code == 204
    actions = {e.action for e in __import__("audit.models", fromlist=["AuditEvent"]).AuditEvent.objects.filter(
        tenant=world.tenant, action__startswith="registration.")}
    assert {"registration.policy_updated", "registration.rule_created", "registration.iat_created",
            "registration.publisher_created", "registration.publisher_deleted"} <= actions


def test_anonymous_person_sees_the_waiting_page_with_a_way_to_sign_in(world, resource, registrar, client):
    app, _ = _registered(registrar, world.tenant)
    page = _authorize_page(client, world.tenant, app, resource)
    assert page.status_code == 403 and b"awaiting approval" in page.content
    assert f'href="/t/{world.slug}/login?next=/t/{world.slug}/authorize%3F'.encode() in page.content
    assert b"justification-form" not in page.content


def test_console_settings_edit_policy_rules_tokens_and_stay_in_their_tenant(two_tenants, signed_in, make_user):
    from oauth.registration.models import ApprovalRule, InitialAccessToken, RegistrationPolicy

    a, b = two_tenants

    add_member(a.tenant, make_user("sec@alpha.example"), "auditor")
    console = signed_in(a.admin)
    url = f"/console/{a.slug}/approvals/settings"
    assert console.get(url).status_code == 200
    saved = console.post(url, {"action": "policy", "dcr_mode": "open", "cimd_mode": "approval", "pending_cap": 50,
                               "unused_expiry_days": 10, "address_rate_per_minute": 5, "tenant_rate_per_minute": 60,
                               "notify_emails": "sec@alpha.example", "webhook_url": "", "webhook_secret": ""})
    assert saved.status_code == 302
    policy = RegistrationPolicy.objects.unscoped().get(tenant=a.tenant)
    assert (policy.dcr_mode, policy.pending_cap, policy.notify_email_list) == ("open", 50, ["sec@alpha.example"])
    console.post(url, {"action": "rule_create", "kind": "redirect_host", "pattern": "loopback"})
    console.post(url, {"action": "iat_create", "label": "CI", "days": 3, "max_uses": 2})
    page = console.get(url)
    assert b"new-token" in page.content  # shown once ...
    assert b"new-token" not in console.get(url).content  # ... and only once
    assert ApprovalRule.objects.unscoped().filter(tenant=a.tenant).count() == 1
    assert InitialAccessToken.objects.unscoped().filter(tenant=a.tenant).count() == 1

    rule = ApprovalRule.objects.unscoped().get(tenant=a.tenant)
    other = signed_in(b.admin)
    assert other.get(url).status_code == 404
    other.post(f"/console/{b.slug}/approvals/settings", {"action": "rule_delete", "id": str(rule.pk)})
    assert ApprovalRule.objects.unscoped().filter(pk=rule.pk).exists()  # B cannot delete A's rule
    auditor = signed_in(a.auditor)
    assert auditor.get(url).status_code == 200
    assert auditor.post(url, {"action": "rule_delete", "id": str(rule.pk)}).status_code == 403
