"""Dogfooding, end to end over HTTP: a tenant admin creates a management client with admin scopes in the
console, gets a client_credentials token from the tenant's token endpoint for the platform API audience,
and calls the REST API with it. Another tenant's objects stay out of reach."""

from __future__ import annotations

import re

import httpx
import jwt
import pytest

from oauth.models import api_audience

from .peers import UserAgent

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_creates_a_management_client_in_the_console_and_its_token_calls_the_rest_api(
        live_public_url, two_tenants, no_persistent_db_connections):
    from tests.factories import make_agent

    a, b = two_tenants
    bravo_agent, _ = make_agent(b.tenant, scopes=["admin:clients"], name="Bravo bot")
    admin = UserAgent(live_public_url, "alpha").sign_in(a.admin.email, console=True)
    created = admin.submit("/console/alpha/clients/", {
        "name": "Ops bot", "client_type": "confidential", "grant_types": ["client_credentials"],
        "admin_scopes": ["admin:members.read", "admin:clients"]})
    assert created.status_code == 201, created.text[:2000]
    client_id = re.search(r'<code class="client-id">([^<]+)</code>', created.text).group(1)
    secret = re.search(r'<code class="secret">([^<]+)</code>', created.text).group(1)
    assert f"resource={api_audience()}" in created.text  # the page shows how to get a token

    answer = httpx.post(f"{a.tenant.issuer}/token", auth=(client_id, secret),
                        data={"grant_type": "client_credentials", "resource": api_audience()})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    token = answer.json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == api_audience() and claims["iss"] == a.tenant.issuer and claims["client_id"] == client_id
    assert set(answer.json()["scope"].split()) == {"admin:members.read", "admin:clients"}

    api = httpx.Client(base_url=f"{live_public_url}/api/v1", headers={"Authorization": f"Bearer {token}"})
    members = api.get("/members")
    assert members.status_code == 200, members.text
    emails = {m["email"] for m in members.json()["results"]}
    assert a.member.email in emails and not any(e.endswith("@bravo.example") for e in emails)
    assert "Ops bot" in {c["name"] for c in api.get("/clients").json()["results"]}
    assert api.get(f"/clients/{bravo_agent.client_id}").status_code == 404
    refused = api.post("/keys/rotate", json={})
    assert refused.status_code == 403 and "admin:keys" in refused.json()["error"]["message"]
    assert api.post("/members", json={"email": "x@alpha.example", "role": "member"}).status_code == 403

    # Revoking the management client's tokens in the console ends its API access at once.
    revoke = admin.submit(f"/console/alpha/tokens/?client={client_id}", {"client": client_id},
                          action="/console/alpha/tokens/revoke-matching")
    assert revoke.status_code == 302
    assert api.get("/members").status_code == 401
