"""Fixtures of the admin slice: tenants alpha and bravo, each with a resource, a public client holding a
live token and a consent, and an API caller for a session or a bearer token."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.factories import Estate, build_estate, make_client
from tests.oauth.flows import client_credentials


@pytest.fixture
def estates(two_tenants, client, signed_in):
    """(alpha, bravo) estates, built through the real endpoints and services."""
    a, b = two_tenants
    estate_a = build_estate(a, client, signed_in)
    client.logout()
    estate_b = build_estate(b, client, signed_in)
    client.logout()
    return estate_a, estate_b


class Api:
    """Calls /api/v1 as a tenant admin's console session (X-Tenant) or with a bearer token."""

    def __init__(self, http, *, tenant_slug: str | None = None, token: str | None = None):
        self.http = http
        self.headers = {}
        if tenant_slug:
            self.headers["HTTP_X_TENANT"] = tenant_slug
        if token:
            self.headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"

    def __getattr__(self, method):
        if method not in ("get", "post", "patch", "put", "delete"):
            raise AttributeError(method)

        def call(path, data=None, **extra):
            kwargs = {"content_type": "application/json"} if method != "get" else {}
            return getattr(self.http, method)(f"/api/v1/{path}", data, **kwargs, **self.headers, **extra)

        return call


@pytest.fixture
def session_api(signed_in):
    def make(user, slug):
        return Api(signed_in(user), tenant_slug=slug)

    return make


@pytest.fixture
def token_api(client):
    """An Api with a platform API token of the tenant's admin agent, restricted to ``scope`` if given."""
    from django.test import Client

    from oauth.models import api_audience

    def make(estate: Estate, scope: str | None = None):
        extra = {"resource": api_audience()}
        if scope:
            extra["scope"] = scope
        answer = client_credentials(client, estate.tenant, estate.agent, estate.agent_secret, **extra)
        assert answer.status_code == 200, answer.content
        return Api(Client(), token=answer.json()["access_token"])

    return make


# --- real peers over HTTP -------------------------------------------------------------------------

# uvicorn on a free loopback port, with per-request database connections for servers in test threads
from tests.mcp_registry.conftest import free_port, no_persistent_db_connections, serve_asgi  # noqa: E402,F401


@dataclass
class Peering:
    """A tenant ready for an MCP client: a resource registered at a free loopback port (where the test
    starts the MCP server), a pre-registered public client allowed to reach it, a live platform."""

    world: object
    resource: object
    client: object
    port: int
    base_url: str

    @property
    def tenant(self):
        return self.world.tenant

    @property
    def server_url(self) -> str:
        return self.resource.uri

    @staticmethod
    def free_port() -> int:
        return free_port()

    def token_for(self, user, client, resource_uri: str) -> str:
        """An access token through the real endpoints: the user agent authorizes, the client exchanges."""
        import httpx

        from tests.oauth.flows import authorize_url, pkce_pair

        from .peers import REDIRECT_URI, query_of

        verifier, challenge = pkce_pair()
        redirect = user.authorize(self.base_url + authorize_url(self.tenant, client, resource=resource_uri,
                                                                challenge=challenge))
        answer = httpx.post(f"{self.tenant.issuer}/token", data={
            "grant_type": "authorization_code", "code": query_of(redirect)["code"], "redirect_uri": REDIRECT_URI,
            "client_id": client.client_id, "code_verifier": verifier, "resource": resource_uri})
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]


@pytest.fixture
def peering(live_public_url, make_world, request):
    request.getfixturevalue("no_persistent_db_connections")
    from mcp_registry import services as registry
    from tests.factories import ACTOR

    from .peers import REDIRECT_URI

    world = make_world("acme")
    port = free_port()
    resource = registry.resource_create(
        tenant=world.tenant, actor=ACTOR, name="notes", uri=f"http://127.0.0.1:{port}/mcp",
        scopes=[{"name": "notes:read", "description": "Read your notes"}])
    client, _ = make_client(world.tenant, resources=[resource], redirect_uris=[REDIRECT_URI], name="Notes Desktop")
    return Peering(world, resource, client, port, live_public_url)
