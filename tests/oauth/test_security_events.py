"""Suspicious requests are security events with severity: a wrong PKCE verifier, another tenant's client id."""

import pytest

from audit.models import AuditEvent
from tests.factories import make_agent, make_client, make_resource
from tests.oauth.flows import authorize, client_credentials, exchange

pytestmark = pytest.mark.django_db


def test_a_code_redeemed_with_the_wrong_verifier_is_refused_and_recorded(client, signed_in, two_tenants):
    a, _ = two_tenants
    resource = make_resource(a.tenant, "https://mcp.alpha.example/mcp")
    app, _ = make_client(a.tenant, resources=[resource])
    auth = authorize(signed_in(a.member), a.tenant, app, resource=resource.uri)
    auth.verifier = "w" * 64  # a stolen code without its verifier
    response = exchange(client, a.tenant, app, auth)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    event = AuditEvent.objects.get(tenant=a.tenant, action="security.pkce_failed")
    assert event.severity == "warning" and event.target_id == str(app.pk)


def test_another_tenants_client_id_is_recorded_in_both_chains_without_leaking_the_owner(client, two_tenants):
    a, b = two_tenants
    resource = make_resource(a.tenant, "https://mcp.alpha.example/mcp")
    agent, secret = make_agent(a.tenant, resources=[resource])
    response = client_credentials(client, b.tenant, agent, secret, resource=resource.uri)
    assert response.status_code == 401
    at_b = AuditEvent.objects.get(tenant=b.tenant, action="security.cross_tenant_attempt")
    at_a = AuditEvent.objects.get(tenant=a.tenant, action="security.cross_tenant_attempt")
    assert at_b.severity == at_a.severity == "warning"
    assert "alpha" not in str(at_b.data) and at_a.data["presented_at"] == "bravo"
    # An id that exists nowhere is an ordinary invalid_client, not a cross-tenant event.
    client.post("/t/bravo/token", {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"})
    assert AuditEvent.objects.filter(action="security.cross_tenant_attempt").count() == 2
