"""The changes that took work off the token path (bench/README.md, "Changes made for speed"): a warm
request no longer reads the tenant, the client or the resource, and every change to one of them is seen
by the very next request; the signing kid is not re-parsed from the token; the Redis cache keeps its
client."""

import pytest

from audit.services import Actor
from mcp_registry import services as registry
from oauth import services as oauth
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
    new_secret = oauth.client_rotate_secret(client=scene.agent, actor=ACTOR)
    assert scene.client_credentials(client).status_code == 401  # the old secret
    scene.agent_secret = new_secret
    assert scene.client_credentials(client).status_code == 200
    oauth.client_suspend(client=scene.agent, actor=ACTOR, reason="compromised")
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
