"""mcp_guard and the platform's JWKS around a rotation and an emergency removal: "Rotate now" on a tenant
with no published next key fails no validation at a guard that cached the JWKS seconds before (at
562953a the guard answered 401 for up to 30 s), and the platform's JWKS max-age is the bound SECURITY.md
states for how long a removed key can still be accepted by a guard."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from django.test import Client

from mcp_guard import TokenError, TokenVerifier
from oauth.models import KeyState, SigningKey
from oauth.signing import keys, rotation
from tests.factories import ACTOR

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
    assert response["Cache-Control"] == f"public, max-age={keys.JWKS_MAX_AGE}"
    assert keys.JWKS_MAX_AGE <= SECURITY_BOUND_SECONDS
    verifier = TokenVerifier(issuer=tenant.issuer, resource=RESOURCE, http=platform_http())
    compromised = access_token(tenant)

    async def scenario():
        await verifier.verify(compromised)
        assert 0 < verifier.keys_expire_in <= keys.JWKS_MAX_AGE
        rotation.key_emergency_rotate(tenant=tenant, actor=ACTOR)
        verifier._expires_at = time.monotonic()  # the max-age has passed (not slept: 300 s)
        with pytest.raises(TokenError, match="does not publish"):
            await verifier.verify(compromised)

    run_async(scenario)


@pytest.mark.django_db(transaction=True)  # the guard runs on a thread of its own (its own connection)
def test_rotations_seconds_apart_with_fresh_keys_fail_no_validation_at_the_guard(setup):
    """Two "Rotate now" 1.2 s apart, each with a key no guard has seen (the algorithm changes, so no
    published next key can be promoted), then a third 3 s later, while tokens are validated continuously:
    zero failures. At 562953a (and until the guard's unknown-kid budget) the second fresh key failed every
    validation for 30 s. The JWKS fetches stay bounded: one per fresh key, plus the first."""
    tenant = setup.tenant
    verifier = TokenVerifier(issuer=tenant.issuer, resource=RESOURCE, http=platform_http())
    schedule = [(0.2, "ES256"), (1.4, "RS256"), (4.4, None)]  # (seconds from start, alg of the rotation)
    failures: list[str] = []
    kids: list[str] = []

    async def scenario():
        first = access_token(tenant)
        await verifier.verify(first)
        tokens, start = [first], time.monotonic()
        pending = list(schedule)
        while time.monotonic() - start < 5.4:
            if pending and time.monotonic() - start >= pending[0][0]:
                _, alg = pending.pop(0)
                rotation.key_rotate_now(tenant=tenant, actor=ACTOR, alg=alg)
                tokens.append(access_token(tenant))  # the new key signs at once
                kids.append(jwt_kid(tokens[-1]))
            for token in (tokens[0], tokens[-1]):  # the oldest token (retired keys stay published) and the newest
                try:
                    await verifier.verify(token)
                except TokenError as exc:
                    failures.append(f"{time.monotonic() - start:.2f}s {jwt_kid(token)}: {exc}")
            await asyncio.sleep(0.02)

    run_async(scenario)
    assert len(set(kids)) == 3 and not failures, failures
    assert verifier.jwks_fetches <= 1 + len(schedule)


def forged(kid: str, iss: str) -> str:
    """A token naming an unknown kid: the guard looks the key up before any signature check."""
    import base64
    import json

    def b64(data) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    header, claims = {"alg": "RS256", "typ": "at+jwt", "kid": kid}, {"iss": iss, "aud": RESOURCE, "exp": now + 60}
    return f"{b64(header)}.{b64(claims)}.AA"


@pytest.mark.django_db(transaction=True)  # the guard runs on a thread of its own (its own connection)
def test_unknown_kids_refresh_within_a_budget_single_flight_and_only_for_the_issuer(setup):
    tenant = setup.tenant
    verifier = TokenVerifier(issuer=tenant.issuer, resource=RESOURCE, http=platform_http(), min_refresh_gap=0.05)

    async def scenario():
        await verifier.verify(access_token(tenant))
        assert verifier.jwks_fetches == 1
        with pytest.raises(TokenError):  # another issuer's token (or junk) never reaches the issuer
            await verifier.verify(forged("made-up", "https://evil.example"))
        assert verifier.jwks_fetches == 1

        rotation.key_rotate_now(tenant=tenant, actor=ACTOR)  # a key the guard has not seen signs at once
        fresh = access_token(tenant)
        await asyncio.gather(*(verifier.verify(fresh) for _ in range(20)))  # one fetch for all of them
        assert verifier.jwks_fetches == 2

        deadline = time.monotonic() + 0.6  # a slow flood of made-up kids, one every 10 ms
        while time.monotonic() < deadline:
            with pytest.raises(TokenError, match="does not publish"):
                await verifier.verify(forged(f"made-up-{time.monotonic()}", tenant.issuer))
            await asyncio.sleep(0.01)
        # three unknown-kid refreshes per refresh_interval (30 s) in all, the rotation's included
        assert verifier.jwks_fetches == 1 + verifier.unknown_kid_refreshes

    run_async(scenario)
