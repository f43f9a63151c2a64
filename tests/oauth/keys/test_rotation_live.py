"""Key rotation against the live platform: a real worker with embedded beat on an accelerated schedule
rotates the tenant's keys while a client keeps fetching fresh tokens and an mcp_guard-protected resource
verifies them against the live JWKS; and an emergency rotation refuses the compromised key's tokens."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import jwt
import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from mcp_guard import IntrospectionVerifier, TokenError, TokenVerifier
from mcp_registry.models import MCPResource
from oauth.models import AccessToken, KeyState, SigningKey
from oauth.signing import keys, rotation
from tests.factories import ACTOR

pytestmark = pytest.mark.slow

TOKEN_LIFETIME = 4   # seconds (accelerated; set on the resource directly, below the console's minimum)
LOAD_SECONDS = 16


def run_async(coro_fn):
    """asyncio.run in a thread of its own: the session's Playwright keeps an event loop in the test thread."""
    def run():
        try:
            return asyncio.run(coro_fn())
        finally:
            connections.close_all()  # the thread's own database connection, if it opened one

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


async def fetch_token(http: httpx.AsyncClient, setup) -> str:
    response = await http.post(f"/t/{setup.tenant.slug}/token", auth=(setup.agent.client_id, setup.agent_secret),
                               data={"grant_type": "client_credentials", "resource": setup.resource.uri})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
def accelerated(setup, monkeypatch):
    monkeypatch.setattr(keys, "JWKS_MAX_AGE", 1)
    MCPResource.objects.filter(pk=setup.resource.pk).update(access_token_lifetime=TOKEN_LIFETIME)
    return rotation.rotation_policy_update(tenant=setup.tenant, actor=ACTOR, rotation_interval=3, lead_time=2,
                                           removal_grace=1)


@pytest.mark.django_db(transaction=True)
def test_keys_rotate_under_load_with_zero_failed_validations(setup, accelerated, live_public_url, worker_factory):
    first_kid = rotation.active_key_of(setup.tenant).kid
    worker_factory(beat=True)
    issued: list[tuple[str, int]] = []       # (kid, exp) of every token the client got
    failures: list[str] = []
    left_jwks: dict[str, float] = {}          # kid -> when the resource server first saw it gone
    ever_published: set[str] = set()

    async def load():
        verifier = TokenVerifier(issuer=setup.tenant.issuer, resource=setup.resource.uri, refresh_interval=1,
                                 leeway=1)
        async with httpx.AsyncClient(base_url=live_public_url, timeout=10) as http:
            live_tokens: list[tuple[str, int]] = []
            deadline = time.monotonic() + LOAD_SECONDS
            while time.monotonic() < deadline:
                token = await fetch_token(http, setup)
                exp = jwt.decode(token, options={"verify_signature": False})["exp"]
                issued.append((kid_of(token), exp))
                live_tokens.append((token, exp))
                # Every token still valid, old ones included, must verify: fresh and cached keys alike.
                live_tokens = [(t, e) for t, e in live_tokens if e - time.time() > 1]
                for candidate, _ in live_tokens[-20:]:
                    try:
                        await verifier.verify(candidate)
                    except TokenError as exc:
                        failures.append(f"{kid_of(candidate)}: {exc}")
                kids = {k["kid"] for k in (await http.get(f"/t/{setup.tenant.slug}/jwks.json")).json()["keys"]}
                ever_published.update(kids)
                for gone in ever_published - kids:
                    left_jwks.setdefault(gone, time.time())
                await asyncio.sleep(0.05)
        await verifier.aclose()

    run_async(load)
    signing_kids = list(dict.fromkeys(kid for kid, _ in issued))
    assert failures == []
    assert len(issued) > 50 and len(signing_kids) >= 4, f"expected several rotations, saw {signing_kids}"
    assert signing_kids[0] == first_kid
    assert left_jwks, "no retired key was removed during the run"
    for kid, gone_at in left_jwks.items():
        last_exp = max(exp for k, exp in issued if k == kid)
        assert last_exp <= gone_at, f"{kid} left the JWKS before its last token expired"
        key = SigningKey.objects.get(kid=kid)
        last = AccessToken.objects.filter(kid=kid).latest("expires").expires
        assert key.state == KeyState.REMOVED and key.removed_at >= last + timezone.timedelta(seconds=1)


@pytest.mark.embedded
@pytest.mark.django_db(transaction=True)
def test_emergency_rotation_refuses_the_compromised_keys_tokens_at_once(setup, live_public_url, client):
    async def scenario():
        async with httpx.AsyncClient(base_url=live_public_url, timeout=10) as http:
            old_token = await fetch_token(http, setup)
            guard = TokenVerifier(issuer=setup.tenant.issuer, resource=setup.resource.uri, refresh_interval=0)
            assert (await guard.verify(old_token)).client_id == setup.agent.client_id

            call_command("rotate_keys", "--tenant", setup.tenant.slug, "--emergency", stdout=open("/dev/null", "w"),
                         stderr=open("/dev/null", "w"))

            # Introspection (the platform's, and mcp_guard's revocation-aware mode) refuses at once.
            answer = await http.post(f"/t/{setup.tenant.slug}/introspect", data={"token": old_token},
                                     auth=(setup.server.client_id, setup.server_secret))
            assert answer.json() == {"active": False}
            introspecting = IntrospectionVerifier(issuer=setup.tenant.issuer, resource=setup.resource.uri,
                                                  client_id=setup.server.client_id, client_secret=setup.server_secret)
            with pytest.raises(TokenError, match="not active"):
                await introspecting.verify(old_token)

            # JWT verification refuses once the verifier has refreshed its JWKS (here: a restarted server).
            refreshed = TokenVerifier(issuer=setup.tenant.issuer, resource=setup.resource.uri)
            with pytest.raises(TokenError, match="does not publish"):
                await refreshed.verify(old_token)
            new_token = await fetch_token(http, setup)
            assert kid_of(new_token) != kid_of(old_token)
            assert (await refreshed.verify(new_token)).client_id == setup.agent.client_id
            assert (await introspecting.verify(new_token)).client_id == setup.agent.client_id
            for verifier in (guard, introspecting, refreshed):
                await verifier.aclose()

    run_async(scenario)
