"""The changes that took work off the token path (bench/README.md, "Changes made for speed"): a warm
request no longer reads the tenant, the client or the resource, and every change to one of them is seen
by the very next request; the signing kid is not re-parsed from the token; the Redis cache keeps its
client."""

import pytest

from audit.services import Actor
from mcp_registry import services as registry
from oauth.clients import services as client_services
from oauth.config import services as config_services
from oauth.signing import services as signing_services
from tenants.services import tenant_reactivate, tenant_suspend

from .conftest import statements

ACTOR = Actor("test", "", "pytest")


def tables_read(sql: list[str]) -> set[str]:
    return {table for table in ("tenants_tenant", "oauth_application", "mcp_registry_mcpresource",
                                "mcp_registry_resourcescope") if any(f'FROM "{table}"' in s for s in sql)}


@pytest.mark.django_db
def test_a_warm_client_credentials_request_reads_no_tenant_client_or_resource_row(client, scene):
    scene.client_credentials(client)
    response, sql = statements(lambda: scene.client_credentials(client))
    assert response.status_code == 200
    assert tables_read(sql) == set()


@pytest.mark.django_db
def test_a_suspended_tenant_is_refused_by_the_next_request(client, scene):
    assert scene.client_credentials(client).status_code == 200
    tenant_suspend(tenant=scene.tenant, actor=ACTOR, reason="unpaid")
    refused = scene.client_credentials(client)
    assert refused.status_code == 403 and refused.json()["error"] == "tenant_suspended"
    tenant_reactivate(tenant=scene.tenant, actor=ACTOR)
    assert scene.client_credentials(client).status_code == 200


@pytest.mark.django_db
def test_a_suspended_client_and_a_rotated_secret_are_refused_by_the_next_request(client, scene):
    assert scene.client_credentials(client).status_code == 200
    new_secret = client_services.client_rotate_secret(client=scene.agent, actor=ACTOR)
    assert scene.client_credentials(client).status_code == 401  # the old secret
    scene.agent_secret = new_secret
    assert scene.client_credentials(client).status_code == 200
    client_services.client_suspend(client=scene.agent, actor=ACTOR, reason="compromised")
    assert scene.client_credentials(client).json()["error"] == "invalid_client"


@pytest.mark.django_db
def test_a_disallowed_or_disabled_resource_is_refused_by_the_next_request(client, scene):
    assert scene.client_credentials(client).status_code == 200
    scene.agent.allowed_resources.remove(scene.resource)
    assert scene.client_credentials(client).json()["error"] == "invalid_target"
    scene.agent.allowed_resources.add(scene.resource)
    assert scene.client_credentials(client).status_code == 200
    registry.resource_disable(resource=scene.resource, actor=ACTOR)
    assert scene.client_credentials(client).json()["error"] == "invalid_target"


@pytest.mark.django_db
def test_a_new_scope_of_the_resource_can_be_asked_for_at_once(client, scene):
    ask = lambda: scene.client_credentials_with(client, scope="files:admin")  # noqa: E731
    assert ask().json()["error"] == "invalid_scope"
    registry.scope_save(resource=scene.resource, actor=ACTOR, name="files:admin", granted_by_default=False)
    granted = ask()
    assert granted.status_code == 200 and granted.json()["scope"] == "files:admin"


@pytest.mark.django_db
def test_issuing_a_token_records_the_signing_kid_without_parsing_the_token_again(client, scene, monkeypatch):
    import jwt

    from oauth.models import AccessToken

    def parse_refused(*args, **kwargs):
        raise AssertionError("the token endpoint parsed a JWT it had just signed")

    monkeypatch.setattr(jwt, "get_unverified_header", parse_refused)
    body = scene.client_credentials(client).json()
    monkeypatch.undo()
    kid = jwt.get_unverified_header(body["access_token"])["kid"]
    assert AccessToken.objects.for_tenant(scene.tenant).get(jti=jwt.decode(
        body["access_token"], options={"verify_signature": False})["jti"]).kid == kid


@pytest.mark.django_db
def test_the_redis_cache_reuses_one_client_per_connection_pool(settings):
    from django.core.cache import caches

    if not settings.REDIS_URL:
        pytest.fail("the benchmark guards run with REDIS_URL (./test.sh sets it)")
    cache = caches["default"]
    first = cache._cache.get_client("bench:probe")
    cache.set("bench:probe", 1, 5)
    assert cache.get("bench:probe") == 1
    assert cache._cache.get_client("bench:probe") is first  # Django's own backend builds a new one each time


def redis_round_trips(monkeypatch, call):
    """Commands sent to Redis while ``call`` runs (pipelines count once)."""
    import redis.connection

    sent = []
    original = redis.connection.AbstractConnection.send_packed_command

    def spy(self, command, check_health=True):
        sent.append(command)
        return original(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", spy)
    try:
        result = call()
    finally:
        monkeypatch.undo()
    return result, sent


@pytest.mark.django_db
def test_a_warm_token_request_costs_two_redis_round_trips_and_one_statement(client, scene, monkeypatch):
    # The tenant's generation (which validates this process's copies of tenant, client, resource, key and
    # settings, kit/tenant_cache.py) and the rate limiter's pipeline; the access-token INSERT.
    scene.client_credentials(client)
    (response, sql), trips = redis_round_trips(monkeypatch, lambda: statements(
        lambda: scene.client_credentials(client)))
    assert response.status_code == 200
    assert len(trips) == 2, trips
    assert [s.split()[0] for s in sql] == ["INSERT"], sql


@pytest.mark.django_db
def test_a_change_made_by_another_process_is_seen_by_this_processs_next_request(client, scene):
    """This process holds copies of the client and tenant (kit/tenant_cache.py). Another process changing
    them touches only the database and Redis; the generation it moves must retire the copies here."""
    from django.core.cache import cache

    from kit.tenant_cache import _generation_key
    from oauth.models import Application, ClientStatus

    assert scene.client_credentials(client).status_code == 200
    # What another process's client_suspend leaves behind here: the row changed, its Redis entries gone.
    Application.objects.filter(pk=scene.agent.pk).update(status=ClientStatus.SUSPENDED)
    cache.delete(f"oauth:client:{scene.tenant.pk}:{scene.agent.client_id}")
    cache.delete(_generation_key(scene.tenant.pk))
    assert scene.client_credentials(client).json()["error"] == "invalid_client"


@pytest.mark.django_db
def test_a_rotated_key_and_changed_token_settings_apply_to_the_next_token(client, scene):
    import jwt

    first = scene.client_credentials(client).json()["access_token"]
    signing_services.key_rotate(tenant=scene.tenant, actor=ACTOR)
    second = scene.client_credentials(client).json()
    assert jwt.get_unverified_header(second["access_token"])["kid"] != jwt.get_unverified_header(first)["kid"]
    lifetime = second["expires_in"] + 77
    config_services.tenant_auth_settings_update(tenant=scene.tenant, actor=ACTOR, access_token_lifetime=lifetime)
    assert scene.resource.access_token_lifetime is None  # so the tenant's lifetime applies
    assert scene.client_credentials(client).json()["expires_in"] == lifetime
