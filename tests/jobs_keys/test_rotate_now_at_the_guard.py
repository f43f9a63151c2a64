"""mcp_guard and the platform's JWKS around a rotation and an emergency removal: "Rotate now" on a tenant
with no published next key fails no validation at a guard that cached the JWKS seconds before (at
562953a the guard answered 401 for up to 30 s), and the platform's JWKS max-age is the bound SECURITY.md
states for how long a removed key can still be accepted by a guard."""

from __future__ import annotations

import time

import httpx
import pytest
from django.test import Client

from mcp_guard import TokenError, TokenVerifier
from oauth import keys, rotation
from oauth.endpoints import jwks as jwks_endpoint
from oauth.models import KeyState, SigningKey
from tests.oauth.factories import ACTOR

from .test_rotation_live import run_async

RESOURCE = "https://mcp.keys.example/mcp"
SECURITY_BOUND_SECONDS = 300  # SECURITY.md, "Signing keys at resource servers"


def platform_http() -> httpx.AsyncClient:
    """The guard's HTTP client, answered by the platform itself (Django's test client, same database)."""
    django = Client()

    def handle(request: httpx.Request) -> httpx.Response:
        answer = django.get(request.url.path)
        return httpx.Response(answer.status_code, headers=dict(answer.headers.items()), content=answer.content)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


def access_token(tenant) -> str:
    now = int(time.time())
    return keys.sign(tenant, {"iss": tenant.issuer, "sub": "agent", "aud": RESOURCE, "client_id": "agent",
                              "scope": "files:read", "iat": now, "exp": now + 300}, typ="at+jwt")


@pytest.mark.django_db(transaction=True)  # the guard runs on a thread of its own (its own connection)
def test_rotate_now_without_a_next_key_fails_no_validation_at_the_guard(setup):
    tenant = setup.tenant
    assert not SigningKey.objects.for_tenant(tenant).filter(state=KeyState.NEXT).exists()
    verifier = TokenVerifier(issuer=tenant.issuer, resource=RESOURCE, http=platform_http())
    before = access_token(tenant)

    async def scenario():
        await verifier.verify(before)  # the guard has the JWKS now, cached for its max-age
        rotation.key_rotate_now(tenant=tenant, actor=ACTOR)
        after = access_token(tenant)
        assert keys.active_key(tenant)[0] == jwt_kid(after) != jwt_kid(before)
        await verifier.verify(after)  # the new key's first token, seconds after the guard's fetch
        await verifier.verify(before)  # the retired key stays published while its tokens live
        return after

    run_async(scenario)
    assert verifier.jwks_fetches == 2  # one refresh for the new key, no more


def jwt_kid(token: str) -> str:
    import jwt

    return jwt.get_unverified_header(token)["kid"]


@pytest.mark.django_db(transaction=True)  # the guard runs on a thread of its own (its own connection)
def test_the_platform_jwks_max_age_bounds_how_long_a_removed_key_is_accepted(setup):
    tenant = setup.tenant
    response = Client().get(f"/t/{tenant.slug}/jwks.json")
    assert response["Cache-Control"] == f"public, max-age={jwks_endpoint.JWKS_MAX_AGE}"
    assert jwks_endpoint.JWKS_MAX_AGE <= SECURITY_BOUND_SECONDS
    verifier = TokenVerifier(issuer=tenant.issuer, resource=RESOURCE, http=platform_http())
    compromised = access_token(tenant)

    async def scenario():
        await verifier.verify(compromised)
        assert 0 < verifier.keys_expire_in <= jwks_endpoint.JWKS_MAX_AGE
        rotation.key_emergency_rotate(tenant=tenant, actor=ACTOR)
        verifier._expires_at = time.monotonic()  # the max-age has passed (not slept: 300 s)
        with pytest.raises(TokenError, match="does not publish"):
            await verifier.verify(compromised)

    run_async(scenario)
