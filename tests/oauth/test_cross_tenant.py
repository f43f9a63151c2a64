"""Tenant A's client ids, codes, refresh tokens and access tokens are worth nothing at tenant B."""

import jwt
import pytest

from oauth.models import AccessToken
from oauth.signing import keys
from tests.factories import add_member, make_agent, make_client, make_resource
from tests.oauth.flows import authorize, authorize_url, basic, client_credentials, exchange, pkce_pair


@pytest.fixture
def pair(two_tenants, signed_in):
    alpha, bravo = two_tenants
    res_a = make_resource(alpha.tenant, "https://mcp.alpha.example/mcp", name="a")
    res_b = make_resource(bravo.tenant, "https://mcp.bravo.example/mcp", name="b")
    client_a, _ = make_client(alpha.tenant, resources=[res_a], name="App A")
    agent_b, secret_b = make_agent(bravo.tenant, resources=[res_b], name="RS B")
    return alpha, bravo, res_a, res_b, client_a, agent_b, secret_b


@pytest.mark.django_db
def test_tenant_a_client_id_does_not_exist_at_tenant_b(client, pair):
    alpha, bravo, res_a, res_b, client_a, *_ = pair
    verifier, challenge = pkce_pair()
    response = client.get(authorize_url(bravo.tenant, client_a, resource=res_b.uri, challenge=challenge))
    assert response.status_code == 400 and b"not registered" in response.content
    agent_a, secret_a = make_agent(alpha.tenant, resources=[res_a])
    at_b = client_credentials(client, bravo.tenant, agent_a, secret_a, resource=res_b.uri)
    assert at_b.status_code == 401 and at_b.json()["error"] == "invalid_client"


@pytest.mark.django_db
def test_tenant_a_code_and_refresh_token_are_refused_at_tenant_b(client, signed_in, pair):
    alpha, bravo, res_a, res_b, client_a, *_ = pair
    http = signed_in(alpha.member)
    auth = authorize(http, alpha.tenant, client_a, resource=res_a.uri)
    # The code at B's token endpoint: the client does not even exist there.
    at_b = client.post(f"/t/{bravo.slug}/token", {"grant_type": "authorization_code", "code": auth.code,
                                                  "client_id": client_a.client_id, "code_verifier": auth.verifier,
                                                  "redirect_uri": "http://127.0.0.1:33418/callback"})
    assert at_b.status_code == 401
    body = exchange(http, alpha.tenant, client_a, auth).json()  # and it still works at A, once
    assert "access_token" in body
    # B's own client presenting A's refresh token.
    client_b, _ = make_client(bravo.tenant, resources=[res_b], name="App B")
    refresh_at_b = client.post(f"/t/{bravo.slug}/token", {"grant_type": "refresh_token",
                                                          "refresh_token": body["refresh_token"],
                                                          "client_id": client_b.client_id})
    assert refresh_at_b.status_code == 400 and refresh_at_b.json()["error"] == "invalid_grant"
    # ...and A's refresh token was not revoked as a side effect.
    assert client.post(f"/t/{alpha.slug}/token", {"grant_type": "refresh_token",
                                                  "refresh_token": body["refresh_token"],
                                                  "client_id": client_a.client_id}).status_code == 200


@pytest.mark.django_db
def test_tenant_a_access_token_is_inactive_at_b_and_unusable_there(client, signed_in, pair):
    alpha, bravo, res_a, res_b, client_a, agent_b, secret_b = pair
    http = signed_in(alpha.member)
    body = exchange(http, alpha.tenant, client_a, authorize(http, alpha.tenant, client_a, resource=res_a.uri,
                                                            scope="openid tools:read")).json()
    token = body["access_token"]
    introspected = client.post(f"/t/{bravo.slug}/introspect", {"token": token},
                               HTTP_AUTHORIZATION=basic(agent_b.client_id, secret_b))
    assert introspected.json() == {"active": False}
    assert client.get(f"/t/{bravo.slug}/userinfo", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    client.post(f"/t/{bravo.slug}/revoke", {"token": token, "client_id": agent_b.client_id},
                HTTP_AUTHORIZATION=basic(agent_b.client_id, secret_b))
    assert AccessToken.objects.unscoped().filter(tenant=alpha.tenant).count() == 1  # untouched


@pytest.mark.django_db
def test_tenant_b_jwks_does_not_verify_tenant_a_tokens(client, pair):
    alpha, bravo, res_a, *_ = pair
    token = keys.sign(alpha.tenant, {"iss": alpha.tenant.issuer, "aud": res_a.uri, "sub": "x"}, typ="at+jwt")
    kid = jwt.get_unverified_header(token)["kid"]
    b_keys = client.get(f"/t/{bravo.slug}/jwks.json").json()["keys"]
    assert kid not in {k["kid"] for k in b_keys}
    for key in b_keys:
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(token, jwt.PyJWK(key), algorithms=[key["alg"]], options={"verify_aud": False})
    with pytest.raises(jwt.InvalidTokenError):
        keys.verify(bravo.tenant, token)


@pytest.mark.django_db
def test_a_resource_of_tenant_a_is_invalid_target_at_tenant_b(client, pair):
    alpha, bravo, res_a, res_b, client_a, agent_b, secret_b = pair
    response = client_credentials(client, bravo.tenant, agent_b, secret_b, resource=res_a.uri)
    assert response.json()["error"] == "invalid_target"


@pytest.mark.django_db
def test_services_refuse_another_tenants_resource(pair):
    from oauth.errors import OAuthServiceError

    alpha, bravo, res_a, *_ = pair
    with pytest.raises(OAuthServiceError):
        make_client(bravo.tenant, resources=[res_a])


@pytest.mark.django_db
def test_connected_apps_of_tenant_a_cannot_be_revoked_from_tenant_b(signed_in, pair):
    alpha, bravo, res_a, res_b, client_a, *_ = pair
    from oauth.models import Consent

    http = signed_in(alpha.member)
    authorize(http, alpha.tenant, client_a, resource=res_a.uri)
    consent = Consent.objects.for_tenant(alpha.tenant).get()
    add_member(bravo.tenant, alpha.member, "member")
    response = http.post(f"/t/{bravo.slug}/account/apps/{consent.pk}/revoke")
    assert response.status_code == 404
    assert Consent.objects.for_tenant(alpha.tenant).filter(pk=consent.pk).exists()
