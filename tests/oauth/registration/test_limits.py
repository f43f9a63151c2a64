"""Pile-up control under load: rate limits per source address and per tenant in Redis, failing closed
with a clear 503 when Redis is down, and expiry of registrations that were never used."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from oauth.models import Application
from oauth.registration.models import ClientRegistration

from .conftest import events_of, metadata, set_policy

pytestmark = pytest.mark.django_db


def _start_of_a_fresh_window():
    """Fixed one-minute windows: start well inside one so 1,000 attempts cannot straddle two."""
    into = time.time() % 60
    if into > 45:
        time.sleep(60.5 - into)


def test_a_thousand_attempts_from_one_address_hold_the_limit_and_others_still_register(world, resource, registrar):
    set_policy(world.tenant, dcr_mode="open", address_rate_per_minute=10, tenant_rate_per_minute=50)
    _start_of_a_fresh_window()
    started = time.monotonic()
    statuses = [registrar.register(world.tenant, metadata(client_name=f"flood {n}"), address="198.51.100.66")
                .status_code for n in range(1000)]
    assert time.monotonic() - started < 60
    assert statuses.count(201) == 10 and statuses.count(429) == 990
    assert statuses[:10] == [201] * 10
    assert ClientRegistration.objects.unscoped().filter(tenant=world.tenant).count() == 10
    assert Application.objects.unscoped().filter(tenant=world.tenant).count() == 10
    # One audit event for the crossing, not 990.
    (event,) = events_of(world.tenant, "registration.rate_limited")
    assert event.data == {"limit": "address", "per_minute": 10}

    refused = registrar.register(world.tenant, metadata(client_name="flood again"), address="198.51.100.66")
    assert refused.status_code == 429 and refused["Retry-After"] == "60"
    assert refused.json()["error"] == "temporarily_unavailable" and "address" in refused.json()["error_description"]
    legitimate = registrar.register(world.tenant, metadata(client_name="Legit"), address="203.0.113.20")
    assert legitimate.status_code == 201, legitimate.content


def test_the_tenant_limit_caps_registrations_from_many_addresses(world, resource, registrar):
    set_policy(world.tenant, dcr_mode="open", address_rate_per_minute=5, tenant_rate_per_minute=12)
    _start_of_a_fresh_window()
    statuses = [registrar.register(world.tenant, metadata(client_name=f"app {n}"), address=f"203.0.113.{n}")
                .status_code for n in range(30)]
    assert statuses.count(201) == 12 and ClientRegistration.objects.unscoped().filter(tenant=world.tenant).count() == 12
    assert events_of(world.tenant, "registration.rate_limited")[0].data["limit"] == "tenant"


def test_registration_fails_closed_with_a_clear_503_when_redis_is_down(world, resource, registrar, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = registrar.register(world.tenant)
    assert response.status_code == 503 and response["Retry-After"] == "60"
    assert response.json()["error"] == "temporarily_unavailable"
    assert "rate limiter is unavailable" in response.json()["error_description"]
    assert not ClientRegistration.objects.unscoped().filter(tenant=world.tenant).exists()


@pytest.mark.embedded
def test_never_used_registrations_expire_and_used_ones_stay(world, resource, registrar, signed_in, client):
    from oauth.registration.tasks import expire_unused_registrations
    from tests.oauth.flows import authorize, exchange

    set_policy(world.tenant, dcr_mode="open", unused_expiry_days=30)
    unused = registrar.register(world.tenant, metadata(client_name="Unused")).json()
    pending_body = metadata(client_name="Never approved", redirect_uris=["https://x.example/cb"],
                            application_type="web")
    set_policy(world.tenant, dcr_mode="approval")
    pending = registrar.register(world.tenant, pending_body).json()
    set_policy(world.tenant, dcr_mode="open")
    used = registrar.register(world.tenant, metadata(client_name="Used")).json()
    used_client = Application.objects.unscoped().get(client_id=used["client_id"])
    auth = authorize(signed_in(world.member), world.tenant, used_client, resource=resource.uri)
    assert exchange(client, world.tenant, used_client, auth, resource=resource.uri).status_code == 200
    fresh = registrar.register(world.tenant, metadata(client_name="Fresh")).json()
    ClientRegistration.objects.unscoped().exclude(application__client_id=fresh["client_id"]).update(
        created_at=timezone.now() - timedelta(days=31))

    expire_unused_registrations()  # the beat job, run in-process

    remaining = set(Application.objects.unscoped().filter(tenant=world.tenant).values_list("name", flat=True))
    assert remaining == {"Used", "Fresh"}
    expired = {e.data["client_id"] for e in events_of(world.tenant, "registration.expired")}
    assert expired == {unused["client_id"], pending["client_id"]}
