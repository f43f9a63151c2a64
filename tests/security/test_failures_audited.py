"""Failed attacks are audited, aggregated (issue 16, items 15 and 16).

Every refused request of the kinds below is in the audit log: the first of its (tenant, kind, source,
minute) as an event of its own, the rest as one ``security.failures_summarised`` event with the count
once the minute has closed; past AUDIT_FAILURE_SOURCES_PER_MINUTE sources a minute the rest share one
window. So anonymous callers cannot flood a tenant's chain (the review measured 55 CIMD events a second),
and no failure goes unrecorded.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from audit.failures import OVERFLOW, summarise_failures
from audit.models import AuditEvent, FailureWindow
from tests.factories import REDIRECT_URI, make_agent, make_client
from tests.oauth.flows import authorize, basic, client_credentials, exchange, pkce_pair

pytestmark = pytest.mark.django_db
LATER = timedelta(minutes=2)


def events(tenant, action):
    return list(AuditEvent.objects.filter(tenant=tenant, action=action).order_by("seq"))


def summaries(tenant, action):
    return [e.data for e in events(tenant, "security.failures_summarised") if e.data["summarised_action"] == action]


def test_a_flood_of_cimd_failures_is_one_event_and_one_count(world):
    from oauth.registration.services import cimd_failed

    before = AuditEvent.objects.filter(tenant=world.tenant).count()
    for _ in range(200):
        cimd_failed(tenant=world.tenant, url="https://evil.example/client.json", reason="refused",
                    address="198.51.100.9")
    assert len(events(world.tenant, "registration.cimd_failed")) == 1
    assert summarise_failures(now=timezone.now() + LATER) == 1
    (summary,) = summaries(world.tenant, "registration.cimd_failed")
    assert summary["count"] == 200 and summary["source"] == "198.51.100.9"
    assert AuditEvent.objects.filter(tenant=world.tenant).count() == before + 2
    assert summarise_failures(now=timezone.now() + LATER) == 0  # exactly once


def test_many_sources_are_capped_and_nothing_is_lost(world, settings):
    from oauth.registration.services import cimd_failed

    settings.AUDIT_FAILURE_SOURCES_PER_MINUTE = 5
    for i in range(40):
        for _ in range(3):
            cimd_failed(tenant=world.tenant, url="https://evil.example/c.json", reason="refused",
                        address=f"198.51.100.{i}")
    recorded = events(world.tenant, "registration.cimd_failed")
    assert len(recorded) == 6 and recorded[-1].data["source"] == OVERFLOW  # 5 sources + the overflow window
    summarise_failures(now=timezone.now() + LATER)
    assert sum(w.count for w in FailureWindow.objects.filter(chain=str(world.tenant.pk))) == 120
    # Each window: its first refusal is an event, the rest are in its summary.
    assert len(recorded) + sum(s["count"] - 1 for s in summaries(world.tenant, "registration.cimd_failed")) == 120


def test_a_refused_cimd_document_at_the_authorization_endpoint_is_audited_once(world, signed_in):
    from tests.oauth.registration.conftest import set_policy

    set_policy(world.tenant, cimd_mode="open")
    http = signed_in(world.member)
    for _ in range(5):
        response = http.get(f"/t/{world.slug}/authorize", {
            "response_type": "code", "client_id": "http://internal.example/client.json", "redirect_uri": REDIRECT_URI,
            "code_challenge": "x" * 43, "code_challenge_method": "S256", "state": "s"})
        assert response.status_code == 400
    assert len(events(world.tenant, "registration.cimd_failed")) == 1


def test_anonymous_sso_failures_are_aggregated_per_address_and_reason(world, rf):
    from audit.services import Actor
    from identity.services import federated_sign_in_failed, identity_provider_create
    from identity.sso.oidc import SSOError

    idp = identity_provider_create(tenant=world.tenant, name="Corp", slug="corp", client_id="platform",
                                   client_secret="secret", actor=Actor("test", "", "pytest"),
                                   address="https://idp.corp.example", domains=["corp.example"])
    request = rf.get("/t/acme/sso/corp/start", REMOTE_ADDR="198.51.100.7")
    for _ in range(50):
        federated_sign_in_failed(tenant=world.tenant, identity_provider=idp, request=request,
                                 error=SSOError("idp_disabled", "is turned off"))
    federated_sign_in_failed(tenant=world.tenant, identity_provider=idp, request=request,
                             error=SSOError("logout_token.replayed", "replayed"),
                             action="sso.backchannel_logout_refused")
    assert [e.data["reason"] for e in events(world.tenant, "sso.signin_failed")] == ["idp_disabled"]
    assert len(events(world.tenant, "sso.backchannel_logout_refused")) == 1
    summarise_failures(now=timezone.now() + LATER)
    assert summaries(world.tenant, "sso.signin_failed")[0]["count"] == 50


def test_wrong_client_secrets_are_audited(world, resource, client):
    agent, _ = make_agent(world.tenant, resources=[resource])
    for _ in range(7):
        refused = client_credentials(client, world.tenant, agent, "wrong-secret", resource=resource.uri)
        assert refused.status_code == 401
    (first,) = events(world.tenant, "security.client_auth_failed")
    assert first.data["client_id"] == agent.client_id and first.data["error"] == "invalid_client"
    assert "wrong-secret" not in str(first.data)
    summarise_failures(now=timezone.now() + LATER)
    assert summaries(world.tenant, "security.client_auth_failed")[0]["count"] == 7


def test_wrong_client_secrets_at_revocation_and_introspection_are_audited(world, resource, client):
    agent, _ = make_agent(world.tenant, resources=[resource])
    for endpoint in ("revoke", "introspect"):
        response = client.post(f"/t/{world.slug}/{endpoint}", {"token": "x"},
                               HTTP_AUTHORIZATION=basic(agent.client_id, "wrong-secret"))
        assert response.status_code == 401
    (first,) = events(world.tenant, "security.client_auth_failed")  # the introspection one joins its window
    assert first.data["endpoint"] == "revoke" and first.data["client_id"] == agent.client_id
    windows = FailureWindow.objects.filter(chain=str(world.tenant.pk), action="security.client_auth_failed")
    assert sum(w.count for w in windows) == 2


def test_bad_codes_and_refresh_tokens_are_audited(world, resource, client, signed_in):
    app, _ = make_client(world.tenant, resources=[resource])
    verifier, _ = pkce_pair()
    bad_code = client.post(f"/t/{world.slug}/token", {"grant_type": "authorization_code", "code": "forged",
                                                       "redirect_uri": REDIRECT_URI, "client_id": app.client_id,
                                                       "code_verifier": verifier})
    assert bad_code.status_code == 400 and bad_code.json()["error"] == "invalid_grant"
    auth = authorize(signed_in(world.member), world.tenant, app, resource=resource.uri)
    assert exchange(client, world.tenant, app, auth, resource=resource.uri).status_code == 200
    bad_refresh = Client().post(f"/t/{world.slug}/token", {"grant_type": "refresh_token", "refresh_token": "forged",
                                                           "client_id": app.client_id}, REMOTE_ADDR="198.51.100.4")
    assert bad_refresh.status_code == 400
    grants = events(world.tenant, "security.grant_refused")
    assert [e.data["grant_type"] for e in grants] == ["authorization_code", "refresh_token"]
    assert "forged" not in str([e.data for e in grants])


def test_bad_redirect_uris_are_audited(world, resource, signed_in):
    app, _ = make_client(world.tenant, resources=[resource])
    _, challenge = pkce_pair()
    http = signed_in(world.member)
    for _ in range(3):
        response = http.get(f"/t/{world.slug}/authorize", {
            "response_type": "code", "client_id": app.client_id, "redirect_uri": "https://evil.example/cb",
            "code_challenge": challenge, "code_challenge_method": "S256", "state": "s", "resource": resource.uri})
        assert response.status_code == 400
    (event,) = events(world.tenant, "security.redirect_uri_refused")
    assert event.data["redirect_uri"] == "https://evil.example/cb" and event.data["client_id"] == app.client_id


def test_denied_api_calls_are_audited(world, client):
    from oauth.models import api_audience

    assert client.get("/api/v1/clients").status_code in (401, 403)
    assert client.get("/api/v1/clients", HTTP_AUTHORIZATION="Bearer not-a-token").status_code == 401
    anonymous = AuditEvent.objects.filter(tenant=None, action="security.api_denied")
    assert anonymous.count() == 1 and anonymous.first().data["path"] == "/api/v1/clients"  # same source, minute
    assert FailureWindow.objects.get(chain="platform", action="security.api_denied").count == 2
    agent, secret = make_agent(world.tenant, scopes=["admin:audit.read"], name="Reader")
    token = client_credentials(client, world.tenant, agent, secret, resource=api_audience()).json()["access_token"]
    denied = client.post("/api/v1/clients", {}, content_type="application/json",
                         HTTP_AUTHORIZATION=f"Bearer {token}")
    assert denied.status_code == 403
    (event,) = events(world.tenant, "security.api_denied")
    assert event.data["method"] == "POST" and event.data["status"] == 403


def test_foreign_tenant_probes_are_audited_without_naming_the_other_tenant(two_tenants, client):
    from oauth.models import ADMIN_SCOPES, api_audience

    a, b = two_tenants
    victim, _ = make_client(a.tenant, name="Alpha Secret App")
    agent, secret = make_agent(b.tenant, scopes=list(ADMIN_SCOPES), name="Bravo bot")
    token = client_credentials(client, b.tenant, agent, secret, resource=api_audience()).json()["access_token"]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    for _ in range(4):
        assert client.get(f"/api/v1/clients/{victim.client_id}", **headers).status_code == 404
    assert client.get("/api/v1/clients/nonexistent-id", **headers).status_code == 404
    (probe,) = events(b.tenant, "security.cross_tenant_attempt")
    assert probe.data["object_type"] == "oauth.application"
    assert victim.client_id not in str(probe.data) + probe.target_label and "alpha" not in str(probe.data).lower()
    summarise_failures(now=timezone.now() + LATER)
    assert summaries(b.tenant, "security.cross_tenant_attempt")[0]["count"] == 4


def test_a_client_id_of_another_tenant_at_the_token_endpoint_is_audited_in_both_chains(two_tenants, client):
    a, b = two_tenants
    victim, secret = make_agent(a.tenant, name="Alpha agent")
    for _ in range(3):
        client.post(f"/t/{b.slug}/token", {"grant_type": "client_credentials"},
                    HTTP_AUTHORIZATION=basic(victim.client_id, secret))
    assert len(events(b.tenant, "security.cross_tenant_attempt")) == 1
    assert len(events(a.tenant, "security.cross_tenant_attempt")) == 1


def test_the_summary_job_is_scheduled():
    from django.conf import settings

    from mcp_platform.celery import beat_schedule

    assert "audit.summarise_failures" in {entry["task"] for entry in beat_schedule(settings).values()}
