"""Console pages of the authorization server: clients, tokens and grants, keys, settings."""

from __future__ import annotations

import re

import pytest

from kit import crypto
from oauth.models import AccessToken, Application, Consent, KeyState, SigningKey, TenantAuthSettings

from .test_api import actions

pytestmark = pytest.mark.django_db

SECRET = re.compile(r'<code class="secret">([^<]+)</code>')


def create_form(**fields):
    data = {"name": "Build agent", "client_type": "confidential", "grant_types": ["client_credentials"],
            "redirect_uris": "", "scopes": ""}
    data.update(fields)
    return data


def test_creating_a_client_shows_its_secret_once_and_stores_a_digest(estates, signed_in):
    a, _ = estates
    console = signed_in(a.world.admin)
    response = console.post("/console/alpha/clients/", create_form(resources=[str(a.resource.pk)]))
    assert response.status_code == 201, response.content.decode()[:2000]
    assert response["Cache-Control"] == "no-store"
    secret = SECRET.search(response.content.decode()).group(1)
    client = Application.objects.unscoped().get(name="Build agent")
    assert crypto.secret_matches(secret, client.client_secret) and secret not in client.client_secret
    page = console.get(f"/console/alpha/clients/{client.pk}/")
    assert page.status_code == 200
    assert secret not in page.content.decode() and 'class="secret"' not in page.content.decode()
    assert secret not in console.get("/console/alpha/clients/").content.decode()
    assert "client.created" in actions(a.tenant)


def test_client_form_errors_are_shown_next_to_the_form(estates, signed_in):
    a, _ = estates
    response = signed_in(a.world.admin).post("/console/alpha/clients/", create_form(client_type="public"))
    assert response.status_code == 400 and "confidential" in response.content.decode()
    assert not Application.objects.unscoped().filter(name="Build agent").exists()


def test_rotating_suspending_editing_and_deleting_a_client_in_the_console(estates, signed_in):
    a, _ = estates
    console = signed_in(a.world.admin)
    rotated = console.post(f"/console/alpha/clients/{a.agent.pk}/rotate-secret")
    secret = SECRET.search(rotated.content.decode()).group(1)
    assert crypto.secret_matches(secret, Application.objects.unscoped().get(pk=a.agent.pk).client_secret)

    assert console.post(f"/console/alpha/clients/{a.client.pk}/suspend", {"reason": "stolen"}).status_code == 302
    assert Application.objects.unscoped().get(pk=a.client.pk).status == "suspended"
    assert not AccessToken.objects.unscoped().filter(application=a.client).exists()
    console.post(f"/console/alpha/clients/{a.client.pk}/reactivate")

    edited = console.post(f"/console/alpha/clients/{a.client.pk}/", {
        "name": "Renamed", "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": "http://127.0.0.1:33418/callback", "resources": [str(a.resource.pk)], "verified": "on"})
    assert edited.status_code == 302
    client = Application.objects.unscoped().get(pk=a.client.pk)
    assert (client.name, client.verified, client.status) == ("Renamed", True, "approved")

    assert console.post(f"/console/alpha/clients/{a.client.pk}/delete").status_code == 302
    assert not Application.objects.unscoped().filter(pk=a.client.pk).exists()
    assert {"client.secret_rotated", "client.suspended", "client.updated", "client.deleted"} <= set(actions(a.tenant))


def test_tokens_page_searches_and_revokes_tokens_and_grants(estates, signed_in):
    a, _ = estates
    console = signed_in(a.world.admin)
    page = console.get(f"/console/alpha/tokens/?user={a.world.member.email}").content.decode()
    token = AccessToken.objects.unscoped().get(application=a.client)
    assert f'data-token-id="{token.pk}"' in page and a.token["access_token"] not in page
    empty = console.get("/console/alpha/tokens/?user=nobody@alpha.example").content.decode()
    assert f'data-token-id="{token.pk}"' not in empty

    console.post("/console/alpha/tokens/revoke-token", {"id": token.pk})
    assert not AccessToken.objects.unscoped().filter(pk=token.pk).exists()
    consent = Consent.objects.unscoped().get(application=a.client)
    console.post("/console/alpha/tokens/revoke-grant", {"id": str(consent.pk)})
    assert not Consent.objects.unscoped().filter(pk=consent.pk).exists()
    assert console.post("/console/alpha/tokens/revoke-matching", {"client": a.client.client_id}).status_code == 302
    assert {"token.revoked", "consent.revoked", "tokens.revoked"} <= set(actions(a.tenant))


def test_keys_page_rotates_now_and_removes_a_retired_key(estates, signed_in):
    a, _ = estates
    console = signed_in(a.world.admin)
    old = SigningKey.objects.unscoped().get(tenant=a.tenant, state=KeyState.ACTIVE)
    assert old.kid in console.get("/console/alpha/keys/").content.decode()
    console.post("/console/alpha/keys/", {"alg": "ES256"})
    new = SigningKey.objects.unscoped().get(tenant=a.tenant, state=KeyState.ACTIVE)
    assert new.alg == "ES256" and new.kid != old.kid
    console.post("/console/alpha/keys/", {"remove": old.kid})
    assert SigningKey.objects.unscoped().get(pk=old.pk).state == KeyState.REMOVED
    bad = console.post("/console/alpha/keys/", {"alg": "HS256"}, follow=True)
    assert "algorithm must be one of" in bad.content.decode()


def test_authorization_settings_page_saves_and_validates(estates, signed_in):
    a, _ = estates
    console = signed_in(a.world.admin)
    saved = console.post("/console/alpha/authorization/", {"access_token_lifetime": 300,
                                                           "refresh_token_lifetime": 86400, "signing_alg": "RS256"})
    assert saved.status_code == 302
    assert TenantAuthSettings.objects.unscoped().get(tenant=a.tenant).access_token_lifetime == 300
    refused = console.post("/console/alpha/authorization/", {"access_token_lifetime": 5,
                                                             "refresh_token_lifetime": 86400, "signing_alg": "RS256"})
    assert refused.status_code == 400 and "60" in refused.content.decode()


def test_auditors_see_the_pages_without_forms_and_cannot_post(estates, signed_in):
    a, _ = estates
    auditor = signed_in(a.world.auditor)
    for path in ("clients/", f"clients/{a.client.pk}/", "tokens/", "keys/", "authorization/"):
        page = auditor.get(f"/console/alpha/{path}")
        assert page.status_code == 200, path
        assert 'method="post" class="card"' not in page.content.decode(), path
    assert auditor.post(f"/console/alpha/clients/{a.client.pk}/suspend").status_code == 403
    assert auditor.post("/console/alpha/keys/", {"alg": "RS256"}).status_code == 403


def test_another_tenants_admin_gets_404_for_every_console_page_and_object(estates, signed_in):
    a, b = estates
    console = signed_in(b.world.admin)
    for path in ("clients/", f"clients/{a.client.pk}/", "tokens/", "keys/", "authorization/"):
        assert console.get(f"/console/alpha/{path}").status_code == 404, path
    # B's own console with A's object ids.
    token = AccessToken.objects.unscoped().get(application=a.client)
    consent = Consent.objects.unscoped().get(application=a.client)
    old = SigningKey.objects.unscoped().get(tenant=a.tenant, state=KeyState.ACTIVE)
    calls = [("get", f"clients/{a.client.pk}/", None), ("post", f"clients/{a.client.pk}/", {"name": "x"}),
             ("post", f"clients/{a.agent.pk}/rotate-secret", None), ("post", f"clients/{a.client.pk}/suspend", None),
             ("post", f"clients/{a.client.pk}/delete", None), ("get", f"tokens/?client={a.client.client_id}", None),
             ("post", "tokens/revoke-token", {"id": token.pk}), ("post", "tokens/revoke-grant", {"id": consent.pk}),
             ("post", "tokens/revoke-matching", {"client": a.client.client_id})]
    for method, path, data in calls:
        response = getattr(console, method)(f"/console/bravo/{path}", data or {})
        assert response.status_code == 404, (method, path, response.status_code)
        assert a.client.client_id not in response.content.decode()
    console.post("/console/bravo/keys/", {"remove": old.kid})
    assert SigningKey.objects.unscoped().get(pk=old.pk).state == KeyState.ACTIVE
    for path in ("clients/", "tokens/", "keys/"):
        page = console.get(f"/console/bravo/{path}").content.decode()
        assert a.client.client_id not in page and a.world.member.email not in page and old.kid not in page, path
    assert AccessToken.objects.unscoped().filter(pk=token.pk).exists()
    assert Application.objects.unscoped().get(pk=a.client.pk).status == "approved"
