"""The admin API of the authorization server: clients, tokens and grants, keys, settings.

Called as a tenant admin's console session and with the platform's own client_credentials tokens."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from kit import crypto
from oauth.models import AccessToken, Application, Consent, KeyState, RefreshToken, SigningKey, TenantAuthSettings
from tests.oauth.flows import basic, client_credentials

pytestmark = pytest.mark.django_db


def actions(tenant) -> list[str]:
    return list(AuditEvent.objects.filter(chain=str(tenant.pk)).order_by("seq").values_list("action", flat=True))


# --- clients --------------------------------------------------------------------------------------

def test_admin_pre_registers_a_confidential_client_whose_secret_is_shown_once(estates, session_api, client):
    a, _ = estates
    api = session_api(a.world.admin, "alpha")
    response = api.post("clients", {"name": "Build agent", "client_type": "confidential",
                                    "grant_types": ["client_credentials"], "resources": [a.resource.uri],
                                    "scopes": ["tools:read"]})
    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["client_secret"]
    assert len(secret) >= 43 and body["allowed_resources"] == [a.resource.uri]
    assert body["token_endpoint_auth_method"] == "client_secret_basic"

    stored = Application.objects.unscoped().get(client_id=body["client_id"])
    assert secret not in stored.client_secret and crypto.secret_matches(secret, stored.client_secret)
    again = api.get(f"clients/{body['client_id']}").json()
    assert again["client_secret"] is None and secret not in str(api.get("clients").content)
    assert "client.created" in actions(a.tenant)

    token = client_credentials(client, a.tenant, stored, secret, resource=a.resource.uri)
    assert token.status_code == 200 and token.json()["scope"] == "tools:read"


def test_public_client_has_no_secret_and_bad_shapes_are_explained(estates, session_api):
    a, _ = estates
    api = session_api(a.world.admin, "alpha")
    created = api.post("clients", {"name": "Desktop", "client_type": "public",
                                   "redirect_uris": ["http://127.0.0.1:9/cb"], "resources": ["files"]})
    assert created.status_code == 201 and created.json()["client_secret"] is None
    assert created.json()["grant_types"] == ["authorization_code", "refresh_token"]

    refused = api.post("clients", {"name": "Bad", "client_type": "public", "grant_types": ["client_credentials"]})
    assert refused.status_code == 400
    assert "confidential" in refused.json()["error"]["message"]
    unknown = api.post("clients", {"name": "X", "client_type": "public", "redirect_uris": ["http://127.0.0.1/cb"],
                                   "resources": ["https://not-registered.example/mcp"]})
    assert unknown.status_code == 400 and "not registered" in unknown.json()["error"]["message"]
    implicit = api.post("clients", {"name": "Y", "client_type": "public", "grant_types": ["implicit"]})
    assert implicit.status_code == 400 and "grant_types" in implicit.json()["error"]["fields"]


def test_confidential_clients_may_prefer_client_secret_post_or_private_key_jwt(estates, session_api):
    import json

    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    a, _ = estates
    api = session_api(a.world.admin, "alpha")
    post = api.post("clients", {"name": "Poster", "client_type": "confidential",
                                "grant_types": ["client_credentials"], "resources": ["files"],
                                "token_endpoint_auth_method": "client_secret_post"})
    assert post.status_code == 201 and post.json()["token_endpoint_auth_method"] == "client_secret_post"
    assert post.json()["client_secret"]

    public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()))
    keyed = api.post("clients", {"name": "Keyed agent", "client_type": "confidential",
                                 "grant_types": ["client_credentials"], "resources": ["files"],
                                 "jwks": {"keys": [{**public_jwk, "kid": "k1"}]}})
    assert keyed.status_code == 201, keyed.content
    assert keyed.json()["token_endpoint_auth_method"] == "private_key_jwt" and keyed.json()["client_secret"] is None
    assert api.post(f"clients/{keyed.json()['client_id']}/rotate-secret").status_code == 400
    no_keys = api.post("clients", {"name": "Keyless", "client_type": "confidential",
                                   "grant_types": ["client_credentials"],
                                   "token_endpoint_auth_method": "private_key_jwt"})
    assert no_keys.status_code == 400 and "jwks" in no_keys.json()["error"]["message"]


def test_rotating_a_secret_shows_the_new_one_once_and_the_old_one_stops_working(estates, session_api, client):
    a, _ = estates
    api = session_api(a.world.admin, "alpha")
    response = api.post(f"clients/{a.agent.client_id}/rotate-secret")
    assert response.status_code == 200
    new_secret = response.json()["client_secret"]
    assert new_secret != a.agent_secret

    old = client.post("/t/alpha/token", {"grant_type": "client_credentials", "scope": "admin:clients.read"},
                      HTTP_AUTHORIZATION=basic(a.agent.client_id, a.agent_secret))
    assert old.status_code == 401 and old.json()["error"] == "invalid_client"
    new = client.post("/t/alpha/token", {"grant_type": "client_credentials", "scope": "admin:clients.read"},
                      HTTP_AUTHORIZATION=basic(a.agent.client_id, new_secret))
    assert new.status_code == 200
    assert "client.secret_rotated" in actions(a.tenant)
    public = api.post(f"clients/{a.client.client_id}/rotate-secret")
    assert public.status_code == 400 and "does not authenticate with a secret" in public.json()["error"]["message"]


def test_suspending_a_client_revokes_its_tokens_and_reactivating_lets_it_back(estates, session_api, client):
    a, _ = estates
    api = session_api(a.world.admin, "alpha")
    assert AccessToken.objects.unscoped().filter(application=a.client).exists()
    response = api.post(f"clients/{a.client.client_id}/suspend", {"reason": "lost laptop"})
    assert response.status_code == 200 and response.json()["status"] == "suspended"
    assert not AccessToken.objects.unscoped().filter(application=a.client).exists()
    assert not RefreshToken.objects.unscoped().filter(application=a.client, revoked__isnull=True).exists()
    refreshed = client.post("/t/alpha/token", {"grant_type": "refresh_token", "client_id": a.client.client_id,
                                               "refresh_token": a.token["refresh_token"]})
    assert refreshed.status_code in (400, 401)

    assert api.post(f"clients/{a.client.client_id}/reactivate").json()["status"] == "approved"
    assert {"client.suspended", "client.approved"} <= set(actions(a.tenant))


def test_updating_and_deleting_a_client(estates, session_api):
    a, _ = estates
    api = session_api(a.world.admin, "alpha")
    response = api.patch(f"clients/{a.client.client_id}", {"name": "Alpha Desktop 2", "verified": True,
                                                            "client_uri": "https://desktop.example"})
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Alpha Desktop 2" and response.json()["verified"] is True
    cannot = api.patch(f"clients/{a.client.client_id}", {"client_type": "confidential"})
    # Read-only after creation: refused with a field error, not ignored (tests/mcp_platform/test_api_contract.py).
    assert cannot.status_code == 400 and "read-only" in cannot.json()["error"]["fields"]["client_type"][0]

    assert api.delete(f"clients/{a.client.client_id}").status_code == 204
    assert api.get(f"clients/{a.client.client_id}").status_code == 404
    assert not AccessToken.objects.unscoped().filter(jti__isnull=False, application_id=a.client.pk).exists()
    assert {"client.updated", "client.deleted"} <= set(actions(a.tenant))


# --- tokens and grants ----------------------------------------------------------------------------

def test_tokens_are_searchable_by_user_client_and_resource_and_show_no_token_values(estates, session_api):
    a, _ = estates
    api = session_api(a.world.admin, "alpha")
    listed = api.get("tokens").json()["results"]
    assert [t["client_id"] for t in listed] == [a.client.client_id]
    row = listed[0]
    assert row["user"] == a.world.member.email and row["resource"] == a.resource.uri
    assert a.token["access_token"] not in str(listed) and "token_checksum" not in row

    for query, expected in ((f"user={a.world.member.email}", 1), ("user=nobody@alpha.example", 0),
                            (f"client_id={a.client.client_id}", 1), (f"client_id={a.agent.client_id}", 0),
                            (f"resource={a.resource.uri}", 1), ("resource=https://other.example/mcp", 0),
                            ("client_id=does-not-exist", 0)):
        assert len(api.get(f"tokens?{query}").json()["results"]) == expected, query


def test_revoking_one_token_and_all_tokens_of_a_user(estates, session_api, client):
    from django.test import Client

    from tests.oauth.flows import authorize, exchange

    a, _ = estates
    api = session_api(a.world.admin, "alpha")
    token_id = api.get("tokens").json()["results"][0]["id"]
    assert api.delete(f"tokens/{token_id}").status_code == 204
    assert api.get("tokens").json()["results"] == []
    introspected = client.post("/t/alpha/introspect", {"token": a.token["access_token"]},
                               HTTP_AUTHORIZATION=basic(a.agent.client_id, a.agent_secret))
    assert introspected.json() == {"active": False}

    browser = Client()  # the member's own user agent, beside the admin's session
    browser.force_login(a.world.member, backend="identity.backends.EmailBackend")
    exchange(browser, a.tenant, a.client, authorize(browser, a.tenant, a.client, resource=a.resource.uri),
             resource=a.resource.uri)
    response = api.post("tokens/revoke", {"user": a.world.member.email})
    assert response.status_code == 200 and response.json()["revoked"] >= 1
    assert not AccessToken.objects.unscoped().filter(user=a.world.member).exists()
    assert api.post("tokens/revoke", {}).status_code == 400
    assert {"token.revoked", "tokens.revoked"} <= set(actions(a.tenant))


def test_grants_are_listed_and_revoking_one_revokes_its_tokens(estates, session_api):
    a, _ = estates
    api = session_api(a.world.admin, "alpha")
    grants = api.get(f"grants?user={a.world.member.email}").json()["results"]
    assert len(grants) == 1 and grants[0]["client_id"] == a.client.client_id
    assert grants[0]["resource"] == a.resource.uri and "tools:read" in grants[0]["scopes"]
    response = api.delete(f"grants/{grants[0]['id']}")
    assert response.status_code == 200 and response.json()["revoked"] >= 1
    assert not Consent.objects.unscoped().filter(user=a.world.member).exists()
    assert not AccessToken.objects.unscoped().filter(user=a.world.member).exists()
    assert "consent.revoked" in actions(a.tenant)


# --- keys and settings ----------------------------------------------------------------------------

def test_rotating_keys_now_publishes_the_new_key_and_keeps_the_old_one_in_the_jwks(estates, session_api, client):
    a, _ = estates
    api = session_api(a.world.admin, "alpha")
    before = {k["kid"]: k["state"] for k in api.get("keys").json()}
    (old_active,) = [kid for kid, state in before.items() if state == "active"]
    rotated = api.post("keys/rotate", {"alg": "ES256"})
    assert rotated.status_code == 200 and rotated.json()["alg"] == "ES256" and rotated.json()["state"] == "active"
    after = {k["kid"]: k["state"] for k in api.get("keys").json()}
    assert after[old_active] == "retired" and after[rotated.json()["kid"]] == "active"
    published = {k["kid"] for k in client.get("/t/alpha/jwks.json").json()["keys"]}
    assert {old_active, rotated.json()["kid"]} <= published
    assert "private_key" not in str(api.get("keys").content)

    removed = api.post(f"keys/{old_active}/remove")
    assert removed.status_code == 200 and removed.json()["state"] == "removed"
    assert old_active not in {k["kid"] for k in client.get("/t/alpha/jwks.json").json()["keys"]}
    refused = api.post(f"keys/{rotated.json()['kid']}/remove")
    assert refused.status_code == 400 and "rotate" in refused.json()["error"]["message"]
    assert {"key.rotated", "key.removed"} <= set(actions(a.tenant))


def test_authorization_settings_are_read_changed_and_validated(estates, session_api, client):
    a, _ = estates
    api = session_api(a.world.admin, "alpha")
    assert api.get("authorization-settings").json()["access_token_lifetime"] == 600
    changed = api.patch("authorization-settings", {"access_token_lifetime": 120, "signing_alg": "ES256"})
    assert changed.status_code == 200 and changed.json()["access_token_lifetime"] == 120
    token = client_credentials(client, a.tenant, a.agent, a.agent_secret, scope="admin:keys.read").json()
    assert token["expires_in"] == 120
    too_short = api.patch("authorization-settings", {"access_token_lifetime": 5})
    assert too_short.status_code == 400 and "access_token_lifetime" in too_short.json()["error"]["fields"]
    assert "oauth_settings.updated" in actions(a.tenant)


# --- who may do what ------------------------------------------------------------------------------

def test_auditors_read_but_do_not_write_and_members_see_nothing(estates, session_api):
    a, _ = estates
    auditor = session_api(a.world.auditor, "alpha")
    assert auditor.get("clients").status_code == 200
    assert auditor.post(f"clients/{a.client.client_id}/suspend").status_code == 403
    assert auditor.post("keys/rotate").status_code == 403
    member = session_api(a.world.member, "alpha")
    assert member.get("clients").status_code == 404


def test_a_token_needs_the_areas_scope(estates, token_api):
    a, _ = estates
    reader = token_api(a, "admin:clients.read")
    assert reader.get("clients").status_code == 200
    denied = reader.post(f"clients/{a.client.client_id}/suspend")
    assert denied.status_code == 403 and "admin:clients" in denied.json()["error"]["message"]
    assert reader.get("tokens").status_code == 403
    writer = token_api(a, "admin:tokens")
    assert writer.get("grants").status_code == 200
    assert writer.post("tokens/revoke", {"client_id": "x"}).status_code == 200


def test_a_token_acts_as_its_client_in_the_audit_log(estates, token_api):
    a, _ = estates
    api = token_api(a, "admin:clients")
    assert api.post(f"clients/{a.client.client_id}/suspend", {"reason": "by bot"}).status_code == 200
    event = AuditEvent.objects.filter(chain=str(a.tenant.pk), action="client.suspended").get()
    assert (event.actor_type, event.actor_id) == ("client", a.agent.client_id)


def test_bad_bearer_tokens_get_a_401_challenge_and_resource_tokens_are_not_api_tokens(estates, client):
    a, _ = estates
    for token in ("garbage", a.token["access_token"]):
        response = client.get("/api/v1/clients", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 401, token
        assert response["WWW-Authenticate"].startswith("Bearer ")
        assert response.json()["error"]["code"] == "not_authenticated"
    assert client.get("/api/v1/clients").status_code == 403  # no credential at all: the session API's answer


def test_revoked_and_suspended_management_clients_lose_api_access(estates, token_api, session_api):
    a, _ = estates
    api = token_api(a, "admin:clients.read")
    assert api.get("clients").status_code == 200
    session_api(a.world.admin, "alpha").post(f"clients/{a.agent.client_id}/suspend")
    assert api.get("clients").status_code == 401


# --- another tenant's credentials and ids ---------------------------------------------------------

def _foreign_calls(a):
    """Every object endpoint with tenant A's ids."""
    token_id = AccessToken.objects.unscoped().filter(application=a.client).values_list("pk", flat=True).get()
    consent_id = Consent.objects.unscoped().filter(application=a.client).values_list("pk", flat=True).get()
    kid = SigningKey.objects.unscoped().filter(tenant=a.tenant, state=KeyState.ACTIVE).values_list(
        "kid", flat=True).get()
    cid = a.client.client_id
    return [("get", f"clients/{cid}", None), ("patch", f"clients/{cid}", {"name": "pwned"}),
            ("post", f"clients/{cid}/rotate-secret", None), ("post", f"clients/{cid}/suspend", {}),
            ("post", f"clients/{cid}/reactivate", None), ("delete", f"clients/{cid}", None),
            ("get", f"tokens/{token_id}", None), ("delete", f"tokens/{token_id}", None),
            ("get", f"grants/{consent_id}", None), ("delete", f"grants/{consent_id}", None),
            ("get", f"keys/{kid}", None), ("post", f"keys/{kid}/remove", None)]


@pytest.mark.parametrize("credential", ["session", "token"])
def test_another_tenants_admin_gets_404_for_every_object_of_this_tenant(estates, session_api, token_api,
                                                                         credential):
    a, b = estates
    api = session_api(b.world.admin, "bravo") if credential == "session" else token_api(b)
    foreign_kid = SigningKey.objects.unscoped().get(tenant=a.tenant, state=KeyState.ACTIVE).kid
    for method, path, data in _foreign_calls(a):
        response = getattr(api, method)(path, data)
        assert response.status_code == 404, (method, path, response.status_code)
        body = response.content.decode()
        assert a.client.client_id not in body and "Alpha" not in body, (method, path)
    # Nothing of A changed, and B's lists and filters show nothing of A.
    assert Application.objects.unscoped().get(pk=a.client.pk).status == "approved"
    assert AccessToken.objects.unscoped().filter(application=a.client).exists()
    for path in ("clients", "tokens", f"tokens?client_id={a.client.client_id}", "grants",
                 f"grants?user={a.world.member.email}", "keys"):
        body = api.get(path).content.decode()
        assert a.client.client_id not in body and a.world.member.email not in body and "alpha" not in body, path
    revoked = api.post("tokens/revoke", {"client_id": a.client.client_id})
    assert revoked.json() == {"revoked": 0}
    api.post("tokens/revoke", {"resource": a.resource.uri})
    assert AccessToken.objects.unscoped().filter(application=a.client).exists()
    # Settings and key rotation have no ids: they act on the caller's own tenant only.
    assert api.patch("authorization-settings", {"access_token_lifetime": 90}).json()["access_token_lifetime"] == 90
    assert api.post("keys/rotate").status_code == 200
    assert SigningKey.objects.unscoped().filter(tenant=a.tenant, state=KeyState.ACTIVE).get().kid == foreign_kid
    assert not TenantAuthSettings.objects.unscoped().filter(tenant=a.tenant, access_token_lifetime=90).exists()


def test_naming_another_tenant_with_x_tenant_is_refused(estates, signed_in):
    a, b = estates
    response = signed_in(b.world.admin).get(f"/api/v1/clients/{a.client.client_id}", HTTP_X_TENANT="alpha")
    assert response.status_code == 404 and a.client.client_id not in response.content.decode()


# --- cost -----------------------------------------------------------------------------------------

def test_list_endpoints_cost_a_constant_number_of_queries_as_rows_grow(estates, token_api):
    """Clients, tokens, grants and keys lists are prefetched: more rows, no more queries."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from oauth.grants.services import consent_grant
    from oauth.signing.services import key_rotate
    from tests.factories import ACTOR, make_agent

    a, _ = estates
    api = token_api(a, "admin:clients.read admin:tokens.read admin:keys.read")
    paths = ("clients", "tokens", "grants", "keys")

    def cost(path):
        with CaptureQueriesContext(connection) as queries:
            assert api.get(path).status_code == 200
        return len(queries)

    before = {path: cost(path) for path in paths}
    for n in range(3):
        agent, secret = make_agent(a.tenant, resources=[a.resource], name=f"Agent {n}")
        assert client_credentials(Client(), a.tenant, agent, secret, resource=a.resource.uri).status_code == 200
        consent_grant(tenant=a.tenant, user=a.world.auditor, client=agent, audience=a.resource.uri,
                      scopes=["tools:read"])
    key_rotate(tenant=a.tenant, actor=ACTOR)
    after = {path: cost(path) for path in paths}
    assert after == before, (before, after)
    # The rows did grow: the estate's token, this API token and three more; one grant and three more.
    assert [len(api.get(p).json()["results"]) for p in ("tokens", "grants")] == [5, 4]
