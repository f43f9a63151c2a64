"""Token endpoint: client_credentials, RFC 9068 JWTs verified against the tenant JWKS, RFC error codes."""

import jwt
import pytest

from oauth.grants.selectors import api_token
from oauth.models import AccessToken, api_audience
from tests.factories import make_agent, make_client, make_resource
from tests.oauth.flows import basic, client_credentials


def verify_with_jwks(http, tenant, token, audience):
    """What a resource server does: fetch the JWKS, pick the key by kid, check typ/iss/aud/exp."""
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    jwks = http.get(f"/t/{tenant.slug}/jwks.json").json()
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    return jwt.decode(token, jwt.PyJWK(key), algorithms=[key["alg"]], audience=audience, issuer=tenant.issuer)


@pytest.mark.django_db
def test_client_credentials_issues_a_jwt_for_the_resource_with_default_scopes(client, world, resource):
    agent, secret = make_agent(world.tenant, resources=[resource])
    response = client_credentials(client, world.tenant, agent, secret, resource=resource.uri)
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and "refresh_token" not in body
    assert body["expires_in"] == 600
    claims = verify_with_jwks(client, world.tenant, body["access_token"], resource.uri)
    assert claims["sub"] == agent.client_id and claims["client_id"] == agent.client_id
    assert claims["scope"] == "tools:read" == body["scope"]
    assert claims["exp"] - claims["iat"] == 600 and claims["jti"]
    row = AccessToken.objects.for_tenant(world.tenant).get(jti=claims["jti"])
    assert row.token == "" and len(row.token_checksum) == 64  # only the checksum is stored
    assert row.audience == resource.uri


@pytest.mark.django_db
def test_resource_lifetime_overrides_the_tenant_default(client, world):
    short = make_resource(world.tenant, "https://short.acme.example/mcp", name="short", lifetime=120)
    agent, secret = make_agent(world.tenant, resources=[short])
    body = client_credentials(client, world.tenant, agent, secret, resource=short.uri, scope="tools:write").json()
    assert body["expires_in"] == 120 and body["scope"] == "tools:write"


@pytest.mark.django_db
def test_client_secret_post_works_and_a_wrong_secret_is_invalid_client(client, world, resource):
    agent, secret = make_agent(world.tenant, resources=[resource])
    ok = client.post("/t/acme/token", {"grant_type": "client_credentials", "client_id": agent.client_id,
                                       "client_secret": secret, "resource": resource.uri})
    assert ok.status_code == 200
    bad = client.post("/t/acme/token", {"grant_type": "client_credentials", "resource": resource.uri},
                      HTTP_AUTHORIZATION=basic(agent.client_id, secret + "x"))
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert bad["WWW-Authenticate"].startswith("Basic ")
    assert bad["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_client_secret_is_stored_as_a_keyed_digest_not_pbkdf2(world, resource):
    agent, secret = make_agent(world.tenant, resources=[resource])
    assert agent.client_secret.startswith("hmac-sha256$") and secret not in agent.client_secret
    assert len(secret) >= 43  # 256 bits, URL-safe


@pytest.mark.django_db
@pytest.mark.parametrize("data, error", [
    ({}, "invalid_request"),
    ({"grant_type": "password", "username": "a", "password": "b"}, "unsupported_grant_type"),
    ({"grant_type": "implicit"}, "unsupported_grant_type"),
    ({"grant_type": "urn:ietf:params:oauth:grant-type:device_code"}, "unsupported_grant_type"),
    ({"grant_type": "client_credentials", "resource": "https://unknown.example/mcp"}, "invalid_target"),
    ({"grant_type": "client_credentials", "resource": "not a uri"}, "invalid_target"),
    ({"grant_type": "client_credentials", "resource": "https://mcp.acme.example/mcp", "scope": "nope"},
     "invalid_scope"),
    ({"grant_type": "client_credentials"}, "invalid_target"),
])
def test_token_errors_carry_their_rfc_code(client, world, resource, data, error):
    other = make_resource(world.tenant, "https://other.acme.example/mcp", name="other")
    agent, secret = make_agent(world.tenant, resources=[resource, other])  # two: no implicit default
    response = client.post("/t/acme/token", data, HTTP_AUTHORIZATION=basic(agent.client_id, secret))
    assert response.status_code == 400, response.content
    assert response.json()["error"] == error
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_a_public_client_cannot_use_client_credentials(client, world, resource):
    public, _ = make_client(world.tenant, resources=[resource])
    response = client.post("/t/acme/token", {"grant_type": "client_credentials", "client_id": public.client_id,
                                             "resource": resource.uri})
    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("invalid_client", "unauthorized_client")


@pytest.mark.django_db
def test_a_resource_not_allowed_for_the_client_is_invalid_target(client, world, resource):
    agent, secret = make_agent(world.tenant, resources=[])
    response = client_credentials(client, world.tenant, agent, secret, resource=resource.uri)
    assert response.json()["error"] == "invalid_target"
    assert "not allowed" in response.json()["error_description"]


@pytest.mark.django_db
def test_admin_client_gets_a_platform_api_token_that_the_api_selector_accepts(client, world):
    admin, secret = make_agent(world.tenant, scopes=["admin:clients", "admin:audit.read"], name="Ops bot")
    body = client_credentials(client, world.tenant, admin, secret, resource=api_audience(),
                              scope="admin:audit.read").json()
    assert body["scope"] == "admin:audit.read"
    claims = verify_with_jwks(client, world.tenant, body["access_token"], api_audience())
    assert claims["aud"] == api_audience()
    row = api_token(body["access_token"])
    assert row is not None and row.tenant == world.tenant and row.scope_list == ["admin:audit.read"]
    refused = client_credentials(client, world.tenant, admin, secret, resource=api_audience(), scope="admin:keys")
    assert refused.json()["error"] == "invalid_scope"


@pytest.mark.django_db
def test_a_resource_token_is_not_a_platform_api_token(client, world, resource):
    agent, secret = make_agent(world.tenant, resources=[resource])
    token = client_credentials(client, world.tenant, agent, secret, resource=resource.uri).json()["access_token"]
    assert api_token(token) is None
    assert api_token("garbage") is None


@pytest.mark.django_db
def test_a_grant_the_client_was_not_given_is_unauthorized_client(client, world, resource):
    agent, secret = make_agent(world.tenant, resources=[resource])  # client_credentials only
    response = client.post("/t/acme/token", {"grant_type": "refresh_token", "refresh_token": "x"},
                           HTTP_AUTHORIZATION=basic(agent.client_id, secret))
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"


@pytest.mark.django_db
def test_implicit_response_types_do_not_exist(signed_in, world, resource, public_client):
    http = signed_in(world.member)
    response = http.get("/t/acme/authorize", {"response_type": "token", "client_id": public_client.client_id,
                                              "redirect_uri": "http://127.0.0.1:33418/callback", "state": "s",
                                              "resource": resource.uri})
    assert response.status_code == 302
    assert "error=" in response["Location"] and "access_token" not in response["Location"]
    assert "#" not in response["Location"]
