"""RFC 7009 revocation, RFC 7662 introspection, private_key_jwt client authentication (RFC 7523)."""

import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto import jwk

from audit.models import AuditEvent
from oauth.models import AccessToken, RefreshToken
from tests.factories import make_agent, make_client
from tests.oauth.flows import authorize, basic, client_credentials, exchange


@pytest.fixture
def resource_server(world, resource):
    """A confidential client standing for the MCP server that introspects tokens."""
    return make_agent(world.tenant, resources=[resource], name="files MCP server")


@pytest.mark.django_db
def test_introspection_describes_a_live_token(client, world, resource, public_client, member_http, resource_server):
    auth = authorize(member_http, world.tenant, public_client, resource=resource.uri)
    body = exchange(member_http, world.tenant, public_client, auth).json()
    rs, rs_secret = resource_server
    answer = client.post("/t/acme/introspect", {"token": body["access_token"]},
                         HTTP_AUTHORIZATION=basic(rs.client_id, rs_secret))
    assert answer.status_code == 200 and answer["Cache-Control"] == "no-store"
    data = answer.json()
    assert data["active"] is True and data["iss"] == world.tenant.issuer and data["aud"] == resource.uri
    assert data["sub"] == str(world.member.pk) and data["client_id"] == public_client.client_id
    assert data["scope"] == "tools:read" and data["token_type"] == "Bearer"
    assert data["exp"] > data["iat"] > 0
    refresh_data = client.post("/t/acme/introspect", {"token": body["refresh_token"]},
                               HTTP_AUTHORIZATION=basic(rs.client_id, rs_secret)).json()
    assert refresh_data["active"] is True and refresh_data["token_type"] == "refresh_token"
    unknown = client.post("/t/acme/introspect", {"token": "nope"}, HTTP_AUTHORIZATION=basic(rs.client_id, rs_secret))
    assert unknown.json() == {"active": False}


@pytest.mark.django_db
def test_introspection_requires_client_authentication(client, world, public_client):
    assert client.post("/t/acme/introspect", {"token": "x"}).status_code == 401
    as_public = client.post("/t/acme/introspect", {"token": "x", "client_id": public_client.client_id})
    assert as_public.status_code == 401 and as_public.json()["error"] == "invalid_client"


@pytest.mark.django_db
def test_revocation_revokes_the_access_token_and_its_refresh_token(client, world, resource, public_client,
                                                                  member_http, resource_server):
    auth = authorize(member_http, world.tenant, public_client, resource=resource.uri)
    body = exchange(member_http, world.tenant, public_client, auth).json()
    response = client.post("/t/acme/revoke", {"token": body["access_token"], "client_id": public_client.client_id})
    assert response.status_code == 200
    assert not AccessToken.objects.for_tenant(world.tenant).exists()
    assert RefreshToken.objects.for_tenant(world.tenant).get().revoked is not None
    rs, rs_secret = resource_server
    assert client.post("/t/acme/introspect", {"token": body["access_token"]},
                       HTTP_AUTHORIZATION=basic(rs.client_id, rs_secret)).json() == {"active": False}
    assert AuditEvent.objects.filter(action="token.revoked").exists()
    # RFC 7009 §2.2: an unknown or already revoked token is not an error.
    again = client.post("/t/acme/revoke", {"token": body["access_token"], "client_id": public_client.client_id})
    assert again.status_code == 200


@pytest.mark.django_db
def test_a_client_cannot_revoke_another_clients_token(client, world, resource, public_client, member_http):
    auth = authorize(member_http, world.tenant, public_client, resource=resource.uri)
    body = exchange(member_http, world.tenant, public_client, auth).json()
    other, _ = make_client(world.tenant, resources=[resource], name="Other app")
    assert client.post("/t/acme/revoke", {"token": body["refresh_token"], "token_type_hint": "refresh_token",
                                          "client_id": other.client_id}).status_code == 200
    assert RefreshToken.objects.for_tenant(world.tenant).get().revoked is None
    assert AccessToken.objects.for_tenant(world.tenant).exists()


@pytest.mark.django_db
def test_revoking_a_refresh_token_stops_refreshing(client, world, resource, public_client, member_http):
    auth = authorize(member_http, world.tenant, public_client, resource=resource.uri)
    body = exchange(member_http, world.tenant, public_client, auth).json()
    client.post("/t/acme/revoke", {"token": body["refresh_token"], "token_type_hint": "refresh_token",
                                   "client_id": public_client.client_id})
    again = client.post("/t/acme/token", {"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                          "client_id": public_client.client_id})
    assert again.json()["error"] == "invalid_grant"


def _keypair():
    private = ec.generate_private_key(ec.SECP256R1())
    public = jwk.JWK.from_pyca(private.public_key()).export_public(as_dict=True)
    public.update(kid="k1", alg="ES256", use="sig")
    return private, {"keys": [public]}


def _assertion(private, client_id, audience, jti=None):
    now = int(time.time())
    return jwt.encode({"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 60,
                       "jti": jti or uuid.uuid4().hex}, private, algorithm="ES256", headers={"kid": "k1"})


@pytest.mark.django_db
def test_private_key_jwt_authenticates_once_per_assertion(client, world, resource):
    private, jwks = _keypair()
    agent, secret = make_client(world.tenant, resources=[resource], public=False, grant_types=["client_credentials"],
                                redirect_uris=(), jwks=jwks, name="Key agent")
    assert secret is None and agent.token_endpoint_auth_method == "private_key_jwt"
    assertion = _assertion(private, agent.client_id, f"{world.tenant.issuer}/token")
    form = {"grant_type": "client_credentials", "resource": resource.uri,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}
    ok = client.post("/t/acme/token", form)
    assert ok.status_code == 200, ok.content
    replayed = client.post("/t/acme/token", form)
    assert replayed.status_code == 401 and replayed.json()["error"] == "invalid_client"
    stranger, _ = _keypair()
    forged = dict(form, client_assertion=_assertion(stranger, agent.client_id, world.tenant.issuer))
    assert client.post("/t/acme/token", forged).status_code == 401
    wrong_audience = dict(form, client_assertion=_assertion(private, agent.client_id, "https://elsewhere.example"))
    assert client.post("/t/acme/token", wrong_audience).status_code == 401


@pytest.mark.django_db
def test_userinfo_refuses_a_token_without_openid(client, world, resource, resource_server):
    agent, secret = resource_server
    token = client_credentials(client, world.tenant, agent, secret, resource=resource.uri).json()["access_token"]
    response = client.get("/t/acme/userinfo", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 403 and 'error="insufficient_scope"' in response["WWW-Authenticate"]


@pytest.fixture
def key_host(settings):
    """A loopback host for the client's JWK Set (loopback fetching is allowed in tests only)."""
    from tests.oauth.registration.documents import DocumentHost

    settings.REGISTRATION_CIMD_ALLOW_LOOPBACK = True
    host = DocumentHost()
    yield host
    host.close()


def _named_keypair(kid):
    private, jwks = _keypair()
    jwks["keys"][0]["kid"] = kid
    return private, jwks


def _assertion_kid(private, client_id, audience, kid):
    now = int(time.time())
    return jwt.encode({"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 60,
                       "jti": uuid.uuid4().hex}, private, algorithm="ES256", headers={"kid": kid})


@pytest.mark.django_db
def test_private_key_jwt_with_jwks_uri_follows_key_rotation(client, world, resource, key_host):
    first, first_jwks = _named_keypair("k1")
    url = key_host.put("/jwks.json", first_jwks, headers={"Content-Type": "application/json",
                                                          "Cache-Control": "max-age=600"})
    agent, _ = make_client(world.tenant, resources=[resource], public=False, grant_types=["client_credentials"],
                           redirect_uris=(), jwks_uri=url, token_endpoint_auth_method="private_key_jwt")
    token_url = f"{world.tenant.issuer}/token"

    def token(private, kid):
        return client.post("/t/acme/token", {
            "grant_type": "client_credentials", "resource": resource.uri,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": _assertion_kid(private, agent.client_id, token_url, kid)})

    assert token(first, "k1").status_code == 200
    assert token(first, "k1").status_code == 200 and key_host.hits("/jwks.json") == 1  # cached
    second, second_jwks = _named_keypair("k2")
    key_host.put("/jwks.json", second_jwks, headers={"Content-Type": "application/json"})
    assert token(second, "k2").status_code == 200  # unknown kid: refetched once
    third, _ = _named_keypair("k3")
    assert token(third, "k3").status_code == 401  # not published, and no refetch storm
    assert key_host.hits("/jwks.json") == 2


@pytest.mark.django_db
def test_private_key_jwt_with_an_unreachable_jwks_uri_is_invalid_client(client, world, resource):
    private, _ = _keypair()
    agent, _ = make_client(world.tenant, resources=[resource], public=False, grant_types=["client_credentials"],
                           redirect_uris=(), jwks_uri="https://127.0.0.1:1/jwks.json",
                           token_endpoint_auth_method="private_key_jwt")
    response = client.post("/t/acme/token", {
        "grant_type": "client_credentials", "resource": resource.uri,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": _assertion(private, agent.client_id, f"{world.tenant.issuer}/token")})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
