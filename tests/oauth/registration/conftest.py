"""Fixtures of the registration tests: a tenant with an MCP resource, a policy setter, and a DCR caller
that posts JSON to the tenant's real /register endpoint."""

from __future__ import annotations

import json

import pytest

from audit.services import Actor
from tests.mcp_registry.conftest import free_port, no_persistent_db_connections, serve_asgi  # noqa: F401  (uvicorn peers)
from tests.oauth.admin.peers import UserAgent, notes_server

ACTOR = Actor("test", "", "pytest")
REDIRECT_URI = "http://127.0.0.1:33418/callback"


def set_policy(tenant, **changes):
    from oauth.registration.services import policy_update

    return policy_update(tenant=tenant, actor=ACTOR, **changes)


def metadata(**overrides) -> dict:
    body = {"client_name": "Claude Code", "redirect_uris": [REDIRECT_URI], "grant_types": ["authorization_code",
            "refresh_token"], "response_types": ["code"], "token_endpoint_auth_method": "none",
            "application_type": "native"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


class Registrar:
    """POSTs to {issuer}/register from a given source address."""

    def __init__(self, client):
        self.client = client

    def register(self, tenant, body=None, *, address="203.0.113.7", raw=None, content_type="application/json",
                 token=None, **extra):
        headers = {"REMOTE_ADDR": address, **extra}
        if token:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        data = raw if raw is not None else json.dumps(metadata() if body is None else body)
        return self.client.post(f"/t/{tenant.slug}/register", data=data, content_type=content_type, **headers)

    def configuration(self, tenant, client_id, token, method="get", body=None):
        call = getattr(self.client, method)
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        if body is not None:
            return call(f"/t/{tenant.slug}/register/{client_id}", data=json.dumps(body),
                        content_type="application/json", **kwargs)
        return call(f"/t/{tenant.slug}/register/{client_id}", **kwargs)


@pytest.fixture
def registrar(client):
    return Registrar(client)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Each test starts with empty rate-limit windows and CIMD failure backoffs (addresses and URLs repeat)."""
    from django.conf import settings

    if settings.REDIS_URL:
        import redis

        r = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(r.scan_iter("*reg:rl:*", count=1000)) + list(r.scan_iter("*cimd:backoff*", count=1000))
        if keys:
            r.delete(*keys)
    yield


def events_of(tenant, action: str) -> list:
    from audit.models import AuditEvent

    return list(AuditEvent.objects.filter(tenant=tenant, action=action).order_by("occurred_at", "seq"))


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    from .documents import make_test_ca

    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def https_documents(test_ca, settings):
    """An https document host on localhost, trusted through the test CA; loopback CIMD allowed."""
    from .documents import DocumentHost

    settings.REGISTRATION_CIMD_ALLOW_LOOPBACK = True
    settings.REGISTRATION_CIMD_CA_FILE = str(test_ca[0])
    host = DocumentHost(tls=(test_ca[1], test_ca[2]))
    yield host
    host.close()


@pytest.fixture
def http_documents(settings):
    """A plain-http document host on loopback (only where a test enables loopback CIMD)."""
    from .documents import DocumentHost

    host = DocumentHost()
    yield host
    host.close()


# One notes MCP server of tenant "acme" behind mcp_guard, and its member signed in: the world of the SDK and
# VS Code peer scenarios.
@pytest.fixture
def mcp_world(live_public_url, make_world, serve_asgi):  # noqa: F811  (the fixture imported above)
    from mcp_registry import services as registry

    world = make_world("acme")
    port = free_port()
    resource = registry.resource_create(tenant=world.tenant, actor=ACTOR, name="notes",
                                        uri=f"http://127.0.0.1:{port}/mcp",
                                        scopes=[{"name": "notes:read", "description": "Read your notes"}])
    serve_asgi(notes_server(resource=resource.uri, issuer=world.tenant.issuer).streamable_http_app(), port=port)
    user = UserAgent(live_public_url, world.slug).sign_in(world.member.email)
    yield world, resource, user
    user.close()
