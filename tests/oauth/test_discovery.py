"""AS2, AS3, AS4, AS7: metadata at every discovery URL with the issuer byte-identical; the JWKS."""

import jwt
import pytest

from oauth.models import KeyState, SigningKey
from oauth.signing import keys
from oauth.signing.services import key_rotate
from tests.factories import ACTOR


def discovery_urls(slug):
    return [f"/.well-known/oauth-authorization-server/t/{slug}", f"/.well-known/openid-configuration/t/{slug}",
            f"/t/{slug}/.well-known/openid-configuration", f"/t/{slug}/.well-known/oauth-authorization-server"]


@pytest.mark.django_db
def test_metadata_is_served_at_every_discovery_url_with_the_same_issuer(client, world, resource, settings):
    tenant = world.tenant
    bodies = []
    for url in discovery_urls(tenant.slug):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"] == "application/json"
        bodies.append(response.content)
        assert response.json()["issuer"] == f"{settings.PUBLIC_URL}/t/acme"
    assert len(set(bodies)) == 1  # byte-identical documents, so byte-identical issuers
    meta = client.get(discovery_urls(tenant.slug)[0]).json()
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["response_types_supported"] == ["code"]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "none", "client_secret_basic", "client_secret_post", "private_key_jwt"}
    assert {"authorization_code", "refresh_token", "client_credentials"} == set(meta["grant_types_supported"])
    assert "implicit" not in meta["grant_types_supported"] and "password" not in meta["grant_types_supported"]
    assert {"tools:read", "tools:write", "openid", "offline_access"} <= set(meta["scopes_supported"])
    for endpoint in ("authorization_endpoint", "token_endpoint", "revocation_endpoint", "introspection_endpoint",
                     "userinfo_endpoint", "jwks_uri"):
        assert meta[endpoint].startswith(meta["issuer"] + "/")


@pytest.mark.django_db
def test_verified_custom_domain_serves_root_metadata_with_its_own_issuer(client, world, settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "auth.acme.example"]
    tenant = world.tenant
    tenant.custom_domain, tenant.custom_domain_verified = "auth.acme.example", True
    tenant.save()
    for url in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        response = client.get(url, HTTP_HOST="auth.acme.example")
        assert response.status_code == 200, url
        assert response.json()["issuer"] == "https://auth.acme.example"
        assert response.json()["token_endpoint"] == "https://auth.acme.example/token"


@pytest.mark.django_db
def test_root_metadata_on_the_platform_host_names_no_tenant(client):
    assert client.get("/.well-known/oauth-authorization-server").status_code == 404
    assert client.get("/.well-known/oauth-authorization-server/t/nobody").status_code == 404


@pytest.mark.django_db
def test_registration_endpoint_appears_when_a_contributor_enables_it(client, world):
    from oauth.protocol.endpoints import discovery

    def contributor(tenant):
        return {"registration_endpoint": f"{tenant.issuer}/register"} if tenant.slug == "acme" else {}

    discovery.register_metadata_contributor(contributor)
    try:
        meta = client.get("/t/acme/.well-known/oauth-authorization-server").json()
        assert meta["registration_endpoint"] == f"{world.tenant.issuer}/register"
    finally:
        discovery._contributors.remove(contributor)


@pytest.mark.django_db
def test_a_new_tenant_has_one_active_key_published_in_its_jwks(client, world):
    assert SigningKey.objects.for_tenant(world.tenant).filter(state=KeyState.ACTIVE).count() == 1
    response = client.get("/t/acme/jwks.json")
    assert response.status_code == 200
    assert "max-age" in response["Cache-Control"]
    published = response.json()["keys"]
    assert len(published) == 1 and published[0]["alg"] == "RS256" and published[0]["use"] == "sig"
    assert "d" not in published[0] and "p" not in published[0]  # never a private parameter


@pytest.mark.django_db
def test_private_keys_are_encrypted_at_rest_and_bound_to_their_kid(world):
    from kit import crypto

    key = SigningKey.objects.for_tenant(world.tenant).get(state=KeyState.ACTIVE)
    assert "PRIVATE KEY" not in key.private_key
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(key.private_key, aad=b"signing-key:someone-else")


@pytest.mark.django_db
def test_key_rotation_promotes_next_retires_active_and_keeps_old_tokens_verifiable(client, world):
    tenant = world.tenant
    old_token = keys.sign(tenant, {"iss": tenant.issuer, "sub": "x"}, typ="JWT")
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    new = key_rotate(tenant=tenant, actor=ACTOR, alg="ES256")
    states = dict(SigningKey.objects.for_tenant(tenant).values_list("kid", "state"))
    assert states[old_kid] == KeyState.RETIRED and states[new.kid] == KeyState.ACTIVE
    assert list(states.values()).count(KeyState.NEXT) == 1  # the next rotation's key is already published
    new_token = keys.sign(tenant, {"iss": tenant.issuer, "sub": "x"}, typ="JWT")
    assert jwt.get_unverified_header(new_token) == {"alg": "ES256", "kid": new.kid, "typ": "JWT"}
    published = {k["kid"] for k in client.get("/t/acme/jwks.json").json()["keys"]}
    assert published == set(states)
    for token in (old_token, new_token):
        assert keys.verify(tenant, token)["sub"] == "x"
    from audit.models import AuditEvent

    assert AuditEvent.objects.filter(action="key.rotated").exists()
